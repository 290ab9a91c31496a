package devenv

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { os.Exit(RunTests(m)) }

// testDir returns a temporary directory that the postgres user can reach
// when the tests run as root: t.TempDir's parent is 0700, which it cannot.
func testDir(t *testing.T) string {
	t.Helper()
	dir, err := sharedTempDir("gridhub-devenv-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func requirePostgres(t *testing.T) {
	t.Helper()
	if _, err := FindPostgresBin(); err != nil {
		t.Fatalf("%v: run `make test`, which installs PostgreSQL", err)
	}
}

func requireRedis(t *testing.T) {
	t.Helper()
	if _, err := findRedisServer(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

// assertGone checks that the process has exited. Our own children are
// reaped by Stop, so they must not exist at all; grandchildren killed with
// them are reparented, and a zombie waiting for its new parent counts as
// gone. SIGKILL takes effect asynchronously, hence the short poll.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		stat, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("process %d still exists after Stop (kill 0: %v; stat %q)", pid, err, stat)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestFindPostgresBin(t *testing.T) {
	requirePostgres(t)
	dir, err := FindPostgresBin()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if !isExecutable(filepath.Join(dir, name)) {
			t.Errorf("%s has no executable %s", dir, name)
		}
	}

	// Off PATH, as on a fresh Debian machine, the versioned dir is found.
	t.Setenv("PATH", "/usr/bin:/bin")
	dir, err = FindPostgresBin()
	if matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb"); len(matches) == 0 {
		if !errors.Is(err, ErrNotInstalled) {
			t.Errorf("FindPostgresBin without binaries: got %q, %v; want ErrNotInstalled", dir, err)
		}
		return
	}
	if err != nil || !strings.HasPrefix(dir, "/usr/lib/postgresql/") {
		t.Errorf("FindPostgresBin with minimal PATH = %q, %v", dir, err)
	}
}

func TestCompareVersions(t *testing.T) {
	if compareVersions("15", "9.6") <= 0 || compareVersions("9.6", "10") >= 0 || compareVersions("16", "16") != 0 {
		t.Error("compareVersions does not order numerically")
	}
}

func TestPostgresPersistsAcrossRestart(t *testing.T) {
	requirePostgres(t)
	data := filepath.Join(testDir(t), "pg")
	ctx := ctxFor(t, 2*time.Minute)

	pg, err := StartPostgres(ctx, data, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Stop(context.Background()) })
	if err := pg.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := pg.CreateDatabase(ctx, "app"); err != nil {
		t.Fatalf("CreateDatabase is not idempotent: %v", err)
	}
	conn, err := pgx.Connect(ctx, pg.URL("app"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kv (k text PRIMARY KEY, v text); INSERT INTO kv VALUES ('hello', 'world')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	pid := pg.proc.pid()
	if err := pg.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := pg.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	assertGone(t, pid)
	select {
	case <-pg.Done():
	default:
		t.Error("Done not closed after Stop")
	}
	if _, err := os.Stat(filepath.Join(data, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("postmaster.pid left after a clean stop: %v", err)
	}
	if log, err := os.ReadFile(filepath.Join(filepath.Dir(data), "postgres.log")); err != nil || !bytes.Contains(log, []byte("database system is shut down")) {
		t.Errorf("postgres.log beside the data dir lacks the shutdown message (err %v)", err)
	}

	var log bytes.Buffer
	pg2, err := StartPostgres(ctx, data, &syncWriter{w: &log})
	if err != nil {
		t.Fatalf("restart on existing cluster: %v", err)
	}
	t.Cleanup(func() { pg2.Stop(context.Background()) })
	conn, err = pgx.Connect(ctx, pg2.URL("app"))
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM kv WHERE k = 'hello'").Scan(&v); err != nil || v != "world" {
		t.Fatalf("after restart got %q, %v; want world", v, err)
	}
	conn.Close(ctx)
	if err := pg2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "database system is ready") {
		t.Errorf("log writer did not get the server output:\n%s", log.String())
	}
}

// A dev server killed outright (kill -9 of the whole group, or a machine
// crash) leaves postmaster.pid behind; the next start must not be blocked.
func TestPostgresStalePidFile(t *testing.T) {
	requirePostgres(t)
	data := filepath.Join(testDir(t), "pg")
	ctx := ctxFor(t, 2*time.Minute)
	pg, err := StartPostgresWith(ctx, data, nil, Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	// As the OOM killer would: the postmaster alone, leaving its backends
	// to notice and exit on their own.
	if err := syscall.Kill(pg.proc.pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-pg.Done()
	pidFile := filepath.Join(data, "postmaster.pid")
	if _, err := os.Stat(pidFile); err != nil {
		t.Fatalf("expected a stale postmaster.pid after kill: %v", err)
	}
	// Its PID may since belong to another process (here: this one).
	old, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(old), "\n")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"+rest), 0o600); err != nil {
		t.Fatal(err)
	}
	pg2, err := StartPostgresWith(ctx, data, nil, Options{Fast: true})
	if err != nil {
		t.Fatalf("start after kill: %v", err)
	}
	if err := pg2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// A server that dies during start-up is reported with the reason from its
// log, not just "timed out".
func TestPostgresEarlyExitShowsLog(t *testing.T) {
	requirePostgres(t)
	data := filepath.Join(testDir(t), "pg")
	ctx := ctxFor(t, 2*time.Minute)
	pg, err := StartPostgresWith(ctx, data, nil, Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\nno_such_setting_xyz = 1\n")
	f.Close()
	_, err = StartPostgresWith(ctx, data, nil, Options{Fast: true})
	if err == nil || !strings.Contains(err.Error(), "no_such_setting_xyz") {
		t.Fatalf("got %v; want an error quoting the bad setting from the log", err)
	}
}

// As root, postgres runs as another user, which must be able to reach the
// data dir; t.TempDir's 0700 parent is a real-life example of one it can't.
func TestPostgresUntraversableParentIsRelocated(t *testing.T) {
	requirePostgres(t)
	if os.Geteuid() != 0 {
		t.Skip("only root hands the server to another user")
	}
	// t.TempDir's parent is 0700: the server's user cannot reach it, as with a
	// clone under /root. The cluster goes elsewhere and the data dir links to it.
	data := filepath.Join(t.TempDir(), "pg")
	pg, err := StartPostgres(ctxFor(t, time.Minute), data, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	target, err := filepath.EvalSymlinks(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(target) })
	if !strings.HasPrefix(target, relocatedClusters) {
		t.Fatalf("cluster at %s, want it under %s", target, relocatedClusters)
	}
	if err := pg.Stop(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	again, err := StartPostgres(ctxFor(t, time.Minute), data, io.Discard)
	if err != nil {
		t.Fatalf("restart through the link: %v", err)
	}
	if err := again.Stop(ctxFor(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
}

func TestRedisStartStop(t *testing.T) {
	requireRedis(t)
	dir := filepath.Join(testDir(t), "redis")
	ctx := ctxFor(t, time.Minute)
	r, err := StartRedis(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(context.Background()) })
	opt, err := redis.ParseURL(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	if err := client.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := client.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("GET = %q, %v", v, err)
	}
	client.Close()

	pid := r.proc.pid()
	if err := r.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := r.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	assertGone(t, pid)
	if _, err := os.Stat(filepath.Join(dir, "dump.rdb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("redis persisted a snapshot: %v", err)
	}

	r2, err := StartRedis(ctx, dir, nil)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	if err := r2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// A server that ignores its shutdown signal is killed once ctx ends.
func TestStopKillsUnresponsiveServer(t *testing.T) {
	requireRedis(t)
	r, err := StartRedis(ctxFor(t, time.Minute), filepath.Join(testDir(t), "redis"), nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := r.proc.pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = r.Stop(ctxFor(t, 300*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop of a stuck server = %v; want a 'killed' error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Stop took %v", d)
	}
	assertGone(t, pid)
}

func TestStartRedisNotInstalled(t *testing.T) {
	if _, err := os.Stat("/usr/bin/redis-server"); err == nil {
		t.Skip("redis-server is in /usr/bin, which StartRedis always tries")
	}
	t.Setenv("PATH", t.TempDir())
	_, err := StartRedis(ctxFor(t, time.Minute), t.TempDir(), nil)
	if !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("got %v; want ErrNotInstalled", err)
	}
}

func TestNewDatabase(t *testing.T) {
	requirePostgres(t)
	ctx := ctxFor(t, 2*time.Minute)
	a, b := NewDatabase(t), NewDatabase(t)
	if a == b {
		t.Fatalf("NewDatabase returned %s twice", a)
	}
	ca, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close(ctx)
	cb, err := pgx.Connect(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close(ctx)
	if _, err := ca.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := cb.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil || n != 0 {
		t.Errorf("table from database a visible in b (count %d, err %v)", n, err)
	}

	// The database is dropped when its test ends, even with a connection
	// left open.
	var name string
	var leaked *pgx.Conn
	t.Run("sub", func(t *testing.T) {
		u := NewDatabase(t)
		leaked, err = pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if err := leaked.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	defer leaked.Close(ctx)
	if err := ca.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil || n != 0 {
		t.Errorf("database %s of a finished test still exists (count %d, err %v)", name, n, err)
	}
}

func TestNewDatabaseParallel(t *testing.T) {
	requirePostgres(t)
	var mu sync.Mutex
	seen := map[string]bool{}
	for i := range 6 {
		t.Run("p", func(t *testing.T) {
			t.Parallel()
			u := NewDatabase(t)
			mu.Lock()
			defer mu.Unlock()
			if seen[u] {
				t.Errorf("database %s handed out twice (i=%d)", u, i)
			}
			seen[u] = true
		})
	}
}

func TestRedisURL(t *testing.T) {
	requireRedis(t)
	ctx := ctxFor(t, time.Minute)
	a, b := RedisURL(t), RedisURL(t)
	if a == b {
		t.Fatalf("RedisURL returned %s twice", a)
	}
	client := func(u string) *redis.Client {
		opt, err := redis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(opt)
		t.Cleanup(func() { c.Close() })
		return c
	}
	ca, cb := client(a), client(b)
	if err := ca.Set(ctx, "k", "a", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := cb.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Errorf("key set in %s visible in %s (%d, %v)", a, b, n, err)
	}

	// A finished test's database is emptied before it is handed out again.
	var sub string
	t.Run("sub", func(t *testing.T) {
		sub = RedisURL(t)
		if err := client(sub).Set(ctx, "left", "over", 0).Err(); err != nil {
			t.Fatal(err)
		}
	})
	if n, err := client(sub).DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("%s not flushed after its test: %d keys, %v", sub, n, err)
	}
}

// syncWriter lets the test read a buffer the server's output is copied into.
type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Killing a server (Stop past its deadline, or a failed start) takes its
// backends with it, which left to themselves would linger and block a
// restart on the same dir.
func TestPostgresKillTakesChildren(t *testing.T) {
	requirePostgres(t)
	ctx := ctxFor(t, 2*time.Minute)
	data := filepath.Join(testDir(t), "pg")
	pg, err := StartPostgresWith(ctx, data, nil, Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	pid := pg.proc.pid()
	children := childPids(pid)
	if len(children) == 0 {
		t.Fatal("postmaster has no children to check")
	}
	pg.proc.abort()
	assertGone(t, pid)
	for _, c := range children {
		assertGone(t, c)
	}
	pg2, err := StartPostgresWith(ctx, data, nil, Options{Fast: true})
	if err != nil {
		t.Fatalf("restart right after kill: %v", err)
	}
	if err := pg2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestReplicaStreamsFromPrimary makes a streaming replica of a primary with
// pg_basebackup: what the primary commits after the copy reaches the
// replica, which refuses writes of its own.
func TestReplicaStreamsFromPrimary(t *testing.T) {
	requirePostgres(t)
	ctx := ctxFor(t, 2*time.Minute)
	dir := testDir(t)
	var log bytes.Buffer
	primary, err := StartPostgresWith(ctx, filepath.Join(dir, "primary"), &log, Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { primary.Stop(context.Background()) })
	if err := primary.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	exec := func(url, sql string) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(primary.URL("app"), `CREATE TABLE t (n int); INSERT INTO t VALUES (1)`); err != nil {
		t.Fatal(err)
	}

	replica, err := primary.StartReplica(ctx, filepath.Join(dir, "replica"), &log, Options{Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { replica.Stop(context.Background()) })
	if replica.Port() == primary.Port() {
		t.Fatal("the replica listens on the primary's port")
	}
	// Written after the copy: it arrives by streaming, not in the copy.
	if err := exec(primary.URL("app"), `INSERT INTO t VALUES (2)`); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, replica.URL("app"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var recovery bool
	if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&recovery); err != nil || !recovery {
		t.Fatalf("replica in recovery = %v (%v), want a standby", recovery, err)
	}
	for n := 0; n != 2; {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if ctx.Err() != nil {
			t.Fatalf("the replica holds %d rows, want the 2 the primary holds", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO t VALUES (3)`); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("a write on the replica: %v, want a read-only transaction error", err)
	}
}
