package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"github.com/riverqueue/river"

	_ "github.com/gridhub/gridhub/connectors/all" // the connector kinds
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/cache"
	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/ratelimit"
	"github.com/gridhub/gridhub/internal/report"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/signin"
)

// loadConfig loads and checks the configuration directory (GRIDHUB_CONFIG,
// or the built-in one), logging its warnings. Its error lists every problem,
// one per line, file:line first.
func loadConfig(dir string) (*config.Config, error) {
	c, err := config.Load(dir)
	if err != nil {
		problems := config.Problems(err)
		return nil, fmt.Errorf("configuration %s: %d problem(s):\n  %s", orBuiltin(dir), len(problems), strings.Join(problems, "\n  "))
	}
	for _, w := range c.Warnings {
		slog.Warn("configuration", "warning", w.Error())
	}
	return c, nil
}

func orBuiltin(dir string) string {
	if dir == "" {
		return "(built-in)"
	}
	return dir
}

// configured is what of the hub follows the configuration directory, and
// how a new one is put in force (a reload).
type configured struct {
	dir        string
	live       *config.Live
	fed        *federation.Federation
	reports    *report.Service
	agg        *indicators.Aggregator
	figures    *indicators.Service
	syncer     *factsync.Syncer
	deliveries *river.Client[pgx.Tx]
	// queues are the delivery queues the client works.
	queues map[string]bool
	// leading reports whether this replica leads: only the leader brings a
	// new configuration's facts and indicators in at once.
	leading func() bool
}

// deliveryWorkers is how many deliveries of one department run at once in
// one hub.
const deliveryWorkers = 4

// reload re-reads the configuration directory, checks it, and puts it in
// force only if it is valid: departments opened (a changed one reopened, a
// removed one closed once the calls under way end), catalogues and the
// policy swapped, a delivery queue added for a new department, the
// indicators recomputed when their definitions changed. Requests under way
// finish under the configuration they began with. An invalid directory is
// logged with its problems and the configuration in force stays.
func (c *configured) reload(ctx context.Context) error {
	next, err := loadConfig(c.dir)
	if err != nil {
		slog.Error("configuration reload refused: the configuration in force stays", "err", err)
		return err
	}
	if err := c.fed.Reconfigure(next.Departments); err != nil {
		slog.Error("configuration reload refused: the configuration in force stays", "err", err)
		return err
	}
	for _, code := range next.Codes() {
		if c.queues[code] {
			continue
		}
		if err := c.deliveries.Queues().Add(report.QueueName(code), river.QueueConfig{MaxWorkers: deliveryWorkers}); err != nil {
			slog.Error("configuration reload: delivery queue", "department", code, "err", err)
			continue
		}
		c.queues[code] = true
	}
	// The policy follows the federation at once: a request that finds a
	// department its policy does not configure answers that it is not
	// configured (graph.recordSets), never that its fields are withheld.
	old := c.live.Get()
	c.live.Set(next)
	c.reports.Reconfigure(next.Catalogue, next.Templates)
	c.agg.Reconfigure(next.Indicators)
	c.figures.Reconfigure(next.Indicators)
	slog.Info("configuration reloaded", "dir", orBuiltin(c.dir), "departments", strings.Join(next.Codes(), ","))
	// Indicators of a new catalogue, and a new department's facts, are
	// brought in at once rather than at the next tick, by the replica that
	// syncs (every replica reloads on the same change).
	if c.leading != nil && !c.leading() {
		return nil
	}
	go func() {
		if err := c.syncer.Prepare(ctx); err != nil && ctx.Err() == nil {
			slog.Warn("configuration reload: recompute indicators", "err", err)
		}
		for _, code := range next.Codes() {
			if _, had := old.Department(code); had {
				continue
			}
			if _, err := c.syncer.SyncDepartment(ctx, code, false); err != nil && ctx.Err() == nil {
				slog.Warn("configuration reload: first sync", "department", code, "err", err)
			}
		}
	}()
	return nil
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
		if !cfg.Dev {
			slog.Warn("GRIDHUB_REDIS_URL is not set: rate limits, persisted queries and recent copies are this replica's own; " +
				"several replicas need a shared Redis for a caller's limit to hold across them")
		}
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
// dev key too under gridhub dev. A dept_officer's department must be one the
// configuration in force has.
//
// With staff sign-in configured it also accepts the hub's own session
// tokens, under the key derived from the master key.
func openVerifier(cfg Config, live *config.Live, keys *secret.Keys) (*auth.Verifier, error) {
	if !cfg.Dev && cfg.JWKSFile == "" && cfg.JWKSURL == "" && cfg.OIDC.Issuer == "" {
		return nil, fmt.Errorf("no token keys: set GRIDHUB_JWKS_FILE or GRIDHUB_JWKS_URL, or staff sign-in (GRIDHUB_OIDC_ISSUER)")
	}
	var session ed25519.PublicKey
	if cfg.OIDC.Issuer != "" {
		session = keys.SessionTokenKey().Public().(ed25519.PublicKey)
	}
	return auth.NewVerifier(auth.Config{
		SessionKey:  session,
		JWKSFile:    cfg.JWKSFile,
		JWKSURL:     cfg.JWKSURL,
		Issuer:      cfg.JWTIssuer,
		Audience:    cfg.JWTAudience,
		Dev:         cfg.Dev,
		DevKey:      cfg.DevKey,
		Departments: func() []string { return live.Get().Codes() },
	})
}

// openSignIn is the staff sign-in through the identity provider, or nil
// when none is configured (the pages then offer a dev hub's paste-a-token
// card, or say sign-in is not set up).
func openSignIn(cfg Config, live *config.Live, keys *secret.Keys) (*signin.Service, error) {
	if cfg.OIDC.Issuer == "" {
		return nil, nil
	}
	if live.Get().Signin == nil {
		slog.Warn("staff sign-in: the configuration directory has no signin.yaml: nobody can sign in until it maps the provider's claims onto roles")
	}
	s, err := signin.New(signin.Options{
		Issuer:       cfg.OIDC.Issuer,
		ClientID:     cfg.OIDC.ClientID,
		ClientSecret: cfg.OIDC.ClientSecret,
		RedirectURL:  cfg.OIDC.RedirectURL,
		Scopes:       cfg.OIDC.Scopes,
		TokenTTL:     cfg.OIDC.TokenTTL,
		SessionTTL:   cfg.OIDC.SessionTTL,
		TokenKey:     keys.SessionTokenKey(),
		CookieKey:    keys.SignInCookieKey(),
		Mapping:      func() *signin.Mapping { return live.Get().Signin },
		Dev:          cfg.Dev,
	})
	if err != nil {
		return nil, fmt.Errorf("staff sign-in (GRIDHUB_OIDC_*): %w", err)
	}
	return s, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
