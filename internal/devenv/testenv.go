package devenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestPostgresURLEnv names the environment variable that points tests at an
// existing PostgreSQL server (a URL whose role may create databases) instead
// of starting one, e.g. for a CI service container.
const TestPostgresURLEnv = "GRIDHUB_TEST_POSTGRES_URL"

// redisDBs is how many Redis databases tests share out (1..15); database 0
// is left alone so a stray client with a default URL cannot clobber a test.
const redisDBs = 15

// shared holds the servers a test binary starts lazily, once, for all its
// tests: starting a cluster per test would cost seconds each.
var shared struct {
	mu sync.Mutex

	pgTried bool
	pg      *Postgres
	pgErr   error
	pgTmp   string

	redisTried bool
	redis      *Redis
	redisErr   error
	redisTmp   string
	redisFree  chan int // free database numbers, handed out in turn
}

// RunTests runs the package's tests and then stops the servers they started
// and deletes their data. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }
//
// Without it the servers still go away when the test binary exits (they get
// a parent-death signal), but their temporary directories are left behind.
func RunTests(m *testing.M) int {
	code := m.Run()
	if err := stopShared(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

func stopShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), defaultStopTimeout)
	defer cancel()
	var errs []error
	if shared.pg != nil {
		errs = append(errs, shared.pg.Stop(ctx))
	}
	if shared.redis != nil {
		errs = append(errs, shared.redis.Stop(ctx))
	}
	for _, dir := range []string{shared.pgTmp, shared.redisTmp} {
		if dir != "" {
			errs = append(errs, os.RemoveAll(dir))
		}
	}
	shared.pg, shared.redis = nil, nil
	shared.pgErr, shared.redisErr = nil, nil
	shared.pgTried, shared.redisTried = false, false
	shared.pgTmp, shared.redisTmp = "", ""
	return errors.Join(errs...)
}

// sharedTempDir makes a temporary directory that a server running as
// another user (postgres, when tests run as root) can traverse:
// os.MkdirTemp creates it 0700, which would lock that user out.
func sharedTempDir(pattern string) (string, error) {
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// sharedPostgres starts the test binary's cluster on first use. A failure is
// remembered, so every test reports it instead of retrying a slow start.
func sharedPostgres() (*Postgres, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.pgTried {
		return shared.pg, shared.pgErr
	}
	shared.pgTried = true
	tmp, err := sharedTempDir("gridhub-test-pg-")
	if err != nil {
		shared.pgErr = fmt.Errorf("devenv: %w", err)
		return nil, shared.pgErr
	}
	shared.pgTmp = tmp
	ctx, cancel := context.WithTimeout(context.Background(), defaultStartTimeout)
	defer cancel()
	shared.pg, shared.pgErr = StartPostgresWith(ctx, filepath.Join(tmp, "data"), nil, Options{Fast: true})
	return shared.pg, shared.pgErr
}

// NewDatabase returns the URL of a new, empty database (made from template0)
// for tb alone, and drops it when tb ends. The server is the one named by
// $GRIDHUB_TEST_POSTGRES_URL when set, else a cluster this test binary
// starts on first use and shares between its tests.
//
// Missing PostgreSQL binaries fail the test rather than skip it, so a
// machine without them cannot pass the suite by testing nothing.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	adminURL := os.Getenv(TestPostgresURLEnv)
	if adminURL == "" {
		pg, err := sharedPostgres()
		if errors.Is(err, ErrNotInstalled) {
			tb.Fatalf("devenv: %v\nPostgreSQL is needed for this test: run `make test`, which installs it (scripts/install-deps.sh)", err)
		}
		if err != nil {
			tb.Fatalf("devenv: starting the test PostgreSQL server: %v", err)
		}
		adminURL = pg.URL("postgres")
	}
	u, err := url.Parse(adminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("devenv: %s must be a postgres:// URL, got %q", TestPostgresURLEnv, adminURL)
	}
	name := testDBName(tb.Name())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := createDatabase(ctx, adminURL, name, "template0"); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := dropDatabase(ctx, adminURL, name); err != nil {
			tb.Error(err)
		}
	})
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// testDBName makes a database name that says which test owns it (handy
// when looking at a server shared with other test binaries) and cannot
// collide, within Postgres's 63-byte identifier limit.
func testDBName(testName string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 40 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return "t_" + b.String() + "_" + hex.EncodeToString(rnd[:])
}

// sharedRedis starts the test binary's redis-server on first use,
// remembering a failure like sharedPostgres.
func sharedRedis() (*Redis, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.redisTried {
		return shared.redis, shared.redisErr
	}
	shared.redisTried = true
	tmp, err := sharedTempDir("gridhub-test-redis-")
	if err != nil {
		shared.redisErr = fmt.Errorf("devenv: %w", err)
		return nil, shared.redisErr
	}
	shared.redisTmp = tmp
	ctx, cancel := context.WithTimeout(context.Background(), defaultStartTimeout)
	defer cancel()
	shared.redis, shared.redisErr = StartRedis(ctx, filepath.Join(tmp, "data"), nil)
	if shared.redisErr == nil {
		shared.redisFree = make(chan int, redisDBs)
		for i := 1; i <= redisDBs; i++ {
			shared.redisFree <- i
		}
	}
	return shared.redis, shared.redisErr
}

// RedisURL returns the URL of a Redis database (1..15 on a redis-server
// this test binary shares between its tests) that no other running test
// uses, and empties it when tb ends. When all 15 are taken it waits for one
// to be given back.
//
// Without redis-server the test is skipped, since Redis is optional for
// gridhub, except when $CI is "true": CI must exercise the Redis paths.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	r, err := sharedRedis()
	if errors.Is(err, ErrNotInstalled) {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("devenv: %v (CI=true: Redis tests must run; install redis-server, e.g. with scripts/install-deps.sh)", err)
		}
		tb.Skipf("devenv: skipping, redis-server is not installed (%v); run scripts/install-deps.sh to run this test", err)
	}
	if err != nil {
		tb.Fatalf("devenv: starting the test redis-server: %v", err)
	}
	var db int
	select {
	case db = <-shared.redisFree:
	case <-time.After(2 * time.Minute):
		tb.Fatalf("devenv: all %d test Redis databases stayed in use for 2 minutes; does one test hold more than %d?", redisDBs, redisDBs)
	}
	u := "redis://" + r.addr() + "/" + strconv.Itoa(db)
	tb.Cleanup(func() {
		defer func() { shared.redisFree <- db }()
		client := redis.NewClient(&redis.Options{Addr: r.addr(), DB: db})
		defer client.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.FlushDB(ctx).Err(); err != nil {
			tb.Errorf("devenv: flushing test Redis database %d: %v", db, err)
		}
	})
	return u
}

// Replicated is a primary and a streaming replica of it, started for one
// test.
type Replicated struct {
	Primary, Replica *Postgres
}

// StartReplicated starts a PostgreSQL primary and a streaming replica of it
// (pg_basebackup, hot standby) for tb alone, both trading durability for
// speed, with database created on the primary (and so on the replica), and
// stops and deletes both when tb ends. Their output goes to one log, shown
// when the test fails.
func StartReplicated(tb testing.TB, database string) *Replicated {
	tb.Helper()
	if _, err := FindPostgresBin(); errors.Is(err, ErrNotInstalled) {
		tb.Fatalf("devenv: %v\nPostgreSQL is needed for this test: run `make test`, which installs it (scripts/install-deps.sh)", err)
	}
	tmp, err := sharedTempDir("gridhub-test-replicated-")
	if err != nil {
		tb.Fatal(err)
	}
	log := newTailBuffer(32 << 10)
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("devenv: primary and replica output (tail):\n%s", log.String())
		}
		os.RemoveAll(tmp)
	})
	ctx, cancel := context.WithTimeout(context.Background(), defaultStartTimeout)
	defer cancel()
	primary, err := StartPostgresWith(ctx, filepath.Join(tmp, "primary"), log, Options{Fast: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { primary.Stop(context.Background()) })
	if err := primary.CreateDatabase(ctx, database); err != nil {
		tb.Fatal(err)
	}
	replica, err := primary.StartReplica(ctx, filepath.Join(tmp, "replica"), log, Options{Fast: true})
	if err != nil {
		tb.Fatal(err)
	}
	// Registered last, run first: the replica stops before its primary.
	tb.Cleanup(func() { replica.Stop(context.Background()) })
	return &Replicated{Primary: primary, Replica: replica}
}
