package server_test

// Latency of the hub's federated reads (issues 3 and 4): the six-section
// person query and a 100-person page with all six sections, through a hub
// whose six departments are the real simulators (internal/deptsim) reached by
// the real connectors (sql, rest, sheet), each next to a baseline that makes
// the same six lookups straight to the sources with the same connectors,
// concurrently, without the hub. scripts/bench-issues.sh runs them and
// BENCHMARKS.md reports the medians.
//
// The fixture, built once per run of BenchmarkFederated:
//
//   - a generated city of fedResidents residents (synth, seed 1), loaded
//     into a fresh hub database (store.LoadCity);
//   - the departments' view of that same city (deptsim.Build, seed 1): 民政
//     and 卫健 loaded into two fresh databases on the same test cluster
//     (deptsim.LoadSQL), 就业, 社保 and 城管 served by their simulators over
//     loopback HTTP (httptest over deptsim.NewServer), the 党建 ledger
//     written as .xlsx (deptsim.WriteFiles);
//   - the shipped mapping files (internal/config/builtin/departments), pointed at those by
//     the environment deptsim.Env gives, opened by connectors.Open through
//     federation.New;
//   - two hubs (server.New with that federation, each its own): guarded (the
//     purpose catalogue's field policy and a real audit ledger, as `gridhub
//     serve` runs) and unguarded (no ledger; the field policy is part of how
//     records become answers and stays on);
//   - for the baselines, the same six departments opened once more with
//     connectors.Open, outside any hub.
//
// Sub-benchmarks (concurrency 16 each, fedConcurrency):
//
//	Person/Hub             person(idNumber) with all six sections, guarded hub, HTTP
//	Person/HubGeneric      the same six departments through Person.records
//	Person/HubUnguarded    the same on the unguarded hub (issue 4's "off")
//	Person/Baseline        six concurrent connector Reads of the person's key
//	Person/OnOffInterleaved  Hub and HubUnguarded alternately in every worker,
//	                       so both see the same load: on-p50-ms, off-p50-ms,
//	                       and added-p50-% (what policy and audit add)
//	Page100/Hub            people(within, first: 100, after) with all six sections
//	Page100/HubGeneric     the same six departments through Person.records
//	Page100/HubUnguarded   the same on the unguarded hub
//	Page100/Baseline       six concurrent connector Reads of the page's 100 keys
//
// Every one reports p50-ms and p99-ms (latency of one request as its client
// saw it) and req/s; ns/op is wall time per request at concurrency 16. The
// clients, the hub, Postgres and the simulators share the machine.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/connectors"
	_ "github.com/gridhub/gridhub/connectors/all"
	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/people"
	"github.com/gridhub/gridhub/internal/policy"
	"github.com/gridhub/gridhub/internal/report"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/server"
	"github.com/gridhub/gridhub/internal/store"
	"github.com/gridhub/gridhub/internal/synth"
)

const (
	// fedResidents is the size of the federated benchmark city.
	fedResidents = 20000
	// fedConcurrency is how many requests are in flight at once.
	fedConcurrency = 16
	// fedPageSize is the `first` of the people page.
	fedPageSize = 100
	// fedAPIKey is the simulators' API key.
	fedAPIKey = "bench-api-key"
	// fedPurpose is the purpose the benchmark caller states: it opens the
	// identifiers and the conditional fields of every section to an admin.
	fedPurpose = "home_visit"
)

// fedPersonQuery is the six-section person query (allSections: every
// department's section, with its source).
const fedPersonQuery = `query($id: String!) { person(idNumber: $id) { id name ` + allSections + ` } }`

// fedPageQuery is a 100-person page with the six sections of every person.
const fedPageQuery = `query($w: ID!, $after: String) { people(within: $w, first: 100, after: $after) {
	nodes { id name ` + allSections + ` } } }`

// fedRecords reads the six departments through the generic records path,
// each set with every field: the typed queries' counterpart for a
// department the binary was not generated with.
const fedRecords = `ca: records(department: "civil_affairs") { ...rs } he: records(department: "health") { ...rs }
	em: records(department: "employment") { ...rs } ss: records(department: "social_security") { ...rs }
	pb: records(department: "party_building") { ...rs } um: records(department: "urban_management") { ...rs }`

const fedRecordSet = `fragment rs on RecordSet { name source { department asOf stale } records { fields { name value } } }`

// fedPersonGenericQuery is fedPersonQuery through the generic path.
const fedPersonGenericQuery = `query($id: String!) { person(idNumber: $id) { id name ` + fedRecords + ` } } ` + fedRecordSet

// fedPageGenericQuery is fedPageQuery through the generic path.
const fedPageGenericQuery = `query($w: ID!, $after: String) { people(within: $w, first: 100, after: $after) {
	nodes { id name ` + fedRecords + ` } } } ` + fedRecordSet

// fedWalkQuery pages through a community to find the pages' keys.
const fedWalkQuery = `query($w: ID!, $after: String) { people(within: $w, first: 100, after: $after) {
	nodes { idNumber } pageInfo { endCursor hasNextPage } } }`

var (
	fedCityOnce sync.Once
	fedCity     *synth.City
	fedDS       *deptsim.Dataset
	fedCityErr  error
)

// fedPage is one full page: where it starts and the ID numbers on it.
type fedPage struct {
	community string
	after     *string
	keys      []string
}

type fedFixture struct {
	city      *synth.City
	st        *store.Store
	keys      *secret.Keys
	fed       *federation.Federation // the guarded hub's
	guarded   *httptest.Server
	unguarded *httptest.Server
	client    *http.Client
	token     string
	// conns are the baseline's connectors, by department code.
	conns map[string]connectors.Connector
	pages []fedPage
}

func newFedFixture(b *testing.B) *fedFixture { return newFedFixtureWith(b, true) }

// newFedFixtureWith builds the fixture; walk says whether to find the pages.
func newFedFixtureWith(b *testing.B, walk bool) *fedFixture {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	fedCityOnce.Do(func() {
		fedCity, fedCityErr = synth.Generate(synth.Options{Scale: synth.ScaleDemo, Residents: fedResidents, Seed: 1})
		if fedCityErr == nil {
			fedDS = deptsim.Build(fedCity, 1)
		}
	})
	if fedCityErr != nil {
		b.Fatal(fedCityErr)
	}

	// The departments.
	dir := b.TempDir()
	if err := fedDS.WriteFiles(dir); err != nil {
		b.Fatal(err)
	}
	for _, d := range deptsim.Departments() {
		var e deptsim.Endpoint
		switch deptsim.Kind(d) {
		case deptsim.KindSQL:
			e.DSN = devenv.NewDatabase(b)
			if err := fedDS.LoadSQL(ctx, d, e.DSN); err != nil {
				b.Fatal(err)
			}
		case deptsim.KindREST:
			s, err := deptsim.NewServer(d, dir, fedAPIKey)
			if err != nil {
				b.Fatal(err)
			}
			hs := httptest.NewServer(s)
			b.Cleanup(hs.Close)
			e.URL, e.APIKey = hs.URL, fedAPIKey
		case deptsim.KindSheet:
			e.Ledger = deptsim.LedgerPath(dir)
		}
		for k, v := range deptsim.Env(d, e) {
			b.Setenv(k, v)
		}
	}
	// The mapping files read the environment when loaded.
	loadDepts := func() []*connectors.Department {
		depts, err := builtin.Departments()
		if err != nil {
			b.Fatal(err)
		}
		if len(depts) != 6 {
			b.Fatalf("%d departments, want 6", len(depts))
		}
		return depts
	}

	// The hub's database.
	st, err := store.Open(ctx, devenv.NewDatabase(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	keys, err := secret.New(bytes.Repeat([]byte{42}, secret.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.LoadCity(ctx, fedCity, keys); err != nil {
		b.Fatal(err)
	}

	verifier, err := auth.NewVerifier(auth.Config{Dev: true, DevKey: testKey})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { verifier.Close() })
	token, err := auth.DevToken(testKey, auth.Principal{Subject: "bench-admin", Roles: []auth.Role{auth.Admin}}, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	var guardedFed *federation.Federation
	newHub := func(guarded bool) *httptest.Server {
		depts := loadDepts()
		pol, err := policy.Load("", depts)
		if err != nil {
			b.Fatal(err)
		}
		// As `gridhub serve` opens it (cmd/gridhub/hub.go), with the
		// in-process copy cache.
		fed, err := federation.New(depts, federation.Options{Blinder: keys})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(fed.Close)
		opts := server.Options{
			Store: st, People: people.NewService(st.Pool, keys), Federation: fed, Version: "bench",
			Auth: verifier, Config: config.NewLive(&config.Config{Departments: depts, Policy: pol}),
		}
		if guarded {
			guardedFed = fed
			ledger := audit.New(st.Pool, keys.AuditChainKey())
			b.Cleanup(func() { ledger.Close(context.Background()) })
			opts.Ledger = ledger
		}
		srv := httptest.NewServer(server.New(opts))
		b.Cleanup(srv.Close)
		return srv
	}
	// The default transport keeps 2 idle connections per host: with 16
	// clients most requests would dial anew.
	tr := &http.Transport{MaxIdleConns: 2 * fedConcurrency, MaxIdleConnsPerHost: 2 * fedConcurrency}
	b.Cleanup(tr.CloseIdleConnections)
	fx := &fedFixture{
		city: fedCity, st: st, keys: keys, guarded: newHub(true), unguarded: newHub(false),
		client: &http.Client{Transport: tr}, token: token, conns: map[string]connectors.Connector{},
	}
	for _, d := range loadDepts() {
		c, err := connectors.Open(d)
		if err != nil {
			b.Fatal(err)
		}
		if cl, ok := c.(connectors.Closer); ok {
			b.Cleanup(func() { cl.Close() })
		}
		fx.conns[d.Code] = c
	}
	fx.fed = guardedFed
	if walk {
		fx.pages = fx.walkPages(b)
	}
	b.Logf("fixture: %d residents, %d full pages of %d, built in %v", len(fedCity.Persons), len(fx.pages), fedPageSize,
		time.Since(start).Round(100*time.Millisecond))
	return fx
}

// walkPages pages through every community with 100 or more residents on the
// guarded hub and keeps the full pages.
func (fx *fedFixture) walkPages(b *testing.B) []fedPage {
	b.Helper()
	var pages []fedPage
	for _, u := range fx.city.Units {
		if u.Level != grid.Community || u.Residents < fedPageSize {
			continue
		}
		var after *string
		for {
			var data struct {
				People struct {
					Nodes    []struct{ IDNumber string }
					PageInfo struct {
						EndCursor   *string
						HasNextPage bool
					}
				}
			}
			body, err := fx.do(fx.guarded, fedWalkQuery, map[string]any{"w": u.Code, "after": after})
			if err == nil {
				err = decodeBench(body, &data)
			}
			if err != nil {
				b.Fatal(err)
			}
			if n := len(data.People.Nodes); n == fedPageSize {
				keys := make([]string, n)
				for i, p := range data.People.Nodes {
					keys[i] = p.IDNumber
				}
				pages = append(pages, fedPage{community: u.Code, after: after, keys: keys})
			}
			if !data.People.PageInfo.HasNextPage {
				break
			}
			after = data.People.PageInfo.EndCursor
		}
	}
	if len(pages) == 0 {
		b.Fatal("no full pages")
	}
	return pages
}

// do sends one GraphQL request to srv and returns the response body.
func (fx *fedFixture) do(srv *httptest.Server, query string, vars map[string]any) ([]byte, error) {
	req, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(req))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+fx.token)
	r.Header.Set("X-Purpose", fedPurpose)
	resp, err := fx.client.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	return body, nil
}

// fedSections are the six sections of a person as the client receives them;
// each must be there (a live answer gives every asked-for person a section,
// empty or not).
type fedSections struct {
	Name           string          `json:"name"`
	CivilAffairs   json.RawMessage `json:"civilAffairs"`
	Health         json.RawMessage `json:"health"`
	Employment     json.RawMessage `json:"employment"`
	SocialSecurity json.RawMessage `json:"socialSecurity"`
	Party          json.RawMessage `json:"party"`
	UrbanCases     json.RawMessage `json:"urbanCases"`
}

func (s *fedSections) check() error {
	for name, v := range map[string]json.RawMessage{"civilAffairs": s.CivilAffairs, "health": s.Health,
		"employment": s.Employment, "socialSecurity": s.SocialSecurity, "party": s.Party, "urbanCases": s.UrbanCases} {
		if len(v) == 0 || string(v) == "null" {
			return fmt.Errorf("%s: no %s section", s.Name, name)
		}
	}
	return nil
}

// read makes the baseline's six lookups of keys, one per department, at once.
func (fx *fedFixture) read(ctx context.Context, keys []string) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(fx.conns))
	for code, c := range fx.conns {
		wg.Go(func() {
			if _, err := c.Read(ctx, connectors.ReadRequest{Entity: connectors.Person, Keys: keys}); err != nil {
				errs <- fmt.Errorf("%s: %w", code, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs // nil when closed empty
}

// BenchmarkFederated runs the sub-benchmarks above on one fixture.
func BenchmarkFederated(b *testing.B) {
	fx := newFedFixture(b)
	ctx := context.Background()
	persons := fx.city.Persons

	person := func(srv *httptest.Server) func(r *rand.Rand) error {
		return func(r *rand.Rand) error {
			want := &persons[r.IntN(len(persons))]
			body, err := fx.do(srv, fedPersonQuery, map[string]any{"id": want.IDNumber})
			if err != nil {
				return err
			}
			var data struct{ Person *fedSections }
			if err := decodeBench(body, &data); err != nil {
				return err
			}
			if data.Person == nil || data.Person.Name != want.Name {
				return fmt.Errorf("person %s: got %+v", want.IDNumber, data.Person)
			}
			return data.Person.check()
		}
	}
	page := func(srv *httptest.Server) func(r *rand.Rand) error {
		return func(r *rand.Rand) error {
			pg := &fx.pages[r.IntN(len(fx.pages))]
			body, err := fx.do(srv, fedPageQuery, map[string]any{"w": pg.community, "after": pg.after})
			if err != nil {
				return err
			}
			var data struct {
				People struct{ Nodes []fedSections }
			}
			if err := decodeBench(body, &data); err != nil {
				return err
			}
			if n := len(data.People.Nodes); n != fedPageSize {
				return fmt.Errorf("page of %s: %d rows, want %d", pg.community, n, fedPageSize)
			}
			for i := range data.People.Nodes {
				if err := data.People.Nodes[i].check(); err != nil {
					return err
				}
			}
			return nil
		}
	}

	// The generic path: every department's records as text.
	generic := func(name string, sets map[string]json.RawMessage) error {
		for _, alias := range []string{"ca", "he", "em", "ss", "pb", "um"} {
			var rs []struct{ Name string }
			if err := json.Unmarshal(sets[alias], &rs); err != nil || len(rs) == 0 {
				return fmt.Errorf("%s: no %s record sets (%v)", name, alias, err)
			}
		}
		return nil
	}
	personGeneric := func(r *rand.Rand) error {
		want := &persons[r.IntN(len(persons))]
		body, err := fx.do(fx.guarded, fedPersonGenericQuery, map[string]any{"id": want.IDNumber})
		if err != nil {
			return err
		}
		var data struct{ Person map[string]json.RawMessage }
		if err := decodeBenchAllowing(body, &data, "FORBIDDEN_FIELD"); err != nil {
			return err
		}
		return generic(want.IDNumber, data.Person)
	}
	pageGeneric := func(r *rand.Rand) error {
		pg := &fx.pages[r.IntN(len(fx.pages))]
		body, err := fx.do(fx.guarded, fedPageGenericQuery, map[string]any{"w": pg.community, "after": pg.after})
		if err != nil {
			return err
		}
		var data struct {
			People struct{ Nodes []map[string]json.RawMessage }
		}
		if err := decodeBenchAllowing(body, &data, "FORBIDDEN_FIELD"); err != nil {
			return err
		}
		if n := len(data.People.Nodes); n != fedPageSize {
			return fmt.Errorf("page of %s: %d rows, want %d", pg.community, n, fedPageSize)
		}
		for _, n := range data.People.Nodes {
			if err := generic(pg.community, n); err != nil {
				return err
			}
		}
		return nil
	}

	b.Run("Person/Hub", func(b *testing.B) { fedRun(b, 20, person(fx.guarded)) })
	b.Run("Person/HubGeneric", func(b *testing.B) { fedRun(b, 20, personGeneric) })
	b.Run("Person/HubUnguarded", func(b *testing.B) { fedRun(b, 20, person(fx.unguarded)) })
	b.Run("Person/Baseline", func(b *testing.B) {
		fedRun(b, 20, func(r *rand.Rand) error {
			return fx.read(ctx, []string{persons[r.IntN(len(persons))].IDNumber})
		})
	})
	// Issue 4 with both hubs under the same load: every worker alternates
	// between the guarded (on) and the unguarded (off) hub.
	b.Run("Person/OnOffInterleaved", func(b *testing.B) {
		fedRunPaired(b, 20, person(fx.guarded), person(fx.unguarded))
	})
	b.Run("Page100/Hub", func(b *testing.B) { fedRun(b, 5, page(fx.guarded)) })
	b.Run("Page100/HubGeneric", func(b *testing.B) { fedRun(b, 5, pageGeneric) })
	b.Run("Page100/HubUnguarded", func(b *testing.B) { fedRun(b, 5, page(fx.unguarded)) })
	b.Run("Page100/Baseline", func(b *testing.B) {
		fedRun(b, 5, func(r *rand.Rand) error {
			return fx.read(ctx, fx.pages[r.IntN(len(fx.pages))].keys)
		})
	})
}

// fedRun runs op at concurrency fedConcurrency, one op per b.Loop iteration,
// and reports the latency percentiles and throughput. Before timing, every
// worker runs op warm times, unrecorded.
func fedRun(b *testing.B, warm int, op func(r *rand.Rand) error) {
	b.Helper()
	fedRunN(b, fedConcurrency, warm, op, "req/s")
}

// fedRunPaired runs on and off alternately in every worker (one op per
// b.Loop iteration, fedConcurrency workers) and reports each one's
// latency percentiles (on-p50-ms, off-p50-ms, ...) and the p50 that on adds
// to off, in percent.
func fedRunPaired(b *testing.B, warm int, on, off func(r *rand.Rand) error) {
	b.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	ops := [2]func(r *rand.Rand) error{on, off}
	rngs := make([]*rand.Rand, fedConcurrency)
	for w := range rngs {
		rngs[w] = rand.New(rand.NewPCG(uint64(w)+1, 0x3c6ef372fe94f82b))
	}
	for w := range fedConcurrency {
		wg.Go(func() {
			for i := range 2 * warm {
				if err := ops[i%2](rngs[w]); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	jobs := make(chan struct{})
	lat := make([][2][]time.Duration, fedConcurrency)
	for w := range fedConcurrency {
		wg.Go(func() {
			k := w % 2 // half the workers start with off
			for range jobs {
				start := time.Now()
				err := ops[k](rngs[w])
				lat[w][k] = append(lat[w][k], time.Since(start))
				if err != nil {
					fail(err)
				}
				k = 1 - k
			}
		})
	}
	for b.Loop() {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	var p50 [2]float64
	for k, name := range []string{"on", "off"} {
		var all []time.Duration
		for w := range lat {
			all = append(all, lat[w][k]...)
		}
		slices.Sort(all)
		pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond) }
		p50[k] = pct(0.50)
		b.ReportMetric(pct(0.50), name+"-p50-ms")
		b.ReportMetric(pct(0.99), name+"-p99-ms")
	}
	b.ReportMetric(100*(p50[0]/p50[1]-1), "added-p50-%")
}

// fedRunN is fedRun at concurrency workers, reporting throughput as rate.
func fedRunN(b *testing.B, workers, warm int, op func(r *rand.Rand) error, rate string) {
	b.Helper()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	rngs := make([]*rand.Rand, workers)
	for w := range rngs {
		rngs[w] = rand.New(rand.NewPCG(uint64(w)+1, 0xbb67ae8584caa73b))
	}
	for w := range workers {
		wg.Go(func() {
			for range warm {
				if err := op(rngs[w]); err != nil {
					fail(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}

	jobs := make(chan struct{})
	lat := make([][]time.Duration, workers)
	for w := range workers {
		wg.Go(func() {
			for range jobs {
				start := time.Now()
				err := op(rngs[w])
				lat[w] = append(lat[w], time.Since(start))
				if err != nil {
					fail(err)
				}
			}
		})
	}
	start := time.Now()
	for b.Loop() {
		jobs <- struct{}{} // blocks while every worker is busy
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), rate)
}

// Issue 5 end to end: the unified report's home visit submitted through
// report.Service on the fixture's hub database, validated against a fresh
// draft read from the six real departments (the guarded hub's federation),
// and delivered by the River client to the departments' real inboxes: the
// two SQL inbox tables, the three simulators' POST <prefix>/inbox, the
// ledger's inbox workbook (connectors' Write, via federation.Write, as
// `gridhub serve` wires it).

// fedReport is the report service over the fixture and the forms to submit.
type fedReport struct {
	fx    *fedFixture
	svc   *report.Service
	forms []fedForm
}

// fedForm is a home-visit form for one person that the service accepts,
// changing fields of all six departments.
type fedForm struct {
	subject string
	values  []report.FieldValue // without core.person.phone, set per submission
}

func newFedReport(b *testing.B, forms int) *fedReport {
	b.Helper()
	fx := newFedFixtureWith(b, false)
	cat, err := report.DefaultCatalogue()
	if err != nil {
		b.Fatal(err)
	}
	templates, err := report.DefaultTemplates(cat)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := report.NewService(fx.st.Pool, cat, templates, fx.fed, report.Options{Opener: fx.keys})
	if err != nil {
		b.Fatal(err)
	}
	fr := &fedReport{fx: fx, svc: svc}
	ctx := context.Background()
	// Forms for adults with a phone, each tried once (the delivery client
	// is not running yet): a person whose department data breaks a rule
	// the form cannot fix is left out, as the crash test does.
	tried, refused := 0, 0
	for i := range fx.city.Persons {
		if len(fr.forms) == forms {
			break
		}
		p := &fx.city.Persons[i]
		if p.Phone == "" {
			continue
		}
		tried++
		subject := strconv.FormatInt(p.ID, 10)
		d, err := svc.Draft(ctx, "home_visit", 1, subject)
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Unavailable) > 0 {
			b.Fatalf("draft for %s: departments unavailable: %v", subject, d.Unavailable)
		}
		f := fedForm{subject: subject, values: fedFillForm(d, i)}
		if _, err := fr.submit(ctx, f, fmt.Sprintf("bench-try-%d-%d", time.Now().UnixNano(), i), i); err != nil {
			var ve *report.ValidationError
			if errors.As(err, &ve) {
				refused++
				continue
			}
			b.Fatal(err)
		}
		fr.forms = append(fr.forms, f)
	}
	if len(fr.forms) < forms {
		b.Fatalf("%d forms accepted of %d tried, want %d", len(fr.forms), tried, forms)
	}
	b.Logf("forms: %d accepted, %d refused by the departments' data", len(fr.forms), refused)
	return fr
}

func (fr *fedReport) submit(ctx context.Context, f fedForm, key string, i int) (*report.Submission, error) {
	values := append(slices.Clone(f.values), report.FieldValue{Field: "core.person.phone", Value: fmt.Sprintf("139%08d", i%100000000)})
	return fr.svc.Submit(ctx, report.SubmitInput{Template: "home_visit", Version: 1, Subject: f.subject,
		IdempotencyKey: key, Values: values}, report.Actor{Subject: "bench"})
}

// fedFillForm changes fields of every department, as the crash test's
// fillForm does: append fields always count as changes, the others take a
// value the draft does not hold.
func fedFillForm(d *report.Draft, i int) []report.FieldValue {
	cur := map[string]*string{}
	for _, f := range d.Fields {
		cur[f.Key] = f.Value
	}
	differ := func(field string, options ...string) string {
		for _, o := range options {
			if v := cur[field]; v == nil || *v != o {
				return o
			}
		}
		return options[0]
	}
	day := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i%5000)
	values := map[string]string{
		"civil_affairs.visit.note":           fmt.Sprintf("bench visit %d: resident met at home", i),
		"health.floating.inflowDate":         differ("health.floating.inflowDate", day.Format(report.DateLayout), day.AddDate(0, 0, 1).Format(report.DateLayout)),
		"health.marriage.children":           differ("health.marriage.children", strconv.Itoa(i%7+1), strconv.Itoa(i%7+2)),
		"employment.unemployment.reason":     fmt.Sprintf("bench %d: plant closed", i),
		"social_security.pension.status":     differ("social_security.pension.status", "SUSPENDED", "CONTRIBUTING"),
		"social_security.medical.status":     differ("social_security.medical.status", "LAPSED", "INSURED"),
		"urban_management.cases.category":    "SANITATION",
		"urban_management.cases.description": fmt.Sprintf("bench %d: rubbish left in the stairwell", i),
		"party_building.membership.branch":   fmt.Sprintf("bench branch %d", i),
	}
	if v := cur["core.person.residence"]; v == nil || *v == "" {
		values["core.person.residence"] = "RESIDENT"
	}
	var out []report.FieldValue
	for _, k := range slices.Sorted(maps.Keys(values)) {
		out = append(out, report.FieldValue{Field: k, Value: values[k]})
	}
	return out
}

// BenchmarkFederatedReportSubmit is BenchmarkSubmit (internal/report) with
// the real departments: one op is one accepted submission (a fresh draft
// read from the six departments, validation, the submission with its six
// deliveries and six River jobs committed), b.RunParallel (GOMAXPROCS
// goroutines), each about another person. The delivery client is not
// running. Reports submissions/s.
func BenchmarkFederatedReportSubmit(b *testing.B) {
	fr := newFedReport(b, 50)
	ctx := context.Background()
	var n atomic.Int64
	run := time.Now().UnixNano()
	// b.Loop with GOMAXPROCS workers (what b.RunParallel would run), so
	// that the fixture is built once.
	fedRunN(b, runtime.GOMAXPROCS(0), 0, func(*rand.Rand) error {
		i := int(n.Add(1))
		sub, err := fr.submit(ctx, fr.forms[i%len(fr.forms)], fmt.Sprintf("bench-submit-%d-%d", run, i), 1000000+i)
		if err != nil {
			return err
		}
		if len(sub.Deliveries) != 6 {
			return fmt.Errorf("submission %s: %d deliveries, want 6", sub.ID, len(sub.Deliveries))
		}
		return nil
	}, "submissions/s")
}

// BenchmarkFederatedReportDelivery is BenchmarkDeliveryLatency
// (internal/report) with the real departments: one submission at a time,
// the time from calling Submit to the newest delivered_at of its six
// deliveries, all DELIVERED (polled every 5ms), with the River client
// delivering through the real connectors to the real inboxes.
func BenchmarkFederatedReportDelivery(b *testing.B) {
	fr := newFedReport(b, 20)
	ctx := context.Background()
	client, err := report.NewClient(fr.svc, report.WritersFunc(fr.fx.fed.Write), report.ClientConfig{
		FetchCooldown: time.Millisecond, FetchPollInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(sctx)
	}()
	pool := fr.fx.st.Pool
	// The forms' trial submissions go out first, unrecorded.
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		var pending int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM report_deliveries WHERE status <> 'DELIVERED'`).Scan(&pending); err != nil {
			b.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d trial deliveries still pending", pending)
		}
	}
	run := time.Now().UnixNano()
	var latencies, submits []time.Duration
	i := 0
	for b.Loop() {
		i++
		t0 := time.Now()
		sub, err := fr.submit(ctx, fr.forms[i%len(fr.forms)], fmt.Sprintf("bench-latency-%d-%d", run, i), 2000000+i)
		if err != nil {
			b.Fatal(err)
		}
		submits = append(submits, time.Since(t0))
		var last *time.Time
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			var delivered int
			if err := pool.QueryRow(ctx, `SELECT count(*), max(delivered_at) FROM report_deliveries
				WHERE submission_id = $1 AND status = 'DELIVERED'`, sub.ID).Scan(&delivered, &last); err != nil {
				b.Fatal(err)
			}
			if delivered == len(sub.Deliveries) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("submission %s not delivered in 30s", sub.ID)
			}
		}
		latencies = append(latencies, last.Sub(t0))
	}
	b.StopTimer()
	pct := func(ds []time.Duration, p float64) float64 {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(latencies, 0.50), "p50-ms")
	b.ReportMetric(pct(latencies, 0.99), "p99-ms")
	b.ReportMetric(pct(submits, 0.50), "submit-p50-ms")
	var delivered int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM report_deliveries WHERE status = 'DELIVERED'`).Scan(&delivered); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(delivered), "delivered-total")
}
