package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
	"golang.org/x/sync/errgroup"

	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/report"
	"github.com/gridhub/gridhub/internal/synth"
)

// The crash test's knobs. scripts/crash.sh runs the full size (1,000
// submissions, a 2-minute outage); the defaults are the CI size.
const (
	crashSubmissionsEnv = "GRIDHUB_CRASH_SUBMISSIONS" // default 60
	crashOutageEnv      = "GRIDHUB_CRASH_OUTAGE"      // default 5s
	crashResidents      = 3000
	crashDistrict       = "340705" // 铜官区, the demo city
	// The department a simulator outage takes down (a REST simulator).
	crashDownDept = deptsim.Employment
)

// TestCrash runs the real binary as production runs it: two `gridhub serve`
// processes on one database, the three REST department simulators as their
// own processes, the two SQL departments in their own databases and the party
// ledger's inbox workbook. Home-visit reports (一表通) flow in, spread over
// both hubs, each changing fields of all six departments; meanwhile one
// department's simulator is stopped for an outage and one hub is killed with
// SIGKILL and restarted. A submission in flight to the killed hub is retried
// against the other with the same idempotency key.
//
// After recovery every department holds every submission exactly once,
// counted in the department systems themselves (the SQL inbox tables, the
// simulators' durable inbox logs and counters, the inbox workbook), and River
// holds exactly one completed job per delivery: none lost, none doubled.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two hubs and three simulators")
	}
	n := envInt(crashSubmissionsEnv, 60)
	outage := envDuration(crashOutageEnv, 5*time.Second)
	ctx := context.Background()

	setupStart := time.Now()
	city := startTestCity(t, devenv.NewDatabase(t), crashResidents)
	tmp, sims, hubDB := city.tmp, city.sims, city.hubDB
	env := slices.Clone(city.env)

	// Production tokens: an RS256 key whose public half the hubs read as a JWKS.
	jwksPath := filepath.Join(tmp, "jwks.json")
	token := crashToken(t, jwksPath)
	env = append(env,
		"GRIDHUB_JWKS_FILE="+jwksPath,
		"GRIDHUB_SYNC_INTERVAL=1h", // no fact-sync noise after the first
		"GRIDHUB_RATE_LIMIT=100000",
	)
	env = append(env, rescueEnv...)
	hubs := city.startHubs(t, ctx, 2, env)
	cl := &crashClient{targets: hubTargets(hubs), token: token, http: &http.Client{Timeout: 30 * time.Second}}
	t.Logf("crash: setup took %s (binary, databases, %d residents, six departments, 3 simulators, 2 hubs)",
		time.Since(setupStart).Round(100*time.Millisecond), crashResidents)

	// Persons to visit: N, and spares for a form a department's data makes
	// invalid (a submission refused as BAD_USER_INPUT is not one to count).
	persons := cl.persons(t, ctx, n+n/5+20)
	if len(persons) < n {
		t.Fatalf("only %d persons in %s, want %d", len(persons), crashDistrict, n)
	}
	spares := make(chan string, len(persons))
	for _, p := range persons[n:] {
		spares <- p
	}

	// --- the load, the outage, the crash ---
	// The submissions are paced over twice the outage. A quarter of the way
	// in the simulator goes down for the outage; half-way, in the middle of
	// it, hub0 is killed and restarted a second later. Submission i goes to
	// hub i%2 first.
	run := &crashRun{n: n, subs: map[string]*crashSubmission{}}
	interval := 2 * outage / time.Duration(n)
	flowStart := time.Now()
	var (
		wg, events             sync.WaitGroup
		outageStart, outageEnd time.Time
		killedAt, restartedAt  time.Time
		linesAtRestart         int
		eventErr               = make(chan error, 4)
		runID                  = strconv.FormatInt(time.Now().UnixNano(), 36)
		sem                    = make(chan struct{}, 8)
		downSim                = sims[crashDownDept]
		killed                 = hubs[0]
	)
	for i := range n {
		if d := time.Until(flowStart.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		switch i {
		case n / 4:
			events.Add(1)
			go func() {
				defer events.Done()
				outageStart = time.Now()
				downSim.stop()
				time.Sleep(time.Until(outageStart.Add(outage)))
				lines, err := inboxLines(downSim.inboxPath())
				if err != nil {
					eventErr <- err
					return
				}
				linesAtRestart = lines.records
				if err := downSim.start(ctx); err != nil {
					eventErr <- fmt.Errorf("restart %s simulator: %w", downSim.dept, err)
					return
				}
				outageEnd = time.Now()
			}()
		case n / 2:
			events.Add(1)
			go func() {
				defer events.Done()
				killedAt = time.Now()
				killed.kill()
				time.Sleep(time.Second)
				if err := killed.start(ctx); err != nil {
					eventErr <- fmt.Errorf("restart %s: %w", killed.name, err)
					return
				}
				restartedAt = time.Now()
			}()
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			run.submit(t, ctx, cl, i, i%2, persons[i], spares, runID)
		}()
	}
	wg.Wait()
	flowEnd := time.Now()
	events.Wait()
	close(eventErr)
	for err := range eventErr {
		t.Fatal(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	if len(run.subs) != n {
		t.Fatalf("%d submissions accepted, want %d", len(run.subs), n)
	}
	t.Logf("crash: %d submissions in %s (%d client retries, %d forms refused and replaced); %s down %s..%s; %s killed at %s, serving again at %s",
		n, flowEnd.Sub(flowStart).Round(100*time.Millisecond), run.retries.Load(), run.refused.Load(),
		crashDownDept, since(flowStart, outageStart), since(flowStart, outageEnd),
		killed.name, since(flowStart, killedAt), since(flowStart, restartedAt))

	// --- recovery: every delivery DELIVERED, as the API tells it ---
	run.waitDelivered(t, ctx, cl, time.Now().Add(2*outage+4*time.Minute))
	delivered := time.Now()
	t.Logf("crash: all %d×6 deliveries DELIVERED %s after the last submission, %s after %s came back, %s after the kill",
		n, delivered.Sub(flowEnd).Round(100*time.Millisecond), delivered.Sub(outageEnd).Round(100*time.Millisecond),
		crashDownDept, delivered.Sub(killedAt).Round(100*time.Millisecond))

	// --- the counts, in the hub and in the department systems ---
	checkHub(t, ctx, hubDB, run)
	city.checkDeliveredOnce(t, ctx, run, map[string]int{crashDownDept: linesAtRestart})
}

// testCity is what the tests that run the real binary as production runs it
// share: the binary, the hub's database seeded with a small city, the two SQL
// departments in their own databases, the party ledger's workbooks, and the
// three REST department simulators as processes of their own.
type testCity struct {
	tmp, bin, logDir, dataDir, deptDir string
	hubDB                              string
	deptDB                             map[string]string
	sims                               map[string]*crashSim
	procs                              *procSet
	// env is the environment of a hub: the database, the master key and
	// where every department is.
	env []string
}

// startTestCity builds the binary, seeds hubDB with residents residents (as
// an operator does, `gridhub seed`), loads the departments' views of the same
// city and starts the REST simulators. Every process it starts is killed when
// t ends, and the logs are shown when t fails.
func startTestCity(t *testing.T, hubDB string, residents int) *testCity {
	t.Helper()
	ctx := context.Background()
	tmp := t.TempDir()
	c := &testCity{tmp: tmp, bin: filepath.Join(tmp, "gridhub"), hubDB: hubDB, sims: map[string]*crashSim{},
		logDir: filepath.Join(tmp, "logs"), dataDir: filepath.Join(tmp, "data")}
	c.deptDir = filepath.Join(c.dataDir, "departments") // what `gridhub deptsim --data-dir` reads
	if out, err := exec.Command("go", "build", "-o", c.bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	c.deptDB = map[string]string{
		deptsim.CivilAffairs: devenv.NewDatabase(t),
		deptsim.Health:       devenv.NewDatabase(t),
	}
	// Registered after the databases: cleanups run last-in first-out, so every
	// process is gone before its database is dropped.
	c.procs = &procSet{}
	t.Cleanup(c.procs.killAll)
	for _, d := range []string{c.logDir, c.deptDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, c.logDir)
		}
	})
	secretKey := make([]byte, 32)
	rand.Read(secretKey)
	baseEnv := append(hermeticEnv(),
		"GRIDHUB_DATABASE_URL="+hubDB,
		"GRIDHUB_SECRET_KEY="+base64.StdEncoding.EncodeToString(secretKey))

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		// Migrations and the master index, as an operator runs them.
		cmd := exec.CommandContext(gctx, c.bin, "seed", "--residents", strconv.Itoa(residents), "--truth", filepath.Join(tmp, "truth"))
		cmd.Env = baseEnv
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("gridhub seed: %v\n%s", err, out)
		}
		return nil
	})
	g.Go(func() error {
		// The same city (same options, same seed) as the departments see it.
		city, err := synth.Generate(synth.Options{Scale: synth.ScaleDemo, Residents: residents, Seed: 1})
		if err != nil {
			return err
		}
		ds := deptsim.Build(city, city.Seed)
		dg, dctx := errgroup.WithContext(gctx)
		for dept, url := range c.deptDB {
			dg.Go(func() error { return ds.LoadSQL(dctx, dept, url) })
		}
		dg.Go(func() error { return ds.WriteFiles(c.deptDir) })
		return dg.Wait()
	})
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	// The REST simulators, each a process of its own.
	c.env = slices.Clone(baseEnv)
	for _, dept := range deptsim.Departments() {
		var e deptsim.Endpoint
		switch deptsim.Kind(dept) {
		case deptsim.KindSQL:
			e.DSN = c.deptDB[dept]
		case deptsim.KindSheet:
			e.Ledger = deptsim.LedgerPath(c.deptDir)
		case deptsim.KindREST:
			port, err := devenv.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			s := &crashSim{dept: dept, bin: c.bin, dataDir: c.dataDir, port: port, logDir: c.logDir, procs: c.procs}
			if err := s.start(ctx); err != nil {
				t.Fatal(err)
			}
			c.sims[dept] = s
			e.URL, e.APIKey = s.url(), deptsim.DefaultAPIKey(dept)
		}
		for k, v := range deptsim.Env(dept, e) {
			c.env = append(c.env, k+"="+v)
		}
	}
	return c
}

// rescueEnv makes a delivery a killed hub left running be taken up by
// another after 15s (River's default is an hour); it must exceed the job
// timeout, which must exceed the slowest department's timeout (3s).
var rescueEnv = []string{"GRIDHUB_DELIVERY_JOB_TIMEOUT=10s", "GRIDHUB_DELIVERY_RESCUE_AFTER=15s"}

// startHubs starts n `gridhub serve` processes with env, in parallel, and
// returns once every one is ready.
func (c *testCity) startHubs(t *testing.T, ctx context.Context, n int, env []string) []*crashHub {
	t.Helper()
	var hubs []*crashHub
	for i := range n {
		port, err := devenv.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		hubs = append(hubs, &crashHub{name: fmt.Sprintf("hub%d", i), bin: c.bin, env: env, port: port, logDir: c.logDir, procs: c.procs})
	}
	g := errgroup.Group{}
	for _, h := range hubs {
		g.Go(func() error { return h.start(ctx) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	return hubs
}

// checkDeliveredOnce counts, in the department systems themselves (the SQL
// inbox tables, the simulators' durable inbox logs and counters, the inbox
// workbook), that every department holds every submission of run exactly
// once. sinceRestart gives, for a REST simulator restarted during the run,
// how many deliveries it had accepted before: its counters start again.
func (c *testCity) checkDeliveredOnce(t *testing.T, ctx context.Context, run *crashRun, sinceRestart map[string]int) {
	t.Helper()
	n := len(run.subs)
	expect := map[string]map[string]bool{} // department -> idempotency keys
	for _, dept := range deptsim.Departments() {
		expect[dept] = map[string]bool{}
		for _, sub := range run.subs {
			expect[dept][report.IdempotencyKey(sub.id, dept)] = true
		}
	}
	for _, dept := range deptsim.Departments() {
		var held map[string]int // idempotency key -> records
		var extra string
		switch deptsim.Kind(dept) {
		case deptsim.KindSQL:
			held = sqlInbox(t, ctx, c.deptDB[dept], deptsim.InboxTable(dept))
		case deptsim.KindSheet:
			held = sheetInbox(t, c.deptDir)
		case deptsim.KindREST:
			lines, err := inboxLines(c.sims[dept].inboxPath())
			if err != nil {
				t.Fatal(err)
			}
			held = lines.byKey
			st, err := c.sims[dept].stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// Every accepted delivery is a request that was not a replay: a
			// repeat after a crash must be answered as a replay, never
			// stored again. A restarted simulator counts since its restart.
			before, restarted := sinceRestart[dept]
			if st.Keys != n || st.Requests-st.Replayed != int64(n-before) || st.Conflicts != 0 || st.Refused != 0 {
				t.Errorf("%s inbox counters %+v: want keys %d, requests-replayed %d, no conflicts, none refused", dept, st, n, n-before)
			}
			extra = fmt.Sprintf(", requests %d, replayed %d", st.Requests, st.Replayed)
			if restarted {
				extra += fmt.Sprintf(" (since its restart; %d accepted before it stopped)", before)
			}
		}
		records, doubled, lost, unknown := 0, 0, 0, 0
		for key, c := range held {
			records += c
			if c > 1 {
				doubled++
				t.Errorf("%s holds delivery %s %d times", dept, key, c)
			}
			if !expect[dept][key] {
				unknown++
				t.Errorf("%s holds delivery %s, which no submission made", dept, key)
			}
		}
		for key := range expect[dept] {
			if held[key] == 0 {
				lost++
				t.Errorf("%s lacks delivery %s", dept, key)
			}
		}
		t.Logf("%-16s (%s) keys %d, records %d, lost %d, doubled %d, unknown %d%s",
			dept, deptsim.Kind(dept), len(held), records, lost, doubled, unknown, extra)
	}
}

// --- the run ---

type crashRun struct {
	n       int
	mu      sync.Mutex
	subs    map[string]*crashSubmission // by idempotency key
	retries atomic.Int64                // requests retried on the client side
	refused atomic.Int64                // forms refused as invalid, replaced by a spare person
}

type crashSubmission struct {
	key, id, person string
	hub             int // the hub it was first sent to
}

// submit fills and submits one home-visit report: a draft, then the form with
// fields of all six departments changed, under one idempotency key however
// many times it has to be sent.
func (r *crashRun) submit(t *testing.T, ctx context.Context, cl *crashClient, i, hub int, person string, spares <-chan string, runID string) {
	for form := 0; ; form++ {
		var draft struct {
			ReportDraft gqlDraft `json:"reportDraft"`
		}
		if err := cl.call(ctx, &r.retries, hub, draftQuery, map[string]any{"subject": person}, &draft); err != nil {
			t.Errorf("submission %d: draft for %s: %v", i, person, err)
			return
		}
		key := fmt.Sprintf("crash-%s-%d-%d", runID, i, form)
		input := map[string]any{
			"template": "home_visit", "version": draft.ReportDraft.Version, "subject": person,
			"idempotencyKey": key, "values": fillForm(draft.ReportDraft, i),
		}
		var out struct {
			SubmitReport *gqlSubmission `json:"submitReport"`
		}
		err := cl.call(ctx, &r.retries, hub, submitMutation, map[string]any{"input": input}, &out)
		var ge *gqlErrors
		if errors.As(err, &ge) && ge.code() == "BAD_USER_INPUT" {
			if ge.rule() == "idempotency" {
				t.Errorf("submission %d: the hub refused a retry with the same key and payload: %v", i, err)
				return
			}
			// The person's department data breaks a rule the form cannot
			// fix (say, a required_if met by a value the caller does not
			// see): visit someone else.
			r.refused.Add(1)
			select {
			case person = <-spares:
				continue
			default:
				t.Errorf("submission %d: refused (%v) and no spare person left", i, err)
				return
			}
		}
		if err != nil {
			t.Errorf("submission %d (key %s): %v", i, key, err)
			return
		}
		sub := out.SubmitReport
		var got []string
		for _, d := range sub.Deliveries {
			got = append(got, d.Department)
		}
		sort.Strings(got)
		if want := slices.Sorted(slices.Values(deptsim.Departments())); !slices.Equal(got, want) {
			t.Errorf("submission %d (%s): deliveries to %v, want one to each of %v", i, sub.ID, got, want)
		}
		r.mu.Lock()
		r.subs[key] = &crashSubmission{key: key, id: sub.ID, person: person, hub: hub}
		r.mu.Unlock()
		return
	}
}

// waitDelivered waits, asking the hub as a client does, until every
// submission of r is DELIVERED to every department, and fails t when one
// FAILED or the deadline passes first.
func (r *crashRun) waitDelivered(t *testing.T, ctx context.Context, cl *crashClient, deadline time.Time) {
	t.Helper()
	pending := slices.Collect(maps.Keys(r.subs))
	var lastStatus string
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d submissions not delivered by the deadline; e.g. %s", len(pending), len(r.subs), lastStatus)
		}
		var mu sync.Mutex
		var still []string
		pg := errgroup.Group{}
		pg.SetLimit(8)
		for k, key := range pending {
			pg.Go(func() error {
				sub := r.subs[key]
				var out struct {
					Submission *gqlSubmission `json:"submission"`
				}
				if err := cl.call(ctx, &r.retries, k%len(cl.targets), submissionQuery, map[string]any{"id": sub.id}, &out); err != nil {
					return err
				}
				if out.Submission == nil {
					return fmt.Errorf("submission %s (key %s) not found", sub.id, key)
				}
				for _, d := range out.Submission.Deliveries {
					if d.Status == string(report.Failed) {
						return fmt.Errorf("submission %s: delivery to %s FAILED after %d attempts: %s", sub.id, d.Department, d.Attempts, deref(d.LastError))
					}
				}
				if out.Submission.Status != string(report.Delivered) {
					mu.Lock()
					still = append(still, key)
					lastStatus = out.Submission.String()
					mu.Unlock()
				}
				return nil
			})
		}
		if err := pg.Wait(); err != nil {
			t.Fatal(err)
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// fillForm changes fields of every department: an append field (a visit note,
// a new urban-management case) always counts as a change; for the others a
// value the draft does not hold. Core fields are left as the master index has
// them, unless a required one is empty.
func fillForm(d gqlDraft, i int) []map[string]any {
	cur := map[string]*string{}
	for _, f := range d.Fields {
		cur[f.Field] = f.Value
	}
	differ := func(field string, options ...string) string {
		for _, o := range options {
			if v := cur[field]; v == nil || *v != o {
				return o
			}
		}
		return options[0]
	}
	day := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i)
	values := map[string]string{
		"civil_affairs.visit.note":           fmt.Sprintf("crash test visit %d: resident met at home", i),
		"health.floating.inflowDate":         differ("health.floating.inflowDate", day.Format(report.DateLayout), day.AddDate(0, 0, 1).Format(report.DateLayout)),
		"health.marriage.children":           differ("health.marriage.children", strconv.Itoa(i%7+1), strconv.Itoa(i%7+2)),
		"employment.unemployment.reason":     fmt.Sprintf("crash test %d: plant closed", i),
		"social_security.pension.status":     differ("social_security.pension.status", "SUSPENDED", "CONTRIBUTING"),
		"social_security.medical.status":     differ("social_security.medical.status", "LAPSED", "INSURED"),
		"urban_management.cases.category":    "SANITATION",
		"urban_management.cases.description": fmt.Sprintf("crash test %d: rubbish left in the stairwell", i),
		"party_building.membership.branch":   fmt.Sprintf("crash test branch %d", i),
	}
	if v := cur["core.person.phone"]; v == nil || *v == "" {
		values["core.person.phone"] = fmt.Sprintf("139%08d", i)
	}
	if v := cur["core.person.residence"]; v == nil || *v == "" {
		values["core.person.residence"] = "RESIDENT"
	}
	var out []map[string]any
	for _, k := range slices.Sorted(maps.Keys(values)) {
		out = append(out, map[string]any{"field": k, "value": values[k]})
	}
	return out
}

// checkHub checks the hub's own books: one submission per idempotency key,
// with the id the client was given; six DELIVERED deliveries each; and one
// River job per delivery, completed (two hubs, a kill and a restart, and no
// job was run to completion twice or lost).
func checkHub(t *testing.T, ctx context.Context, url string, run *crashRun) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	rows, _ := conn.Query(ctx, `SELECT idempotency_key, id::text FROM report_submissions`)
	stored, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Key, ID string }])
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != run.n {
		t.Errorf("report_submissions holds %d rows, want %d", len(stored), run.n)
	}
	for _, s := range stored {
		if sub := run.subs[s.Key]; sub == nil || sub.id != s.ID {
			t.Errorf("stored submission %s under key %s, which the client was not given", s.ID, s.Key)
		}
	}

	var deliveries, deliveredRows int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'DELIVERED') FROM report_deliveries`).
		Scan(&deliveries, &deliveredRows); err != nil {
		t.Fatal(err)
	}
	if want := run.n * len(deptsim.Departments()); deliveries != want || deliveredRows != want {
		t.Errorf("report_deliveries: %d rows, %d DELIVERED, want %d and %d", deliveries, deliveredRows, want, want)
	}

	type jobGroup struct {
		Submission, Department             string
		Jobs, Completed, Rescued, Attempts int
	}
	rows, _ = conn.Query(ctx, `SELECT args->>'submission_id', args->>'department', count(*)::int,
			(count(*) FILTER (WHERE state = 'completed'))::int,
			(count(*) FILTER (WHERE errors::text LIKE '%Stuck job rescued%'))::int,
			max(attempt)::int
		FROM river_job WHERE kind = $1 GROUP BY 1, 2`, report.DeliverArgs{}.Kind())
	groups, err := pgx.CollectRows(rows, pgx.RowToStructByPos[jobGroup])
	if err != nil {
		t.Fatal(err)
	}
	if want := run.n * len(deptsim.Departments()); len(groups) != want {
		t.Errorf("River holds jobs for %d deliveries, want %d", len(groups), want)
	}
	rescued, retried := map[string]int{}, 0
	for _, g := range groups {
		if g.Jobs != 1 || g.Completed != 1 {
			t.Errorf("delivery %s to %s: %d jobs, %d completed; want exactly one, completed", g.Submission, g.Department, g.Jobs, g.Completed)
		}
		if g.Rescued > 0 {
			rescued[g.Department] += g.Rescued
		}
		if g.Attempts > 1 {
			retried++
		}
	}
	// Which process finished each job: both hubs work the queues.
	rows, _ = conn.Query(ctx, `SELECT coalesce(attempted_by[array_length(attempted_by, 1)], '?'), count(*)::int
		FROM river_job WHERE kind = $1 GROUP BY 1 ORDER BY 2 DESC`, report.DeliverArgs{}.Kind())
	byClient, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct {
		Client string
		Jobs   int
	}])
	if err != nil {
		t.Fatal(err)
	}
	var clients []string
	for _, c := range byClient {
		clients = append(clients, fmt.Sprintf("%d", c.Jobs))
	}
	t.Logf("crash: hub books: %d submissions, %d deliveries DELIVERED, %d River jobs (one each, all completed); %d needed more than one attempt, rescued from the killed hub %v; completed by %d hub processes (%s jobs)",
		len(stored), deliveredRows, len(groups), retried, rescued, len(byClient), strings.Join(clients, " + "))
}

// sqlInbox counts a SQL department's inbox rows by idempotency key.
func sqlInbox(t *testing.T, ctx context.Context, url, table string) map[string]int {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT idempotency_key, count(*)::int FROM `+pgx.Identifier{table}.Sanitize()+` GROUP BY 1`)
	out := map[string]int{}
	var key string
	var c int
	if _, err := pgx.ForEachRow(rows, []any{&key, &c}, func() error { out[key] = c; return nil }); err != nil {
		t.Fatalf("%s: %v", table, err)
	}
	return out
}

// sheetInbox counts the party ledger's inbox workbook rows by idempotency key
// (the column the mapping file names).
func sheetInbox(t *testing.T, deptDir string) map[string]int {
	t.Helper()
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	col := ""
	for _, d := range depts {
		if d.Code == deptsim.PartyBuilding && d.WriteBack != nil {
			col = d.WriteBack.IdempotencyKey
		}
	}
	if col == "" {
		t.Fatal("party_building's mapping names no idempotency key column")
	}
	rows, err := deptsim.ReadLedgerInbox(deptsim.LedgerInboxPath(deptDir))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r[col]]++
	}
	return out
}

type inboxLog struct {
	records int
	byKey   map[string]int
}

// inboxLines reads a REST simulator's durable inbox log: a line per accepted
// delivery.
func inboxLines(path string) (inboxLog, error) {
	l := inboxLog{byKey: map[string]int{}}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return l, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var d deptsim.Delivery
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return l, fmt.Errorf("%s: %w", path, err)
		}
		l.records++
		l.byKey[d.Key]++
	}
	return l, sc.Err()
}

// --- processes ---

// procSet kills, at the end of the test, every process the test started.
type procSet struct {
	mu    sync.Mutex
	procs []*crashProc
}

type crashProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

func (s *procSet) start(name string, bin string, args, env []string, logPath string) (*crashProc, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "=== %s %s: %s\n", time.Now().Format(time.RFC3339Nano), name, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	// Dies with the test binary, however it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &crashProc{cmd: cmd, done: make(chan struct{}), log: log}
	go func() { cmd.Wait(); log.Close(); close(p.done) }()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

func (s *procSet) killAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	}
}

func (p *crashProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig and waits for the process to end.
func (p *crashProc) signal(sig os.Signal) {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// crashSim is a REST department simulator: `gridhub deptsim`.
type crashSim struct {
	dept, bin, dataDir, logDir string
	port                       int
	procs                      *procSet
	p                          *crashProc
}

func (s *crashSim) url() string { return fmt.Sprintf("http://127.0.0.1:%d", s.port) }

func (s *crashSim) inboxPath() string {
	return filepath.Join(s.dataDir, "departments", s.dept, deptsim.InboxFile)
}

func (s *crashSim) start(ctx context.Context) error {
	p, err := s.procs.start(s.dept, s.bin,
		[]string{"deptsim", "--department", s.dept, "--data-dir", s.dataDir, "--port", strconv.Itoa(s.port), "--api-key", deptsim.DefaultAPIKey(s.dept)},
		hermeticEnv(), filepath.Join(s.logDir, "deptsim-"+s.dept+".log"))
	if err != nil {
		return err
	}
	s.p = p
	return waitOK(ctx, s.url()+"/health", p)
}

// stop ends the simulator as an operator would (SIGTERM).
func (s *crashSim) stop() { s.p.signal(syscall.SIGTERM) }

func (s *crashSim) stats(ctx context.Context) (deptsim.InboxStats, error) {
	var st deptsim.InboxStats
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url()+"/_deptsim/inbox", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// crashHub is a `gridhub serve` process.
type crashHub struct {
	name, bin, logDir string
	env               []string
	port              int
	procs             *procSet
	p                 *crashProc
}

func (h *crashHub) url() string { return fmt.Sprintf("http://127.0.0.1:%d", h.port) }

func (h *crashHub) start(ctx context.Context) error {
	p, err := h.procs.start(h.name, h.bin, []string{"serve", "--addr", fmt.Sprintf("127.0.0.1:%d", h.port)},
		h.env, filepath.Join(h.logDir, h.name+".log"))
	if err != nil {
		return err
	}
	h.p = p
	return waitOK(ctx, h.url()+"/readyz", p)
}

// kill ends the hub with SIGKILL: no shutdown, no draining, jobs left running.
func (h *crashHub) kill() { h.p.signal(syscall.SIGKILL) }

// waitOK waits for url to answer 2xx while p runs.
func waitOK(ctx context.Context, url string, p *crashProc) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return nil
			}
		}
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready (see its log)", strings.Join(p.cmd.Args, " "))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 60s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hermeticEnv is the test's environment without the caller's GRIDHUB_
// settings (a Redis, a config dir, department URLs), which would change what
// runs.
func hermeticEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GRIDHUB_") && !strings.HasPrefix(kv, "OTEL_") {
			out = append(out, kv)
		}
	}
	return out
}

func dumpLogs(t *testing.T, dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if len(b) > 6000 {
			b = append([]byte("…"), b[len(b)-6000:]...)
		}
		t.Logf("--- %s (tail) ---\n%s", e.Name(), b)
	}
}

func since(start, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return "+" + t.Sub(start).Round(100*time.Millisecond).String()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// --- tokens ---

// crashToken writes a JWKS with a fresh RS256 public key to path and returns
// an admin token signed with its private half, as an identity provider would.
func crashToken(t *testing.T, path string) string {
	t.Helper()
	return tokenSigner(t, path)("crash-admin")
}

// tokenSigner writes a JWKS with a fresh RS256 public key to path and returns
// a function signing an admin token for a subject with its private half, as
// an identity provider would.
func tokenSigner(t *testing.T, path string) func(subject string) string {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{jwk.KeyIDKey: "crash-1", jwk.AlgorithmKey: jwa.RS256()} {
		if err := priv.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	set := jwk.NewSet()
	if err := set.AddKey(priv); err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.PublicSetOf(set)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return func(subject string) string {
		now := time.Now()
		tok, err := jwt.NewBuilder().Subject(subject).IssuedAt(now).Expiration(now.Add(3*time.Hour)).
			JwtID(subject+"-1").Claim("roles", []string{"admin"}).Build()
		if err != nil {
			t.Fatal(err)
		}
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), priv))
		if err != nil {
			t.Fatal(err)
		}
		return string(signed)
	}
}

// --- the GraphQL client ---

const (
	peopleQuery = `query($after: String) { people(within: "` + crashDistrict + `", first: 100, after: $after) {
		nodes { id } pageInfo { hasNextPage endCursor } } }`
	draftQuery     = `query($subject: ID!) { reportDraft(template: "home_visit", subject: $subject) { version fields { field value } } }`
	submitMutation = `mutation($input: SubmitReportInput!) { submitReport(input: $input) {
		id status deliveries { department status attempts lastError } } }`
	submissionQuery = `query($id: ID!) { submission(id: $id) {
		id status deliveries { department status attempts lastError } } }`
)

type gqlDraft struct {
	Version int `json:"version"`
	Fields  []struct {
		Field string  `json:"field"`
		Value *string `json:"value"`
	} `json:"fields"`
}

type gqlSubmission struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Deliveries []struct {
		Department string  `json:"department"`
		Status     string  `json:"status"`
		Attempts   int     `json:"attempts"`
		LastError  *string `json:"lastError"`
	} `json:"deliveries"`
}

func (s *gqlSubmission) String() string {
	var parts []string
	for _, d := range s.Deliveries {
		p := fmt.Sprintf("%s %s×%d", d.Department, d.Status, d.Attempts)
		if d.LastError != nil && d.Status != string(report.Delivered) {
			p += " (" + *d.LastError + ")"
		}
		parts = append(parts, p)
	}
	return fmt.Sprintf("submission %s %s: %s", s.ID, s.Status, strings.Join(parts, ", "))
}

type gqlErrors []struct {
	Message    string `json:"message"`
	Extensions struct {
		Code  string `json:"code"`
		Field string `json:"field"`
		Rule  string `json:"rule"`
	} `json:"extensions"`
}

func (e *gqlErrors) Error() string {
	var msgs []string
	for _, x := range *e {
		msgs = append(msgs, fmt.Sprintf("%s (%s %s %s)", x.Message, x.Extensions.Code, x.Extensions.Field, x.Extensions.Rule))
	}
	return "graphql: " + strings.Join(msgs, "; ")
}

func (e *gqlErrors) code() string { return (*e)[0].Extensions.Code }
func (e *gqlErrors) rule() string { return (*e)[0].Extensions.Rule }

// transient is a failure a retry (on the other hub) may heal: the hub is down
// or was killed mid-request.
type transient struct{ err error }

func (e *transient) Error() string { return e.err.Error() }
func (e *transient) Unwrap() error { return e.err }

type crashClient struct {
	// targets are the base URLs requests go to: the hubs, or one load
	// balancer in front of them.
	targets []string
	token   string
	http    *http.Client
	// observe, when set, is told of every request: the id it carried
	// (header X-Test-Request), when it was sent and answered, and its error.
	observe func(id string, sent, answered time.Time, err error)
}

// hubTargets are the hubs' base URLs.
func hubTargets(hubs []*crashHub) []string {
	var out []string
	for _, h := range hubs {
		out = append(out, h.url())
	}
	return out
}

// requestSeq numbers the requests an observed client sends.
var requestSeq atomic.Int64

// do sends one GraphQL request to target i.
func (c *crashClient) do(ctx context.Context, i int, query string, vars map[string]any, out any) error {
	if c.observe == nil {
		return c.send(ctx, i, "", query, vars, out)
	}
	id := strconv.FormatInt(requestSeq.Add(1), 10)
	sent := time.Now()
	err := c.send(ctx, i, id, query, vars, out)
	c.observe(id, sent, time.Now(), err)
	return err
}

// send sends one GraphQL request to target i, with the request id id when
// it is not empty.
func (c *crashClient) send(ctx context.Context, i int, id, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return err
	}
	target := c.targets[i]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	if id != "" {
		req.Header.Set("X-Test-Request", id)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return &transient{err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return &transient{err}
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return &transient{fmt.Errorf("%s: HTTP %d: %s", target, resp.StatusCode, bytes.TrimSpace(b))}
	}
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors gqlErrors       `json:"errors"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: HTTP %d, not JSON: %.200s", target, resp.StatusCode, b)
	}
	if len(r.Errors) > 0 {
		switch r.Errors[0].Extensions.Code {
		case "INTERNAL_SERVER_ERROR", "DEPARTMENT_UNAVAILABLE", "RATE_LIMITED":
			return &transient{&r.Errors}
		}
		return &r.Errors
	}
	return json.Unmarshal(r.Data, out)
}

// call is do with retries: a transient failure is retried on the other hub
// (the same request, so a submission keeps its idempotency key) for up to two
// minutes.
func (c *crashClient) call(ctx context.Context, retries *atomic.Int64, hub int, query string, vars map[string]any, out any) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := c.do(ctx, hub, query, vars, out)
		var tr *transient
		if !errors.As(err, &tr) || time.Now().After(deadline) {
			return err
		}
		retries.Add(1)
		hub = (hub + 1) % len(c.targets)
		time.Sleep(100 * time.Millisecond)
	}
}

// persons lists up to max person ids of the district, in grid order.
func (c *crashClient) persons(t *testing.T, ctx context.Context, max int) []string {
	t.Helper()
	var ids []string
	var after any
	var retries atomic.Int64
	for {
		var out struct {
			People struct {
				Nodes    []struct{ ID string } `json:"nodes"`
				PageInfo struct {
					HasNextPage bool   `json:"hasNextPage"`
					EndCursor   string `json:"endCursor"`
				} `json:"pageInfo"`
			} `json:"people"`
		}
		if err := c.call(ctx, &retries, 0, peopleQuery, map[string]any{"after": after}, &out); err != nil {
			t.Fatal(err)
		}
		for _, p := range out.People.Nodes {
			ids = append(ids, p.ID)
		}
		if !out.People.PageInfo.HasNextPage {
			break
		}
		after = out.People.PageInfo.EndCursor
	}
	// Spread the visits over the district rather than its first grids.
	if step := len(ids) / max; step > 1 {
		var spread []string
		for i := 0; i < len(ids) && len(spread) < max; i += step {
			spread = append(spread, ids[i])
		}
		ids = spread
	}
	return ids[:min(len(ids), max)]
}
