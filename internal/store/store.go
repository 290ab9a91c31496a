// Package store is the hub's Postgres: the connection pool, the embedded schema
// migrations, and the bulk loader of a generated city.
package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store holds the pool every service shares.
type Store struct {
	Pool *pgxpool.Pool
	db   *sql.DB // the pool seen through database/sql, for goose
}

// Open connects to the database at url and checks that it answers.
func Open(ctx context.Context, url string) (*Store, error) {
	pool, err := openPool(ctx, url)
	if err != nil {
		return nil, err
	}
	return &Store{Pool: pool, db: stdlib.OpenDBFromPool(pool)}, nil
}

// openPool connects a pool to url, sized for the hub, and checks that the
// database answers.
func openPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	pool, err := newPool(url)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		cc := pool.Config().ConnConfig
		return nil, fmt.Errorf("store: ping %s@%s:%d/%s: %w", cc.User, cc.Host, cc.Port, cc.Database, err)
	}
	return pool, nil
}

// newPool makes a pool for url, sized for the hub; it connects on first use.
func newPool(url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: parse database URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (the CPU count, at least 4) makes requests queue for
		// a connection while others wait on the network: a request holds one
		// for a few round trips at most, and the ledger's writer, River's
		// workers and the fact sync hold theirs too.
		cfg.MaxConns = int32(max(16, 4*runtime.NumCPU()))
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	return pool, nil
}

// Close releases the pool.
func (s *Store) Close() {
	s.db.Close()
	s.Pool.Close()
}

func (s *Store) migrator() (*goose.Provider, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectPostgres, s.db, sub)
}

// Migrate applies every pending migration, the hub's own and the job queue's
// (River), and returns how many it applied.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	p, err := s.migrator()
	if err != nil {
		return 0, err
	}
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("store: migrate: %w", err)
	}
	rm, err := rivermigrate.New(riverpgxv5.New(s.Pool), nil)
	if err != nil {
		return len(res), err
	}
	rres, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return len(res), fmt.Errorf("store: migrate job queue: %w", err)
	}
	if err := s.grantApp(ctx); err != nil {
		return len(res) + len(rres.Versions), err
	}
	return len(res) + len(rres.Versions), nil
}

// AppRole is the role the hub's own LOGIN role is a member of: what
// grants.sql allows it, and nothing more.
const AppRole = "gridhub_app"

// DevLogin is the LOGIN role gridhub dev and the tests run the hub as, on
// their own clusters.
const DevLogin = "gridhub_hub"

//go:embed grants.sql
var grantsSQL string

// grantApp gives AppRole exactly what grants.sql says, on every table the
// migrations made. A database whose migrating role cannot create roles may
// lack AppRole until its administrator creates it: then nothing is granted,
// and Migrate says so.
func (s *Store) grantApp(ctx context.Context) error {
	var exists bool
	if err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, AppRole).Scan(&exists); err != nil {
		return fmt.Errorf("store: grants: %w", err)
	}
	if !exists {
		slog.Warn("store: role gridhub_app does not exist: create it (CREATE ROLE gridhub_app NOLOGIN) and migrate again, so the hub's role gets its grants")
		return nil
	}
	if _, err := s.Pool.Exec(ctx, grantsSQL); err != nil {
		return fmt.Errorf("store: grants to %s: %w", AppRole, err)
	}
	return nil
}

// EnsureLogin makes name a LOGIN role that is a member of AppRole (and
// nothing else), for a hub to connect as: what gridhub dev and the tests do
// on their own clusters; in production the administrator does it.
func (s *Store) EnsureLogin(ctx context.Context, name string) error {
	_, err := s.Pool.Exec(ctx, `DO $$ BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = `+quoteLiteral(name)+`) THEN
			CREATE ROLE `+pgx.Identifier{name}.Sanitize()+` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
		END IF;
	EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
	END $$`)
	if err == nil {
		_, err = s.Pool.Exec(ctx, `GRANT `+AppRole+` TO `+pgx.Identifier{name}.Sanitize())
	}
	if err != nil {
		return fmt.Errorf("store: login role %s: %w", name, err)
	}
	return nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Pending reports whether migrations remain to apply: the hub is not ready until
// they are.
func (s *Store) Pending(ctx context.Context) (bool, error) {
	p, err := s.migrator()
	if err != nil {
		return false, err
	}
	if pending, err := p.HasPending(ctx); err != nil || pending {
		return pending, err
	}
	rm, err := rivermigrate.New(riverpgxv5.New(s.Pool), nil)
	if err != nil {
		return false, err
	}
	v, err := rm.Validate(ctx, nil)
	if err != nil {
		return false, err
	}
	return !v.OK, nil
}

// AsUser is dbURL connecting as user instead (no password: the dev and test
// clusters trust local connections).
func AsUser(dbURL, user string) (string, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", err
	}
	u.User = url.User(user)
	return u.String(), nil
}
