package server_test

// Latency of the hub's two hottest reads, `person` and a 100-row `people` page,
// at concurrency 16, each next to a baseline that runs the equivalent SQL
// straight through pgx (no HTTP, no GraphQL) on the same pool at the same
// concurrency. scripts/bench.sh runs them and BENCHMARKS.md reports the medians.
//
// The hub is the one `gridhub serve` builds: bearer tokens, the purpose
// catalogue and field policy, an audit ledger entry per request that reads a
// person. The caller is an admin stating the home_visit purpose (identifiers
// in clear). The ...Unguarded variants switch the field policy and the ledger
// off (server.Options.Unguarded, no Ledger) to show what they cost.
//
// Every benchmark reports, besides ns/op (wall time per request at concurrency
// 16, i.e. 1/throughput):
//
//	p50-ms, p99-ms  latency of one request as its client saw it
//	req/s           requests completed per second
//
// The clients, the hub and Postgres share the machine, so the hub figures
// include the cost of 16 HTTP clients encoding requests and reading responses.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/people"
	"github.com/gridhub/gridhub/internal/policy"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/server"
	"github.com/gridhub/gridhub/internal/store"
	"github.com/gridhub/gridhub/internal/synth"
)

const (
	// benchResidents is the size of the benchmark city: bigger than the test
	// city's 4000, so pages and indexes are not toy-sized, and quick to load
	// once per benchmark run.
	benchResidents = 50000
	// benchConcurrency is how many requests are in flight at once.
	benchConcurrency = 16
	// benchPageSize is the `first` of the people page.
	benchPageSize = 100
)

const benchPersonQuery = `query($id: String!) { person(idNumber: $id) {
	id idNumber name gender birthDate phone grid { code name }
	household { id address members { name relation } } } }`

const benchPeopleQuery = `query($w: ID!, $after: String) { people(within: $w, first: 100, after: $after) {
	totalCount nodes { id name birthDate grid { code } household { address } }
	pageInfo { endCursor hasNextPage } } }`

var (
	benchCityOnce sync.Once
	benchCityVal  *synth.City
	benchCityErr  error
)

// benchFixture is a hub on a fresh database loaded with the benchmark city,
// served over loopback HTTP.
type benchFixture struct {
	st     *store.Store
	keys   *secret.Keys
	city   *synth.City
	srv    *httptest.Server
	client *http.Client
	token  string // the caller's bearer token
	// pages are the starts of every people page of every community, found by
	// paging through the hub once.
	pages []benchPage
}

// benchPage is where one page of a community's residents starts: the hub's
// cursor, and the (grid code, id) keyset the cursor stands for.
type benchPage struct {
	community string
	after     *string // nil for the first page
	afterGrid string
	afterID   int64
	rows      int // rows on the page
}

// benchPurpose is the purpose the benchmark caller states.
const benchPurpose = "home_visit"

// benchHub says which hub to build.
type benchHub struct {
	pages     bool // find the starts of every people page
	unguarded bool // no field policy, no audit ledger
}

// newBenchFixture builds the fixture. It runs once per benchmark run (b.Loop
// runs the benchmark function once per -count), not once per round.
func newBenchFixture(b *testing.B, how benchHub) *benchFixture {
	b.Helper()
	ctx := context.Background()
	benchCityOnce.Do(func() {
		benchCityVal, benchCityErr = synth.Generate(synth.Options{Scale: synth.ScaleDemo, Residents: benchResidents, Seed: 1})
	})
	if benchCityErr != nil {
		b.Fatal(benchCityErr)
	}
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
	if _, err := st.LoadCity(ctx, benchCityVal, keys); err != nil {
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
	depts, err := builtin.Departments()
	if err != nil {
		b.Fatal(err)
	}
	pol, err := policy.Load("", depts)
	if err != nil {
		b.Fatal(err)
	}
	opts := server.Options{
		Store: st, People: people.NewService(st.Pool, keys), Version: "bench",
		Auth: verifier, Config: config.NewLive(&config.Config{Departments: depts, Policy: pol}),
	}
	if !how.unguarded {
		ledger := audit.New(st.Pool, keys.AuditChainKey())
		b.Cleanup(func() { ledger.Close(context.Background()) })
		opts.Ledger = ledger
	}
	srv := httptest.NewServer(server.New(opts))
	b.Cleanup(srv.Close)
	// The default transport keeps only 2 idle connections per host: with 16
	// clients most requests would dial anew.
	tr := &http.Transport{MaxIdleConns: 2 * benchConcurrency, MaxIdleConnsPerHost: 2 * benchConcurrency}
	b.Cleanup(tr.CloseIdleConnections)
	fx := &benchFixture{st: st, keys: keys, city: benchCityVal, srv: srv, client: &http.Client{Transport: tr}, token: token}
	if how.pages {
		fx.pages = fx.walkPages(b)
	}
	return fx
}

type benchPeopleData struct {
	People struct {
		TotalCount int `json:"totalCount"`
		Nodes      []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			Grid struct {
				Code string `json:"code"`
			} `json:"grid"`
			Household struct {
				Address string `json:"address"`
			} `json:"household"`
		} `json:"nodes"`
		PageInfo struct {
			EndCursor   *string `json:"endCursor"`
			HasNextPage bool    `json:"hasNextPage"`
		} `json:"pageInfo"`
	} `json:"people"`
}

// walkPages pages through the residents of every community with the
// benchmark's own query, checking what it gets against the city, and returns
// where each page starts.
func (fx *benchFixture) walkPages(b *testing.B) []benchPage {
	b.Helper()
	var pages []benchPage
	for _, u := range fx.city.Units {
		if u.Level != grid.Community || u.Residents == 0 {
			continue
		}
		page := benchPage{community: u.Code}
		seen := 0
		for {
			var data benchPeopleData
			if err := fx.post(benchPeopleQuery, map[string]any{"w": u.Code, "after": page.after}, &data); err != nil {
				b.Fatal(err)
			}
			nodes := data.People.Nodes
			if data.People.TotalCount != u.Residents || len(nodes) == 0 {
				b.Fatalf("community %s: totalCount %d, %d nodes; the city has %d residents", u.Code, data.People.TotalCount, len(nodes), u.Residents)
			}
			page.rows = len(nodes)
			pages = append(pages, page)
			seen += len(nodes)
			if !data.People.PageInfo.HasNextPage {
				break
			}
			last := nodes[len(nodes)-1]
			id, err := strconv.ParseInt(last.ID, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			page = benchPage{community: u.Code, after: data.People.PageInfo.EndCursor, afterGrid: last.Grid.Code, afterID: id}
		}
		if seen != u.Residents {
			b.Fatalf("community %s: paged through %d residents, want %d", u.Code, seen, u.Residents)
		}
	}
	return pages
}

// post sends one GraphQL request and decodes its data into out; a GraphQL
// error or a non-200 answer is an error.
func (fx *benchFixture) post(query string, vars map[string]any, out any) error {
	body, err := fx.do(query, vars)
	if err != nil {
		return err
	}
	return decodeBench(body, out)
}

// do sends one GraphQL request and returns the response body, read in full.
func (fx *benchFixture) do(query string, vars map[string]any) ([]byte, error) {
	req, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, err
	}
	r, err := http.NewRequest(http.MethodPost, fx.srv.URL+"/graphql", bytes.NewReader(req))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+fx.token)
	r.Header.Set("X-Purpose", benchPurpose)
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

func decodeBench(body []byte, out any) error { return decodeBenchAllowing(body, out) }

// decodeBenchAllowing is decodeBench letting through errors with the given
// codes: a query that asks for every field of a department meets the fields
// the sharing policy withholds.
func decodeBenchAllowing(body []byte, out any, codes ...string) error {
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("decode %s: %w", body, err)
	}
	for _, e := range r.Errors {
		if code, _ := e.Extensions["code"].(string); !slices.Contains(codes, code) {
			return fmt.Errorf("GraphQL errors: %+v", r.Errors)
		}
	}
	return json.Unmarshal(r.Data, out)
}

// runConcurrent runs op at concurrency benchConcurrency, one op per b.Loop
// iteration, and reports the latency percentiles and throughput. op gets its
// worker's random source; its latency is taken around the whole call.
// Before timing, every worker runs op warm times (connections, the grid
// registry, plan caches), unrecorded.
func runConcurrent(b *testing.B, warm int, op func(r *rand.Rand) error) {
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
	rngs := make([]*rand.Rand, benchConcurrency)
	for w := range rngs {
		rngs[w] = rand.New(rand.NewPCG(uint64(w)+1, 0x6a09e667f3bcc908))
	}
	for w := range benchConcurrency {
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
	lat := make([][]time.Duration, benchConcurrency)
	for w := range benchConcurrency {
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
		jobs <- struct{}{} // blocks while all workers are busy
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
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
}

type benchPerson struct {
	ID        string `json:"id"`
	IDNumber  string `json:"idNumber"`
	Name      string `json:"name"`
	Household struct {
		Members []struct {
			Name string `json:"name"`
		} `json:"members"`
	} `json:"household"`
}

// BenchmarkPerson is `person(idNumber)` with its grid and household (with
// members), for random residents of the city, over HTTP.
func BenchmarkPerson(b *testing.B) { benchmarkPerson(b, benchHub{}) }

// BenchmarkPersonUnguarded is BenchmarkPerson without field policy and audit.
func BenchmarkPersonUnguarded(b *testing.B) { benchmarkPerson(b, benchHub{unguarded: true}) }

func benchmarkPerson(b *testing.B, how benchHub) {
	fx := newBenchFixture(b, how)
	persons := fx.city.Persons
	runConcurrent(b, 20, func(r *rand.Rand) error {
		want := &persons[r.IntN(len(persons))]
		body, err := fx.do(benchPersonQuery, map[string]any{"id": want.IDNumber})
		if err != nil {
			return err
		}
		var data struct{ Person *benchPerson }
		if err := decodeBench(body, &data); err != nil {
			return err
		}
		if p := data.Person; p == nil || p.IDNumber != want.IDNumber || p.Name != want.Name || len(p.Household.Members) == 0 {
			return fmt.Errorf("person %s: got %+v", want.IDNumber, data.Person)
		}
		return nil
	})
}

// BenchmarkPersonBaselineSQL reads what BenchmarkPerson's query returns with
// two hand-written queries on the hub's pool: the person joined to its grid
// and household (found by the blind index, ID number opened), then the
// household's members.
func BenchmarkPersonBaselineSQL(b *testing.B) {
	fx := newBenchFixture(b, benchHub{unguarded: true})
	persons := fx.city.Persons
	ctx := context.Background()
	runConcurrent(b, 20, func(r *rand.Rand) error {
		want := &persons[r.IntN(len(persons))]
		var (
			p struct {
				id, householdID                           int64
				enc                                       []byte
				name, gender, gridCode, gridName, address string
				phone                                     *string
				birth                                     time.Time
			}
		)
		err := fx.st.Pool.QueryRow(ctx, `SELECT p.id, p.id_enc, p.name, p.gender, p.birth_date, p.phone,
				g.code, g.name, h.id, h.address
			FROM persons p JOIN grid_units g ON g.code = p.grid_code JOIN households h ON h.id = p.household_id
			WHERE p.id_hmac = $1`, fx.keys.Blind(want.IDNumber)).
			Scan(&p.id, &p.enc, &p.name, &p.gender, &p.birth, &p.phone, &p.gridCode, &p.gridName, &p.householdID, &p.address)
		if err != nil {
			return fmt.Errorf("person %s: %w", want.IDNumber, err)
		}
		idNumber, err := fx.keys.Open(p.enc)
		if err != nil {
			return err
		}
		type member struct{ Name, Relation string }
		rows, _ := fx.st.Pool.Query(ctx, `SELECT name, relation FROM persons WHERE household_id = $1
			ORDER BY relation <> '户主', birth_date, id`, p.householdID)
		members, err := pgx.CollectRows(rows, pgx.RowToStructByPos[member])
		if err != nil {
			return err
		}
		if idNumber != want.IDNumber || p.name != want.Name || len(members) == 0 {
			return fmt.Errorf("person %s: got %s %s with %d members", want.IDNumber, idNumber, p.name, len(members))
		}
		return nil
	})
}

// BenchmarkPeoplePage100 is a 100-row `people` page (with totalCount, each
// resident's grid and household address) of a random community at a random
// page, over HTTP.
func BenchmarkPeoplePage100(b *testing.B) { benchmarkPeoplePage(b, benchHub{pages: true}) }

// BenchmarkPeoplePage100Unguarded is BenchmarkPeoplePage100 without field
// policy and audit.
func BenchmarkPeoplePage100Unguarded(b *testing.B) {
	benchmarkPeoplePage(b, benchHub{pages: true, unguarded: true})
}

func benchmarkPeoplePage(b *testing.B, how benchHub) {
	fx := newBenchFixture(b, how)
	runConcurrent(b, 10, func(r *rand.Rand) error {
		pg := &fx.pages[r.IntN(len(fx.pages))]
		body, err := fx.do(benchPeopleQuery, map[string]any{"w": pg.community, "after": pg.after})
		if err != nil {
			return err
		}
		var data benchPeopleData
		if err := decodeBench(body, &data); err != nil {
			return err
		}
		if n := len(data.People.Nodes); n != pg.rows || data.People.Nodes[0].Household.Address == "" {
			return fmt.Errorf("page of %s after %v: %d rows, want %d", pg.community, pg.after, n, pg.rows)
		}
		return nil
	})
}

// BenchmarkPeoplePageBaselineSQL reads what BenchmarkPeoplePage100's query
// returns with two hand-written queries on the hub's pool: the count, and the
// page (keyset on grid code and id, one row more to tell whether a next page
// exists) joined to the households.
func BenchmarkPeoplePageBaselineSQL(b *testing.B) {
	fx := newBenchFixture(b, benchHub{pages: true, unguarded: true})
	ctx := context.Background()
	type row struct {
		ID        int64
		Name      string
		BirthDate time.Time
		GridCode  string
		Address   string
	}
	runConcurrent(b, 10, func(r *rand.Rand) error {
		pg := &fx.pages[r.IntN(len(fx.pages))]
		lo, hi := pg.community, pg.community+"~"
		var total int
		if err := fx.st.Pool.QueryRow(ctx, `SELECT count(*) FROM persons WHERE grid_code >= $1 AND grid_code < $2`, lo, hi).Scan(&total); err != nil {
			return err
		}
		rows, _ := fx.st.Pool.Query(ctx, `SELECT p.id, p.name, p.birth_date, p.grid_code, h.address
			FROM persons p JOIN households h ON h.id = p.household_id
			WHERE p.grid_code >= $1 AND p.grid_code < $2 AND (p.grid_code, p.id) > ($3, $4)
			ORDER BY p.grid_code, p.id LIMIT $5`, lo, hi, pg.afterGrid, pg.afterID, benchPageSize+1)
		page, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
		if err != nil {
			return err
		}
		hasNext := len(page) > benchPageSize
		if hasNext {
			page = page[:benchPageSize]
		}
		if len(page) != pg.rows || total == 0 {
			return fmt.Errorf("page of %s after (%s, %d): %d rows (next %v), want %d", pg.community, pg.afterGrid, pg.afterID, len(page), hasNext, pg.rows)
		}
		return nil
	})
}
