package sql

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/connectors/connectortest"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/ident"
)

func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }

// conformanceSchema is the legacy schema of testdata/conformance.yaml.
const conformanceSchema = `
CREATE TABLE dibao (
	id   serial PRIMARY KEY,
	sfzh varchar(20),
	dblx smallint,
	bzje numeric(10, 2),
	qsrq date,
	zt   smallint,
	jtrk integer,
	bz   text,
	scbz char(1) NOT NULL DEFAULT '0',
	gxsj timestamp NOT NULL DEFAULT localtimestamp
);
CREATE TABLE zfjl (
	id   serial PRIMARY KEY,
	zjhm text,
	zfrq date,
	zfnr varchar(50),
	sc   bigint,
	gxsj timestamp NOT NULL DEFAULT localtimestamp
);
CREATE TABLE sb_inbox (
	idempotency_key varchar(100) PRIMARY KEY,
	sfzh        varchar(18) NOT NULL,
	dblx        smallint,
	bzje        numeric(10, 2),
	qsrq        date,
	zt          smallint,
	jtrk        integer,
	bz          text,
	zfqk        text,
	tbsj        timestamp,
	received_at timestamptz NOT NULL DEFAULT now()
);`

// queryCounter counts the queries a pool runs.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func loadDept(t *testing.T, dsn string) *connectors.Department {
	t.Helper()
	d, err := connectors.LoadDepartment(filepath.Join("testdata", "conformance.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d.Source.SQL.DSN = dsn
	return d
}

func openSource(t *testing.T, d *connectors.Department, configure func(*pgxpool.Config)) *Source {
	t.Helper()
	s, err := open(d, configure)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newDB makes a database with the conformance schema and returns its URL and
// a pool to fill it.
func newDB(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	url := devenv.NewDatabase(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := pool.Exec(ctx, conformanceSchema); err != nil {
		t.Fatal(err)
	}
	return url, pool
}

func exec(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// insertFixture writes the fixture rows in source order, in the columns'
// own types.
func insertFixture(t *testing.T, pool *pgxpool.Pool, d *connectors.Department, fx connectortest.Fixture) {
	t.Helper()
	as, _ := d.Set(connectortest.Assistance)
	level := as.Fields[0]
	for _, r := range fx.RowsOf(connectortest.Assistance) {
		rec := r.Record
		code, err := strconv.Atoi(connectortest.SourceText(level, rec["level"]))
		if err != nil {
			t.Fatal(err)
		}
		zt := 0
		if rec["active"].(bool) {
			zt = 1
		}
		exec(t, pool, `INSERT INTO dibao (sfzh, dblx, bzje, qsrq, zt, jtrk, bz, gxsj) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			r.SourceKey, code, rec["amount"], rec["since"], zt, rec["members"], rec["note"], wall(r.Updated))
	}
	for _, r := range fx.RowsOf(connectortest.Visits) {
		rec := r.Record
		exec(t, pool, `INSERT INTO zfjl (zjhm, zfrq, zfnr, sc, gxsj) VALUES ($1, $2, $3, $4, $5)`,
			r.SourceKey, rec["visitedOn"], rec["topic"], rec["minutes"], wall(r.Updated))
	}
}

// wall is t as a timestamp-without-time-zone value: its wall clock, as legacy
// schemas keep local time.
func wall(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, func(t *testing.T, fx connectortest.Fixture) connectortest.Instance {
		url, pool := newDB(t)
		d := loadDept(t, url)
		insertFixture(t, pool, d, fx)
		var queries queryCounter
		s := openSource(t, d, func(c *pgxpool.Config) { c.ConnConfig.Tracer = &queries })
		return connectortest.Instance{Conn: s, Dept: d, RoundTrips: func() int { return int(queries.n.Load()) }}
	})
}

func TestSample(t *testing.T) {
	d, err := connectors.LoadDepartment("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != Kind {
		t.Errorf("sample kind = %q, want %q", d.Kind, Kind)
	}
	// Opening does not connect, so the sample opens with no database.
	c, err := connectors.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	c.(connectors.Closer).Close()
}

func testID(t *testing.T, seq int) string {
	t.Helper()
	id, err := ident.NewResidentID("340702", time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC), seq)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func readKeys(s *Source, keys ...string) (connectors.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Read(ctx, connectors.ReadRequest{Entity: connectors.Person, Keys: keys})
}

func TestBadRowsAreSkipped(t *testing.T) {
	url, pool := newDB(t)
	a, b := testID(t, 1), testID(t, 2)
	wrongCheck := a[:17] + string("10X98765432"[(strings.IndexByte("10X98765432", a[17])+1)%11])
	exec(t, pool, `INSERT INTO dibao (sfzh, dblx, bzje, qsrq, zt, jtrk) VALUES
		($1, 1, 100, '2020-01-01', 1, 1),
		($2, 1, 200, '2020-01-01', 1, 1),
		($3, 9, 300, '2020-01-01', 1, 1),
		($3, 2, 400, '2020-01-01', 7, 1)`, a, wrongCheck, b)
	s := openSource(t, loadDept(t, url), nil)
	res, err := readKeys(s, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[a]["assistance"][0]["amount"] != 100.0 {
		t.Errorf("Read = %v, want only a's record", res)
	}
	// The wrong check digit does not match a key asked for, so it is never
	// returned; b's two rows (unknown code 9, status 7) are skipped.
	if got := s.Skipped(); got != 2 {
		t.Errorf("Skipped() = %d, want 2", got)
	}

	// When every row fails, the mapping is wrong: an error that names the
	// field without showing the ID.
	_, err = readKeys(s, b)
	var perm *connectors.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "field level: unknown code \"9\"") {
		t.Errorf("Read of only bad rows: err = %v, want a permanent error naming the field", err)
	}
	if err != nil && strings.Contains(err.Error(), b) {
		t.Errorf("error shows the ID: %v", err)
	}
}

func TestFirstGenerationKeys(t *testing.T) {
	if got := queryKeys(connectors.Person, []string{"34070219800517002X", "340702200005170027", "91340700MA2N0B0X1P"}); strings.Join(got, ",") != "34070219800517002X,340702800517002,340702200005170027,91340700MA2N0B0X1P" {
		t.Errorf("queryKeys = %v", got)
	}
	if got := queryKeys(connectors.Organization, []string{"91340719MA2N0B0X1P"}); len(got) != 1 {
		t.Errorf("queryKeys for organizations = %v, want the codes alone", got)
	}
}

func TestMissingTable(t *testing.T) {
	url := devenv.NewDatabase(t)
	s := openSource(t, loadDept(t, url), nil)
	_, err := readKeys(s, testID(t, 1))
	var perm *connectors.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), "dibao") || !strings.Contains(err.Error(), "conformance_sql") {
		t.Errorf("Read with a missing table: err = %v, want a permanent error naming the table and department", err)
	}
	if err := s.Health(context.Background()); err != nil {
		t.Errorf("Health() = %v; the database answers", err)
	}
}

func TestMissingColumn(t *testing.T) {
	url, _ := newDB(t)
	d := loadDept(t, url)
	d.Records[1].Query = `SELECT zjhm AS sfzh, zfrq FROM zfjl WHERE upper(zjhm) = ANY($1)`
	s := openSource(t, d, nil)
	_, err := s.Read(context.Background(), connectors.ReadRequest{Entity: connectors.Person, Keys: []string{testID(t, 1)}, Sets: []string{"visits"}})
	var perm *connectors.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), `"zfnr", "sc"`) {
		t.Errorf("Read with columns missing: err = %v, want a permanent error naming them", err)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := openSource(t, loadDept(t, "postgres://gridhub@"+addr+"/x?sslmode=disable&connect_timeout=2"), nil)
	_, err = readKeys(s, testID(t, 1))
	if !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Read from a closed port: err = %v, want ErrNotConnected", err)
	}
	if err := s.Health(context.Background()); !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Health on a closed port: err = %v, want ErrNotConnected", err)
	}
}

// TestStoppedDatabase reads from a server that worked and then stopped, with
// connections left in the pool.
func TestStoppedDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own PostgreSQL server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := devenv.StartPostgresWith(ctx, filepath.Join(t.TempDir(), "data"), nil, devenv.Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop(context.Background())
	url := pg.URL("postgres")
	admin, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, conformanceSchema); err != nil {
		t.Fatal(err)
	}
	admin.Close()

	s := openSource(t, loadDept(t, url), nil)
	if _, err := readKeys(s, testID(t, 1)); err != nil {
		t.Fatalf("Read while the server runs: %v", err)
	}
	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = readKeys(s, testID(t, 1))
	if !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Read after the server stopped: err = %v, want ErrNotConnected", err)
	}
	if err := s.Health(context.Background()); !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Health after the server stopped: err = %v, want ErrNotConnected", err)
	}
}

func TestClosed(t *testing.T) {
	s, err := open(loadDept(t, "postgres://gridhub@127.0.0.1:1/x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := readKeys(s, testID(t, 1)); !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Read after Close: err = %v, want ErrNotConnected", err)
	}
}

func TestEmptyDSN(t *testing.T) {
	if _, err := Open(loadDept(t, " ")); err == nil || !strings.Contains(err.Error(), "dsn is empty") {
		t.Errorf("Open with an empty DSN: err = %v", err)
	}
}

func TestSlowQueryTimesOut(t *testing.T) {
	url, _ := newDB(t)
	d := loadDept(t, url)
	d.Records[0].Query = `SELECT sfzh, dblx, bzje, qsrq, zt, jtrk, bz FROM dibao, pg_sleep(10) WHERE upper(sfzh) = ANY($1)`
	s := openSource(t, d, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := s.Read(ctx, connectors.ReadRequest{Entity: connectors.Person, Keys: []string{testID(t, 1)}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Read of a slow query: err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Read of a slow query returned after %s", d)
	}
}
