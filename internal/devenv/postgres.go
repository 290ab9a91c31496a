package devenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgSuperuser is the role initdb creates; every URL uses it, with trust auth,
// because the server only listens on loopback and holds throwaway data.
const pgSuperuser = "gridhub"

// FindPostgresBin returns the directory holding the PostgreSQL server
// binaries (initdb and postgres). PATH wins, so a developer can point at a
// build of their choice; otherwise the newest Debian install under
// /usr/lib/postgresql/*/bin is used, because Debian keeps the server binaries
// off PATH. The error wraps ErrNotInstalled when none is found.
func FindPostgresBin() (dir string, err error) {
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		// Relative PATH entries would resolve against whatever the current
		// directory is; exec.LookPath refuses them for the same reason.
		if !filepath.IsAbs(d) {
			continue
		}
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		// Newest first: compare "15" > "9.6" numerically, not as strings.
		return compareVersions(filepath.Base(filepath.Dir(b)), filepath.Base(filepath.Dir(a)))
	})
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("devenv: PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin: %w", ErrNotInstalled)
}

func isExecutable(name string) bool {
	fi, err := os.Stat(name)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// compareVersions compares dotted numeric versions; non-numeric parts
// compare as 0 so an odd directory name cannot make the sort panic.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// Options tunes a Postgres server for its use.
type Options struct {
	// Fast turns off durability (fsync, synchronous_commit,
	// full_page_writes) for speed. Only for data that may be lost: tests.
	// A dev data dir persists across runs, and a crash with Fast on can
	// corrupt it.
	Fast bool
}

// Postgres is a PostgreSQL server run as a child process of this one, on a
// free loopback port, with a trusted superuser "gridhub".
type Postgres struct {
	dir  string
	port int
	proc *proc
}

// StartPostgres starts a durable PostgreSQL server on the cluster directory
// dir, creating the cluster when dir holds none. Server output goes to log,
// or when log is nil to postgres.log beside dir. It returns once the server
// accepts connections, or fails when ctx ends first.
func StartPostgres(ctx context.Context, dir string, log io.Writer) (*Postgres, error) {
	return StartPostgresWith(ctx, dir, log, Options{})
}

// StartPostgresWith is StartPostgres with Options; tests use it to trade
// durability for speed.
//
// When running as root, the server runs as the "postgres" user (or "nobody"
// without it), because initdb and postgres refuse to run as root; dir is then
// chowned to that user, and every parent of dir must be searchable by it.
func StartPostgresWith(ctx context.Context, dir string, log io.Writer, opts Options) (*Postgres, error) {
	return startPostgres(ctx, dir, log, opts, func(ctx context.Context, bin, dir string, ru *runUser) error {
		return initdb(ctx, bin, dir, ru, log, opts)
	})
}

// StartReplica starts a streaming replica of pg on the cluster directory dir:
// a hot standby that answers read-only queries and replays the primary's
// WAL as it is written, as a managed Postgres's read replica does. When dir
// holds no cluster yet, it is made with pg_basebackup from pg (-R: the
// standby signal and the primary's address written into the copy); a dir
// that holds one is started as it is. log is as for StartPostgres.
func (pg *Postgres) StartReplica(ctx context.Context, dir string, log io.Writer, opts Options) (*Postgres, error) {
	return startPostgres(ctx, dir, log, opts, func(ctx context.Context, bin, dir string, ru *runUser) error {
		return pg.baseBackup(ctx, bin, dir, ru, log)
	})
}

// startPostgres starts a server on the cluster in dir, calling create to
// make the cluster when dir holds none.
func startPostgres(ctx context.Context, dir string, log io.Writer, opts Options,
	create func(ctx context.Context, bin, dir string, ru *runUser) error) (*Postgres, error) {
	dir, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	bin, err := FindPostgresBin()
	if err != nil {
		return nil, err
	}
	ru, err := serverUser()
	if err != nil {
		return nil, err
	}
	if dir, err = placeCluster(dir, ru); err != nil {
		return nil, err
	}
	if err := prepareClusterDir(dir, ru); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, fs.ErrNotExist) {
		if err := create(ctx, bin, dir, ru); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("devenv: %w", err)
	}
	return startCluster(ctx, bin, dir, ru, log, opts)
}

// baseBackup copies pg's cluster into the empty dir as a standby of it,
// streaming the WAL written meanwhile, after a fast checkpoint (a spread one
// would make the copy wait minutes on an idle server).
func (pg *Postgres) baseBackup(ctx context.Context, bin, dir string, ru *runUser, log io.Writer) error {
	tool, err := serverTool(bin, "pg_basebackup")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, tool,
		"-h", "127.0.0.1", "-p", strconv.Itoa(pg.port), "-U", pgSuperuser,
		"-D", dir, "-R", "-X", "stream", "--checkpoint=fast", "--no-password")
	cmd.Dir = dir
	cmd.Env = serverEnv()
	cmd.SysProcAttr = ru.sysProcAttr()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if log != nil {
		_, _ = log.Write(out.Bytes())
	}
	if err != nil {
		return fmt.Errorf("devenv: pg_basebackup of the server on port %d into %s: %w; output:\n%s", pg.port, dir, err, out.String())
	}
	return nil
}

// serverTool finds another program of the server's installation: beside
// initdb in bin, or beside what bin/initdb links to (a PATH directory may
// hold links to a few of Debian's versioned binaries only).
func serverTool(bin, name string) (string, error) {
	if p := filepath.Join(bin, name); isExecutable(p) {
		return p, nil
	}
	if real, err := filepath.EvalSymlinks(filepath.Join(bin, "initdb")); err == nil {
		if p := filepath.Join(filepath.Dir(real), name); isExecutable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("devenv: %s not found beside initdb in %s: %w", name, bin, ErrNotInstalled)
}

// startCluster starts the postmaster on the cluster in dir, once any stale
// pid file of a killed one is gone.
func startCluster(ctx context.Context, bin, dir string, ru *runUser, log io.Writer, opts Options) (*Postgres, error) {
	if err := removeStalePostmasterPid(dir); err != nil {
		return nil, err
	}

	// Retry two transient failures: the port, free when chosen, may be
	// taken before postgres binds it (parallel test binaries do this); and
	// after a postmaster was killed outright, its orphaned backends hold
	// the old shared memory for a moment until they notice it is gone.
	portTries, shmemDeadline := 3, time.Now().Add(15*time.Second)
	for {
		pg, err := startPostmaster(ctx, bin, dir, ru, log, opts)
		switch {
		case err == nil:
			return pg, nil
		case ctx.Err() != nil:
			return nil, err
		case errors.Is(err, errPortTaken) && portTries > 1:
			portTries--
		case errors.Is(err, errShmemInUse) && time.Now().Before(shmemDeadline):
			select {
			case <-ctx.Done():
				return nil, err
			case <-time.After(250 * time.Millisecond):
			}
		default:
			return nil, err
		}
	}
}

var (
	// errPortTaken marks a start that failed because the port was taken.
	errPortTaken = errors.New("port already in use")
	// errShmemInUse marks a start that failed because processes of a
	// previous, killed server still hold its shared memory.
	errShmemInUse = errors.New("old server processes still hold shared memory")
)

func startPostmaster(ctx context.Context, bin, dir string, ru *runUser, log io.Writer, opts Options) (*Postgres, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := []string{
		"-D", dir,
		"-p", strconv.Itoa(port),
		// No Unix socket: the default directory (/var/run/postgresql) may
		// not exist or be writable, a path inside dir may exceed the
		// 107-byte socket path limit, and all clients use TCP anyway.
		"-k", "",
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200",
		// Output must reach our log, whatever postgresql.conf says.
		"-c", "logging_collector=off",
	}
	if opts.Fast {
		args = append(args,
			"-c", "shared_buffers=128MB",
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
		)
	} else {
		// A dev city holds a few GB: with Postgres's default 128 MB of
		// buffers a first fact sync spends its time evicting and reading
		// back the master index it joins every row to, and checkpoints
		// every GB of WAL rewrite whole pages again. Shared memory is only
		// touched as it is used.
		args = append(args,
			"-c", "shared_buffers="+sharedBuffers(),
			"-c", "max_wal_size=4GB",
		)
	}
	// Run the postmaster itself, not pg_ctl: pg_ctl daemonises, and the
	// server would then outlive us and escape the parent-death signal.
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = dir
	cmd.Env = serverEnv()
	cmd.SysProcAttr = ru.sysProcAttr()
	// SIGINT is postgres's "fast shutdown": roll back open transactions,
	// checkpoint, exit. That keeps a persistent dev cluster consistent.
	p, err := startProc("postgres", cmd, log, filepath.Join(filepath.Dir(dir), "postgres.log"), syscall.SIGINT)
	if err != nil {
		return nil, err
	}
	pg := &Postgres{dir: dir, port: port, proc: p}
	if err := pg.waitReady(ctx); err != nil {
		p.abort()
		switch tail := p.lastOutput(); {
		case strings.Contains(tail, "could not bind") || strings.Contains(tail, "Address already in use"):
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		case strings.Contains(tail, "pre-existing shared memory block"):
			err = fmt.Errorf("%w: %w", errShmemInUse, err)
		}
		return nil, p.startErr("did not start", err)
	}
	return pg, nil
}

// waitReady polls until a connection to database "postgres" succeeds, which
// is the only reliable sign the server is ready (it listens before recovery
// is done), or until the postmaster exits or ctx ends.
func (pg *Postgres) waitReady(ctx context.Context) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, pg.URL("postgres"))
		cancel()
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-pg.proc.done:
			return fmt.Errorf("exited early (%v)", pg.proc.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready in time: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Port returns the TCP port the server listens on (on 127.0.0.1). It changes
// on every start.
func (pg *Postgres) Port() int { return pg.port }

// URL returns a connection URL for database on this server, as superuser
// "gridhub" without password or TLS.
func (pg *Postgres) URL(database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", pgSuperuser, pg.port, url.PathEscape(database))
}

// Done returns a channel closed when the server process has exited, so
// `gridhub dev` can notice a server that dies under it.
func (pg *Postgres) Done() <-chan struct{} { return pg.proc.done }

// CreateDatabase creates database name if it does not exist yet, so callers
// can run it on every start of a persistent dev cluster.
func (pg *Postgres) CreateDatabase(ctx context.Context, name string) error {
	return createDatabase(ctx, pg.URL("postgres"), name, "")
}

// Stop shuts the server down with a fast shutdown (SIGINT) and waits for it
// to exit; if ctx ends first (or after 30s when ctx has no deadline), the
// server is killed. Only the first call acts; later calls return its result.
func (pg *Postgres) Stop(ctx context.Context) error {
	return pg.proc.stop(ctx)
}

// createDatabase runs CREATE DATABASE through adminURL, treating "already
// exists" as success. template "" means the server's default.
func createDatabase(ctx context.Context, adminURL, name, template string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("devenv: connecting to create database %q: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		sql += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := conn.Exec(ctx, sql); err != nil {
		var pgErr *pgconn.PgError
		// 42P04 duplicate_database; 23505 when a concurrent CREATE of the
		// same name wins the race on pg_database's unique index.
		if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
			return nil
		}
		return fmt.Errorf("devenv: creating database %q: %w", name, err)
	}
	return nil
}

// dropDatabase drops database name, disconnecting its sessions first so a
// test that leaked a connection cannot keep its database alive.
func dropDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("devenv: connecting to drop database %q: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("devenv: dropping database %q: %w", name, err)
	}
	return nil
}

// initdb creates a cluster in dir. Trust auth and a superuser named after
// the project keep URLs password-free; the C locale with UTF-8 encoding makes
// sorting identical on every machine, whatever locales it has generated.
func initdb(ctx context.Context, bin, dir string, ru *runUser, log io.Writer, opts Options) error {
	args := []string{
		"-D", dir,
		"-U", pgSuperuser,
		"--auth=trust",
		"--encoding=UTF8",
		"--locale=C",
	}
	if opts.Fast {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), args...)
	cmd.Dir = dir
	cmd.Env = serverEnv()
	cmd.SysProcAttr = ru.sysProcAttr()
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if log != nil {
		_, _ = log.Write(out.Bytes())
	} else if f, ferr := os.OpenFile(filepath.Join(filepath.Dir(dir), "postgres.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); ferr == nil {
		_, _ = f.Write(out.Bytes())
		f.Close()
	}
	if err != nil {
		return fmt.Errorf("devenv: initdb %s: %w; output:\n%s", dir, err, out.String())
	}
	return nil
}

// serverEnv is our environment with a fixed C locale (so initdb does not
// trip over an ungenerated $LANG) and without PGDATA-style variables that
// could make the server look at another cluster.
func serverEnv() []string {
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PGDATA" || k == "LANG" || k == "LANGUAGE" || strings.HasPrefix(k, "LC_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LANG=C", "LC_ALL=C")
}

// removeStalePostmasterPid deletes postmaster.pid left by a server that was
// killed, so the new server does not refuse to start (postgres itself only
// handles this when the recorded PID is free, and in containers PIDs are
// reused quickly). A live postgres on the same dir is reported as an error.
func removeStalePostmasterPid(dir string) error {
	name := filepath.Join(dir, "postmaster.pid")
	data, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("devenv: %w", err)
	}
	first, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err == nil && pid > 0 && processAlive(pid) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(comm)) == "postgres" {
			return fmt.Errorf("devenv: a postgres server (pid %d) is already running on %s; stop it first", pid, dir)
		}
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("devenv: removing stale %s: %w", name, err)
	}
	return nil
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// runUser is the unprivileged account the server runs as when we are root.
type runUser struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
}

// serverUser returns nil when we are not root (the server runs as us), else
// the "postgres" account or, failing that, "nobody".
func serverUser() (*runUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("devenv: running as root, and neither user postgres nor nobody exists to run PostgreSQL as (it refuses to run as root): %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("devenv: user %s: %w", u.Username, err)
	}
	ru := &runUser{name: u.Username, uid: uint32(uid), gid: uint32(gid)}
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			ru.groups = append(ru.groups, uint32(n))
		}
	}
	return ru, nil
}

// sysProcAttr drops to the user when there is one. Groups is set so the
// child does not keep root's supplementary groups.
func (ru *runUser) sysProcAttr() *syscall.SysProcAttr {
	if ru == nil {
		return &syscall.SysProcAttr{}
	}
	groups := ru.groups
	if groups == nil {
		groups = []uint32{}
	}
	return &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: ru.uid, Gid: ru.gid, Groups: groups},
	}
}

func (ru *runUser) inGroup(gid uint32) bool {
	return gid == ru.gid || slices.Contains(ru.groups, gid)
}

// prepareClusterDir creates dir (mode 0700, as postgres demands) and, when
// the server runs as another user, hands it over and checks that the user
// can reach it at all.
func prepareClusterDir(dir string, ru *runUser) error {
	// Missing parents get 0755, not 0700, so that the server's user can
	// traverse them; only the cluster dir itself is private.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("devenv: creating cluster dir: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("devenv: creating cluster dir: %w", err)
	}
	if ru == nil {
		return nil
	}
	if err := checkTraversable(dir, ru); err != nil {
		return err
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("devenv: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == ru.uid && st.Gid == ru.gid {
		return nil
	}
	// Owned by someone else (new dir, or made by another user): hand the
	// whole tree over, since the server must own every file in it.
	err = filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(ru.uid), int(ru.gid))
	})
	if err != nil {
		return fmt.Errorf("devenv: giving cluster dir to user %s: %w", ru.name, err)
	}
	return nil
}

// relocatedClusters is where clusters go whose own place the server's user
// cannot reach: a clone under /root (mode 0700) is the common case.
var relocatedClusters = "/var/lib/gridhub/clusters"

// placeCluster returns the directory the cluster really lives in. Normally that
// is dir. When the server runs as another user who cannot reach dir, the cluster
// is placed under relocatedClusters instead, and dir becomes a symlink to it, so
// the data dir still holds (a link to) everything and the next start finds it.
func placeCluster(dir string, ru *runUser) (string, error) {
	if fi, err := os.Lstat(dir); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return "", fmt.Errorf("devenv: cluster link %s: %w", dir, err)
		}
		return target, nil
	}
	if ru == nil || checkTraversable(dir, ru) == nil {
		return dir, nil
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err == nil {
		return dir, nil // an existing cluster stays where it is; prepareClusterDir explains why it cannot run
	}
	sum := sha256.Sum256([]byte(dir))
	target := filepath.Join(relocatedClusters, hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(relocatedClusters, 0o755); err != nil {
		return "", fmt.Errorf("devenv: relocating cluster of %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", fmt.Errorf("devenv: creating cluster dir: %w", err)
	}
	os.Remove(dir) // an empty directory left by an earlier failed start
	if err := os.Symlink(target, dir); err != nil {
		return "", fmt.Errorf("devenv: linking cluster dir %s to %s: %w", dir, target, err)
	}
	return target, nil
}

// checkTraversable reports, by name, the first parent of dir that ru cannot
// search. Without this the failure surfaces as a cryptic "permission
// denied" from initdb; typical culprits are /root (0700) and the 0700
// directories made by os.MkdirTemp and testing.T.TempDir.
func checkTraversable(dir string, ru *runUser) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("devenv: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		perm := fi.Mode().Perm()
		var can bool
		switch {
		case st.Uid == ru.uid:
			can = perm&0o100 != 0
		case ru.inGroup(st.Gid):
			can = perm&0o010 != 0
		default:
			can = perm&0o001 != 0
		}
		if !can {
			return fmt.Errorf("devenv: cannot use %s as a PostgreSQL cluster dir: running as root, the server runs as user %s, "+
				"which cannot traverse the parent directory %s (mode %04o, owner uid %d); "+
				"put the data dir elsewhere or make that directory searchable (chmod o+x %s)",
				dir, ru.name, d, perm, st.Uid, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// sharedBuffers is the dev cluster's shared_buffers: a quarter of the
// machine's memory, from 1 GB to 4 GB. The city's first fact sync writes
// 2 GB of facts while it reads the master index: with 1 GB its batches wrote
// out dirty buffers themselves and read the persons' index back (10,000
// reads for 50,000 rows).
func sharedBuffers() string {
	const gb = 1 << 30
	size := int64(gb)
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64); err == nil {
					size = min(max(kb*1024/4, gb), 4*gb)
				}
			}
		}
	}
	return strconv.FormatInt(size/(1<<20), 10) + "MB"
}
