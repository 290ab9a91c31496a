package devenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// findRedisServer looks on PATH, then in /usr/bin where Debian's
// redis-server package puts it (in case PATH is minimal, as under sudo or
// in CI).
func findRedisServer() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if isExecutable("/usr/bin/redis-server") {
		return "/usr/bin/redis-server", nil
	}
	return "", fmt.Errorf("devenv: redis-server not found on PATH or in /usr/bin: %w", ErrNotInstalled)
}

// Redis is a redis-server run as a child process of this one, on a free
// loopback port, without persistence.
type Redis struct {
	port int
	proc *proc
}

// StartRedis starts redis-server with dir as its working directory and
// nothing persisted (no RDB snapshots, no AOF): everything in it is a cache
// or scratch data that is fine to lose. Output goes to log, or when log is
// nil to redis.log beside dir. It returns once the server answers PING. The
// error wraps ErrNotInstalled when redis-server is missing, so callers can
// carry on without Redis.
func StartRedis(ctx context.Context, dir string, log io.Writer) (*Redis, error) {
	dir, err := absDir(dir)
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStartTimeout)
		defer cancel()
	}
	bin, err := findRedisServer()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("devenv: creating redis dir: %w", err)
	}
	// Retry on a taken port, as for postgres: the chosen port is free only
	// until someone else binds it.
	const attempts = 3
	for i := 1; ; i++ {
		r, err := startRedis(ctx, bin, dir, log)
		if err == nil {
			return r, nil
		}
		if i == attempts || !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			return nil, err
		}
	}
}

func startRedis(ctx context.Context, bin, dir string, log io.Writer) (*Redis, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", dir,
		"--daemonize", "no",
		// Log to stdout, which we capture, whatever a system config says.
		"--logfile", "",
	)
	cmd.Dir = dir
	// SIGTERM makes redis exit cleanly (and, with no save points, without
	// writing a snapshot).
	p, err := startProc("redis-server", cmd, log, filepath.Join(filepath.Dir(dir), "redis.log"), syscall.SIGTERM)
	if err != nil {
		return nil, err
	}
	r := &Redis{port: port, proc: p}
	if err := r.waitReady(ctx); err != nil {
		p.abort()
		if tail := p.lastOutput(); strings.Contains(tail, "Address already in use") {
			err = fmt.Errorf("%w: %w", errPortTaken, err)
		}
		return nil, p.startErr("did not start", err)
	}
	return r, nil
}

// waitReady polls PING until it succeeds, the process exits, or ctx ends.
func (r *Redis) waitReady(ctx context.Context) error {
	client := redis.NewClient(&redis.Options{
		Addr:        r.addr(),
		DialTimeout: time.Second,
		MaxRetries:  -1, // we retry ourselves, watching the process too
		PoolSize:    1,
	})
	defer client.Close()
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := client.Ping(cctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-r.proc.done:
			return fmt.Errorf("exited early (%v)", r.proc.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not ready in time: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *Redis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// Port returns the TCP port the server listens on (on 127.0.0.1). It changes
// on every start.
func (r *Redis) Port() int { return r.port }

// URL returns the URL of database 0 on this server, in the form
// redis.ParseURL accepts.
func (r *Redis) URL() string { return "redis://" + r.addr() + "/0" }

// Done returns a channel closed when the server process has exited.
func (r *Redis) Done() <-chan struct{} { return r.proc.done }

// Stop shuts the server down (SIGTERM) and waits for it to exit; if ctx ends
// first (or after 30s when ctx has no deadline), it is killed. Only the first
// call acts; later calls return its result.
func (r *Redis) Stop(ctx context.Context) error {
	return r.proc.stop(ctx)
}
