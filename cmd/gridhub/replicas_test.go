package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/gridhub/gridhub/internal/devenv"
)

// The replica test's knobs: the load runs for replicasLoadEnv (default 15s);
// replicasResidents is the city.
const (
	replicasLoadEnv   = "GRIDHUB_REPLICAS_LOAD"
	replicasResidents = 1500
	// replicasRate is each caller's budget (GRIDHUB_RATE_LIMIT): burst
	// twice that.
	replicasRate = 20
)

// TestReplicas runs three `gridhub serve` processes on one Postgres primary
// with a streaming replica (pg_basebackup) and one Redis, behind a load
// balancer the test runs (round robin over the hubs whose /readyz answers,
// as a city's would be). Callers hammer one caller's budget across the three
// hubs, and a query persisted on one runs by its hash on the others; then
// workers with their own tokens fill and submit home-visit
// reports and read person pages and indicators, while one hub is killed
// with SIGKILL (and restarted) and the one leading the fact sync is stopped
// with SIGTERM. It shows:
//
//   - rate limits hold across replicas: one caller's requests spread over
//     three hubs get one budget, not three; persisted queries are shared;
//   - master-index reads go to the replica, and nothing that must read its
//     own writes (reports, the access ledger, River) is read there;
//   - requests fail only while in flight on the killed hub: every failed
//     request was sent to it before it was gone, none went to the stopped
//     leader (it drains first);
//   - one replica leads at a time, and the fact sync goes on on another
//     after the leader stops;
//   - no submission is lost or doubled: each is stored once, delivered to
//     each department exactly once (counted in the department systems), by
//     exactly one River job;
//   - the access ledger the three wrote verifies against the checkpoints the
//     leaders signed.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs three hubs, a primary and a replica")
	}
	load := envDuration(replicasLoadEnv, 15*time.Second)
	ctx := context.Background()
	setupStart := time.Now()

	db := devenv.StartReplicated(t, "hub")
	city := startTestCity(t, db.Primary.URL("hub"), replicasResidents)
	signer := tokenSigner(t, filepath.Join(city.tmp, "jwks.json"))
	checkpoints := filepath.Join(city.tmp, "audit-checkpoints")
	env := append(city.env,
		"GRIDHUB_JWKS_FILE="+filepath.Join(city.tmp, "jwks.json"),
		"GRIDHUB_REDIS_URL="+devenv.RedisURL(t),
		"GRIDHUB_DATABASE_REPLICA_URL="+db.Replica.URL("hub"),
		"GRIDHUB_SYNC_INTERVAL=2s",
		"GRIDHUB_RATE_LIMIT="+strconv.Itoa(replicasRate),
		"GRIDHUB_SHUTDOWN_DELAY=2s",
		"GRIDHUB_AUDIT_CHECKPOINTS="+checkpoints,
		"GRIDHUB_AUDIT_CHECKPOINT_INTERVAL=1s",
	)
	env = append(env, rescueEnv...)
	hubs := city.startHubs(t, ctx, 3, env)
	lb := newBalancer(hubs)
	defer lb.close()
	front := httptest.NewServer(lb.handler())
	defer front.Close()

	// Every hub reads the master index from the replica once it has
	// measured it, and one of them leads.
	waitUntil(t, "every hub reading the master index from the replica", time.Minute, func() bool {
		for _, h := range hubs {
			if v, _ := metric(ctx, h, "gridhub_database_replica_in_use"); v != 1 {
				return false
			}
		}
		return true
	})
	var leaderHub *crashHub
	waitUntil(t, "one hub leading", time.Minute, func() bool {
		leaderHub = nil
		for _, h := range hubs {
			if v, _ := metric(ctx, h, "gridhub_leader"); v == 1 {
				if leaderHub != nil {
					return false
				}
				leaderHub = h
			}
		}
		return leaderHub != nil
	})
	t.Logf("replicas: setup took %s (binary, primary and replica, %d residents, six departments, 3 simulators, 3 hubs); %s leads",
		time.Since(setupStart).Round(100*time.Millisecond), replicasResidents, leaderHub.name)

	// --- one caller's budget across the three hubs ---
	probe(t, ctx, hubs, signer("rate-probe"))
	// --- a query persisted through one hub runs by its hash on the others ---
	persistedAcross(t, ctx, hubs, signer("apq"))

	// --- the load, the kill, the stop ---
	persons := (&crashClient{targets: []string{front.URL}, token: signer("lister"), http: http.DefaultClient}).persons(t, ctx, 400)
	var (
		obsMu    sync.Mutex
		observed []observation
	)
	observe := func(id string, sent, answered time.Time, err error) {
		obsMu.Lock()
		observed = append(observed, observation{id: id, sent: sent, answered: answered, err: err})
		obsMu.Unlock()
	}
	run := &crashRun{subs: map[string]*crashSubmission{}}
	next := make(chan string, len(persons))
	for _, p := range persons {
		next <- p
	}
	watch := watchLeaders(ctx, hubs)
	var killed *crashHub
	for _, h := range hubs {
		if h != leaderHub {
			killed = h
			break
		}
	}
	var killedGone, stoppedGone time.Time
	loadStart := time.Now()
	loadCtx, endLoad := context.WithDeadline(ctx, loadStart.Add(load))
	defer endLoad()
	var workers sync.WaitGroup
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	var seq atomic.Int64
	for w := range 4 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			cl := &crashClient{targets: []string{front.URL}, token: signer(fmt.Sprintf("load-%d", w)),
				http: &http.Client{Timeout: 30 * time.Second}, observe: observe}
			loadWorker(t, loadCtx, cl, run, next, &seq, runID)
		}()
	}
	events := errgroup.Group{}
	events.Go(func() error {
		time.Sleep(load / 3)
		// Killed with a request on it when one comes within a second, so
		// that there is something in flight to lose.
		be := lb.backend(killed.name)
		for until := time.Now().Add(time.Second); be.inflight.Load() == 0 && time.Now().Before(until); {
			time.Sleep(time.Millisecond)
		}
		killed.kill() // returns once the process is gone
		killedGone = time.Now()
		time.Sleep(time.Second)
		return killed.start(ctx)
	})
	events.Go(func() error {
		time.Sleep(2 * load / 3)
		leaderHub.p.signal(syscall.SIGTERM) // returns once the process is gone
		stoppedGone = time.Now()
		return nil
	})
	if err := events.Wait(); err != nil {
		t.Fatal(err)
	}
	workers.Wait()
	if t.Failed() {
		t.FailNow()
	}
	run.n = len(run.subs)
	if run.n == 0 {
		t.Fatal("no submission was accepted")
	}

	// --- the fact sync goes on under another leader ---
	hubDB := db.Primary.URL("hub")
	waitUntil(t, "every department synced after the leader stopped", time.Minute, func() bool {
		return syncedSince(t, ctx, hubDB).After(stoppedGone)
	})
	watch.stop()
	if watch.most > 1 {
		t.Errorf("%d hubs reported leading at once", watch.most)
	}
	var now []string
	for _, h := range hubs {
		if h == leaderHub {
			continue
		}
		if v, err := metric(ctx, h, "gridhub_leader"); err == nil && v == 1 {
			now = append(now, h.name)
		}
	}
	if len(now) != 1 {
		t.Errorf("after %s stopped, leading: %v; want one of the other hubs", leaderHub.name, now)
	}

	// --- failures: only what was in flight on the killed hub ---
	failed, total := 0, 0
	for _, o := range observed {
		total++
		if o.err == nil {
			continue
		}
		var tr *transient
		if !errors.As(o.err, &tr) {
			continue // an answer (say, a form refused as invalid), not a failure
		}
		failed++
		r, ok := lb.route(o.id)
		switch {
		case !ok:
			t.Errorf("request %s failed (%v) and the balancer never sent it to a hub", o.id, o.err)
		case r.backend != killed.name:
			t.Errorf("request %s failed on %s (%v), which was not killed", o.id, r.backend, o.err)
		case !r.forwarded.Before(killedGone):
			t.Errorf("request %s failed on %s, sent at +%s, after it was gone at +%s", o.id, r.backend,
				r.forwarded.Sub(loadStart).Round(time.Millisecond), killedGone.Sub(loadStart).Round(time.Millisecond))
		}
	}
	t.Logf("replicas: %d requests in %s, %d submissions; %s killed at +%s, %d requests in flight on it failed (and were sent again); leader %s stopped at +%s, now %v leads",
		total, load, run.n, killed.name, killedGone.Sub(loadStart).Round(100*time.Millisecond), failed,
		leaderHub.name, stoppedGone.Sub(loadStart).Round(100*time.Millisecond), now)

	// --- none lost, none doubled ---
	cl := &crashClient{targets: []string{front.URL}, token: signer("checker"), http: &http.Client{Timeout: 30 * time.Second}}
	run.waitDelivered(t, ctx, cl, time.Now().Add(3*time.Minute))
	checkHub(t, ctx, hubDB, run)
	city.checkDeliveredOnce(t, ctx, run, nil)

	// --- what the replica served ---
	checkReplicaReads(t, ctx, db.Replica.URL("hub"))

	// --- the ledger against the leaders' checkpoints ---
	cmd := exec.CommandContext(ctx, city.bin, "verify-audit", "--checkpoints", checkpoints)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "agree with the ledger") {
		t.Errorf("verify-audit --checkpoints: %v\n%s", err, out)
	}
	t.Logf("replicas: verify-audit: %s", strings.TrimSpace(string(out)))
}

// observation is one request a load worker sent.
type observation struct {
	id             string
	sent, answered time.Time
	err            error
}

// loadWorker fills and submits reports and reads pages until ctx ends, at
// about five requests a second: under its caller's budget.
func loadWorker(t *testing.T, ctx context.Context, cl *crashClient, run *crashRun, persons chan string, seq *atomic.Int64, runID string) {
	pace := func() bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
			return true
		}
	}
	// Requests already sent finish even after ctx ends: the load stops
	// between them, never in the middle of one.
	reqCtx := context.WithoutCancel(ctx)
	var retries atomic.Int64
	var after any
	for i := 0; ; i++ {
		// A person page, from the replica.
		var page struct {
			People struct {
				Nodes    []struct{ ID, Name string } `json:"nodes"`
				PageInfo struct {
					HasNextPage bool   `json:"hasNextPage"`
					EndCursor   string `json:"endCursor"`
				} `json:"pageInfo"`
			} `json:"people"`
		}
		if err := cl.call(reqCtx, &retries, 0, `query($after: String) { people(within: "`+crashDistrict+`", first: 20, after: $after) {
				nodes { id name } pageInfo { hasNextPage endCursor } } }`, map[string]any{"after": after}, &page); err != nil {
			t.Errorf("person page: %v", err)
			return
		}
		after = nil
		if page.People.PageInfo.HasNextPage {
			after = page.People.PageInfo.EndCursor
		}
		if !pace() {
			return
		}
		// A report: its draft (read from the primary), then the form.
		var person string
		select {
		case person = <-persons:
		default:
			return
		}
		n := int(seq.Add(1))
		run.submit(t, reqCtx, cl, n, 0, person, persons, runID)
		if !pace() {
			return
		}
		// Indicators now and then.
		if i%3 == 0 {
			var table map[string]any
			if err := cl.call(reqCtx, &retries, 0, `{ indicators(level: COMMUNITY, within: "`+crashDistrict+`") { rows { unit { code } values { name value } } } }`, nil, &table); err != nil {
				t.Errorf("indicators: %v", err)
				return
			}
			if !pace() {
				return
			}
		}
	}
}

// probe sends three times one caller's burst, as fast as it can, spread
// round robin over the hubs themselves, and checks that they allowed one
// budget in all: the burst and the rate over the time it took, not the three
// budgets three hubs counting apart would allow.
func probe(t *testing.T, ctx context.Context, hubs []*crashHub, token string) {
	t.Helper()
	burst := 2 * replicasRate
	n := 3 * burst
	var allowed, refused atomic.Int64
	perHub := make([]atomic.Int64, len(hubs))
	start := time.Now()
	g := errgroup.Group{}
	g.SetLimit(12)
	for i := range n {
		g.Go(func() error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, hubs[i%len(hubs)].url()+"/graphql",
				strings.NewReader(`{"query":"{ __typename }"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusOK:
				allowed.Add(1)
			case http.StatusTooManyRequests:
				refused.Add(1)
				perHub[i%len(hubs)].Add(1)
			default:
				return fmt.Errorf("rate probe: HTTP %d", resp.StatusCode)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	budget := float64(burst) + replicasRate*took.Seconds() + 1
	t.Logf("replicas: rate probe: %d requests over 3 hubs in %s: %d allowed (one budget: at most %.0f), %d refused (per hub %d, %d, %d)",
		n, took.Round(time.Millisecond), allowed.Load(), budget, refused.Load(), perHub[0].Load(), perHub[1].Load(), perHub[2].Load())
	if float64(allowed.Load()) > budget {
		t.Errorf("%d requests allowed, more than one caller's budget (%.0f): the hubs count apart", allowed.Load(), budget)
	}
	for i := range hubs {
		if perHub[i].Load() == 0 {
			t.Errorf("%s refused none of the caller's requests over its budget", hubs[i].name)
		}
	}
}

// persistedAcross registers an automatic persisted query on the first hub
// and runs it by its hash alone on the others: they share the store of
// persisted queries (Redis), or they would answer PERSISTED_QUERY_NOT_FOUND.
func persistedAcross(t *testing.T, ctx context.Context, hubs []*crashHub, token string) {
	t.Helper()
	query := `{ departments { code } }`
	sum := sha256.Sum256([]byte(query))
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
	for i, h := range hubs {
		body := map[string]any{"extensions": ext}
		if i == 0 {
			body["query"] = query
		}
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.url()+"/graphql", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Data   *struct{ Departments []struct{ Code string } } `json:"data"`
			Errors []struct{ Message string }                     `json:"errors"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if out.Data == nil || len(out.Data.Departments) == 0 {
			t.Errorf("%s, the persisted query by its hash (registered on %s): %+v", h.name, hubs[0].name, out.Errors)
		}
	}
}

// syncedSince is the oldest last completed sync of any department (zero
// while one never completed).
func syncedSince(t *testing.T, ctx context.Context, url string) time.Time {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var oldest *time.Time
	if err := conn.QueryRow(ctx, `SELECT min(coalesce(last_sync_at, 'epoch')) FROM sync_state`).Scan(&oldest); err != nil {
		t.Fatal(err)
	}
	if oldest == nil {
		return time.Time{}
	}
	return *oldest
}

// checkReplicaReads checks, in the replica's own statistics, that it served
// the master index and nothing a hub must read from the primary.
func checkReplicaReads(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT relname, (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::int
		FROM pg_stat_user_tables WHERE relname IN ('persons', 'households', 'report_submissions', 'report_deliveries', 'audit_log', 'audit_head', 'river_job', 'sync_state')`)
	scans := map[string]int{}
	var name string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error { scans[name] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	t.Logf("replicas: scans on the replica: %v", scans)
	if scans["persons"] == 0 {
		t.Error("the replica served no read of persons: master-index reads went to the primary")
	}
	for _, table := range []string{"report_submissions", "report_deliveries", "audit_log", "audit_head", "river_job", "sync_state"} {
		if scans[table] > 0 {
			t.Errorf("the replica was read %d times for %s, which must be read from the primary", scans[table], table)
		}
	}
}

// --- the load balancer ---

// balancer is the load balancer the test puts in front of the hubs, as a
// city's would be: round robin over the hubs whose /readyz answers 200
// (checked every 100ms); a request whose connection a hub refuses goes to
// the next one, since nothing reached the refusing hub; any other failure is
// answered 502 and never sent again (a POST may have been acted on). Each
// request has a connection of its own, so none is sent on a connection a
// hub closed. It notes where each request went (by X-Test-Request).
type balancer struct {
	backends  []*backend
	next      atomic.Uint64
	transport *http.Transport

	mu     sync.Mutex
	routes map[string]route

	stop chan struct{}
	done chan struct{}
}

type backend struct {
	name string
	host string
	up   atomic.Bool
	// inflight counts the requests sent to it and not yet answered.
	inflight atomic.Int64
}

// route is where one request went.
type route struct {
	backend   string
	forwarded time.Time
}

func newBalancer(hubs []*crashHub) *balancer {
	b := &balancer{
		transport: &http.Transport{DisableKeepAlives: true},
		routes:    map[string]route{},
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
	}
	for _, h := range hubs {
		u, _ := url.Parse(h.url())
		be := &backend{name: h.name, host: u.Host}
		be.up.Store(true)
		b.backends = append(b.backends, be)
	}
	go b.check()
	return b
}

func (b *balancer) handler() http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "hubs" // RoundTrip picks the hub
		},
		Transport: b,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "balancer: "+err.Error(), http.StatusBadGateway)
		},
	}
}

// RoundTrip sends req to a ready hub, and to the next on a refused connection.
func (b *balancer) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body.Close()
	for range 2 * len(b.backends) {
		be := b.pick()
		if be == nil {
			return nil, errors.New("no hub is ready")
		}
		out := req.Clone(req.Context())
		out.URL.Host, out.Host = be.host, be.host
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		if id := req.Header.Get("X-Test-Request"); id != "" {
			b.mu.Lock()
			b.routes[id] = route{backend: be.name, forwarded: time.Now()}
			b.mu.Unlock()
		}
		be.inflight.Add(1)
		resp, err := b.transport.RoundTrip(out)
		be.inflight.Add(-1)
		if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
			be.up.Store(false)
			continue
		}
		return resp, err
	}
	return nil, errors.New("every hub refused the connection")
}

func (b *balancer) pick() *backend {
	n := b.next.Add(1)
	for i := range b.backends {
		if be := b.backends[(int(n)+i)%len(b.backends)]; be.up.Load() {
			return be
		}
	}
	return nil
}

func (b *balancer) backend(name string) *backend {
	for _, be := range b.backends {
		if be.name == name {
			return be
		}
	}
	return nil
}

func (b *balancer) route(id string) (route, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.routes[id]
	return r, ok
}

// check asks every hub's /readyz every 100ms.
func (b *balancer) check() {
	defer close(b.done)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		select {
		case <-b.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		for _, be := range b.backends {
			resp, err := client.Get("http://" + be.host + "/readyz")
			ok := err == nil && resp.StatusCode == http.StatusOK
			if err == nil {
				resp.Body.Close()
			}
			be.up.Store(ok)
		}
	}
}

func (b *balancer) close() {
	close(b.stop)
	<-b.done
}

// --- watching the hubs ---

// metric reads one unlabelled series from a hub's /metrics.
func metric(ctx context.Context, h *crashHub, name string) (float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.url()+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("%s: no series %s", h.name, name)
}

// leaderWatch samples, every 100ms, how many hubs report leading.
type leaderWatch struct {
	most int
	halt chan struct{}
	done chan struct{}
}

func watchLeaders(ctx context.Context, hubs []*crashHub) *leaderWatch {
	w := &leaderWatch{halt: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.halt:
				return
			case <-time.After(100 * time.Millisecond):
			}
			leading := 0
			for _, h := range hubs {
				if v, err := metric(ctx, h, "gridhub_leader"); err == nil && v == 1 {
					leading++
				}
			}
			w.most = max(w.most, leading)
		}
	}()
	return w
}

func (w *leaderWatch) stop() {
	close(w.halt)
	<-w.done
}

// waitUntil polls cond every 100ms until it holds, failing t after limit.
func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
