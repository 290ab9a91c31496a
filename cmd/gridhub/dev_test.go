package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevStartsServesAndStopsEverything runs the real binary: a new data dir is
// seeded and served, SIGTERM stops every process it started, and a second start on
// the same dir reuses the city instead of generating it again.
func TestDevStartsServesAndStopsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "gridhub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "data")
	t.Cleanup(func() {
		// When run as root the cluster may live outside dir (devenv relocates it).
		if target, err := filepath.EvalSymlinks(filepath.Join(dir, "postgres")); err == nil {
			os.RemoveAll(target)
		}
	})

	first := startDev(t, bin, dir)
	var grids struct {
		Data struct {
			Grids struct {
				TotalCount int `json:"totalCount"`
			} `json:"grids"`
		} `json:"data"`
	}
	postJSON(t, first, `{ grids(level: COMMUNITY, within: "340705") { totalCount } }`, &grids)
	if grids.Data.Grids.TotalCount != 50 {
		t.Errorf("communities of 铜官区 = %d, want 50", grids.Data.Grids.TotalCount)
	}
	// The database commands given the data dir reach what dev runs: its
	// database and its departments (departments.env). A department dev's
	// own start-up sync still holds is reported as such: try again.
	for attempt := 1; ; attempt++ {
		out, err := exec.Command(bin, "sync", "--data-dir", dir).CombinedOutput()
		if err != nil && strings.Contains(string(out), "another sync of the department") && attempt < 30 {
			time.Sleep(time.Second)
			continue
		}
		if err != nil {
			t.Errorf("gridhub sync --data-dir while dev runs: %v\n%s", err, out)
		} else if !strings.Contains(string(out), "social_security") || strings.Contains(string(out), "unreachable") {
			t.Errorf("gridhub sync --data-dir while dev runs did not sync every department:\n%s", out)
		}
		break
	}
	started := descendants(first.cmd.Process.Pid)
	if len(started) < 2 {
		t.Errorf("dev runs %d child processes, want postgres and its workers at least", len(started))
	}
	first.stop(t)
	if left := alive(started); len(left) > 0 {
		t.Fatalf("processes left after SIGTERM: %v", left)
	}
	for _, f := range []string{"database.url", "departments.env"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s left behind after stop (err %v)", f, err)
		}
	}

	second := startDev(t, bin, dir)
	if strings.Contains(second.log.String(), "generating") {
		t.Error("second start on the same data dir generated the city again")
	}
	postJSON(t, second, `{ grids(level: COMMUNITY, within: "340705") { totalCount } }`, &grids)
	if grids.Data.Grids.TotalCount != 50 {
		t.Errorf("after restart: communities = %d, want 50", grids.Data.Grids.TotalCount)
	}
	started = descendants(second.cmd.Process.Pid)
	second.stop(t)
	if left := alive(started); len(left) > 0 {
		t.Fatalf("processes left after the second SIGTERM: %v", left)
	}
}

type devProcess struct {
	cmd     *exec.Cmd
	graphql string
	token   string // the dev admin token dev printed
	// departments are the simulators' addresses dev printed, by code.
	departments map[string]string
	log         *bytes.Buffer
	done        chan error
}

func startDev(t *testing.T, bin, dir string) *devProcess {
	t.Helper()
	return startDevCmd(t, exec.Command(bin, "dev", "--data-dir", dir, "--port", "0", "--residents", "3000"), nil)
}

// startDevCmd starts a gridhub dev command with extra environment and waits
// for its ready line.
func startDevCmd(t *testing.T, cmd *exec.Cmd, env []string) *devProcess {
	t.Helper()
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd, log: logs, done: make(chan error, 1), departments: map[string]string{}}
	t.Cleanup(func() { cmd.Process.Kill() })
	ready := make(chan string, 1)
	tokens := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			// "department CODE: URL (pid N; ...)", before the ready line.
			if rest, ok := strings.CutPrefix(sc.Text(), "department "); ok {
				if code, addr, ok := strings.Cut(rest, ": "); ok {
					p.departments[code], _, _ = strings.Cut(addr, " ")
				}
			}
			if tok, ok := strings.CutPrefix(sc.Text(), "token dev-admin: "); ok {
				tokens <- tok
			}
			if url, ok := strings.CutPrefix(sc.Text(), "graphql: "); ok {
				ready <- url
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case p.graphql = <-ready:
	case err := <-p.done:
		t.Fatalf("dev exited before ready: %v\n%s", err, logs)
	case <-time.After(3 * time.Minute):
		t.Fatalf("no ready line\n%s", logs)
	}
	select {
	case p.token = <-tokens:
	default:
		t.Fatal("dev printed no admin token before its ready line")
	}
	return p
}

func (p *devProcess) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("dev exited with %v after SIGTERM\n%s", err, p.log)
		}
	case <-time.After(time.Minute):
		t.Fatalf("dev did not exit after SIGTERM\n%s", p.log)
	}
}

func postJSON(t *testing.T, p *devProcess, query string, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", p.graphql, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// descendants lists the processes below pid (children, their children, ...).
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, ok := parentOf(child); ok {
			children[ppid] = append(children[ppid], child)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// parentOf reads a process's parent pid from /proc/PID/stat.
func parentOf(pid int) (int, bool) {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// The command name (field 2) may hold spaces: fields after its ")" are fixed.
	rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
	fields := strings.Fields(rest)
	if len(fields) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(fields[1])
	return ppid, err == nil
}

// alive keeps the pids still running (a zombie waiting for init counts as gone).
func alive(pids []int) []string {
	var out []string
	for _, pid := range pids {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 0 && fields[0] == "Z" {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		out = append(out, strconv.Itoa(pid)+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return out
}
