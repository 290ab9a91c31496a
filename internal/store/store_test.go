package store_test

import (
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/store"
	"github.com/gridhub/gridhub/internal/synth"
	"github.com/gridhub/gridhub/internal/testcity"
)

func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }

// openFresh returns a migrated store on a new, empty database.
func openFresh(tb testing.TB) *store.Store {
	tb.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, devenv.NewDatabase(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	if _, err := st.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return st
}

func testKeys(tb testing.TB) *secret.Keys {
	tb.Helper()
	keys, err := secret.New(bytes.Repeat([]byte{42}, secret.KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return keys
}

// tableCounts counts the rows of every master-index table.
func tableCounts(tb testing.TB, st *store.Store) map[string]int64 {
	tb.Helper()
	out := map[string]int64{}
	for _, table := range []string{"grid_units", "buildings", "households", "persons", "organizations"} {
		var n int64
		if err := st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func cityCounts(c *synth.City) map[string]int64 {
	return map[string]int64{
		"grid_units":    int64(len(c.Units)),
		"buildings":     int64(len(c.Buildings)),
		"households":    int64(len(c.Households)),
		"persons":       int64(len(c.Persons)),
		"organizations": int64(len(c.Organizations)),
	}
}

func TestMigrateIsIdempotentAndStartsAtVersionZero(t *testing.T) {
	st := openFresh(t)
	ctx := context.Background()
	n, err := st.Migrate(ctx)
	if err != nil || n != 0 {
		t.Fatalf("second Migrate applied %d (err %v), want 0", n, err)
	}
	if pending, err := st.Pending(ctx); err != nil || pending {
		t.Fatalf("Pending after Migrate = %v (err %v), want false", pending, err)
	}
	if v, err := st.RegistryVersion(ctx); err != nil || v != 0 {
		t.Fatalf("RegistryVersion before any load = %d (err %v), want 0", v, err)
	}
	if units, err := st.LoadUnits(ctx); err != nil || len(units) != 0 {
		t.Fatalf("LoadUnits before any load: %d units (err %v), want none", len(units), err)
	}
}

func TestLoadCityWritesEveryRow(t *testing.T) {
	st := openFresh(t)
	ctx := context.Background()
	city := testcity.City(t)
	stats, err := st.LoadCity(ctx, city, testKeys(t))
	if err != nil {
		t.Fatal(err)
	}
	want := cityCounts(city)
	got := map[string]int64{
		"grid_units": stats.Units, "buildings": stats.Buildings, "households": stats.Households,
		"persons": stats.Persons, "organizations": stats.Organizations,
	}
	var total int64
	for table, n := range want {
		if got[table] != n {
			t.Errorf("LoadStats %s = %d, the city has %d", table, got[table], n)
		}
		total += n
	}
	if stats.Rows() != total {
		t.Errorf("Rows() = %d, want %d", stats.Rows(), total)
	}
	if stats.Elapsed <= 0 {
		t.Errorf("Elapsed = %v", stats.Elapsed)
	}
	if counts := tableCounts(t, st); !mapsEqual(counts, want) {
		t.Errorf("tables hold %v, the city has %v", counts, want)
	}
	// ID numbers are stored blinded and sealed, never in clear.
	keys := testKeys(t)
	p := city.Persons[len(city.Persons)/2]
	var name string
	var enc []byte
	if err := st.Pool.QueryRow(ctx, `SELECT name, id_enc FROM persons WHERE id_hmac = $1`, keys.Blind(p.IDNumber)).Scan(&name, &enc); err != nil {
		t.Fatalf("person by blind index: %v", err)
	}
	if opened, err := keys.Open(enc); err != nil || opened != p.IDNumber || name != p.Name {
		t.Errorf("person %d: name %q, opened ID %q (err %v); want %q, %q", p.ID, name, opened, err, p.Name, p.IDNumber)
	}
	if bytes.Contains(enc, []byte(p.IDNumber)) {
		t.Error("id_enc holds the ID number in clear")
	}
}

func TestLoadUnitsRoundTrips(t *testing.T) {
	st := openFresh(t)
	ctx := context.Background()
	city := testcity.City(t)
	if _, err := st.LoadCity(ctx, city, testKeys(t)); err != nil {
		t.Fatal(err)
	}
	got, err := st.LoadUnits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(city.Units)
	slices.SortFunc(want, func(a, b grid.Unit) int {
		if a.Level != b.Level {
			return int(a.Level) - int(b.Level)
		}
		return strings.Compare(a.Code, b.Code)
	})
	if len(got) != len(want) {
		t.Fatalf("LoadUnits gave %d units, the city has %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Code != w.Code || g.Name != w.Name || g.Level != w.Level || g.Kind != w.Kind || g.Parent != w.Parent ||
			g.Households != w.Households || g.Residents != w.Residents || !slices.Equal(g.Warnings, w.Warnings) {
			t.Fatalf("unit %d: got %+v, want %+v", i, withoutPolygon(g), withoutPolygon(w))
		}
		if len(g.Polygon) == 0 || !g.Polygon.Equal(w.Polygon) {
			t.Fatalf("unit %s: polygon did not round-trip:\n got %v\nwant %v", w.Code, g.Polygon, w.Polygon)
		}
	}
}

func TestSecondLoadReplacesAndBumpsVersion(t *testing.T) {
	st := openFresh(t)
	ctx := context.Background()
	keys := testKeys(t)
	first := testcity.City(t)
	if _, err := st.LoadCity(ctx, first, keys); err != nil {
		t.Fatal(err)
	}
	v1, err := st.RegistryVersion(ctx)
	if err != nil || v1 <= 0 {
		t.Fatalf("version after the first load = %d (err %v), want > 0", v1, err)
	}
	second, err := synth.Generate(synth.Options{Scale: synth.ScaleDemo, Residents: testcity.Residents / 2, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(second.Persons) == len(first.Persons) {
		t.Fatalf("the two cities have the same number of residents (%d): the test cannot tell replace from keep", len(first.Persons))
	}
	if _, err := st.LoadCity(ctx, second, keys); err != nil {
		t.Fatal(err)
	}
	v2, err := st.RegistryVersion(ctx)
	if err != nil || v2 <= v1 {
		t.Fatalf("version after the second load = %d (err %v), want > %d", v2, err, v1)
	}
	if counts, want := tableCounts(t, st), cityCounts(second); !mapsEqual(counts, want) {
		t.Errorf("after the second load the tables hold %v, want the second city's %v", counts, want)
	}
	// Nobody of the first city is left (seeds differ, so ID numbers do).
	var n int
	if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM persons WHERE id_hmac = $1`, keys.Blind(first.Persons[0].IDNumber)).Scan(&n); err != nil {
		t.Fatal(err)
	}
	secondHas := slices.ContainsFunc(second.Persons, func(p synth.Person) bool { return p.IDNumber == first.Persons[0].IDNumber })
	if n != 0 && !secondHas {
		t.Errorf("a resident of the first city is still loaded after the second load")
	}
	var seeds int
	if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM seeds`).Scan(&seeds); err != nil || seeds != 2 {
		t.Errorf("seeds has %d rows (err %v), want one per load (2)", seeds, err)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func withoutPolygon(u grid.Unit) grid.Unit {
	u.Polygon = nil
	return u
}
