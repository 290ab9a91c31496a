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
	"github.com/gridhub/gridhub/internal/cache"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/secret"
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

// openCache is Redis when configured, so replicas share copies, else in-process.
func openCache(ctx context.Context, cfg Config) (cache.Cache, func(), error) {
	if cfg.RedisURL == "" {
		return cache.NewMemory(200_000), func() {}, nil
	}
	opt, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("GRIDHUB_REDIS_URL: %w", err)
	}
	client := redis.NewClient(opt)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("redis %s: %w", redactURL(cfg.RedisURL), err)
	}
	return cache.NewRedis(client, "gridhub:"), func() { client.Close() }, nil
}

// openFederation opens a connector for every department.
func openFederation(cfg Config, c cache.Cache, keys *secret.Keys, reg prometheus.Registerer) (*federation.Federation, error) {
	depts, err := loadDepartments(cfg)
	if err != nil {
		return nil, err
	}
	return federation.New(depts, federation.Options{Cache: c, Blinder: keys, Metrics: reg})
}
