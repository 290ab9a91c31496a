package indicators_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/connectors"
	_ "github.com/gridhub/gridhub/connectors/all"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/factsync/factsynctest"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/testcity"
)

// The whole way: the six simulated department systems, the shipped mapping
// files, the real connector kinds' fact feeds, the sync, the aggregates, and
// the ground truth. Differences from the in-memory feeds the other tests use
// are the connectors': they leave out 城管 cases with no party (so the case
// counts here are of cases with one) and records whose ID number does not
// parse (which count for no one either way).
func TestRealConnectorsMatchGroundTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the six department simulators")
	}
	fx := testcity.Load(t)
	ds := factsynctest.Dataset(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	dir := t.TempDir()
	if err := ds.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	setEnv := func(env map[string]string) {
		for k, v := range env {
			t.Setenv(k, v)
		}
	}
	for _, d := range []string{deptsim.CivilAffairs, deptsim.Health} {
		u := devenv.NewDatabase(t)
		if err := ds.LoadSQL(ctx, d, u); err != nil {
			t.Fatal(err)
		}
		setEnv(deptsim.Env(d, deptsim.Endpoint{DSN: u}))
	}
	const key = "test-key"
	for _, d := range []string{deptsim.Employment, deptsim.SocialSecurity, deptsim.UrbanManagement} {
		s, err := deptsim.NewServer(d, dir, key)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(s)
		t.Cleanup(hs.Close)
		setEnv(deptsim.Env(d, deptsim.Endpoint{URL: hs.URL, APIKey: key}))
	}
	setEnv(deptsim.Env(deptsim.PartyBuilding, deptsim.Endpoint{Ledger: deptsim.LedgerPath(dir)}))

	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	if err := indicators.Default().CheckDepartments(depts); err != nil {
		t.Fatal(err)
	}
	feeds := factsync.FeedMap{}
	for _, d := range depts {
		c, err := connectors.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		if cl, ok := c.(connectors.Closer); ok {
			t.Cleanup(func() { cl.Close() })
		}
		f, ok := c.(connectors.FactFeed)
		if !ok {
			t.Fatalf("department %s has no fact feed", d.Code)
		}
		feeds[d.Code] = f
	}
	reg := grid.NewRegistry(fx.Store, time.Hour)
	syncer := factsync.New(fx.Store.Pool, fx.Keys, feeds, reg, indicators.NewAggregator(indicators.Default()),
		factsync.Options{PageSize: 1000, Now: func() time.Time { return factsynctest.Day }, Logger: quiet()})
	res, err := syncer.SyncAll(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range deptsim.Departments() {
		st := res[d].Stats
		t.Logf("%-16s %5d facts, %3d unlinked, %3d pages, %v", d, st.Facts, st.Unlinked, st.Pages, st.Elapsed.Round(time.Millisecond))
	}
	// Once more, incrementally: nothing new.
	res, err = syncer.SyncAll(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for d, r := range res {
		if r.Stats.Changed != 0 || r.Stats.Grids != 0 {
			t.Errorf("%s: an incremental sync with no change at the source changed %d facts in %d grids", d, r.Stats.Changed, r.Stats.Grids)
		}
	}

	ix, err := reg.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := truth(fx.City, ds, ix, factsynctest.Day)
	rows, _ := fx.Store.Pool.Query(ctx, `SELECT name, grid_code, value FROM indicator_cells`)
	got := map[string]map[string]int64{}
	var n, g string
	var v int64
	if _, err := pgx.ForEachRow(rows, []any{&n, &g, &v}, func() error {
		if got[n] == nil {
			got[n] = map[string]int64{}
		}
		got[n][g] = v
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, in := range indicators.Default().All() {
		if in.IsRate() {
			continue
		}
		wrong := 0
		for _, u := range ix.Units(grid.Grid) {
			if got[in.Name][u.Code] != want[in.Name][u.Code] {
				if wrong < 3 {
					t.Errorf("%s in %s: %d, truth %d", in.Name, u.Code, got[in.Name][u.Code], want[in.Name][u.Code])
				}
				wrong++
			}
		}
		if wrong > 3 {
			t.Errorf("%s: %d grids differ in all", in.Name, wrong)
		}
	}
}
