package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/gridwork"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/store"
	"github.com/gridhub/gridhub/internal/synth"
)

// runDev runs everything on one machine: a throwaway Postgres (and Redis where
// installed) under the data dir, migrations, the demo city on first start, and the
// hub. Every process it starts is stopped when it returns.
func runDev(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	dir := dataDirFlag(fs) // the database cluster, keys, logs, ground truth
	port := fs.Int("port", 8080, "HTTP port on 127.0.0.1")
	scale := fs.String("scale", "demo", "city to generate on first start: demo (铜官区) or city (all of 铜陵市)")
	residents := fs.Int("residents", 0, "scale the generated city to about this many residents (0: natural size)")
	confDir := fs.String("config", os.Getenv("GRIDHUB_CONFIG"), "configuration directory (departments, policy, catalogues; default the built-in one), reloaded when a file in it changes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *confDir != "" {
		abs, err := filepath.Abs(*confDir)
		if err != nil {
			return err
		}
		*confDir = abs
	}
	// Checked before anything starts (serve checks it again).
	conf, err := loadConfig(*confDir)
	if err != nil {
		return err
	}
	d := dataDir(*dir)
	if err := os.MkdirAll(d.logs(), 0o755); err != nil {
		return err
	}
	start := time.Now()

	pg, err := devenv.StartPostgres(ctx, d.postgres(), logFile(d, "postgres.log"))
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := pg.Stop(stopCtx); err != nil {
			slog.Error("stop postgres", "err", err)
		}
	}()
	if err := pg.CreateDatabase(ctx, devDatabase); err != nil {
		return err
	}
	dbURL := pg.URL(devDatabase)
	urlFile := filepath.Join(string(d), "database.url")
	if err := os.WriteFile(urlFile, []byte(dbURL), 0o600); err != nil {
		return err
	}
	defer os.Remove(urlFile)

	cfg := configFromEnv()
	cfg.ConfigDir, cfg.WatchConfig = *confDir, *confDir != ""
	if *confDir != "" {
		if err := os.WriteFile(d.configPath(), []byte(*confDir+"\n"), 0o644); err != nil {
			return err
		}
		defer os.Remove(d.configPath())
	} else {
		os.Remove(d.configPath())
	}
	cfg.Addr = fmt.Sprintf("127.0.0.1:%d", *port)
	cfg.DatabaseURL = dbURL
	cfg.Dev = true
	// One hub and no load balancer: nothing to wait for on the way out.
	cfg.ShutdownDelay = envDurationOrZero("GRIDHUB_SHUTDOWN_DELAY", 0)
	cfg.SyncInterval = envDuration("GRIDHUB_SYNC_INTERVAL", time.Minute)
	cfg.AuditCheckpoints = envOr("GRIDHUB_AUDIT_CHECKPOINTS", d.auditCheckpoints())
	rd, err := devenv.StartRedis(ctx, d.redis(), logFile(d, "redis.log"))
	switch {
	case errors.Is(err, devenv.ErrNotInstalled):
		slog.Warn("redis-server not installed: running with the in-process cache and limiter")
	case err != nil:
		return fmt.Errorf("start redis: %w", err)
	default:
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rd.Stop(stopCtx)
		}()
		cfg.RedisURL = rd.URL()
	}

	keys, err := secret.LoadOrCreate(d.secretKey())
	if err != nil {
		return err
	}
	if cfg.DevKey, err = auth.LoadOrCreateDevKey(d.devJWTKey()); err != nil {
		return err
	}
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	city, err := devCity(ctx, d, st, keys, seedOptions{scale: *scale, residents: *residents, seed: 1, truth: d.truth()})
	if err != nil {
		return err
	}
	if err := prepareDepartments(ctx, d, pg, city); err != nil {
		return err
	}
	sims, err := startSimulators(ctx, d, pg)
	if err != nil {
		return err
	}
	defer stopSimulators(sims)
	defer os.Remove(filepath.Join(string(d), departmentsEnvFile))
	// The hub runs as a role that owns nothing (store/grants.sql), as in
	// production; the setup above ran as the cluster's owner.
	if err := st.EnsureLogin(ctx, store.DevLogin); err != nil {
		return err
	}
	hubURL, err := store.AsUser(dbURL, store.DevLogin)
	if err != nil {
		return err
	}
	hub, err := store.Open(ctx, hubURL)
	if err != nil {
		return err
	}
	defer hub.Close()
	return serve(ctx, cfg, hub, keys, func(addr string) {
		for _, sim := range sims {
			fmt.Printf("department %s: %s (pid %d; kill it to see the hub without it)\n", sim.dept, sim.url, sim.cmd.Process.Pid)
		}
		printDevTokens(os.Stdout, cfg.DevKey, conf.Codes())
		if sc, err := deptsim.Showcase(d.departments()); err == nil && len(sc) > 0 {
			// The numbers stay in the file: a console is a log too.
			fmt.Printf("showcase residents (records in all six departments): %d, ID numbers in %s\n",
				len(sc), filepath.Join(d.departments(), deptsim.TruthDir, "showcase.json"))
		}
		fmt.Printf("graphiql: http://%s/graphiql  (put a token in its Headers tab)\n", addr)
		fmt.Printf("graphql: http://%s/graphql\n", addr)
		slog.Info("ready", "after", time.Since(start).Round(time.Millisecond), "data_dir", *dir)
	})
}

// printDevTokens prints a dev token for each kind of caller, for the demo:
// an officer of each configured department among them.
func printDevTokens(w io.Writer, key []byte, depts []string) {
	principals := []auth.Principal{{Subject: "dev-admin", Roles: []auth.Role{auth.Admin}}}
	for _, d := range depts {
		principals = append(principals, auth.Principal{Subject: "dev-" + strings.ReplaceAll(d, "_", "-"), Roles: []auth.Role{auth.DeptOfficer}, Department: d})
	}
	principals = append(principals,
		auth.Principal{Subject: "dev-street", Roles: []auth.Role{auth.StreetAdmin}, Scope: []string{"340705005"}},
		auth.Principal{Subject: "dev-bi", Roles: []auth.Role{auth.BIReader}},
		auth.Principal{Subject: "dev-auditor", Roles: []auth.Role{auth.Auditor}},
	)
	for _, p := range principals {
		tok, err := auth.DevToken(key, p, 12*time.Hour)
		if err != nil {
			slog.Error("dev token", "subject", p.Subject, "err", err)
			continue
		}
		fmt.Fprintf(w, "token %s: %s\n", p.Subject, tok)
	}
}

// devCity seeds a new data dir with the demo city and remembers the options it
// used, so that what depends on the same city (the department simulators) can
// be rebuilt from them. It returns the city when one is needed now: just
// generated, or regenerated because the department systems were never prepared.
func devCity(ctx context.Context, d dataDir, st *store.Store, keys *secret.Keys, o seedOptions) (*synth.City, error) {
	v, err := st.RegistryVersion(ctx)
	if err != nil {
		return nil, err
	}
	optsFile := d.cityOptions()
	if v == 0 {
		slog.Info("new data dir: generating the demo city", "scale", o.scale, "residents", o.residents)
		city, err := seed(ctx, st, keys, o)
		if err != nil {
			return nil, err
		}
		if err := loadHistory(ctx, st, city); err != nil {
			return nil, err
		}
		return city, recordCity(d, o)
	}
	if deptsim.FilesWritten(d.departments()) {
		return nil, nil
	}
	var saved struct {
		Scale     string `json:"scale"`
		Residents int    `json:"residents"`
		Seed      int64  `json:"seed"`
	}
	b, err := os.ReadFile(optsFile)
	if err != nil {
		return nil, fmt.Errorf("the city in %s was not made by gridhub dev or gridhub seed --data-dir (no city.json); start with a new --data-dir", d)
	}
	if err := json.Unmarshal(b, &saved); err != nil {
		return nil, fmt.Errorf("%s: %w", optsFile, err)
	}
	return synth.Generate(synth.Options{Scale: saved.Scale, Residents: saved.Residents, Seed: saved.Seed})
}

// historyDays is how much of the grid's daily work a new demo city comes
// with, so that 考核 has figures to show.
const historyDays = 60

// loadHistory loads a generated history of the grid's daily work (patrols,
// diary entries, events, home visits) over the days before today.
func loadHistory(ctx context.Context, st *store.Store, city *synth.City) error {
	depts, err := builtin.Departments()
	if err != nil {
		return err
	}
	conf := gridwork.Default(depts)
	h := gridwork.GenerateHistory(city, conf, time.Now().AddDate(0, 0, -1), historyDays, uint64(city.Seed))
	if err := h.Load(ctx, st.Pool, conf); err != nil {
		return err
	}
	slog.Info("loaded the grid's daily work", "days", historyDays, "patrols", len(h.Patrols), "diary_entries", len(h.Entries),
		"events", len(h.Events), "visits", len(h.Visits))
	return nil
}

// cityOptions is where a data dir records how its city was generated, so
// that what depends on the same city (the department simulators) can be
// rebuilt from them.
func (d dataDir) cityOptions() string { return filepath.Join(string(d), "city.json") }

// recordCity records the options a data dir's city was generated with:
// gridhub dev and gridhub seed --data-dir both do.
func recordCity(d dataDir, o seedOptions) error {
	b, _ := json.Marshal(map[string]any{"scale": o.scale, "residents": o.residents, "seed": o.seed})
	return os.WriteFile(d.cityOptions(), b, 0o644)
}

// logFile opens (appending) a log file in the data dir; on failure logs go nowhere
// rather than stopping the dev environment.
func logFile(d dataDir, name string) io.Writer {
	if err := os.MkdirAll(d.logs(), 0o755); err != nil {
		return io.Discard
	}
	f, err := os.OpenFile(filepath.Join(d.logs(), name), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return io.Discard
	}
	return f
}

// reachable tells whether a database URL answers now.
func reachable(ctx context.Context, dbURL string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return false
	}
	conn.Close(ctx)
	return true
}

// redactURL hides a URL's password for logs.
func redactURL(s string) string {
	if s == "" {
		return "(unset)"
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable)"
	}
	return u.Redacted()
}
