package indicators_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/cache"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/disclosure"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/factsync/factsynctest"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/testcity"
)

func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// env is the test city with every department synced from in-memory feeds.
type env struct {
	fx     *testcity.Fixture
	ds     *deptsim.Dataset
	feeds  map[string]*factsynctest.Feed
	reg    *grid.Registry
	ix     *grid.Index
	syncer *factsync.Syncer
	svc    *indicators.Service
}

func newEnv(t testing.TB, opts indicators.Options) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{fx: testcity.Load(t), ds: factsynctest.Dataset(t)}
	e.feeds, _ = factsynctest.Feeds(e.ds)
	fm := factsync.FeedMap{}
	for d, f := range e.feeds {
		fm[d] = f
	}
	e.reg = grid.NewRegistry(e.fx.Store, time.Hour)
	e.syncer = factsync.New(e.fx.Store.Pool, e.fx.Keys, fm, e.reg, indicators.NewAggregator(indicators.Default()),
		factsync.Options{Now: func() time.Time { return factsynctest.Day }, Logger: quiet()})
	if _, err := e.syncer.SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	var err error
	if e.ix, err = e.reg.Index(ctx); err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	e.svc = indicators.NewService(e.fx.Store.Pool, indicators.Default(), e.reg, opts)
	return e
}

// TestSyncedCity runs the checks that only read on one synced city.
func TestSyncedCity(t *testing.T) {
	e := newEnv(t, indicators.Options{})
	t.Run("ValuesMatchGroundTruth", func(t *testing.T) { testValuesMatchGroundTruth(t, e) })
	t.Run("Suppression", func(t *testing.T) { testSuppression(t, e) })
	t.Run("RelatedSuppression", func(t *testing.T) { testRelatedSuppression(t, e) })
	t.Run("PlantedRelation", func(t *testing.T) { testPlantedRelation(t, e) })
	t.Run("TableShape", func(t *testing.T) { testTableShape(t, e) })
	t.Run("TableErrors", func(t *testing.T) { testTableErrors(t, e) })
	t.Run("CacheRedis", func(t *testing.T) { testCacheRedis(t, e) })
	t.Run("CSV", func(t *testing.T) { testCSV(t, e) })
	t.Run("LocalCacheBudget", func(t *testing.T) { testLocalCacheBudget(t, e) })
}

// The in-process cache keeps tables within its cell budget, least recently
// used first out.
func testLocalCacheBudget(t *testing.T, e *env) {
	ctx := context.Background()
	svc := indicators.NewService(e.fx.Store.Pool, indicators.Default(), e.reg, indicators.Options{LocalCells: 100, Logger: quiet()})
	query := func(l grid.Level) *indicators.Table {
		tab, err := svc.Table(ctx, l, "", []string{"residents"})
		if err != nil {
			t.Fatal(err)
		}
		return tab
	}
	query(grid.Township)  // 24 cells
	query(grid.Community) // 51 cells: both fit
	if !query(grid.Township).FromCache {
		t.Error("a table within the budget was evicted")
	}
	query(grid.Grid) // 89 cells: the others go
	if query(grid.Community).FromCache {
		t.Error("a table beyond the budget was kept")
	}
}

func TestCatalogue(t *testing.T) {
	cat := indicators.Default()
	if n := len(cat.All()); n < 20 {
		t.Errorf("%d indicators, want at least 20", n)
	}
	depts := map[string]int{}
	for _, in := range cat.All() {
		depts[in.Department]++
		if in.Label == "" || in.Unit == "" || in.Definition == "" {
			t.Errorf("%s: incomplete entry %+v", in.Name, in)
		}
	}
	for _, d := range append(deptsim.Departments(), indicators.Core) {
		if depts[d] == 0 {
			t.Errorf("no indicator of %s", d)
		}
	}
	ds, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.CheckDepartments(ds); err != nil {
		t.Errorf("the catalogue does not match the mapping files: %v", err)
	}
}

func TestCatalogueValidation(t *testing.T) {
	base := `- {name: residents, label: 人口, department: core, unit: 人, definition: d, count: {of: persons}}
`
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", base + `- {name: x, label: l, department: core, unit: 人, definition: d, count: {of: persons}, colour: red}`, "colour"},
		{"duplicate", base + base, "duplicate"},
		{"not camelCase", `- {name: Residents, label: l, department: core, unit: 人, definition: d, count: {of: persons}}`, "camelCase"},
		{"no label", `- {name: x, department: core, unit: 人, definition: d, count: {of: persons}}`, "no label"},
		{"count and rate", base + `- {name: x, label: l, department: core, unit: "%", definition: d, count: {of: persons}, rate: {numerator: residents, denominator: residents}}`, "exactly one"},
		{"rate of unknown", base + `- {name: x, label: l, department: core, unit: "%", definition: d, rate: {numerator: nobody, denominator: residents}}`, "unknown indicator"},
		{"rate unit", base + `- {name: y, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 3}}
- {name: x, label: l, department: core, unit: 人, definition: d, rate: {numerator: y, denominator: residents}}`, "unit"},
		{"facts of core", `- {name: x, label: l, department: core, unit: 人, definition: d, count: {of: facts, sets: [a], distinct: person}}`, "needs a department"},
		{"persons of a department", `- {name: x, label: l, department: health, unit: 人, definition: d, count: {of: persons}}`, "master index"},
		{"no sets", `- {name: x, label: l, department: health, unit: 人, definition: d, count: {of: facts, distinct: person}}`, "needs sets"},
		{"bad distinct", `- {name: x, label: l, department: health, unit: 人, definition: d, count: {of: facts, sets: [a], distinct: cats}}`, "distinct"},
		{"in and notIn", `- {name: x, label: l, department: health, unit: 人, definition: d, count: {of: facts, sets: [a], distinct: person, where: [{field: s, in: [A], notIn: [B]}]}}`, "exactly one of in and notIn"},
		{"ages", `- {name: x, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 80, maxAge: 60}}`, "minAge above maxAge"},
		{"subset of unknown", base + `- {name: x, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 3}, subsetOf: [nobody]}`, `unknown indicator "nobody"`},
		{"subset of a rate", base + `- {name: y, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 3}}
- {name: r, label: l, department: core, unit: "%", definition: d, rate: {numerator: y, denominator: residents}}
- {name: x, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 9}, subsetOf: [r]}`, "not a count"},
		{"relation of a rate", base + `- {name: y, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 3}}
- {name: r, label: l, department: core, unit: "%", definition: d, rate: {numerator: y, denominator: residents}, subsetOf: [y]}`, "a rate has no subsetOf"},
		{"subset of itself", base + `- {name: x, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 3}, subsetOf: [x]}`, "subsetOf itself"},
		{"named twice", base + `- {name: x, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 3}, subsetOf: [residents, residents]}`, "twice"},
		{"sum of one", base + `- {name: x, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 3}, sumOf: [residents]}`, "want at least 2"},
		{"cycle", `- {name: a, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 1}, subsetOf: [b]}
- {name: b, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 2}, subsetOf: [c]}
- {name: c, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 3}, sumOf: [a, residents]}
` + base, "relations go round: a -> b -> c -> a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := indicators.Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Relation errors point at the line of the name in the list.
	_, err := indicators.ParseFile("cat.yaml", []byte(base+`- name: x
  label: l
  department: core
  unit: 人
  definition: d
  count: {of: persons, minAge: 3}
  subsetOf:
    - residents
    - nobody
`))
	if err == nil || !strings.Contains(err.Error(), `cat.yaml:10: x: subsetOf unknown indicator "nobody"`) {
		t.Errorf("ParseFile: %v, want the error at cat.yaml:10", err)
	}
	// Against the mapping files: unknown sets and fields.
	ds, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	cat, err := indicators.Parse([]byte(`- {name: x, label: l, department: health, unit: 人, definition: d, count: {of: facts, sets: [nope], distinct: person}}
- {name: y, label: l, department: health, unit: 人, definition: d, count: {of: facts, sets: [floating], distinct: person, where: [{field: colour, in: [red]}]}}
- {name: z, label: l, department: mars, unit: 人, definition: d, count: {of: facts, sets: [a], distinct: person}}`))
	if err != nil {
		t.Fatal(err)
	}
	err = cat.CheckDepartments(ds)
	for _, want := range []string{`no record set "nope"`, `no field "colour"`, `no department "mars" is configured`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckDepartments: %v, want it to say %s", err, want)
		}
	}
}

// The synced counts are the ground truth computed independently from the
// generator's city and the departments' records, for every grid, and every
// published value of every level is the truth.
func testValuesMatchGroundTruth(t *testing.T, e *env) {
	ctx := context.Background()
	want := truth(e.fx.City, e.ds, e.ix, factsynctest.Day)

	// The stored grid counts, before any suppression.
	rows, _ := e.fx.Store.Pool.Query(ctx, `SELECT name, grid_code, value FROM indicator_cells`)
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
	cat := indicators.Default()
	for _, in := range cat.All() {
		if in.IsRate() || in.Department == indicators.Findings {
			continue // counts of findings: internal/findings checks them against the generator's truth
		}
		w := want[in.Name]
		if len(w) == 0 {
			t.Errorf("%s: the ground truth is empty", in.Name)
		}
		var total int64
		for _, u := range e.ix.Units(grid.Grid) {
			if got[in.Name][u.Code] != w[u.Code] {
				t.Errorf("%s in %s: %d, truth %d", in.Name, u.Code, got[in.Name][u.Code], w[u.Code])
			}
			total += w[u.Code]
		}
		t.Logf("%-22s %-7s total %5d", in.Name, in.Department, total)
	}

	// Published values, every level.
	for l := grid.District; l <= grid.Grid; l++ {
		tab, err := e.svc.Table(ctx, l, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, r := range tab.Rows {
			for j, c := range r.Values {
				in, _ := cat.Lookup(tab.Names[j])
				if c.Suppressed {
					continue
				}
				var wantV float64
				if in.IsRate() {
					num := rollUp(e.ix, want[in.Rate.Numerator])[r.Unit.Code]
					den := rollUp(e.ix, want[in.Rate.Denominator])[r.Unit.Code]
					wantV = float64(int64(1000*float64(num)/float64(den)+0.5)) / 10
				} else {
					wantV = float64(rollUp(e.ix, want[in.Name])[r.Unit.Code])
				}
				if *c.Value != wantV {
					t.Errorf("%s %s %s: published %v, truth %v", l, r.Unit.Code, in.Name, *c.Value, wantV)
				}
				checked++
			}
		}
		t.Logf("%s: %d rows, %d published values checked", l, len(tab.Rows), checked)
	}
}

// No published count identifies fewer than five persons; rates of withheld
// counts are withheld; the suppression is the same in every table; and an
// attacker with every table can neither recompute a withheld count nor prove
// a small one small.
func testSuppression(t *testing.T, e *env) {
	ctx := context.Background()
	cat := indicators.Default()
	want := truth(e.fx.City, e.ds, e.ix, factsynctest.Day)

	// Every unit's published cell, from the table of its level.
	type key struct{ code, name string }
	published := map[key]indicators.Cell{}
	for l := grid.District; l <= grid.Grid; l++ {
		tab, err := e.svc.Table(ctx, l, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range tab.Rows {
			for _, c := range r.Values {
				published[key{r.Unit.Code, c.Name}] = c
			}
		}
		for _, c := range tab.Totals {
			published[key{"", c.Name}] = c
		}
	}
	suppressed := 0
	for k, c := range published {
		in, _ := cat.Lookup(k.name)
		if c.Suppressed != (c.Value == nil) {
			t.Fatalf("%v: value %v but suppressed %v", k, c.Value, c.Suppressed)
		}
		if c.Suppressed {
			suppressed++
			continue
		}
		if in.IsRate() {
			num, den := published[key{k.code, in.Rate.Numerator}], published[key{k.code, in.Rate.Denominator}]
			if num.Suppressed || den.Suppressed || *den.Value < disclosure.DefaultThreshold {
				t.Errorf("%v: rate %v published over a withheld count or a small base", k, *c.Value)
			}
			continue
		}
		if v := *c.Value; v > 0 && v < disclosure.DefaultThreshold {
			t.Errorf("%v: small count %v published", k, v)
		}
	}
	if suppressed == 0 {
		t.Error("nothing is suppressed in the test city: the test proves nothing")
	}
	t.Logf("%d of %d cells withheld", suppressed, len(published))

	// Every table agrees with the tables of the level above: a community's
	// row is the totals of the table of its grids.
	for _, l := range []grid.Level{grid.District, grid.Township, grid.Community} {
		for _, u := range e.ix.Units(l) {
			tab, err := e.svc.Table(ctx, l+1, u.Code, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tab.WithinName != u.Name {
				t.Errorf("table within %s is named %q, want %q", u.Code, tab.WithinName, u.Name)
			}
			for _, c := range tab.Totals {
				p := published[key{u.Code, c.Name}]
				if p.Suppressed != c.Suppressed || !p.Suppressed && *p.Value != *c.Value {
					t.Errorf("%s %s: %v in its level's table, %v as a total", u.Code, c.Name, p, c)
				}
			}
			for _, r := range tab.Rows {
				for _, c := range r.Values {
					p := published[key{r.Unit.Code, c.Name}]
					if p.Suppressed != c.Suppressed {
						t.Errorf("%s %s: suppressed %v in one table, %v in another", r.Unit.Code, c.Name, p.Suppressed, c.Suppressed)
					}
				}
			}
		}
	}

	// The audit, by the disclosure package's exact solvers over the truth.
	units := allUnits(e.ix)
	for _, in := range cat.All() {
		if in.IsRate() {
			continue
		}
		vals := rollUp(e.ix, want[in.Name])
		nodes := make([]disclosure.Node, len(units))
		sup := map[string]bool{}
		for i, u := range units {
			nodes[i] = disclosure.Node{Code: u.Code, Parent: u.Parent, Value: vals[u.Code]}
			if published[key{u.Code, in.Name}].Suppressed {
				sup[u.Code] = true
			}
		}
		if published[key{"", in.Name}].Suppressed {
			sup[disclosure.GrandTotal] = true
		}
		rec, err := disclosure.Recoverable(nodes, sup)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec) > 0 {
			t.Errorf("%s: withheld cells recoverable from the published ones: %v", in.Name, rec)
		}
		iv, err := disclosure.Intervals(nodes, sup)
		if err != nil {
			t.Fatal(err)
		}
		for code, i := range iv {
			if v := vals[code]; v > 0 && v < disclosure.DefaultThreshold && (i.Lo > 0 || i.Hi < disclosure.DefaultThreshold) {
				t.Errorf("%s %s: small count %d proven in [%d, %d]", in.Name, code, v, i.Lo, i.Hi)
			}
		}
	}
}

func testTableShape(t *testing.T, e *env) {
	ctx := context.Background()
	community := e.ix.Units(grid.Community)[0]
	tab, err := e.svc.Table(ctx, grid.Grid, community.Code, []string{"residents", "pensionCoverageRate", "residents"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tab.Names, ","); got != "residents,pensionCoverageRate" {
		t.Errorf("names %s, want repeats dropped", got)
	}
	kids := e.ix.Children(community.Code)
	if len(tab.Rows) != len(kids) {
		t.Fatalf("%d rows, want the community's %d grids", len(tab.Rows), len(kids))
	}
	for i, r := range tab.Rows {
		if r.Unit.Code != kids[i].Code || r.Unit.Name != kids[i].Name || r.Unit.Level != grid.Grid || len(r.Values) != 2 {
			t.Errorf("row %d: %+v", i, r)
		}
	}
	if tab.Level != grid.Grid || tab.Within != community.Code || len(tab.Totals) != 2 || tab.Totals[0].Name != "residents" {
		t.Errorf("table %+v", tab)
	}
	if v := tab.Totals[0].Value; v == nil || int(*v) != community.Residents {
		t.Errorf("residents total %v, want the registry's %d", v, community.Residents)
	}
	// As-of times: the seed for core, the last sync for social security.
	if len(tab.AsOf) != 2 || tab.AsOf[0].Department != indicators.Core || tab.AsOf[1].Department != deptsim.SocialSecurity {
		t.Fatalf("asOf %+v", tab.AsOf)
	}
	fr, err := e.syncer.Freshness(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fr {
		if f.Department == deptsim.SocialSecurity && (tab.AsOf[1].At == nil || !tab.AsOf[1].At.Equal(f.LastSync)) {
			t.Errorf("social security as of %v, last sync %v", tab.AsOf[1].At, f.LastSync)
		}
	}
	var seeded time.Time
	if err := e.fx.Store.Pool.QueryRow(ctx, `SELECT loaded_at FROM seeds ORDER BY version DESC LIMIT 1`).Scan(&seeded); err != nil {
		t.Fatal(err)
	}
	if tab.AsOf[0].At == nil || !tab.AsOf[0].At.Equal(seeded) {
		t.Errorf("core as of %v, want the seed time %v", tab.AsOf[0].At, seeded)
	}
	// A grid's own table is its one row.
	g := kids[0].Code
	tab, err = e.svc.Table(ctx, grid.Grid, g, []string{"households"})
	if err != nil || len(tab.Rows) != 1 || tab.Rows[0].Unit.Code != g {
		t.Errorf("grid table within itself: %+v, %v", tab, err)
	}
}

func testTableErrors(t *testing.T, e *env) {
	ctx := context.Background()
	g := e.ix.Units(grid.Grid)[0].Code
	for _, tc := range []struct {
		name   string
		level  grid.Level
		within string
		names  []string
		code   apperr.Code
	}{
		{"unknown indicator", grid.Grid, "", []string{"residents", "unicorns"}, apperr.BadUserInput},
		{"within below the level", grid.Community, g, nil, apperr.BadUserInput},
		{"not a code", grid.Grid, "12345", nil, apperr.BadUserInput},
		{"bad level", grid.Level(9), "", nil, apperr.BadUserInput},
		{"unknown unit", grid.Grid, "999999999999", nil, apperr.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Table(ctx, tc.level, tc.within, tc.names)
			ae, ok := apperr.As(err)
			if !ok || ae.Code != tc.code {
				t.Errorf("error %v, want %s", err, tc.code)
			}
		})
	}
}

// The second identical query is a cache hit; a sync invalidates it; a
// replica with the same shared cache gets the table from there.
func TestCache(t *testing.T) {
	shared := cache.NewMemory(100)
	e := newEnv(t, indicators.Options{Cache: shared})
	ctx := context.Background()
	first, err := e.svc.Table(ctx, grid.Grid, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.svc.Table(ctx, grid.Grid, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if first.FromCache || !second.FromCache {
		t.Errorf("FromCache: first %v, second %v; want false, true", first.FromCache, second.FromCache)
	}
	if hits, misses := e.svc.CacheStats(); hits != 1 || misses != 1 {
		t.Errorf("cache stats %d hits %d misses, want 1 and 1", hits, misses)
	}
	// Another replica: nothing in process, the table in the shared cache.
	replica := indicators.NewService(e.fx.Store.Pool, indicators.Default(), e.reg, indicators.Options{Cache: shared, Logger: quiet()})
	third, err := replica.Table(ctx, grid.Grid, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !third.FromCache || !sameTable(first, third) {
		t.Errorf("replica: from cache %v, same table %v", third.FromCache, sameTable(first, third))
	}

	// A sync with a change: a new 特困 person in some grid.
	e.addTekun(t)
	after, err := e.svc.Table(ctx, grid.Grid, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if after.FromCache || after.DataVersion <= first.DataVersion {
		t.Errorf("after a sync: from cache %v, data version %d -> %d", after.FromCache, first.DataVersion, after.DataVersion)
	}
	if sameTable(first, after) {
		t.Error("the table did not change with the data")
	}
	// A sync that changes nothing leaves the cached table: its data, and
	// when they last changed, are what they were.
	if _, err := e.syncer.SyncDepartment(ctx, deptsim.Health, false); err != nil {
		t.Fatal(err)
	}
	again, err := e.svc.Table(ctx, grid.Grid, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !again.FromCache || !asOf(again, deptsim.Health).Equal(asOf(after, deptsim.Health)) {
		t.Errorf("after an idle sync: from cache %v, health as of %v -> %v", again.FromCache, asOf(after, deptsim.Health), asOf(again, deptsim.Health))
	}
}

func asOf(t *indicators.Table, dept string) time.Time {
	for _, a := range t.AsOf {
		if a.Department == dept && a.At != nil {
			return *a.At
		}
	}
	return time.Time{}
}

func testCacheRedis(t *testing.T, e *env) {
	opt, err := redis.ParseURL(devenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	defer client.Close()
	ctx := context.Background()
	c := cache.NewRedis(client, "test:")
	one := indicators.NewService(e.fx.Store.Pool, indicators.Default(), e.reg, indicators.Options{Cache: c, Logger: quiet()})
	two := indicators.NewService(e.fx.Store.Pool, indicators.Default(), e.reg, indicators.Options{Cache: c, Logger: quiet()})
	a, err := one.Table(ctx, grid.Community, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := two.Table(ctx, grid.Community, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.FromCache || !b.FromCache || !sameTable(a, b) {
		t.Errorf("through Redis: first from cache %v, second %v, same %v", a.FromCache, b.FromCache, sameTable(a, b))
	}
}

// sameTable compares what a table publishes.
func sameTable(a, b *indicators.Table) bool {
	var x, y bytes.Buffer
	if indicators.WriteCSV(&x, a) != nil || indicators.WriteCSV(&y, b) != nil {
		return false
	}
	if len(a.AsOf) != len(b.AsOf) {
		return false
	}
	for i := range a.AsOf {
		if a.AsOf[i].Department != b.AsOf[i].Department || (a.AsOf[i].At == nil) != (b.AsOf[i].At == nil) ||
			a.AsOf[i].At != nil && !a.AsOf[i].At.Equal(*b.AsOf[i].At) {
			return false
		}
	}
	return a.Level == b.Level && a.Within == b.Within && a.WithinName == b.WithinName && a.DataVersion == b.DataVersion && x.String() == y.String()
}

func testCSV(t *testing.T, e *env) {
	ctx := context.Background()
	// A township where something is withheld.
	names := []string{"residents", "tekunPersons", "medicalCoverageRate"}
	var township grid.Unit
	var tab *indicators.Table
	for _, u := range e.ix.Units(grid.Township) {
		tt, err := e.svc.Table(ctx, grid.Community, u.Code, names)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(tt.Rows, func(r indicators.Row) bool {
			return slices.ContainsFunc(r.Values, func(c indicators.Cell) bool { return c.Suppressed })
		}) {
			township, tab = u, tt
			break
		}
	}
	if tab == nil {
		t.Fatal("no township has a withheld cell")
	}
	var buf bytes.Buffer
	if err := indicators.WriteCSV(&buf, tab); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := "code,name,level,residents,residents_suppressed,tekunPersons,tekunPersons_suppressed,medicalCoverageRate,medicalCoverageRate_suppressed"
	if got := strings.Join(recs[0], ","); got != header {
		t.Errorf("header %s\nwant   %s", got, header)
	}
	if len(recs) != len(tab.Rows)+2 {
		t.Fatalf("%d records, want header + %d rows + totals", len(recs), len(tab.Rows))
	}
	sawSuppressed := false
	for i, r := range tab.Rows {
		rec := recs[i+1]
		if rec[0] != r.Unit.Code || rec[1] != r.Unit.Name || rec[2] != "COMMUNITY" {
			t.Errorf("record %v for row %+v", rec, r.Unit)
		}
		for j, c := range r.Values {
			v, s := rec[3+2*j], rec[4+2*j]
			switch {
			case c.Suppressed:
				sawSuppressed = true
				if v != "" || s != "true" {
					t.Errorf("%s %s withheld written as %q,%q", r.Unit.Code, c.Name, v, s)
				}
			default:
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f != *c.Value || s != "false" {
					t.Errorf("%s %s = %v written as %q,%q", r.Unit.Code, c.Name, *c.Value, v, s)
				}
			}
		}
	}
	if !sawSuppressed {
		t.Error("no withheld cell written")
	}
	last := recs[len(recs)-1]
	if last[0] != township.Code || last[1] != township.Name || last[2] != indicators.TotalLevel {
		t.Errorf("totals record %v", last)
	}
}

func TestCSVFormat(t *testing.T) {
	v, r := 412.0, 91.5
	tab := &indicators.Table{
		Level: grid.Grid, Names: []string{"residents", "pensionCoverageRate"},
		Rows: []indicators.Row{{Unit: indicators.Unit{Code: "340705001001001", Name: "=cmd|' /C calc'!A0", Level: grid.Grid},
			Values: []indicators.Cell{{Name: "residents", Value: &v}, {Name: "pensionCoverageRate", Suppressed: true}}}},
		Totals: []indicators.Cell{{Name: "residents", Value: &v}, {Name: "pensionCoverageRate", Value: &r}},
	}
	var buf bytes.Buffer
	if err := indicators.WriteCSV(&buf, tab); err != nil {
		t.Fatal(err)
	}
	want := "code,name,level,residents,residents_suppressed,pensionCoverageRate,pensionCoverageRate_suppressed\n" +
		"340705001001001,'=cmd|' /C calc'!A0,GRID,412,false,,true\n" +
		",合计,TOTAL,412,false,91.5,false\n"
	if buf.String() != want {
		t.Errorf("CSV\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestAgeCutoff(t *testing.T) {
	for _, tc := range []struct {
		day   string
		years int
		want  string
	}{
		{"2026-06-30", 60, "1966-06-30"},
		{"2024-02-29", 61, "1963-02-28"},
		{"2024-02-29", 60, "1964-02-29"},
	} {
		d, _ := time.Parse(time.DateOnly, tc.day)
		if got := indicators.AgeCutoff(d, tc.years).Format(time.DateOnly); got != tc.want {
			t.Errorf("AgeCutoff(%s, %d) = %s, want %s", tc.day, tc.years, got, tc.want)
		}
	}
}

func TestUnsyncedDepartmentHasNoAsOf(t *testing.T) {
	fx := testcity.Load(t)
	ctx := context.Background()
	reg := grid.NewRegistry(fx.Store, time.Hour)
	s := factsync.New(fx.Store.Pool, fx.Keys, factsync.FeedMap{}, reg, indicators.NewAggregator(indicators.Default()),
		factsync.Options{Now: func() time.Time { return factsynctest.Day }, Logger: quiet()})
	if err := s.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	svc := indicators.NewService(fx.Store.Pool, indicators.Default(), reg, indicators.Options{Logger: quiet()})
	tab, err := svc.Table(ctx, grid.District, "", []string{"residents", "partyMembers"})
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.AsOf) != 2 || tab.AsOf[0].At == nil || tab.AsOf[1].At != nil {
		t.Errorf("asOf %+v: want the seed time for core and none for an unsynced department", tab.AsOf)
	}
	if v := tab.Totals[0].Value; v == nil || int(*v) != len(fx.City.Persons) {
		t.Errorf("residents %v, want %d", v, len(fx.City.Persons))
	}
	if v := tab.Totals[1].Value; v == nil || *v != 0 {
		t.Errorf("party members before any sync %v, want 0", v)
	}
}

// A family's suppression is decided once per version of the counts: a
// replica without any cache (or the same hub after a restart) reads what
// another decided and publishes the same table; a change to the counts is
// decided again, and a different rule is a different decision.
func TestDecisionsShared(t *testing.T) {
	e := newEnv(t, indicators.Options{})
	ctx := context.Background()
	first, err := e.svc.Table(ctx, grid.Grid, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	cat := indicators.Default()
	seen := map[string]bool{}
	families := 0
	for _, in := range cat.All() {
		if fam := cat.Family(in.Name); len(fam) > 0 && !seen[fam[0]] {
			seen[fam[0]] = true
			families++
		}
	}
	if decided, read := e.svc.DecisionStats(); decided != int64(families) || read != 0 {
		t.Fatalf("first service: decided %d, read %d; want %d and 0", decided, read, families)
	}
	replica := indicators.NewService(e.fx.Store.Pool, indicators.Default(), e.reg, indicators.Options{Logger: quiet()})
	second, err := replica.Table(ctx, grid.Grid, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if decided, read := replica.DecisionStats(); decided != 0 || read != int64(families) {
		t.Errorf("replica: decided %d, read %d; want 0 and %d", decided, read, families)
	}
	if !sameTable(first, second) {
		t.Error("the replica published another table from the stored decisions")
	}

	// Another threshold: every family decided again, not read.
	strict := indicators.NewService(e.fx.Store.Pool, indicators.Default(), e.reg,
		indicators.Options{Rule: disclosure.Rule{Threshold: 9}, Logger: quiet()})
	if _, err := strict.Table(ctx, grid.Grid, "", nil); err != nil {
		t.Fatal(err)
	}
	if decided, read := strict.DecisionStats(); read != 0 || decided == 0 {
		t.Errorf("another rule: decided %d, read %d; want all decided", decided, read)
	}

	// A change to the counts: decided again by the replica.
	e.addTekun(t)
	if _, err := replica.Table(ctx, grid.Grid, "", nil); err != nil {
		t.Fatal(err)
	}
	if decided, _ := replica.DecisionStats(); decided != int64(families) {
		t.Errorf("after a change the replica decided %d families, want %d", decided, families)
	}
	after, err := e.svc.Table(ctx, grid.Grid, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if decided, read := e.svc.DecisionStats(); decided != int64(families) || read != int64(families) {
		t.Errorf("first service after the change: decided %d, read %d; want %d and %d", decided, read, families, families)
	}
	if sameTable(first, after) {
		t.Error("the table did not change with the data")
	}
}

// addTekun syncs a change: the last person of the city becomes 特困.
func (e *env) addTekun(t *testing.T) {
	t.Helper()
	var pid string
	for _, p := range e.fx.City.Persons {
		pid = p.IDNumber
	}
	e.feeds[deptsim.CivilAffairs].Append(connectors.Fact{Entity: connectors.Person, Key: pid, Set: "tekun", ID: pid,
		Record: connectors.Record{"status": "ACTIVE", "category": "URBAN"}})
	if _, err := e.syncer.SyncDepartment(context.Background(), deptsim.CivilAffairs, false); err != nil {
		t.Fatal(err)
	}
}
