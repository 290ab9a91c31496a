package factsync_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/factsync/factsynctest"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/testcity"
)

func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }

// env is a loaded test city with a syncer over in-memory feeds of the
// departments' simulated records.
type env struct {
	fx     *testcity.Fixture
	ds     *deptsim.Dataset
	feeds  map[string]*factsynctest.Feed
	facts  map[string][]connectors.Fact
	reg    *grid.Registry
	syncer *factsync.Syncer
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(t testing.TB, opts factsync.Options) *env {
	t.Helper()
	e := &env{fx: testcity.Load(t), ds: factsynctest.Dataset(t)}
	e.feeds, e.facts = factsynctest.Feeds(e.ds)
	e.reg = grid.NewRegistry(e.fx.Store, 0)
	e.syncer = e.newSyncer(opts)
	return e
}

func (e *env) newSyncer(opts factsync.Options) *factsync.Syncer {
	fm := factsync.FeedMap{}
	for d, f := range e.feeds {
		fm[d] = f
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return factsynctest.Day }
	}
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	return factsync.New(e.fx.Store.Pool, e.fx.Keys, fm, e.reg, indicators.NewAggregator(indicators.Default()), opts)
}

// stored is a department's facts as the hub holds them: "set/id" -> record
// JSON and grid.
type stored map[string]string

func (e *env) stored(t testing.TB, dept string) stored {
	t.Helper()
	rows, _ := e.fx.Store.Pool.Query(context.Background(), `SELECT set, encode(key_hmac, 'hex'), id, record::text, coalesce(grid_code, '-')
		FROM facts WHERE department = $1`, dept)
	out := stored{}
	var set, key, id, rec, g string
	if _, err := pgx.ForEachRow(rows, []any{&set, &key, &id, &rec, &g}, func() error {
		out[set+"/"+key+"/"+id] = rec + " @" + g
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// cells reads indicator_cells.
func (e *env) cells(t testing.TB) map[string]int64 {
	t.Helper()
	rows, _ := e.fx.Store.Pool.Query(context.Background(), `SELECT name, grid_code, value FROM indicator_cells`)
	out := map[string]int64{}
	var n, g string
	var v int64
	if _, err := pgx.ForEachRow(rows, []any{&n, &g, &v}, func() error {
		out[n+"@"+g] = v
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// recomputedCells recomputes every aggregate from scratch, to compare with
// what incremental maintenance produced, and restores nothing: call it last.
func (e *env) recomputedCells(t testing.TB) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	agg := indicators.NewAggregator(indicators.Default())
	err := pgx.BeginFunc(ctx, e.fx.Store.Pool, func(tx pgx.Tx) error {
		for _, d := range deptsim.Departments() {
			if err := agg.Recompute(ctx, tx, d, nil); err != nil {
				return err
			}
		}
		return agg.RecomputeCore(ctx, tx, factsynctest.Day)
	})
	if err != nil {
		t.Fatal(err)
	}
	return e.cells(t)
}

func (e *env) state(t testing.TB, dept string) (watermark string, rows int64) {
	t.Helper()
	if err := e.fx.Store.Pool.QueryRow(context.Background(), `SELECT watermark, rows FROM sync_state WHERE department = $1`, dept).
		Scan(&watermark, &rows); err != nil {
		t.Fatal(err)
	}
	return watermark, rows
}

// distinct counts the distinct (set, key, ID) of facts, the last one of each
// winning: what a department's facts come to.
func distinct(facts []connectors.Fact) map[string]connectors.Fact {
	out := map[string]connectors.Fact{}
	for _, f := range facts {
		k := f.Set + "\x00" + factsync.NormalizeKey(f.Entity, f.Key) + "\x00" + f.ID
		if f.Deleted {
			delete(out, k)
		} else {
			out[k] = f
		}
	}
	return out
}

func TestFullSyncStoresEveryDepartment(t *testing.T) {
	e := newEnv(t, factsync.Options{PageSize: 500, BatchSize: 1500})
	ctx := context.Background()
	res, err := e.syncer.SyncAll(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 6 {
		t.Fatalf("SyncAll synced %d departments, want 6", len(res))
	}
	for _, d := range deptsim.Departments() {
		st := res[d].Stats
		want := len(distinct(e.facts[d]))
		if !st.Full || st.Facts < want || st.Batches == 0 || st.Grids == 0 {
			t.Errorf("%s: stats %+v, want a full sync of at least %d facts", d, st, want)
		}
		got := e.stored(t, d)
		if len(got) != want {
			t.Errorf("%s: %d facts stored, want %d", d, len(got), want)
		}
		wm, rows := e.state(t, d)
		if wm != strconv.Itoa(len(e.facts[d])) || rows != int64(want) {
			t.Errorf("%s: watermark %q rows %d, want %d and %d", d, wm, rows, len(e.facts[d]), want)
		}
		t.Logf("%s: %d facts, %d unlinked, %d pages, %d grids", d, st.Facts, st.Unlinked, st.Pages, st.Grids)
	}
	fr, err := e.syncer.Freshness(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fr {
		if !f.Synced || f.LastError != "" || f.Facts == 0 || f.LastFull.IsZero() || f.Pending {
			t.Errorf("freshness %+v", f)
		}
	}
	// What was maintained is what a recomputation from scratch gives.
	if diff := cmp.Diff(e.recomputedCells(t), e.cells(t)); diff != "" {
		t.Errorf("cells differ from a recomputation (-recomputed +synced):\n%s", diff)
	}
}

func TestIncrementalSyncAppliesChangesAndDeletions(t *testing.T) {
	e := newEnv(t, factsync.Options{PageSize: 400, BatchSize: 400})
	ctx := context.Background()
	const dept = deptsim.CivilAffairs
	if _, err := e.syncer.SyncDepartment(ctx, dept, false); err != nil {
		t.Fatal(err)
	}
	before := e.stored(t, dept)
	feed := e.feeds[dept]
	calls := feed.Calls()

	// Nothing changed: one call, nothing written.
	st, err := e.syncer.SyncDepartment(ctx, dept, false)
	if err != nil || st.Full || st.Facts != 0 || st.Changed != 0 || feed.Calls() != calls+1 {
		t.Fatalf("idle incremental sync: %+v, %v (%d calls)", st, err, feed.Calls()-calls)
	}

	// Three changes: a 低保 ends, one is added for someone else, and a
	// disability record is removed; the ending one is also repeated in the
	// same page (its last version wins).
	var active, removed connectors.Fact
	for _, f := range e.facts[dept] {
		if f.Set == "dibao" && f.Record["status"] == "ACTIVE" && active.Key == "" && len(f.Key) == 18 {
			active = f
		}
		if f.Set == "disability" && removed.Key == "" && len(f.Key) == 18 {
			removed = f
		}
	}
	ended := active
	ended.Record = connectors.Record{"status": "ENDED", "householdNumber": "X"}
	onDibao := map[string]bool{}
	for _, f := range e.facts[dept] {
		if f.Set == "dibao" {
			onDibao[f.Key] = true
		}
	}
	var newcomer string
	for _, p := range e.fx.City.Persons {
		if !onDibao[p.IDNumber] {
			newcomer = p.IDNumber
			break
		}
	}
	added := connectors.Fact{Entity: connectors.Person, Key: newcomer, Set: "dibao", ID: "900000001",
		Record: connectors.Record{"status": "ACTIVE", "householdNumber": "NEW"}}
	removed.Deleted, removed.Record = true, nil
	feed.Append(active, ended, added, removed)

	st, err = e.syncer.SyncDepartment(ctx, dept, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Full || st.Facts != 2 || st.Deleted != 1 || st.Changed != 3 || st.Grids == 0 {
		t.Errorf("incremental stats %+v, want 2 facts, 1 deletion, 3 changes", st)
	}
	after := e.stored(t, dept)
	if len(after) != len(before) {
		t.Errorf("%d facts after one addition and one deletion, want %d", len(after), len(before))
	}
	if _, rows := e.state(t, dept); rows != int64(len(after)) {
		t.Errorf("sync_state.rows %d, want %d", rows, len(after))
	}
	if r := after["dibao/"+keyHex(e, active.Key)+"/"+active.ID]; r == "" || !contains(r, `"ENDED"`) {
		t.Errorf("ended record stored as %q", r)
	}
	if _, ok := after["disability/"+keyHex(e, removed.Key)+"/"+removed.ID]; ok {
		t.Error("deleted record still stored")
	}
	if diff := cmp.Diff(e.recomputedCells(t), e.cells(t)); diff != "" {
		t.Errorf("incrementally maintained cells differ (-recomputed +synced):\n%s", diff)
	}
}

// TestDeletionRemovesOnlyItsDepartmentsRow deletes the row a department
// stores first in its partition: every other department's partition has a
// row at the same physical place, and none of them may go with it.
func TestDeletionRemovesOnlyItsDepartmentsRow(t *testing.T) {
	e := newEnv(t, factsync.Options{PageSize: 500, BatchSize: 1500})
	ctx := context.Background()
	if _, err := e.syncer.SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	const dept = deptsim.CivilAffairs
	before := map[string]stored{}
	for _, d := range deptsim.Departments() {
		before[d] = e.stored(t, d)
	}
	var set, id string
	if err := e.fx.Store.Pool.QueryRow(ctx, `SELECT set, id FROM facts WHERE department = $1 AND ctid = '(0,1)'`, dept).Scan(&set, &id); err != nil {
		t.Fatal(err)
	}
	var removed connectors.Fact
	for _, f := range e.facts[dept] {
		if f.Set == set && f.ID == id {
			removed = f
		}
	}
	if removed.ID == "" {
		t.Fatalf("no fact %s/%s in the feed", set, id)
	}
	var shared int
	if err := e.fx.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM facts WHERE department <> $1 AND ctid = '(0,1)'`, dept).Scan(&shared); err != nil || shared == 0 {
		t.Fatalf("no other department has a row at (0,1): %d, %v", shared, err)
	}
	removed.Deleted, removed.Record = true, nil
	e.feeds[dept].Append(removed)
	if st, err := e.syncer.SyncDepartment(ctx, dept, false); err != nil || st.Deleted != 1 || st.Changed != 1 {
		t.Fatalf("sync of one deletion: %+v, %v", st, err)
	}
	for _, d := range deptsim.Departments() {
		after := e.stored(t, d)
		want := len(before[d])
		if d == dept {
			want--
		}
		if len(after) != want {
			t.Errorf("%s: %d facts after %s deleted one, want %d", d, len(after), dept, want)
		}
		if _, rows := e.state(t, d); rows != int64(len(after)) {
			t.Errorf("%s: sync_state.rows %d, %d stored", d, rows, len(after))
		}
	}
	if diff := cmp.Diff(e.recomputedCells(t), e.cells(t)); diff != "" {
		t.Errorf("cells differ from a recomputation (-recomputed +synced):\n%s", diff)
	}
}

func keyHex(e *env, key string) string {
	return fmt.Sprintf("%x", e.fx.Keys.Blind(factsync.NormalizeKey(connectors.Person, key)))
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// A feed failing midway leaves the facts of the committed batches and the
// watermark they reached, consistent; the next sync resumes there and ends
// where a clean sync does.
func TestFailedSyncKeepsFactsAndWatermarkConsistent(t *testing.T) {
	e := newEnv(t, factsync.Options{PageSize: 300, BatchSize: 600})
	ctx := context.Background()
	const dept = deptsim.SocialSecurity
	feed := e.feeds[dept]
	feed.FailAt = 6 // two batches of two pages commit, the third fails
	_, err := e.syncer.SyncDepartment(ctx, dept, false)
	if !errors.Is(err, factsynctest.ErrInjected) {
		t.Fatalf("sync with a failing feed: %v, want the injected error", err)
	}
	wm, _ := e.state(t, dept)
	n, _ := strconv.Atoi(wm)
	if n != 1200 {
		t.Errorf("watermark after failure %q, want 1200 (two batches of 600)", wm)
	}
	if got, want := len(e.stored(t, dept)), len(distinct(e.facts[dept][:n])); got != want {
		t.Errorf("%d facts stored after failure, want %d (those before the watermark)", got, want)
	}
	fr, _ := e.syncer.Freshness(ctx)
	for _, f := range fr {
		if f.Department == dept && (f.Synced || f.LastError == "" || !f.Pending) {
			t.Errorf("freshness after failure %+v: want not synced, the error, a pending full sync", f)
		}
	}
	// The committed batches' grids were recomputed despite the failure.
	if diff := cmp.Diff(e.recomputedCells(t), e.cells(t)); diff != "" {
		t.Errorf("cells after failure differ (-recomputed +synced):\n%s", diff)
	}

	feed.FailAt = 0
	calls := feed.Calls()
	st, err := e.syncer.SyncDepartment(ctx, dept, false)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Full {
		t.Error("resumed first sync is not full")
	}
	if wantCalls := (len(e.facts[dept])-n+299)/300 + 0; feed.Calls()-calls != wantCalls {
		t.Errorf("resumed sync made %d calls, want %d (from the watermark on)", feed.Calls()-calls, wantCalls)
	}
	if got, want := len(e.stored(t, dept)), len(distinct(e.facts[dept])); got != want {
		t.Errorf("%d facts after resuming, want %d", got, want)
	}
	if diff := cmp.Diff(e.recomputedCells(t), e.cells(t)); diff != "" {
		t.Errorf("cells after resuming differ (-recomputed +synced):\n%s", diff)
	}
}

// A batch the database rejects commits nothing of itself: not its facts, not
// its watermark.
func TestRejectedBatchCommitsNothing(t *testing.T) {
	e := newEnv(t, factsync.Options{PageSize: 100, BatchSize: 100})
	ctx := context.Background()
	const dept = deptsim.PartyBuilding
	bad := e.facts[dept][0]
	bad.ID = "poison"
	bad.Record = connectors.Record{"branch": "a\x00b"} // jsonb refuses NUL
	facts := append([]connectors.Fact{}, e.facts[dept][:250]...)
	facts = append(facts, bad)
	e.feeds[dept] = factsynctest.NewFeed(facts)
	e.syncer = e.newSyncer(factsync.Options{PageSize: 100, BatchSize: 100})
	_, err := e.syncer.SyncDepartment(ctx, dept, false)
	if err == nil {
		t.Fatal("a batch with a NUL character was accepted")
	}
	wm, _ := e.state(t, dept)
	if wm != "200" {
		t.Errorf("watermark %q after a rejected third batch, want 200", wm)
	}
	if got, want := len(e.stored(t, dept)), len(distinct(facts[:200])); got != want {
		t.Errorf("%d facts stored, want %d", got, want)
	}
}

// Syncing the same feed again changes nothing: a full re-sync rewrites the
// generation only, an incremental one from the start writes nothing.
func TestResyncIsIdempotent(t *testing.T) {
	e := newEnv(t, factsync.Options{PageSize: 1000, BatchSize: 2000})
	ctx := context.Background()
	const dept = deptsim.Health
	if _, err := e.syncer.SyncDepartment(ctx, dept, false); err != nil {
		t.Fatal(err)
	}
	facts, cells := e.stored(t, dept), e.cells(t)
	st, err := e.syncer.SyncDepartment(ctx, dept, true)
	if err != nil || !st.Full || st.Swept != 0 {
		t.Fatalf("full re-sync: %+v, %v", st, err)
	}
	if diff := cmp.Diff(facts, e.stored(t, dept)); diff != "" {
		t.Errorf("full re-sync changed facts:\n%s", diff)
	}
	if diff := cmp.Diff(cells, e.cells(t)); diff != "" {
		t.Errorf("full re-sync changed cells:\n%s", diff)
	}
	if _, err := e.fx.Store.Pool.Exec(ctx, `UPDATE sync_state SET watermark = '' WHERE department = $1`, dept); err != nil {
		t.Fatal(err)
	}
	// Records without an ID number share one fact (key "", ID "") that each
	// of them overwrites in turn: those rewrites are all it does.
	st, err = e.syncer.SyncDepartment(ctx, dept, false)
	if err != nil || st.Full || st.Grids != 0 {
		t.Fatalf("incremental re-sync from the start: %+v, %v; want no grid changed", st, err)
	}
	if diff := cmp.Diff(facts, e.stored(t, dept)); diff != "" {
		t.Errorf("incremental re-sync changed facts:\n%s", diff)
	}
}

// A sync that finds nothing new leaves the data version alone, so that
// every indicator table cached for it stays good; one that changes a fact
// moves it.
func TestNoOpSyncKeepsTheDataVersion(t *testing.T) {
	e := newEnv(t, factsync.Options{PageSize: 1000, BatchSize: 2000})
	ctx := context.Background()
	version := func() int64 {
		var v int64
		if err := e.fx.Store.Pool.QueryRow(ctx, `SELECT data_version FROM fact_meta`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if _, err := e.syncer.SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	before := version()
	res, err := e.syncer.SyncAll(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for d, r := range res {
		if r.Stats.Changed != 0 {
			t.Fatalf("%s: the second sync changed %d facts", d, r.Stats.Changed)
		}
	}
	if after := version(); after != before {
		t.Errorf("a sync with nothing new moved the data version %d -> %d", before, after)
	}
	e.feeds[deptsim.Health].Append(connectors.Fact{Entity: connectors.Person, Set: "floating", Key: e.fx.City.Persons[0].IDNumber,
		ID: "no-op-test", Record: connectors.Record{"reason": "WORK"}})
	if _, err := e.syncer.SyncDepartment(ctx, deptsim.Health, false); err != nil {
		t.Fatal(err)
	}
	if after := version(); after == before {
		t.Error("a sync that added a fact left the data version")
	}
}

// A full sync removes the facts the feed no longer has, without deletion
// markers.
func TestFullSyncSweepsVanishedFacts(t *testing.T) {
	e := newEnv(t, factsync.Options{})
	ctx := context.Background()
	const dept = deptsim.Employment
	if _, err := e.syncer.SyncDepartment(ctx, dept, false); err != nil {
		t.Fatal(err)
	}
	all := e.facts[dept]
	kept := all[:len(all)-40]
	e.feeds[dept] = factsynctest.NewFeed(kept)
	e.syncer = e.newSyncer(factsync.Options{})
	st, err := e.syncer.SyncDepartment(ctx, dept, true)
	if err != nil {
		t.Fatal(err)
	}
	want := len(distinct(kept))
	if got := len(e.stored(t, dept)); got != want || st.Swept != len(distinct(all))-want {
		t.Errorf("after a full sync of a shorter feed: %d facts, %d swept; want %d and %d", got, st.Swept, want, len(distinct(all))-want)
	}
	if diff := cmp.Diff(e.recomputedCells(t), e.cells(t)); diff != "" {
		t.Errorf("cells after sweeping differ (-recomputed +synced):\n%s", diff)
	}
}

// Facts are placed in grids: persons' records where the person lives, cases
// where they happened, unlinkable records nowhere.
func TestFactsArePlaced(t *testing.T) {
	e := newEnv(t, factsync.Options{})
	ctx := context.Background()
	if _, err := e.syncer.SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{}
	for _, p := range e.fx.City.Persons {
		byID[p.IDNumber] = p.GridCode
	}
	pool := e.fx.Store.Pool
	// Every linked person fact is in its person's grid.
	var wrong int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM facts f JOIN persons p ON p.id = f.person_id
		WHERE NOT (f.record ? 'lon') AND f.grid_code IS DISTINCT FROM p.grid_code`).Scan(&wrong); err != nil || wrong != 0 {
		t.Errorf("%d linked facts outside their person's grid (%v)", wrong, err)
	}
	// Cases are in the grid their point is in. deptsim jitters a case a few
	// metres around the building or organisation it is about and files it
	// under that one's grid, so near a boundary the two may differ.
	ix, err := e.reg.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := pool.Query(ctx, `SELECT id, coalesce(grid_code, '') FROM facts WHERE department = $1`, deptsim.UrbanManagement)
	got := map[string]string{}
	var id, g string
	if _, err := pgx.ForEachRow(rows, []any{&id, &g}, func() error { got[id] = g; return nil }); err != nil {
		t.Fatal(err)
	}
	misplaced, filed := 0, 0
	for _, c := range e.ds.UrbanManagement.Cases {
		u, _ := ix.Locate(c.Lon, c.Lat)
		if got[c.Number] != u.Code {
			misplaced++
		}
		if got[c.Number] != c.GridCode {
			filed++
		}
	}
	n := len(e.ds.UrbanManagement.Cases)
	if misplaced > 0 || filed > n/20 {
		t.Errorf("of %d cases, %d are not in the grid of their point and %d not in the grid 城管 filed them under", n, misplaced, filed)
	}
	// Unlinked facts are those whose ID does not name a resident.
	var unlinked, expected int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM facts WHERE grid_code IS NULL`).Scan(&unlinked); err != nil {
		t.Fatal(err)
	}
	for _, fs := range e.facts {
		for _, f := range distinct(fs) {
			if f.Entity == connectors.Person && !hasCoords(f) {
				if _, ok := byID[factsync.NormalizeKey(f.Entity, f.Key)]; !ok {
					expected++
				}
			}
		}
	}
	if unlinked != expected {
		t.Errorf("%d unlinked facts, want %d", unlinked, expected)
	}
	t.Logf("%d facts unlinked (missing or mistyped ID numbers)", unlinked)
}

func hasCoords(f connectors.Fact) bool {
	_, ok := f.Record["lon"]
	return ok
}

// A reseed of the master index re-places the facts; the same city gives the
// same aggregates.
func TestReseedReresolves(t *testing.T) {
	e := newEnv(t, factsync.Options{})
	ctx := context.Background()
	if _, err := e.syncer.SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	cells := e.cells(t)
	if _, err := e.fx.Store.LoadCity(ctx, e.fx.City, e.fx.Keys); err != nil {
		t.Fatal(err)
	}
	// The reseed assigned the same ids; scramble the links to see them restored.
	if _, err := e.fx.Store.Pool.Exec(ctx, `UPDATE facts SET grid_code = NULL, person_id = NULL`); err != nil {
		t.Fatal(err)
	}
	if err := e.syncer.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(cells, e.cells(t)); diff != "" {
		t.Errorf("cells after a reseed of the same city (-before +after):\n%s", diff)
	}
	var unplaced int
	if err := e.fx.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM facts f JOIN persons p ON p.id_hmac = f.key_hmac WHERE f.grid_code IS NULL`).Scan(&unplaced); err != nil || unplaced != 0 {
		t.Errorf("%d linkable facts left without a grid (%v)", unplaced, err)
	}
}

// Two syncers of one department at once (two replicas) never interleave
// batches: each stops or completes, and the result is a clean sync's.
func TestConcurrentSyncers(t *testing.T) {
	e := newEnv(t, factsync.Options{PageSize: 200, BatchSize: 200})
	other := e.newSyncer(factsync.Options{PageSize: 200, BatchSize: 200})
	ctx := context.Background()
	const dept = deptsim.Health
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []*factsync.Syncer{e.syncer, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.SyncDepartment(ctx, dept, false)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, factsync.ErrConcurrentSync) {
			t.Fatal(err)
		}
	}
	// Whatever stopped, one more sync completes the department.
	if _, err := e.syncer.SyncDepartment(ctx, dept, false); err != nil {
		t.Fatal(err)
	}
	if got, want := len(e.stored(t, dept)), len(distinct(e.facts[dept])); got != want {
		t.Errorf("%d facts, want %d", got, want)
	}
	if diff := cmp.Diff(e.recomputedCells(t), e.cells(t)); diff != "" {
		t.Errorf("cells differ (-recomputed +synced):\n%s", diff)
	}
}

func TestNoFeed(t *testing.T) {
	e := newEnv(t, factsync.Options{})
	if _, err := e.syncer.SyncDepartment(context.Background(), "nowhere", false); !errors.Is(err, factsync.ErrNoFeed) {
		t.Fatalf("sync of a department without a feed: %v", err)
	}
}

func TestNormalizeKey(t *testing.T) {
	for _, tc := range []struct{ entity, in, want string }{
		{connectors.Person, " 34070519800101123x ", "34070519800101123X"},
		{connectors.Person, "340705800101123", "340705198001011232"},
		{connectors.Person, "", ""},
		{connectors.Organization, "91340700ma2t1b2c3x", "91340700MA2T1B2C3X"},
	} {
		got := factsync.NormalizeKey(tc.entity, tc.in)
		if tc.in == "340705800101123" {
			// The converted number's check character is computed: check the shape.
			if len(got) != 18 || got[:6] != "340705" || got[6:8] != "19" {
				t.Errorf("NormalizeKey(%q) = %q", tc.in, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("NormalizeKey(%q, %q) = %q, want %q", tc.entity, tc.in, got, tc.want)
		}
	}
}

// One record written two ways in one batch (a lower-case x, blanks) is one
// fact: the later one wins.
func TestOneRecordTwoWaysInOneBatch(t *testing.T) {
	e := newEnv(t, factsync.Options{})
	var id string
	for _, p := range e.fx.City.Persons {
		if p.IDNumber[17] == 'X' {
			id = p.IDNumber
			break
		}
	}
	if id == "" {
		t.Skip("no ID number with an X in the test city")
	}
	const dept = deptsim.PartyBuilding
	e.feeds[dept] = factsynctest.NewFeed([]connectors.Fact{
		{Entity: connectors.Person, Key: id, Set: "membership", ID: "1", Record: connectors.Record{"category": "FULL"}},
		{Entity: connectors.Person, Key: " " + id[:17] + "x", Set: "membership", ID: "1", Record: connectors.Record{"category": "PROBATIONARY"}},
	})
	e.syncer = e.newSyncer(factsync.Options{})
	st, err := e.syncer.SyncDepartment(context.Background(), dept, false)
	if err != nil {
		t.Fatal(err)
	}
	got := e.stored(t, dept)
	if st.Facts != 1 || len(got) != 1 || !contains(got["membership/"+keyHex(e, id)+"/1"], "PROBATIONARY") {
		t.Errorf("stats %+v, stored %v: want the later version only", st, got)
	}
}

// TestLargestDepartmentsSyncFirst: a round starts with the departments that
// hold the most facts, so that the longest sync does not wait for a slot.
func TestLargestDepartmentsSyncFirst(t *testing.T) {
	e := newEnv(t, factsync.Options{})
	ctx := context.Background()
	if _, err := e.syncer.SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	var order []string
	s := e.newSyncer(factsync.Options{Parallel: 1, AfterSync: func(_ context.Context, dept string, _ factsync.Stats) {
		order = append(order, dept)
	}})
	if _, err := s.SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	rows, _ := e.fx.Store.Pool.Query(ctx, `SELECT department FROM sync_state ORDER BY rows DESC, department`)
	want, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("sync order (-by size +synced):\n%s", diff)
	}
}

// TestFirstLoadTakesRelistedAndDeletedFacts: in a department's first sync,
// a record its feed lists again in a later batch (changed while the feed was
// read: here a case that moved to another grid) is stored once, in its last
// version, a record deleted later in the listing is not stored, and the
// counts of both grids are right.
func TestFirstLoadTakesRelistedAndDeletedFacts(t *testing.T) {
	e := newEnv(t, factsync.Options{PageSize: 20, BatchSize: 40})
	ctx := context.Background()
	const dept = deptsim.UrbanManagement
	ix, err := e.reg.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A case placed only by its coordinates, and one in another grid to
	// move it to.
	gridOf := func(f connectors.Fact) string {
		lon, lat := f.Record["lon"], f.Record["lat"]
		x, ok1 := lon.(float64)
		y, ok2 := lat.(float64)
		if f.Entity != "" || !ok1 || !ok2 {
			return ""
		}
		u, ok := ix.Locate(x, y)
		if !ok || u.Level != grid.Grid {
			return ""
		}
		return u.Code
	}
	facts := e.facts[dept]
	var moved, elsewhere, deleted connectors.Fact
	for _, f := range facts[:len(facts)/2] {
		switch g := gridOf(f); {
		case g == "":
		case moved.ID == "":
			moved = f
		case elsewhere.ID == "" && g != gridOf(moved):
			elsewhere = f
		case deleted.ID == "" && f.ID != moved.ID:
			deleted = f
		}
	}
	if moved.ID == "" || elsewhere.ID == "" || deleted.ID == "" {
		t.Fatal("no cases placed by coordinates in two grids in the test city")
	}
	relisted := moved
	relisted.Record = maps.Clone(moved.Record)
	relisted.Record["lon"], relisted.Record["lat"] = elsewhere.Record["lon"], elsewhere.Record["lat"]
	relisted.Record["stage"] = "RELISTED"
	deleted.Deleted, deleted.Record = true, nil
	feed := slices.Concat(facts, []connectors.Fact{relisted, deleted})
	e.feeds[dept] = factsynctest.NewFeed(feed)
	e.syncer = e.newSyncer(factsync.Options{PageSize: 20, BatchSize: 40})

	st, err := e.syncer.SyncDepartment(ctx, dept, false)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Full || st.Batches < 2 {
		t.Fatalf("stats %+v: want a full sync of several batches", st)
	}
	want := distinct(feed)
	got := e.stored(t, dept)
	if len(got) != len(want) {
		t.Errorf("%d facts stored, want %d", len(got), len(want))
	}
	if _, rows := e.state(t, dept); rows != int64(len(want)) {
		t.Errorf("sync_state.rows %d, want %d", rows, len(want))
	}
	key := func(f connectors.Fact) string { return f.Set + "/" + keyHex(e, f.Key) + "/" + f.ID }
	if r := got[key(moved)]; !contains(r, "RELISTED") || !contains(r, "@"+gridOf(elsewhere)) {
		t.Errorf("relisted case stored as %q, want its last version in grid %s", r, gridOf(elsewhere))
	}
	if r, ok := got[key(deleted)]; ok {
		t.Errorf("deleted case still stored: %q", r)
	}
	if diff := cmp.Diff(e.recomputedCells(t), e.cells(t)); diff != "" {
		t.Errorf("cells differ from a recomputation (-recomputed +synced):\n%s", diff)
	}
}
