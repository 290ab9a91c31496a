package indicators_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/disclosure"
	"github.com/gridhub/gridhub/internal/factsync/factsynctest"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
)

func TestCatalogueFamilies(t *testing.T) {
	cat := indicators.Default()
	for name, want := range map[string][]string{
		"residents80Plus":  {"residents", "residents18Plus", "residents60Plus", "residents80Plus"},
		"residents":        {"residents", "residents18Plus", "residents60Plus", "residents80Plus"},
		"dibaoPersons":     {"dibaoPersons", "dibaoHouseholds"},
		"pensionReceiving": {"pensionInsured", "pensionReceiving"},
		"overdueCases":     {"urbanCases", "openCases", "overdueCases"},
		"partyMembers":     {"partyMembers", "probationaryMembers", "outOfContactMembers"},
		"households":       {"households"},
		// The findings total is the sum of the kinds, and related to no
		// department count (they are recomputed at different times).
		"findingsDeceasedWithPension": {"findingsDeceasedWithPension", "findingsDeceasedWithDibao", "findingsDeceasedPartyMember",
			"findingsDuplicateRecord", "findingsAddressInOtherGrid", "findingsNotInMasterIndex", "findingsDibaoPensionAboveLine",
			"findingsOverdueCaseWithoutGrid", "findingsOpen"},
		"pensionCoverageRate": nil,
		"unicorns":            nil,
	} {
		if got := cat.Family(name); !slices.Equal(got, want) {
			t.Errorf("Family(%s) = %v, want %v", name, got, want)
		}
	}

	// Serving a catalogue to departments that lack one: a sum with a part
	// that goes goes with it; a subset of a count that goes loses the
	// relation and stays.
	cat, err := indicators.Parse([]byte(`- {name: residents, label: l, department: core, unit: 人, definition: d, count: {of: persons}}
- {name: floating, label: l, department: health, unit: 人, definition: d, count: {of: facts, sets: [floating], distinct: person}}
- {name: s, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 3}, sumOf: [residents, floating]}
- {name: u, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 5}, subsetOf: [floating, residents]}
`))
	if err != nil {
		t.Fatal(err)
	}
	all, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	depts := slices.DeleteFunc(slices.Clone(all), func(d *connectors.Department) bool { return d.Code == "health" })
	got := cat.For(depts)
	if names := got.Names(); !slices.Equal(names, []string{"residents", "u"}) {
		t.Errorf("For without health: %v, want [residents u]", names)
	}
	if u, _ := got.Lookup("u"); !slices.Equal(u.SubsetOf, []string{"residents"}) {
		t.Errorf("For without health: u is a subset of %v, want [residents]", u.SubsetOf)
	}
	if u, _ := cat.Lookup("u"); len(u.SubsetOf) != 2 {
		t.Errorf("For modified the catalogue it was called on: %v", u.SubsetOf)
	}
}

// testRelatedSuppression attacks the published tables across related counts:
// for every family of the built-in catalogue (80+ <= 60+ <= 18+ <= residents,
// households on 低保 <= persons on 低保, ...), every primary cell must still be
// able to be 0 and to be at least the threshold in some table of the whole
// family that agrees with every published cell at every level, the
// additivity of every count and every relation. The disclosure package's
// audit (Protection) finds the two tables for each primary cell; this test
// checks every one of them itself, from the published tables and the
// catalogue, trusting nothing of the package.
func testRelatedSuppression(t *testing.T, e *env) {
	ctx := context.Background()
	cat := indicators.Default()
	want := truth(e.fx.City, e.ds, e.ix, factsynctest.Day)
	units := allUnits(e.ix)

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

	seen := map[string]bool{}
	families, primaries, related := 0, 0, 0
	for _, in := range cat.All() {
		fam := cat.Family(in.Name)
		if len(fam) < 2 || seen[fam[0]] {
			continue
		}
		seen[fam[0]] = true
		families++

		vals := map[string]map[string]int64{} // count -> code -> true value
		counts := make([]disclosure.Count, len(fam))
		var relations []disclosure.Relation
		sup := map[string]map[string]bool{}
		for k, name := range fam {
			m, _ := cat.Lookup(name)
			vals[name] = rollUp(e.ix, want[name])
			nodes := make([]disclosure.Node, len(units))
			sup[name] = map[string]bool{}
			for i, u := range units {
				nodes[i] = disclosure.Node{Code: u.Code, Parent: u.Parent, Value: vals[name][u.Code]}
			}
			for _, u := range append([]grid.Unit{{Code: ""}}, units...) {
				if published[key{u.Code, name}].Suppressed {
					sup[name][u.Code] = true
				}
			}
			counts[k] = disclosure.Count{Name: name, Nodes: nodes, Rule: disclosure.Rule{Threshold: m.Threshold, SuppressZero: m.SuppressZero}}
			for _, o := range m.SubsetOf {
				relations = append(relations, disclosure.Relation{Count: name, Kind: disclosure.SubsetOf, Of: []string{o}})
			}
			if len(m.SumOf) > 0 {
				relations = append(relations, disclosure.Relation{Count: name, Kind: disclosure.SumOf, Of: m.SumOf})
			}
		}
		proofs, err := disclosure.Protection(counts, relations, sup)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range proofs {
			primaries++
			th := int64(disclosure.DefaultThreshold)
			if m, _ := cat.Lookup(p.Count); m.Threshold > 0 {
				th = m.Threshold
			}
			// The cell is exercised by a relation when a count related to
			// it is withheld in the same unit.
			for _, r := range relations {
				if r.Count == p.Count && sup[r.Of[0]][p.Code] || slices.Contains(r.Of, p.Count) && sup[r.Count][p.Code] {
					related++
					break
				}
			}
			for _, side := range []struct {
				name  string
				table map[string]map[string]int64
				ok    func(int64) bool
			}{
				{"0", p.Zero, func(v int64) bool { return v == 0 }},
				{fmt.Sprintf(">= %d", th), p.High, func(v int64) bool { return v >= th }},
			} {
				if side.table == nil {
					t.Errorf("%s %s = %d (withheld %v): no table where it is %s: an attacker can tell", p.Count, p.Code, vals[p.Count][p.Code], sup[p.Count][p.Code], side.name)
					continue
				}
				if v := side.table[p.Count][p.Code]; !side.ok(v) {
					t.Errorf("%s %s: the table for %s has %d", p.Count, p.Code, side.name, v)
				}
				if err := consistent(units, fam, relations, sup, vals, side.table); err != nil {
					t.Errorf("%s %s: the table for %s is not consistent with what is published: %v", p.Count, p.Code, side.name, err)
				}
			}
		}
	}
	if families < 5 {
		t.Errorf("%d families of related counts in the built-in catalogue, want 5", families)
	}
	if related == 0 {
		t.Error("no primary cell has a related count withheld beside it: the relations are not exercised")
	}
	t.Logf("%d families, %d primary cells protected, %d of them with a related count withheld in the same unit", families, primaries, related)
}

// consistent checks a table of withheld cells of a family (those it leaves
// out at their true values) against everything an attacker knows: every published cell (vals, where not
// withheld), counts that are non-negative, every unit the sum of its
// children and the grand total the sum of the districts, and every
// relation at every unit.
func consistent(units []grid.Unit, fam []string, relations []disclosure.Relation, sup map[string]map[string]bool, vals, table map[string]map[string]int64) error {
	codes := []string{""}
	kids := map[string][]string{}
	for _, u := range units {
		codes = append(codes, u.Code)
		kids[u.Parent] = append(kids[u.Parent], u.Code)
	}
	for name, cells := range table {
		for code := range cells {
			if !sup[name][code] {
				return fmt.Errorf("a value for %s %q, which is published", name, code)
			}
		}
	}
	value := func(name, code string) (int64, error) {
		if !sup[name][code] {
			return vals[name][code], nil
		}
		if v, ok := table[name][code]; ok {
			return v, nil
		}
		return vals[name][code], nil // not moved by the proof
	}
	for _, name := range fam {
		for _, code := range codes {
			v, err := value(name, code)
			if err != nil {
				return err
			}
			if v < 0 {
				return fmt.Errorf("%s %q = %d", name, code, v)
			}
			if len(kids[code]) == 0 {
				continue
			}
			var sum int64
			for _, c := range kids[code] {
				w, err := value(name, c)
				if err != nil {
					return err
				}
				sum += w
			}
			if sum != v {
				return fmt.Errorf("%s %q = %d, its children sum to %d", name, code, v, sum)
			}
		}
	}
	for _, r := range relations {
		for _, code := range codes {
			a, _ := value(r.Count, code)
			var b int64
			for _, o := range r.Of {
				w, _ := value(o, code)
				b += w
			}
			if r.Kind == disclosure.SubsetOf && a > b || r.Kind == disclosure.SumOf && a != b {
				return fmt.Errorf("%s %q = %d against %v = %d", r.Count, code, a, r.Of, b)
			}
		}
	}
	return nil
}

// testPlantedRelation plants the review's attack in the city and serves it
// through the Service: two counts, households (h) at most persons (p) in
// every unit, zero everywhere except three grids of one community, with h =
// 4, 7, 0 and p = 6, 7, 1. Each count suppressed alone withholds h's 4 with
// the 7 beside it and p's 1 with the 6, and publishes p's 7: then h's 7 is at
// most 7, so h's 4 is at least 11 - 7 = 4, and an attacker knows it is not
// 0. With the relation declared, the service decides both together and the
// published tables leave the 4 free to be 0 and 5 or more. Without it, the
// same data are served unsafely, which the attack below detects: that is
// the check that the test can fail.
func testPlantedRelation(t *testing.T, e *env) {
	ctx := context.Background()
	var community grid.Unit
	for _, c := range e.ix.Units(grid.Community) {
		if len(e.ix.Children(c.Code)) >= 3 {
			community = c
			break
		}
	}
	if community.Code == "" {
		t.Fatal("no community of the test city has three grids")
	}
	g := e.ix.Children(community.Code)[:3]
	planted := map[string][3]int64{"plantedHouseholds": {4, 7, 0}, "plantedPersons": {6, 7, 1}}
	for name, vals := range planted {
		for i, v := range vals {
			if v == 0 {
				continue // a missing row is zero
			}
			if _, err := e.fx.Store.Pool.Exec(ctx, `INSERT INTO indicator_cells (name, grid_code, value) VALUES ($1, $2, $3)`, name, g[i].Code, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(func() {
		if _, err := e.fx.Store.Pool.Exec(context.Background(), `DELETE FROM indicator_cells WHERE name = ANY($1)`, []string{"plantedHouseholds", "plantedPersons"}); err != nil {
			t.Error(err)
		}
	})

	// attack is what an attacker proves of h's first grid from the grid
	// table of the community: at least the community's h less the published
	// h of its other grids, less, for each other withheld grid, the most it
	// can be, which is p there when p is published.
	attack := func(subset string) int64 {
		cat, err := indicators.Parse([]byte(`- {name: plantedPersons, label: l, department: core, unit: 人, definition: d, count: {of: persons, minAge: 1}}
- {name: plantedHouseholds, label: l, department: core, unit: 户, definition: d, count: {of: persons, minAge: 2}` + subset + `}
`))
		if err != nil {
			t.Fatal(err)
		}
		svc := indicators.NewService(e.fx.Store.Pool, cat, e.reg, indicators.Options{Logger: quiet()})
		tab, err := svc.Table(ctx, grid.Grid, community.Code, []string{"plantedHouseholds", "plantedPersons"})
		if err != nil {
			t.Fatal(err)
		}
		h, p := tab.Totals[0], tab.Totals[1]
		if h.Suppressed || p.Suppressed || *h.Value != 11 {
			t.Fatalf("the community's totals are %v and %v, want 11 and 14 published", h, p)
		}
		lo := int64(*h.Value)
		for _, r := range tab.Rows {
			if r.Unit.Code == g[0].Code {
				if !r.Values[0].Suppressed {
					t.Fatalf("h = 4 is published in %s", r.Unit.Code)
				}
				continue
			}
			switch hc, pc := r.Values[0], r.Values[1]; {
			case !hc.Suppressed:
				lo -= int64(*hc.Value)
			case !pc.Suppressed:
				lo -= int64(*pc.Value)
			default:
				return 0 // unbounded by anything published
			}
		}
		return lo
	}
	if lo := attack(""); lo < 1 {
		t.Errorf("without the relation declared, the attack proves h >= %d: the planted case does not reproduce the review's attack", lo)
	}
	if lo := attack(", subsetOf: [plantedPersons]"); lo > 0 {
		t.Errorf("with the relation declared, the published tables prove h >= %d in %s", lo, g[0].Code)
	}
}
