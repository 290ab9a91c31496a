// Package linkagetest gives tests the whole way a department row travels: the
// test city, its six simulated department systems (two Postgres databases,
// three HTTP services, a ledger), the built-in mapping files and real
// connectors, and a fact sync that runs record linkage.
package linkagetest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gridhub/gridhub/connectors"
	_ "github.com/gridhub/gridhub/connectors/all" // the connector kinds
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/factsync/factsynctest"
	"github.com/gridhub/gridhub/internal/findings"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/linkage"
	"github.com/gridhub/gridhub/internal/testcity"
)

// simulatorKey is the HTTP simulators' API key.
const simulatorKey = "test-key"

// City is the test city with its departments running.
type City struct {
	Fixture  *testcity.Fixture
	Dataset  *deptsim.Dataset
	Dir      string // the simulators' files (and truth/)
	Depts    []*connectors.Department
	Conns    map[string]connectors.Connector
	Feeds    factsync.FeedMap
	Registry *grid.Registry
	// Servers are the HTTP departments' simulators, by code.
	Servers map[string]*httptest.Server
	Linker  *linkage.Linker
	// Findings, when set, is the findings catalogue the syncs compute
	// (internal/findings) after each department.
	Findings *findings.Catalogue
}

// Quiet is a logger that drops everything.
func Quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Start loads the test city, starts its six department systems and opens
// their connectors from the built-in mapping files.
func Start(t testing.TB) *City {
	t.Helper()
	return StartWith(t, testcity.Load(t), factsynctest.Dataset(t))
}

// StartWith starts the department systems of dataset ds over the loaded city
// fx (factsynctest.LoadBenchCity for a city of another size).
func StartWith(t testing.TB, fx *testcity.Fixture, ds *deptsim.Dataset) *City {
	t.Helper()
	ctx := context.Background()
	c := &City{Fixture: fx, Dataset: ds, Dir: t.TempDir(), Conns: map[string]connectors.Connector{},
		Feeds: factsync.FeedMap{}, Servers: map[string]*httptest.Server{}}
	if err := ds.WriteFiles(c.Dir); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, d := range []string{deptsim.CivilAffairs, deptsim.Health} {
		u := devenv.NewDatabase(t)
		if err := ds.LoadSQL(ctx, d, u); err != nil {
			t.Fatal(err)
		}
		merge(env, deptsim.Env(d, deptsim.Endpoint{DSN: u}))
	}
	const key = simulatorKey
	for _, d := range []string{deptsim.Employment, deptsim.SocialSecurity, deptsim.UrbanManagement} {
		s, err := deptsim.NewServer(d, c.Dir, key)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(s)
		t.Cleanup(hs.Close)
		c.Servers[d] = hs
		merge(env, deptsim.Env(d, deptsim.Endpoint{URL: hs.URL, APIKey: key}))
	}
	merge(env, deptsim.Env(deptsim.PartyBuilding, deptsim.Endpoint{Ledger: deptsim.LedgerPath(c.Dir)}))
	for k, v := range env {
		t.Setenv(k, v)
	}
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	c.Depts = depts
	for _, d := range depts {
		conn, err := connectors.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		if cl, ok := conn.(connectors.Closer); ok {
			t.Cleanup(func() { cl.Close() })
		}
		c.Conns[d.Code] = conn
		if f, ok := conn.(connectors.FactFeed); ok {
			c.Feeds[d.Code] = f
		}
	}
	c.Registry = grid.NewRegistry(fx.Store, time.Hour)
	pool := fx.Store.Pool
	if fx.App != nil {
		pool = fx.App.Pool
	}
	c.Linker = linkage.New(pool, linkage.Options{Logger: Quiet()})
	return c
}

func merge(dst, src map[string]string) {
	for k, v := range src {
		dst[k] = v
	}
}

// Syncer is a fact sync of the city's departments (or of feeds, when given)
// that runs record linkage, as the hub's role.
func (c *City) Syncer(feeds factsync.Feeds) *factsync.Syncer {
	if feeds == nil {
		feeds = c.Feeds
	}
	pool := c.Fixture.Store.Pool
	if c.Fixture.App != nil {
		pool = c.Fixture.App.Pool
	}
	agg := indicators.NewAggregator(indicators.Default())
	opts := factsync.Options{PageSize: 1000, Now: func() time.Time { return factsynctest.Day }, Logger: Quiet(), Linker: c.Linker}
	if c.Findings != nil {
		opts.Findings = findings.NewEngine(c.Findings, agg)
	}
	return factsync.New(pool, c.Fixture.Keys, feeds, c.Registry, agg, opts)
}

// Control posts to an HTTP department simulator's control endpoint (path
// and query, such as /_deptsim/touch?n=5), failing the test unless it
// answers 200.
func (c *City) Control(t testing.TB, dept, path string) {
	t.Helper()
	req, err := http.NewRequest("POST", c.Servers[dept].URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", simulatorKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", dept, path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s", dept, path, resp.Status)
	}
}

// Truth is the dataset's noise truth as linkage measures against it.
func Truth(ds *deptsim.Dataset) []linkage.TruthRow {
	out := make([]linkage.TruthRow, 0, len(ds.Truth.Noise))
	ids := ds.FeedIDs()
	for _, n := range ds.Truth.Noise {
		out = append(out, linkage.TruthRow{Department: n.Dept, Set: n.Set, Row: deptsim.FeedID(ids, n.Dept, n.Set, n.Row), PersonID: n.PersonID, Kind: n.Kind})
	}
	return out
}
