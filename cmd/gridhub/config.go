package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/signin"
	"github.com/gridhub/gridhub/internal/store"
)

// Config is what serve needs, from flags and the environment.
type Config struct {
	Addr        string // GRIDHUB_ADDR, --addr
	DatabaseURL string // GRIDHUB_DATABASE_URL
	// DatabaseReplicaURL, when set, is a streaming replica of the database
	// that master-index reads go to while it keeps within ReplicaMaxLag.
	DatabaseReplicaURL string        // GRIDHUB_DATABASE_REPLICA_URL
	ReplicaMaxLag      time.Duration // GRIDHUB_DATABASE_REPLICA_MAX_LAG, default 5s
	RedisURL           string        // GRIDHUB_REDIS_URL, optional
	ConfigDir          string        // GRIDHUB_CONFIG: departments, policy, templates
	SecretKey          string        // GRIDHUB_SECRET_KEY: base64 master key for ID blinding and sealing
	JWKSFile           string        // GRIDHUB_JWKS_FILE: public keys that sign bearer tokens
	JWKSURL            string        // GRIDHUB_JWKS_URL: the same, fetched and refreshed
	JWTIssuer          string        // GRIDHUB_JWT_ISSUER, checked when set
	JWTAudience        string        // GRIDHUB_JWT_AUDIENCE, checked when set
	// OIDC is the staff sign-in through the city's identity provider; its
	// Issuer is empty when there is none.
	OIDC OIDCConfig
	// TrustedDocuments, when set, is a manifest of the only operations that run.
	TrustedDocuments string // GRIDHUB_TRUSTED_DOCUMENTS
	// RateLimit is requests per second per caller (burst twice that).
	RateLimit int // GRIDHUB_RATE_LIMIT, default 50
	// SyncInterval is how often serve pulls the departments' fact feeds.
	SyncInterval time.Duration // GRIDHUB_SYNC_INTERVAL, default 5m
	// SyncParallel is how many departments a round of fact syncs reads at
	// once, the largest (as of its last sync) first.
	SyncParallel int // GRIDHUB_SYNC_PARALLEL, default 2
	Dev          bool
	// PprofAddr, when set, serves net/http/pprof on this loopback address.
	PprofAddr string // GRIDHUB_PPROF_ADDR
	// WatchConfig reloads the configuration directory when a file in it
	// changes (gridhub dev --config); SIGHUP reloads it in any case.
	WatchConfig bool
	// DevKey signs and verifies dev tokens; set by gridhub dev only.
	DevKey []byte
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout time.Duration
	// ShutdownDelay is how long a stopping hub goes on serving, with
	// /readyz answering 503, before it stops taking connections: the time a
	// load balancer needs to see it leave and send new requests elsewhere.
	ShutdownDelay time.Duration // GRIDHUB_SHUTDOWN_DELAY, default 5s (0 under dev)
	// AuditCheckpoints is the directory signed checkpoints of the audit
	// ledger's head are written to (empty: none), every
	// AuditCheckpointInterval when the head moved, and on shutdown.
	AuditCheckpoints        string        // GRIDHUB_AUDIT_CHECKPOINTS; under dev, DIR/audit-checkpoints
	AuditCheckpointInterval time.Duration // GRIDHUB_AUDIT_CHECKPOINT_INTERVAL, default 1m
	// SnapshotPeriod is the period of the indicator snapshots the sync
	// leader takes by itself: month (also empty), week, day or off.
	SnapshotPeriod string // GRIDHUB_SNAPSHOT_PERIOD, default month
}

// OIDCConfig is the staff sign-in's provider (package signin); the claims
// mapping is signin.yaml of the configuration directory.
type OIDCConfig struct {
	Issuer       string        // GRIDHUB_OIDC_ISSUER
	ClientID     string        // GRIDHUB_OIDC_CLIENT_ID
	ClientSecret string        // GRIDHUB_OIDC_CLIENT_SECRET, optional
	RedirectURL  string        // GRIDHUB_OIDC_REDIRECT_URL: https://<hub>/auth/callback
	Scopes       []string      // GRIDHUB_OIDC_SCOPES, space or comma separated (default profile)
	SessionTTL   time.Duration // GRIDHUB_OIDC_SESSION_TTL, default 8h
	TokenTTL     time.Duration // GRIDHUB_SESSION_TOKEN_TTL, default 10m
}

// String describes the configuration with secrets masked, for the start-up log.
func (c Config) String() string {
	mask := func(s string) string {
		if s == "" {
			return "(unset)"
		}
		return "(set)"
	}
	return fmt.Sprintf("addr=%s database=%s replica=%s redis=%s config=%q secret_key=%s jwks_file=%q jwks_url=%q oidc_issuer=%q oidc_client_secret=%s trusted_documents=%q rate_limit=%d dev=%t",
		c.Addr, redactURL(c.DatabaseURL), redactURL(c.DatabaseReplicaURL), redactURL(c.RedisURL), c.ConfigDir, mask(c.SecretKey),
		c.JWKSFile, c.JWKSURL, c.OIDC.Issuer, mask(c.OIDC.ClientSecret), c.TrustedDocuments, c.RateLimit, c.Dev)
}

func configFromEnv() Config {
	return Config{
		Addr:        envOr("GRIDHUB_ADDR", ":8080"),
		DatabaseURL: os.Getenv("GRIDHUB_DATABASE_URL"),
		// Master-index reads: a streaming replica's, while it keeps up.
		DatabaseReplicaURL: os.Getenv("GRIDHUB_DATABASE_REPLICA_URL"),
		ReplicaMaxLag:      envDuration("GRIDHUB_DATABASE_REPLICA_MAX_LAG", store.DefaultMaxReplicaLag),
		RedisURL:           os.Getenv("GRIDHUB_REDIS_URL"),
		ConfigDir:          os.Getenv("GRIDHUB_CONFIG"),
		SecretKey:          os.Getenv("GRIDHUB_SECRET_KEY"),
		JWKSFile:           os.Getenv("GRIDHUB_JWKS_FILE"),
		JWKSURL:            os.Getenv("GRIDHUB_JWKS_URL"),
		JWTIssuer:          os.Getenv("GRIDHUB_JWT_ISSUER"),
		JWTAudience:        os.Getenv("GRIDHUB_JWT_AUDIENCE"),
		TrustedDocuments:   os.Getenv("GRIDHUB_TRUSTED_DOCUMENTS"),
		OIDC: OIDCConfig{
			Issuer:       os.Getenv("GRIDHUB_OIDC_ISSUER"),
			ClientID:     os.Getenv("GRIDHUB_OIDC_CLIENT_ID"),
			ClientSecret: os.Getenv("GRIDHUB_OIDC_CLIENT_SECRET"),
			RedirectURL:  os.Getenv("GRIDHUB_OIDC_REDIRECT_URL"),
			Scopes:       strings.FieldsFunc(os.Getenv("GRIDHUB_OIDC_SCOPES"), func(r rune) bool { return r == ' ' || r == ',' }),
			SessionTTL:   envDuration("GRIDHUB_OIDC_SESSION_TTL", signin.DefaultSessionTTL),
			TokenTTL:     envDuration("GRIDHUB_SESSION_TOKEN_TTL", signin.DefaultTokenTTL),
		},
		RateLimit:       envInt("GRIDHUB_RATE_LIMIT", 50),
		SyncInterval:    envDuration("GRIDHUB_SYNC_INTERVAL", 5*time.Minute),
		SyncParallel:    envInt("GRIDHUB_SYNC_PARALLEL", 2),
		PprofAddr:       os.Getenv("GRIDHUB_PPROF_ADDR"),
		ShutdownTimeout: 15 * time.Second,
		ShutdownDelay:   envDurationOrZero("GRIDHUB_SHUTDOWN_DELAY", 5*time.Second),
		// The audit ledger's checkpoints: none unless a directory is given.
		AuditCheckpoints:        os.Getenv("GRIDHUB_AUDIT_CHECKPOINTS"),
		AuditCheckpointInterval: envDuration("GRIDHUB_AUDIT_CHECKPOINT_INTERVAL", time.Minute),
		SnapshotPeriod:          os.Getenv("GRIDHUB_SNAPSHOT_PERIOD"),
	}
}

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil && n > 0 {
		return n
	}
	return def
}

func envDuration(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(key)); err == nil && d > 0 {
		return d
	}
	return def
}

// envDurationOrZero is envDuration where 0 is a value one may set.
func envDurationOrZero(key string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(key)); err == nil && d >= 0 {
		return d
	}
	return def
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// defaultDataDir is the data dir of every command that takes --data-dir and
// is not given one: where gridhub dev keeps it, ./.gridhub.
const defaultDataDir = ".gridhub"

// dataDirFlag registers --data-dir on fs, with the one default and help text
// every command shares (a test checks that no command registers its own).
func dataDirFlag(fs *flag.FlagSet) *string {
	return fs.String("data-dir", defaultDataDir, "a gridhub dev data dir (commands that act on a database use GRIDHUB_DATABASE_URL instead when it is set and --data-dir is not given)")
}

// flagGiven reports whether the flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// databaseDir resolves --data-dir for a command that acts on a database: the
// data dir given; else "" (GRIDHUB_DATABASE_URL) when that is set; else
// ./.gridhub, which must then be a data dir gridhub dev made, so that a
// command run in the wrong directory says so instead of making a cluster.
func databaseDir(fs *flag.FlagSet, dir string, getenv func(string) string) (string, error) {
	if flagGiven(fs, "data-dir") {
		return dir, nil
	}
	if getenv("GRIDHUB_DATABASE_URL") != "" {
		return "", nil
	}
	if !isDevDataDir(dir) {
		return "", fmt.Errorf("no database: %s is not a gridhub dev data dir here (run gridhub dev first), so give --data-dir DIR or set GRIDHUB_DATABASE_URL", dir)
	}
	return dir, nil
}

// isDevDataDir reports whether dir is a data dir gridhub dev (or gridhub
// seed --data-dir) made: it holds a database cluster or the master key.
func isDevDataDir(dir string) bool {
	d := dataDir(dir)
	return exists(d.postgres()) || exists(d.secretKey())
}

// dataDir is the layout of a "gridhub dev" data dir.
type dataDir string

func (d dataDir) postgres() string  { return filepath.Join(string(d), "postgres") }
func (d dataDir) redis() string     { return filepath.Join(string(d), "redis") }
func (d dataDir) secretKey() string { return filepath.Join(string(d), "secret.key") }
func (d dataDir) truth() string     { return filepath.Join(string(d), "truth") }
func (d dataDir) logs() string      { return filepath.Join(string(d), "logs") }

// auditCheckpoints is where gridhub dev writes the audit ledger's signed
// checkpoints, and where verify-audit --data-dir looks for them.
func (d dataDir) auditCheckpoints() string { return filepath.Join(string(d), "audit-checkpoints") }

// configPath records the configuration directory gridhub dev runs with
// (--config), for the commands that act on the data dir.
func (d dataDir) configPath() string { return filepath.Join(string(d), "config.path") }

const devDatabase = "gridhub"

// target is a database an operator command acts on: a dev data dir's (started
// for the duration of the command when it is not running) or GRIDHUB_DATABASE_URL.
type target struct {
	url  string
	keys *secret.Keys
	stop func()
}

// openTarget resolves --data-dir or the environment into a database URL and keys.
func openTarget(ctx context.Context, dir string) (*target, error) {
	if dir == "" {
		url := os.Getenv("GRIDHUB_DATABASE_URL")
		if url == "" {
			return nil, errors.New("no database: give --data-dir DIR or set GRIDHUB_DATABASE_URL")
		}
		keys, err := keysFromEnv()
		if err != nil {
			return nil, err
		}
		return &target{url: url, keys: keys, stop: func() {}}, nil
	}
	d := dataDir(dir)
	if url, err := os.ReadFile(filepath.Join(dir, "database.url")); err == nil && reachable(ctx, string(url)) {
		keys, err := secret.LoadOrCreate(d.secretKey())
		if err != nil {
			return nil, err
		}
		return &target{url: string(url), keys: keys, stop: func() {}}, nil
	}
	pg, err := devenv.StartPostgres(ctx, d.postgres(), logFile(d, "postgres.log"))
	if err != nil {
		return nil, err
	}
	if err := pg.CreateDatabase(ctx, devDatabase); err != nil {
		pg.Stop(context.Background())
		return nil, err
	}
	keys, err := secret.LoadOrCreate(d.secretKey())
	if err != nil {
		pg.Stop(context.Background())
		return nil, err
	}
	return &target{url: pg.URL(devDatabase), keys: keys, stop: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pg.Stop(ctx)
	}}, nil
}

func keysFromEnv() (*secret.Keys, error) {
	k := os.Getenv("GRIDHUB_SECRET_KEY")
	if k == "" {
		return nil, errors.New("GRIDHUB_SECRET_KEY is not set: the master key (32 bytes, base64) that blinds and seals resident ID numbers")
	}
	return secret.Parse(k)
}
