package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/gridhub/gridhub/connectors"
	_ "github.com/gridhub/gridhub/connectors/all" // the connector kinds
	"github.com/gridhub/gridhub/connectors/departments"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/cache"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/policy"
	"github.com/gridhub/gridhub/internal/ratelimit"
	"github.com/gridhub/gridhub/internal/report"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/store"
)

// loadDepartments reads the department mapping files: GRIDHUB_CONFIG/departments
// when that directory exists, the files built into the binary otherwise.
func loadDepartments(cfg Config) ([]*connectors.Department, error) {
	if cfg.ConfigDir != "" {
		dir := filepath.Join(cfg.ConfigDir, "departments")
		if _, err := os.Stat(dir); err == nil {
			return connectors.LoadDepartments(dir)
		}
	}
	return connectors.LoadDepartmentsFS(departments.Files, "connectors/departments")
}

// shared is what replicas share through Redis when it is configured: the cache
// (department copies, persisted queries) and the rate limiter. Without Redis
// both live in this process.
type shared struct {
	cache   cache.Cache
	limiter ratelimit.Limiter
	close   func()
}

func openShared(ctx context.Context, cfg Config) (*shared, error) {
	limit := ratelimit.Limit{PerSecond: cfg.RateLimit, Burst: 2 * cfg.RateLimit}
	if cfg.RedisURL == "" {
		return &shared{
			cache:   cache.NewMemory(200_000),
			limiter: ratelimit.NewMemory(limit, 100_000),
			close:   func() {},
		}, nil
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("GRIDHUB_REDIS_URL: %w", err)
	}
	client := redis.NewClient(opt)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis %s: %w", redactURL(cfg.RedisURL), err)
	}
	return &shared{
		cache:   cache.NewRedis(client, "gridhub:"),
		limiter: ratelimit.NewRedis(client, limit, "gridhub:rate:"),
		close:   func() { client.Close() },
	}, nil
}

// openVerifier verifies bearer tokens: against the JWKS in production, and the
// dev key too under gridhub dev.
func openVerifier(cfg Config) (*auth.Verifier, error) {
	if !cfg.Dev && cfg.JWKSFile == "" && cfg.JWKSURL == "" {
		return nil, fmt.Errorf("no token keys: set GRIDHUB_JWKS_FILE or GRIDHUB_JWKS_URL")
	}
	return auth.NewVerifier(auth.Config{
		JWKSFile: cfg.JWKSFile,
		JWKSURL:  cfg.JWKSURL,
		Issuer:   cfg.JWTIssuer,
		Audience: cfg.JWTAudience,
		Dev:      cfg.Dev,
		DevKey:   cfg.DevKey,
	})
}

// loadPolicy reads GRIDHUB_CONFIG/policy.yaml when it exists, the built-in
// purpose catalogue otherwise.
func loadPolicy(cfg Config, depts []*connectors.Department) (*policy.Policy, error) {
	path := ""
	if cfg.ConfigDir != "" {
		if p := filepath.Join(cfg.ConfigDir, "policy.yaml"); fileExists(p) {
			path = p
		}
	}
	return policy.Load(path, depts)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// openFederation opens a connector for every department.
func openFederation(depts []*connectors.Department, c cache.Cache, keys *secret.Keys, reg prometheus.Registerer) (*federation.Federation, error) {
	return federation.New(depts, federation.Options{Cache: c, Blinder: keys, Metrics: reg})
}

// openReports loads the field catalogue and the report templates and checks
// them against the departments' write-back fields.
func openReports(st *store.Store, depts []*connectors.Department, fed *federation.Federation, keys *secret.Keys) (*report.Service, error) {
	cat, err := report.DefaultCatalogue()
	if err != nil {
		return nil, err
	}
	if err := cat.CheckDepartments(depts); err != nil {
		return nil, err
	}
	templates, err := report.DefaultTemplates(cat)
	if err != nil {
		return nil, err
	}
	return report.NewService(st.Pool, cat, templates, fed, report.Options{Opener: keys})
}
