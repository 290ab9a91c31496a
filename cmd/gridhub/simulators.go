package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/synth"
)

// prepareDepartments writes each simulated department's view of the city, once
// per data dir: the two department databases in the dev cluster, and the files
// the REST simulators and the party ledger are served from.
func prepareDepartments(ctx context.Context, d dataDir, pg *devenv.Postgres, city *synth.City) error {
	if deptsim.FilesWritten(d.departments()) {
		// A data dir made by an earlier version may lack the department inboxes.
		for _, dept := range deptsim.Departments() {
			if deptsim.Kind(dept) == deptsim.KindSQL {
				if err := deptsim.UpgradeSQL(ctx, dept, pg.URL(deptsim.DatabaseName(dept))); err != nil {
					return err
				}
			}
		}
		return nil
	}
	start := time.Now()
	ds := deptsim.Build(city, city.Seed)
	g, gctx := errgroup.WithContext(ctx)
	for _, dept := range deptsim.Departments() {
		if deptsim.Kind(dept) != deptsim.KindSQL {
			continue
		}
		g.Go(func() error {
			name := deptsim.DatabaseName(dept)
			if err := pg.CreateDatabase(gctx, name); err != nil {
				return err
			}
			if err := ds.LoadSQL(gctx, dept, pg.URL(name)); err != nil && !errors.Is(err, deptsim.ErrAlreadyLoaded) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error { return ds.WriteFiles(d.departments()) })
	if err := g.Wait(); err != nil {
		return fmt.Errorf("prepare department simulators: %w", err)
	}
	slog.Info("department systems prepared", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// simulator is one REST department simulator running as a child process, so
// that it can be stopped on its own (kill its pid) to see the hub without it.
type simulator struct {
	dept string
	url  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startSimulators starts the REST simulators as child processes of this binary
// and points the mapping files' environment at every department, in this
// process and in the data dir's departments.env, where `gridhub sync
// --data-dir` and `gridhub config check --samples` find them while dev runs
// (dev removes it when it stops).
func startSimulators(ctx context.Context, d dataDir, pg *devenv.Postgres) ([]*simulator, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var sims []*simulator
	env := map[string]string{}
	for _, dept := range deptsim.Departments() {
		var e deptsim.Endpoint
		switch deptsim.Kind(dept) {
		case deptsim.KindSQL:
			e.DSN = pg.URL(deptsim.DatabaseName(dept))
		case deptsim.KindSheet:
			e.Ledger = deptsim.LedgerPath(d.departments())
		case deptsim.KindREST:
			s, err := startSimulator(ctx, self, d, dept)
			if err != nil {
				stopSimulators(sims)
				return nil, err
			}
			sims = append(sims, s)
			e.URL, e.APIKey = s.url, deptsim.DefaultAPIKey(dept)
		}
		for k, v := range deptsim.Env(dept, e) {
			os.Setenv(k, v)
			env[k] = v
		}
	}
	if err := writeEnvFile(filepath.Join(string(d), departmentsEnvFile), env); err != nil {
		stopSimulators(sims)
		return nil, err
	}
	return sims, nil
}

// writeEnvFile writes env as KEY=VALUE lines (loadEnvFile reads them back),
// readable by its owner only: the departments' API keys are in it.
func writeEnvFile(path string, env map[string]string) error {
	var b strings.Builder
	b.WriteString("# The departments `gridhub dev` runs, for the commands given its data dir.\n")
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(&b, "%s=%s\n", k, env[k])
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func startSimulator(ctx context.Context, self string, d dataDir, dept string) (*simulator, error) {
	port, err := devenv.FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "deptsim", "--department", dept, "--data-dir", string(d), "--port", fmt.Sprint(port),
		"--api-key", deptsim.DefaultAPIKey(dept))
	// The simulator dies with the hub even if the hub is killed outright, and
	// sits in its own process group so a terminal's Ctrl-C reaches only the hub,
	// which then stops it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logFile(d, "deptsim-"+dept+".log")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s simulator: %w", dept, err)
	}
	s := &simulator{dept: dept, cmd: cmd, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), ": "); ok && strings.HasPrefix(url, "http") {
				select {
				case ready <- url:
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { cmd.Wait(); close(s.done) }()
	select {
	case s.url = <-ready:
	case <-s.done:
		return nil, fmt.Errorf("%s simulator exited at start: see %s", dept, "logs/deptsim-"+dept+".log")
	case <-time.After(60 * time.Second):
		s.stop()
		return nil, fmt.Errorf("%s simulator did not start within 60s", dept)
	case <-ctx.Done():
		s.stop()
		return nil, ctx.Err()
	}
	if err := waitHealthy(ctx, s.url+"/health"); err != nil {
		s.stop()
		return nil, fmt.Errorf("%s simulator: %w", dept, err)
	}
	return s, nil
}

func waitHealthy(ctx context.Context, url string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not healthy after 30s: %v", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends the simulator: SIGTERM, then SIGKILL after 10 seconds.
func (s *simulator) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

func stopSimulators(sims []*simulator) {
	for _, s := range sims {
		s.stop()
	}
}
