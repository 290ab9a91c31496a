package findings_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/findings"
	"github.com/gridhub/gridhub/internal/linkage"
	"github.com/gridhub/gridhub/internal/linkage/linkagetest"
)

// score is found, missed and false of one kind.
type score struct {
	Kind                 string
	Truth, Found, Missed int
	False                int
	missed, false_       []string
}

// measure syncs the city's departments with findings on and compares each
// kind's open findings with the generator's truth.
func measure(t testing.TB, c *linkagetest.City) []score {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c.Findings = findings.Default().For(c.Depts)
	if _, err := c.Syncer(nil).SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	truth := truthOf(t, ctx, c)
	got := map[string]map[string]bool{}
	rows, err := c.Fixture.Store.Pool.Query(ctx, `SELECT kind, key FROM findings WHERE closed_at IS NULL`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k, key string
		if err := rows.Scan(&k, &key); err != nil {
			t.Fatal(err)
		}
		if got[k] == nil {
			got[k] = map[string]bool{}
		}
		got[k][key] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var out []score
	for _, k := range c.Findings.Names() {
		s := score{Kind: k, Truth: len(truth[k])}
		for key := range truth[k] {
			if got[k][key] {
				s.Found++
			} else {
				s.Missed++
				s.missed = append(s.missed, key)
			}
		}
		for key := range got[k] {
			if !truth[k][key] {
				s.False++
				s.false_ = append(s.false_, key)
			}
		}
		sort.Strings(s.missed)
		sort.Strings(s.false_)
		out = append(out, s)
	}
	return out
}

// truthOf is what the generator planted, per kind of the built-in catalogue,
// as the keys the engine gives its findings.
func truthOf(t testing.TB, ctx context.Context, c *linkagetest.City) map[string]map[string]bool {
	t.Helper()
	ds := c.Dataset
	cat := findings.Default()
	out := map[string]map[string]bool{}
	add := func(kind, key string) {
		if out[kind] == nil {
			out[kind] = map[string]bool{}
		}
		out[kind][key] = true
	}
	person := func(id int64) string { return "p" + strconv.FormatInt(id, 10) }
	// Deaths: the records other departments keep active after one.
	for _, d := range ds.Truth.Deaths {
		for kind, set := range map[string]string{
			"deceasedWithPension": deptsim.SocialSecurity + ".pension",
			"deceasedWithDibao":   deptsim.CivilAffairs + ".dibao",
			"deceasedPartyMember": deptsim.PartyBuilding + ".membership",
		} {
			if slices.Contains(d.StillActive, set) {
				add(kind, person(d.PersonID))
			}
		}
	}
	// The master index: each person's grid and household, each building's grid.
	grids, households := map[int64]string{}, map[int64]int64{}
	rows, err := c.Fixture.Store.Pool.Query(ctx, `SELECT id, grid_code, household_id FROM persons`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, h int64
		var g string
		if err := rows.Scan(&id, &g, &h); err != nil {
			t.Fatal(err)
		}
		grids[id], households[id] = g, h
	}
	buildings := map[string]string{}
	rows, err = c.Fixture.Store.Pool.Query(ctx, `SELECT address, grid_code FROM buildings`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a, g string
		if err := rows.Scan(&a, &g); err != nil {
			t.Fatal(err)
		}
		buildings[linkage.BuildingKey(a)] = g
	}
	// Duplicate rows and stale addresses, in the sets the kinds look at.
	dupSets, _ := cat.Lookup("duplicateRecord")
	addrSets, _ := cat.Lookup("addressInOtherGrid")
	for _, n := range ds.Truth.Noise {
		set := n.Dept + "." + n.Set
		switch {
		case n.Kind == deptsim.NoiseDuplicate && slices.Contains(dupSets.Duplicate.Sets, set):
			add("duplicateRecord", set+"/"+person(n.PersonID))
		case n.Kind == deptsim.NoiseStaleAddress && slices.Contains(addrSets.Address.Sets, set):
			if g, ok := buildings[linkage.BuildingKey(n.Source)]; ok && g != grids[n.PersonID] {
				add("addressInOtherGrid", set+"/"+person(n.PersonID))
			}
		}
	}
	// 低保 households with a member's pension above the line.
	line, _ := cat.Figure("dibaoLine")
	active := map[int64]bool{}
	for _, d := range ds.CivilAffairs.Dibao {
		if d.Status == "ACTIVE" {
			active[households[d.PersonID]] = true
		}
	}
	for _, p := range ds.SocialSecurity.Pension {
		if h := households[p.PersonID]; p.Status == "RECEIVING" && float64(p.MonthlyBenefit)/100 > line.Value && active[h] {
			add("dibaoPensionAboveLine", "h"+strconv.FormatInt(h, 10))
		}
	}
	// Overdue open cases the case system gave no grid: a case with no party
	// comes in cases too (its set is keyless).
	ids := ds.FeedIDs()
	for _, cs := range ds.UrbanManagement.Cases {
		if cs.Overdue && cs.Stage != "CLOSED" && cs.GridCode == "" {
			set := "cases"
			if cs.PartyType == deptsim.PartyOrganization {
				set = "orgCases"
			}
			add("overdueCaseWithoutGrid", deptsim.UrbanManagement+"."+set+"/"+deptsim.FeedID(ids, deptsim.UrbanManagement, set, cs.Row))
		}
	}
	return out
}

func (s score) String() string {
	return fmt.Sprintf("%-24s truth %4d found %4d missed %3d false %3d", s.Kind, s.Truth, s.Found, s.Missed, s.False)
}

// The done-when of findings on the small test city through the real
// connectors, record linkage and the fact sync: for every kind the generator
// plants, none missed and none false.
func TestFindingsAgainstTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the six department simulators")
	}
	c := linkagetest.Start(t)
	for _, s := range measure(t, c) {
		t.Log(s)
		if s.Missed > 0 {
			t.Errorf("%s: missed %d of %d: %v", s.Kind, s.Missed, s.Truth, first(s.missed))
		}
		if s.False > 0 {
			t.Errorf("%s: %d false: %v", s.Kind, s.False, first(s.false_))
		}
	}

	// A finding closes when the data no longer shows it: the duplicate rows
	// of one person gone, the next refresh closes it and leaves the others.
	ctx := context.Background()
	pool := c.Fixture.Store.Pool
	var id int64
	var dept, set string
	var pid int64
	if err := pool.QueryRow(ctx, `SELECT id, department, set, person_id FROM findings
		WHERE kind = 'duplicateRecord' AND closed_at IS NULL ORDER BY id LIMIT 1`).Scan(&id, &dept, &set, &pid); err != nil {
		t.Fatal(err)
	}
	open := func() (n int) {
		pool.QueryRow(ctx, `SELECT count(*) FROM findings WHERE closed_at IS NULL`).Scan(&n)
		return n
	}
	before := open()
	// The findings of the same kinds in other departments' sets, with
	// when they were last seen.
	others := func() (out []string) {
		rows, _ := pool.Query(ctx, `SELECT id || ' ' || seen_at FROM findings WHERE closed_at IS NULL
			AND kind IN ('duplicateRecord', 'addressInOtherGrid', 'notInMasterIndex') AND department <> $1 ORDER BY id`, dept)
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	othersBefore := others()
	if len(othersBefore) == 0 {
		t.Fatalf("no finding of another department than %s to watch", dept)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `DELETE FROM facts WHERE department = $1 AND set = $2 AND person_id = $3`, dept, set, pid); err != nil {
		t.Fatal(err)
	}
	n, err := findings.NewEngine(c.Findings, nil).Refresh(ctx, tx, dept, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var closed bool
	if err := pool.QueryRow(ctx, `SELECT closed_at IS NOT NULL FROM findings WHERE id = $1`, id).Scan(&closed); err != nil {
		t.Fatal(err)
	}
	if !closed || n < 1 || open() >= before {
		t.Errorf("after the rows went: finding %d closed %v, %d changed, open %d (before %d)", id, closed, n, open(), before)
	}
	// A change to one department's records searches that department's
	// sets again, not the others': their findings were not seen again.
	if after := others(); !slices.Equal(after, othersBefore) {
		t.Errorf("a change to %s touched the findings of other departments: %d before, %d after, first %v -> %v",
			dept, len(othersBefore), len(after), othersBefore[0], after[0])
	}
}

func first(keys []string) []string {
	if len(keys) > 5 {
		return keys[:5]
	}
	return keys
}
