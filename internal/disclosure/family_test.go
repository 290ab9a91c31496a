package disclosure

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// related is a test family: counts over one hierarchy (the same codes and
// parents, in the same order), their rules, and the relations between them by
// index: subsets holds pairs {a, b} with count a <= count b in every unit, sums
// holds {a, b, c, ...} with count a = b + c + ... in every unit.
type related struct {
	counts  [][]Node
	rules   []Rule
	subsets [][2]int
	sums    [][]int
}

// suppressJointly is the suppression under test: one set of withheld codes
// per count.
func suppressJointly(f related) ([]map[string]bool, error) {
	counts, relations := f.family()
	sup, err := SuppressFamily(counts, relations)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]bool, len(f.counts))
	for k := range f.counts {
		out[k] = sup[counts[k].Name]
	}
	return out, nil
}

// family is f in the package's terms; count k is named "c<k>".
func (f related) family() ([]Count, []Relation) {
	counts := make([]Count, len(f.counts))
	for k, nodes := range f.counts {
		counts[k] = Count{Name: fmt.Sprintf("c%d", k), Nodes: nodes, Rule: f.rules[k]}
	}
	var relations []Relation
	for _, r := range f.subsets {
		relations = append(relations, Relation{Count: counts[r[0]].Name, Kind: SubsetOf, Of: []string{counts[r[1]].Name}})
	}
	for _, r := range f.sums {
		rel := Relation{Count: counts[r[0]].Name, Kind: SumOf}
		for _, k := range r[1:] {
			rel.Of = append(rel.Of, counts[k].Name)
		}
		relations = append(relations, rel)
	}
	return counts, relations
}

// familySearch enumerates by brute force every integer assignment of the
// withheld cells of a family that agrees with everything an attacker knows:
// the published cells of every count at every unit and the grand totals, the
// additivity of every count (parent = sum of children, the grand total the
// sum of the top-level units), the relations at every unit, and that counts
// are non-negative. It shares nothing with the package. Cells are assigned
// top-down, unit by unit, every count of a unit together, and every equation
// and relation is checked as soon as its cells are known; a withheld cell
// ranges over [0, its parent's value], or [0, limit] for a withheld grand
// total. It returns, for every withheld cell (count, code), the set of values
// it takes over all the assignments.
type familySearch struct {
	f      related
	sup    []map[string]bool
	codes  []string // units, the grand total first, parents before children
	parent []int    // -1 for the grand total
	kids   [][]int
	value  [][]int64 // [count][unit]: the true values
	limit  int64
}

type searchCell struct{ k, u int }

func newFamilySearch(f related, sup []map[string]bool, limit int64) *familySearch {
	s := &familySearch{f: f, sup: sup, codes: []string{GrandTotal}, parent: []int{-1}, limit: limit}
	idx := map[string]int{GrandTotal: 0}
	for _, nd := range f.counts[0] {
		idx[nd.Code] = len(s.codes)
		s.codes = append(s.codes, nd.Code)
	}
	s.kids = make([][]int, len(s.codes))
	for _, nd := range f.counts[0] {
		p := idx[nd.Parent]
		s.parent = append(s.parent, p)
		s.kids[p] = append(s.kids[p], idx[nd.Code])
	}
	for _, nodes := range f.counts {
		v := make([]int64, len(s.codes))
		for _, nd := range nodes {
			v[idx[nd.Code]] = nd.Value
			if nd.Parent == "" {
				v[0] += nd.Value
			}
		}
		s.value = append(s.value, v)
	}
	return s
}

// run returns the values every withheld cell takes, keyed by count and code.
func (s *familySearch) run() map[searchCell]map[int64]bool {
	// The unknowns, top-down (genTree lists parents before children).
	var order []searchCell
	for u := range s.codes {
		for k := range s.f.counts {
			if s.sup[k][s.codes[u]] {
				order = append(order, searchCell{k, u})
			}
		}
	}
	known := make([][]bool, len(s.f.counts))
	cur := make([][]int64, len(s.f.counts))
	for k := range s.f.counts {
		known[k] = make([]bool, len(s.codes))
		cur[k] = slices.Clone(s.value[k])
		for u, code := range s.codes {
			known[k][u] = !s.sup[k][code]
		}
	}
	// ok checks every constraint on unit u once its cells are known, and
	// that the known children of u's parent do not exceed it.
	equation := func(k, p int) bool {
		if len(s.kids[p]) == 0 {
			return true
		}
		var sum int64
		all := true
		for _, c := range s.kids[p] {
			if known[k][c] {
				sum += cur[k][c]
			} else {
				all = false
			}
		}
		if !known[k][p] {
			return true
		}
		if all {
			return sum == cur[k][p]
		}
		return sum <= cur[k][p]
	}
	relations := func(u int) bool {
		for _, r := range s.f.subsets {
			if known[r[0]][u] && known[r[1]][u] && cur[r[0]][u] > cur[r[1]][u] {
				return false
			}
		}
		for _, r := range s.f.sums {
			all := true
			var sum int64
			for _, k := range r[1:] {
				all = all && known[k][u]
				sum += cur[k][u]
			}
			if all && known[r[0]][u] && cur[r[0]][u] != sum {
				return false
			}
		}
		return true
	}
	ok := func(c searchCell) bool {
		if !equation(c.k, c.u) || !relations(c.u) {
			return false
		}
		return c.u == 0 || equation(c.k, s.parent[c.u])
	}
	out := map[searchCell]map[int64]bool{}
	var search func(q int)
	search = func(q int) {
		if q == len(order) {
			for _, c := range order {
				if out[c] == nil {
					out[c] = map[int64]bool{}
				}
				out[c][cur[c.k][c.u]] = true
			}
			return
		}
		c := order[q]
		hi := s.limit
		if c.u > 0 {
			hi = cur[c.k][s.parent[c.u]] // known: parents come first
		}
		known[c.k][c.u] = true
		for v := int64(0); v <= hi; v++ {
			cur[c.k][c.u] = v
			if ok(c) {
				search(q + 1)
			}
		}
		known[c.k][c.u] = false
		cur[c.k][c.u] = s.value[c.k][c.u]
	}
	search(0)
	return out
}

// genSubsetPair builds two counts on one small random hierarchy, the first a
// subset of the second in every grid: the second's grid counts are small, and
// the first's are the second's less a few (often none), like households and
// persons on 低保, where most households have one member on it.
func genSubsetPair(r *rand.Rand) related {
	sup := genTree(r, shape{fan: []int{1, 3, 3, 2}, leaf: func(r *rand.Rand) int64 { return r.Int64N(8) }})
	sub := slices.Clone(sup)
	for i := range sub {
		sub[i].Value = max(0, sub[i].Value-r.Int64N(3))
	}
	sumUp(sub)
	rules := []Rule{{}, {}}
	if r.IntN(4) == 0 {
		rules[r.IntN(2)] = Rule{Threshold: 2 + r.Int64N(5), SuppressZero: r.IntN(3) == 0}
	}
	return related{counts: [][]Node{sub, sup}, rules: rules, subsets: [][2]int{{0, 1}}}
}

// genChain builds three counts, each a subset of the next (80+, 60+, 18+),
// on a smaller hierarchy.
func genChain(r *rand.Rand) related {
	top := genTree(r, shape{fan: []int{1, 2, 3, 2}, leaf: func(r *rand.Rand) int64 { return r.Int64N(8) }})
	mid, low := slices.Clone(top), slices.Clone(top)
	for i := range top {
		mid[i].Value = max(0, top[i].Value-r.Int64N(3))
		low[i].Value = max(0, mid[i].Value-r.Int64N(3))
	}
	sumUp(mid)
	sumUp(low)
	return related{counts: [][]Node{low, mid, top}, rules: []Rule{{}, {}, {}}, subsets: [][2]int{{0, 1}, {1, 2}}}
}

// genSum builds a count that is the sum of two others in every grid (all
// disabled persons, grades 1-2 and 3-4).
func genSum(r *rand.Rand) related {
	b := genTree(r, shape{fan: []int{1, 2, 3, 2}, leaf: func(r *rand.Rand) int64 { return r.Int64N(5) }})
	c, a := slices.Clone(b), slices.Clone(b)
	for i := range b {
		c[i].Value = r.Int64N(5)
		a[i].Value = b[i].Value + c[i].Value
	}
	sumUp(c)
	sumUp(a)
	return related{counts: [][]Node{a, b, c}, rules: []Rule{{}, {}, {}}, sums: [][]int{{0, 1, 2}}}
}

// suppressedLeafCount is the number of withheld cells without children over
// every count of the family: what the brute-force search grows with.
func suppressedLeafCount(f related, sup []map[string]bool) int {
	n := 0
	for k := range f.counts {
		n += suppressedLeaves(f.counts[k], sup[k])
	}
	return n
}

// TestRelatedNoInference is the brute-force attack on related counts: for
// many small random hierarchies carrying related counts, every integer table
// of all of them that agrees with what is published, the additivity of each
// and the relations is enumerated, and every primary cell must still take 0
// and a value at or above its threshold. Differencing one count's tree
// cannot do this, the relations between counts can: a withheld complement of
// a subset is capped by the published cell of its superset beside it, which
// pins the primary cell from below. The subset pair is the review's attack
// (households and persons on 低保); the chain and the sum are the other
// shapes the catalogue can declare.
func TestRelatedNoInference(t *testing.T) {
	for _, tc := range []struct {
		name  string
		gen   func(*rand.Rand) related
		top   int // the count whose published total bounds every cell
		cases int
	}{
		{"subset pair", genSubsetPair, 1, 300},
		{"chain of three", genChain, 2, 150},
		{"sum of two", genSum, 0, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(21, 22))
			cases, primaries, joint := 0, 0, 0
			for tries := 0; cases < tc.cases && tries < 20000; tries++ {
				f := tc.gen(r)
				sup, err := suppressJointly(f)
				if err != nil {
					t.Fatal(err)
				}
				if sup[tc.top][GrandTotal] {
					continue // the total that bounds the search is withheld: not enumerable
				}
				if suppressedLeafCount(f, sup) > 7 {
					continue // the search grows as the values to the power of these
				}
				s := newFamilySearch(f, sup, 0)
				s.limit = s.value[tc.top][0]
				sets := s.run()
				cases++
				for k, nodes := range f.counts {
					if alone, _ := Suppress(nodes, f.rules[k]); len(alone) < len(sup[k]) {
						joint++ // the relations withheld more than the count's own tree
					}
					th, _ := f.rules[k].threshold()
					check := func(code string, u int) {
						v := s.value[k][u]
						if !primary(v, th, f.rules[k].SuppressZero) {
							return
						}
						primaries++
						if !sup[k][code] {
							t.Fatalf("count %d: primary cell %s = %d is published", k, code, v)
						}
						vals := sets[searchCell{k, u}]
						high := false
						for x := range vals {
							high = high || x >= th
						}
						if !vals[0] || !high {
							t.Fatalf("count %d: primary cell %q = %d (threshold %d) is pinned to %v by the other count\n%s",
								k, code, v, th, sortedValues(vals), describe(f, sup))
						}
					}
					check(GrandTotal, 0)
					for u := range nodes {
						check(nodes[u].Code, u+1)
					}
				}
			}
			if cases < tc.cases/3 || primaries == 0 || joint == 0 {
				t.Fatalf("only %d cases with %d primary cells, %d counts with complements for relations: the attack is not exercised", cases, primaries, joint)
			}
			t.Logf("%d families attacked, %d primary cells protected, %d counts needed complements for the relations", cases, primaries, joint)
		})
	}
}

func sortedValues(set map[int64]bool) []int64 {
	var out []int64
	for v := range set {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// describe prints a family as a table: one line per unit, each count's value
// with a * when withheld.
func describe(f related, sup []map[string]bool) string {
	s := fmt.Sprintf("rules %v, subsets %v, sums %v\n", f.rules, f.subsets, f.sums)
	row := func(code, parent string, vals []int64) {
		s += fmt.Sprintf("  %-18q < %-15q", code, parent)
		for k, v := range vals {
			mark := " "
			if sup[k][code] {
				mark = "*"
			}
			s += fmt.Sprintf(" %4d%s", v, mark)
		}
		s += "\n"
	}
	totals := make([]int64, len(f.counts))
	for k, nodes := range f.counts {
		for _, nd := range nodes {
			if nd.Parent == "" {
				totals[k] += nd.Value
			}
		}
	}
	row(GrandTotal, "-", totals)
	for i, nd := range f.counts[0] {
		vals := make([]int64, len(f.counts))
		for k := range f.counts {
			vals[k] = f.counts[k][i].Value
		}
		row(nd.Code, nd.Parent, vals)
	}
	return s
}

// tableChecker checks tables of withheld cells of a family (count name ->
// code -> value; the withheld cells a table leaves out at their true values)
// against everything an attacker knows, sharing nothing with the package:
// every published cell, counts that are non-negative, every unit the sum of
// its children and the grand total the sum of the top-level units, and
// every relation at every unit.
type tableChecker struct {
	counts    []Count
	relations []Relation
	sup       map[string]map[string]bool
	idx       map[string]int // code -> unit, the grand total 0
	kids      [][]int
	value     map[string][]int64 // the true values
}

func newTableChecker(counts []Count, relations []Relation, sup map[string]map[string]bool) *tableChecker {
	c := &tableChecker{counts: counts, relations: relations, sup: sup, idx: map[string]int{GrandTotal: 0}, value: map[string][]int64{}}
	for i, nd := range counts[0].Nodes {
		c.idx[nd.Code] = i + 1
	}
	c.kids = make([][]int, len(counts[0].Nodes)+1)
	for i, nd := range counts[0].Nodes {
		p := c.idx[nd.Parent]
		c.kids[p] = append(c.kids[p], i+1)
	}
	for _, cnt := range counts {
		v := make([]int64, len(c.kids))
		for _, nd := range cnt.Nodes {
			v[c.idx[nd.Code]] = nd.Value
			if nd.Parent == GrandTotal {
				v[0] += nd.Value
			}
		}
		c.value[cnt.Name] = v
	}
	return c
}

func (c *tableChecker) check(table map[string]map[string]int64) error {
	value := map[string][]int64{}
	for _, cnt := range c.counts {
		v := slices.Clone(c.value[cnt.Name])
		for code, w := range table[cnt.Name] {
			i, ok := c.idx[code]
			if !ok || !c.sup[cnt.Name][code] {
				return fmt.Errorf("a value for %s %q, which is not withheld", cnt.Name, code)
			}
			v[i] = w
		}
		for i, x := range v {
			if x < 0 {
				return fmt.Errorf("%s: a negative count %d", cnt.Name, x)
			}
			if len(c.kids[i]) == 0 {
				continue
			}
			var sum int64
			for _, k := range c.kids[i] {
				sum += v[k]
			}
			if sum != x {
				return fmt.Errorf("%s: a unit counts %d, its children sum to %d", cnt.Name, x, sum)
			}
		}
		value[cnt.Name] = v
	}
	for _, r := range c.relations {
		for i := range c.kids {
			var of int64
			for _, o := range r.Of {
				of += value[o][i]
			}
			if a := value[r.Count][i]; r.Kind == SubsetOf && a > of || r.Kind == SumOf && a != of {
				return fmt.Errorf("%s = %d against %v = %d", r.Count, a, r.Of, of)
			}
		}
	}
	return nil
}

// checkProofs checks that every primary cell of a family has both tables of
// its Proof, each consistent with what is published (tableChecker) and with
// the cell at 0 or at or above its threshold. It returns the number of
// primary cells.
func checkProofs(t *testing.T, counts []Count, relations []Relation, sup map[string]map[string]bool) int {
	t.Helper()
	proofs, err := Protection(counts, relations, sup)
	if err != nil {
		t.Fatal(err)
	}
	check := newTableChecker(counts, relations, sup)
	th := map[string]int64{}
	for _, c := range counts {
		th[c.Name], _ = c.Rule.threshold()
	}
	for _, p := range proofs {
		if p.Zero == nil || p.High == nil {
			t.Errorf("%s %q: no proof it can be 0 (%v) or >= %d (%v)", p.Count, p.Code, p.Zero != nil, th[p.Count], p.High != nil)
			continue
		}
		if v, ok := p.Zero[p.Count][p.Code]; !ok || v != 0 {
			t.Errorf("%s %q: the table for 0 has %d", p.Count, p.Code, v)
		}
		if v := p.High[p.Count][p.Code]; v < th[p.Count] {
			t.Errorf("%s %q: the table for >= %d has %d", p.Count, p.Code, th[p.Count], v)
		}
		for _, table := range []map[string]map[string]int64{p.Zero, p.High} {
			if err := check.check(table); err != nil {
				t.Errorf("%s %q: a proof table does not agree with what is published: %v", p.Count, p.Code, err)
			}
		}
	}
	return len(proofs)
}

// TestRelatedCity suppresses the families of a city-sized hierarchy
// (cityFamilies) and checks the proof of every primary cell: too large for
// brute force, but each proof is two tables anyone can check.
func TestRelatedCity(t *testing.T) {
	if testing.Short() {
		t.Skip("city-sized proofs")
	}
	r := rand.New(rand.NewPCG(11, 12))
	cells := 0
	tree := cityTree(r)
	fams := append(cityFamilies(r, tree), findingsFamily(r, tree))
	for _, fam := range fams {
		if len(fam.relations) == 0 {
			continue
		}
		sup, err := SuppressFamily(fam.counts, fam.relations)
		if err != nil {
			t.Fatal(err)
		}
		cells += checkProofs(t, fam.counts, fam.relations, sup)
	}
	t.Logf("%d primary cells of related counts proven protected", cells)
}

// TestProtectionBruteForce compares Protection with the brute-force search
// on small families under random suppressions (not made by SuppressFamily,
// so that many cells are not protected): every proof must check out, and,
// for two counts and for a sum, whose programs have whole-number vertices, a
// proof must be found exactly when the search finds the value.
func TestProtectionBruteForce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		gen   func(*rand.Rand) related
		top   int
		exact bool
	}{
		{"subset pair", genSubsetPair, 1, true},
		{"sum of two", genSum, 0, true},
		{"chain of three", genChain, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(31, 32))
			cases, unprotected, missed := 0, 0, 0
			for tries := 0; cases < 200 && tries < 20000; tries++ {
				f := tc.gen(r)
				sup := make([]map[string]bool, len(f.counts))
				p := r.Float64()
				for k := range f.counts {
					sup[k] = map[string]bool{}
					for _, nd := range f.counts[k] {
						if r.Float64() < p {
							sup[k][nd.Code] = true
						}
					}
				}
				if suppressedLeafCount(f, sup) > 6 || sup[tc.top][GrandTotal] {
					continue // too large to search, or unbounded
				}
				counts, relations := f.family()
				named := map[string]map[string]bool{}
				for k, c := range counts {
					named[c.Name] = sup[k]
				}
				proofs, err := Protection(counts, relations, named)
				if err != nil {
					t.Fatal(err)
				}
				s := newFamilySearch(f, sup, 0)
				s.limit = s.value[tc.top][0]
				sets := s.run()
				cases++
				check := newTableChecker(counts, relations, named)
				u := map[string]int{GrandTotal: 0}
				for i, nd := range f.counts[0] {
					u[nd.Code] = i + 1
				}
				for _, pr := range proofs {
					k := int(pr.Count[1] - '0')
					th, _ := f.rules[k].threshold()
					if !sup[k][pr.Code] {
						// Published: known exactly, so no proof.
						if pr.Zero != nil || pr.High != nil {
							t.Fatalf("%s %q is published but has a proof", pr.Count, pr.Code)
						}
						unprotected++
						continue
					}
					vals := sets[searchCell{k, u[pr.Code]}]
					high := false
					for x := range vals {
						high = high || x >= th
					}
					for _, side := range []struct {
						table map[string]map[string]int64
						truth bool
					}{{pr.Zero, vals[0]}, {pr.High, high}} {
						if side.table != nil {
							if err := check.check(side.table); err != nil {
								t.Fatalf("%s %q: a proof table is wrong: %v\n%s", pr.Count, pr.Code, err, describe(f, sup))
							}
							if !side.truth {
								t.Fatalf("%s %q: a proof for a value the search rules out (%v)\n%s", pr.Count, pr.Code, sortedValues(vals), describe(f, sup))
							}
						} else if side.truth {
							missed++
							if tc.exact {
								t.Fatalf("%s %q: no proof, but the search finds %v\n%s", pr.Count, pr.Code, sortedValues(vals), describe(f, sup))
							}
						}
					}
					if !vals[0] || !high {
						unprotected++
					}
				}
			}
			if unprotected == 0 {
				t.Fatal("every primary cell of every random suppression was protected: the comparison is not exercised")
			}
			t.Logf("%d suppressions, %d primary cells not protected, %d sides the search finds and Protection does not", cases, unprotected, missed)
		})
	}
}

// TestSuppressFamilyReview is the review's case: households on 低保 at most
// persons on 低保, one community of three grids. Alone, households withhold
// their 4 with the 7 beside it, persons their 1 with the 6, and the persons'
// 7 is published: it caps the households' 7, which pins their 4 at 4 or
// more. Together, the persons' 7 is withheld too, and then the persons' 1
// would be at most 14 - 11 = 3 (the households of the other two grids need
// 11 persons), so the households' 0 beside it is withheld as well; each
// count's tree needs nothing more.
func TestSuppressFamilyReview(t *testing.T) {
	h := mkTree(t, "D", "T<D", "C<T", "g1<C=4", "g2<C=7", "g3<C=0", "C2<T", "g4<C2=0")
	p := mkTree(t, "D", "T<D", "C<T", "g1<C=6", "g2<C=7", "g3<C=1", "C2<T", "g4<C2=0")
	counts := []Count{{Name: "households", Nodes: h}, {Name: "persons", Nodes: p}}
	relations := []Relation{{Count: "households", Kind: SubsetOf, Of: []string{"persons"}}}
	alone := map[string]map[string]bool{"households": set("g1", "g2"), "persons": set("g1", "g3")}
	for name, want := range alone {
		c := counts[0]
		if name == "persons" {
			c = counts[1]
		}
		if got, _ := Suppress(c.Nodes, c.Rule); !cmp.Equal(got, want) {
			t.Errorf("%s alone: %v, want %v", name, got, want)
		}
	}
	proofs, err := Protection(counts, relations, alone)
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range proofs {
		if pr.Count == "households" && pr.Code == "g1" && pr.Zero != nil {
			t.Errorf("households g1 can be 0 with each count suppressed alone: %v", pr.Zero)
		}
	}
	got, err := SuppressFamily(counts, relations)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]bool{"households": set("g1", "g2", "g3"), "persons": set("g1", "g2", "g3")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SuppressFamily (-want +got):\n%s", diff)
	}
	if n := checkProofs(t, counts, relations, got); n != 2 {
		t.Errorf("%d primary cells, want 2", n)
	}
}

// TestSuppressFamilyDeterministic checks that the result depends on the
// counts and relations only: nodes, counts and relations shuffled give the
// same cells.
func TestSuppressFamilyDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	gens := []func(*rand.Rand) related{genSubsetPair, genChain, genSum}
	for n := range 300 {
		counts, relations := gens[n%3](r).family()
		want, err := SuppressFamily(counts, relations)
		if err != nil {
			t.Fatal(err)
		}
		shuffled := slices.Clone(counts)
		for k := range shuffled {
			shuffled[k].Nodes = slices.Clone(shuffled[k].Nodes)
			r.Shuffle(len(shuffled[k].Nodes), func(i, j int) {
				shuffled[k].Nodes[i], shuffled[k].Nodes[j] = shuffled[k].Nodes[j], shuffled[k].Nodes[i]
			})
		}
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		rels := slices.Clone(relations)
		r.Shuffle(len(rels), func(i, j int) { rels[i], rels[j] = rels[j], rels[i] })
		got, err := SuppressFamily(shuffled, rels)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("shuffled input differs (-sorted +shuffled):\n%s", diff)
		}
	}
	// The city: the same twice.
	fams := cityFamilies(rand.New(rand.NewPCG(11, 12)), cityTree(rand.New(rand.NewPCG(11, 12))))
	fam := fams[2] // two counts: pension insured and receiving
	a, _ := SuppressFamily(fam.counts, fam.relations)
	b, _ := SuppressFamily(fam.counts, fam.relations)
	if !cmp.Equal(a, b) {
		t.Error("the same city family twice gives different cells")
	}
}

func TestSuppressFamilyInvalid(t *testing.T) {
	a := mkTree(t, "D", "g1<D=3", "g2<D=7")
	b := mkTree(t, "D", "g1<D=5", "g2<D=9")
	other := mkTree(t, "D", "g1<D=5", "g3<D=9")
	tests := []struct {
		name      string
		counts    []Count
		relations []Relation
		want      string
	}{
		{"no counts", nil, nil, "without counts"},
		{"no name", []Count{{Nodes: a}}, nil, "no name"},
		{"duplicate", []Count{{Name: "a", Nodes: a}, {Name: "a", Nodes: b}}, nil, `duplicate count "a"`},
		{"other units", []Count{{Name: "a", Nodes: a}, {Name: "b", Nodes: other}}, []Relation{{Count: "a", Kind: SubsetOf, Of: []string{"b"}}}, "not over the same units"},
		{"unknown count", []Count{{Name: "a", Nodes: a}}, []Relation{{Count: "a", Kind: SubsetOf, Of: []string{"x"}}}, `unknown count "x"`},
		{"itself", []Count{{Name: "a", Nodes: a}}, []Relation{{Count: "a", Kind: SubsetOf, Of: []string{"a"}}}, "to itself"},
		{"subset of two", []Count{{Name: "a", Nodes: a}, {Name: "b", Nodes: b}, {Name: "c", Nodes: b}}, []Relation{{Count: "a", Kind: SubsetOf, Of: []string{"b", "c"}}}, "want 1 per relation"},
		{"twice", []Count{{Name: "a", Nodes: a}, {Name: "b", Nodes: b}}, []Relation{{Count: "b", Kind: SumOf, Of: []string{"a", "a"}}}, "twice"},
		{"kind", []Count{{Name: "a", Nodes: a}, {Name: "b", Nodes: b}}, []Relation{{Count: "a", Of: []string{"b"}}}, "unknown kind"},
		{"subset broken", []Count{{Name: "a", Nodes: b}, {Name: "b", Nodes: a}}, []Relation{{Count: "a", Kind: SubsetOf, Of: []string{"b"}}}, "at g1, a counts 5, more than b 3: the relation does not hold"},
		{"sum broken", []Count{{Name: "a", Nodes: a}, {Name: "b", Nodes: b}}, []Relation{{Count: "b", Kind: SumOf, Of: []string{"a", "a2"}}}, `unknown count "a2"`},
		{"not additive", []Count{{Name: "a", Nodes: a}, {Name: "b", Nodes: []Node{{"D", "", 1}, {"g1", "D", 5}, {"g2", "D", 9}}}}, nil, "not additive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SuppressFamily(tt.counts, tt.relations)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("SuppressFamily error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := Protection([]Count{{Name: "a", Nodes: a}}, nil, map[string]map[string]bool{"a": set("X")}); err == nil {
		t.Error("Protection accepted a suppressed code that is not a node")
	}
	if _, err := Protection([]Count{{Name: "a", Nodes: a}}, nil, map[string]map[string]bool{"x": set("g1")}); err == nil {
		t.Error("Protection accepted suppressed cells of an unknown count")
	}
	got, err := SuppressFamily([]Count{{Name: "a"}, {Name: "b"}}, []Relation{{Count: "a", Kind: SubsetOf, Of: []string{"b"}}})
	if err != nil || len(got["a"]) != 0 || len(got["b"]) != 0 {
		t.Errorf("SuppressFamily of empty hierarchies = %v, %v; want nothing", got, err)
	}
}
