// Package devenv starts throwaway PostgreSQL and Redis servers from the
// binaries already installed on the machine, for `gridhub dev` and for
// integration tests.
//
// The servers run as direct child processes (never daemonised) so that their
// lifetime is tied to ours: each is started with a parent-death signal, so a
// crashed or killed gridhub does not leave servers behind, and in its own
// process group, so a Ctrl-C in the terminal reaches gridhub only and gridhub
// decides when and how to shut the servers down.
//
// Nothing here downloads anything: scripts/install-deps.sh installs the
// Debian packages (postgresql, redis-server) that provide the binaries.
package devenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled reports that the server binaries a function needs are not
// on this machine. Callers test for it with errors.Is to run without the
// optional servers (Redis) or to tell the user to run scripts/install-deps.sh.
var ErrNotInstalled = errors.New("devenv: server binaries not installed (run scripts/install-deps.sh)")

// defaultStopTimeout bounds Stop when its context has no deadline, so a server
// that ignores its shutdown signal can never hang the caller forever.
const defaultStopTimeout = 30 * time.Second

// defaultStartTimeout bounds the wait for readiness when the context has no
// deadline, for the same reason.
const defaultStartTimeout = 2 * time.Minute

// FreePort asks the kernel for a free TCP port on 127.0.0.1. The port is
// released before the server binds it, so another process may grab it in
// between; callers retry with a new port when the server fails to bind.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("devenv: finding a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, fmt.Errorf("devenv: finding a free port: %w", err)
	}
	return port, nil
}

// tailBuffer keeps the last bytes written to it, so that an error about a
// server that failed to start can show why without the caller opening a log.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// proc is a server child process with the bookkeeping Postgres and Redis
// share: waiting for it in the background (so an early exit is noticed while
// polling for readiness), and an idempotent, bounded stop.
type proc struct {
	name    string
	cmd     *exec.Cmd
	stopSig syscall.Signal

	// Where the last output can be read back for error messages: the log
	// file from logFrom on, or (with a caller's writer) the tail buffer.
	logPath string
	logFrom int64
	tail    *tailBuffer

	done    chan struct{} // closed once the process has been reaped
	waitErr error         // valid after done is closed

	stopOnce sync.Once
	stopErr  error
}

// tailMax is how much of a server's last output goes into an error.
const tailMax = 8 << 10

// startProc starts cmd in its own process group with a parent-death signal.
// Output goes to log when it is non-nil, else straight into the file
// logPath (appended to, so a persistent dev dir keeps its history): handing
// the server the file itself, rather than a pipe through us, means its
// shutdown messages still land there if we are killed.
func startProc(name string, cmd *exec.Cmd, log io.Writer, logPath string, stopSig syscall.Signal) (*proc, error) {
	p := &proc{
		name:    name,
		cmd:     cmd,
		stopSig: stopSig,
		done:    make(chan struct{}),
	}
	if log != nil {
		p.tail = newTailBuffer(tailMax)
		w := io.MultiWriter(log, p.tail)
		cmd.Stdout, cmd.Stderr = w, w
	} else {
		f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("devenv: opening %s log: %w", name, err)
		}
		// The child gets its own copy of the descriptor at Start.
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return nil, fmt.Errorf("devenv: opening %s log: %w", name, err)
		}
		p.logPath, p.logFrom = logPath, fi.Size()
		cmd.Stdout, cmd.Stderr = f, f
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Own process group: a terminal Ctrl-C must not reach the server before
	// we order the shutdown. Parent-death signal: if we die without stopping
	// it, the kernel asks the server to shut down. (The signal is tied to the
	// OS thread that forked; the Go runtime does not retire ordinary threads,
	// so in practice this means the process.)
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = stopSig
	// With a caller's writer, server children (postgres backends) inherit
	// the output pipe; if one outlived a killed postmaster, Wait would block
	// on the pipe forever.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("devenv: starting %s: %w", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// lastOutput returns the end of what the server wrote since it started.
func (p *proc) lastOutput() string {
	if p.tail != nil {
		return p.tail.String()
	}
	f, err := os.Open(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	defer f.Close()
	from := p.logFrom
	if fi, err := f.Stat(); err == nil && fi.Size()-from > tailMax {
		from = fi.Size() - tailMax
	}
	b, err := io.ReadAll(io.NewSectionReader(f, from, tailMax))
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	return string(b)
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has already exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the server to shut down with its stop signal and waits for it;
// when ctx ends first, it kills the whole process group. Only the first call
// acts; later calls return the first call's result.
func (p *proc) stop(ctx context.Context) error {
	p.stopOnce.Do(func() { p.stopErr = p.doStop(ctx) })
	return p.stopErr
}

func (p *proc) doStop(ctx context.Context) error {
	if p.exited() {
		return fmt.Errorf("devenv: %s had already exited (%v); last output:\n%s", p.name, p.waitErr, p.lastOutput())
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultStopTimeout)
		defer cancel()
	}
	// Signal the leader only: postgres's postmaster shuts its own children
	// down in order, which a group-wide signal would disturb.
	if err := p.cmd.Process.Signal(p.stopSig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("devenv: signalling %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		if p.waitErr != nil {
			return fmt.Errorf("devenv: %s exited with %v", p.name, p.waitErr)
		}
		return nil
	case <-ctx.Done():
		p.kill()
		return fmt.Errorf("devenv: %s did not shut down in time (%w); killed it", p.name, ctx.Err())
	}
}

// kill SIGKILLs the server with its process group and its children, and
// waits for it to be reaped. Postgres backends leave the group (setsid) and
// would linger a moment after the postmaster, holding its shared memory so
// that an immediate restart fails; so the leader is frozen first, its
// children listed and killed too.
func (p *proc) kill() {
	pid := p.pid()
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	children := childPids(pid)
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = p.cmd.Process.Kill()
	for _, c := range children {
		_ = syscall.Kill(c, syscall.SIGKILL)
	}
	<-p.done
}

// childPids lists the processes whose parent is pid, from /proc.
func childPids(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and parens.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// abort kills a server that failed to come up.
func (p *proc) abort() {
	p.stopOnce.Do(func() {
		p.kill()
		p.stopErr = fmt.Errorf("devenv: %s was killed after failing to start", p.name)
	})
}

// startErr builds the error for a server that could not be brought up,
// including the end of its output, which usually says why.
func (p *proc) startErr(what string, err error) error {
	return fmt.Errorf("devenv: %s %s: %w; last output:\n%s", p.name, what, err, p.lastOutput())
}

// absDir makes dir absolute, because the server runs with its own working
// directory and a relative path would mean something else to it.
func absDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("devenv: empty data directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("devenv: %w", err)
	}
	return abs, nil
}
