package disclosure

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The time dimension of the recovery test. A series publishes one count's
// tables every period (a month); an attacker holds every period's published
// cells at every level and knows, between one period and the next, which
// cells did not change (the worst case: most small counts stay as they were,
// and the published cells around them show it). An unchanged cell is then one
// unknown in both periods. The checkers below share nothing with the package.

// seriesCell is one cell of a series: a period and a unit code
// (GrandTotal for the grand total).
type seriesCell struct {
	period int
	code   string
}

// seriesView is what the attacker knows: every period's tree with its
// published cells, and which withheld cells are one unknown.
type seriesView struct {
	periods [][]Node
	sup     []map[string]bool
	value   []map[string]int64 // true values, the grand total included
	kids    map[string][]string
	codes   []string // every code, the grand total first
	// unknown numbers every withheld cell's unknown; unchanged cells
	// withheld in consecutive periods share one. known holds the withheld
	// cells whose value an unchanged published neighbour in time gives.
	unknown map[seriesCell]int
	known   map[seriesCell]int64
	vars    int
}

func newSeriesView(periods [][]Node, sup []map[string]bool) *seriesView {
	v := &seriesView{periods: periods, sup: sup, kids: map[string][]string{}, codes: []string{GrandTotal},
		unknown: map[seriesCell]int{}, known: map[seriesCell]int64{}}
	for _, nd := range periods[0] {
		v.kids[nd.Parent] = append(v.kids[nd.Parent], nd.Code)
		v.codes = append(v.codes, nd.Code)
	}
	for _, nodes := range periods {
		val := map[string]int64{}
		for _, nd := range nodes {
			val[nd.Code] = nd.Value
			if nd.Parent == GrandTotal {
				val[GrandTotal] += nd.Value
			}
		}
		v.value = append(v.value, val)
	}
	// Union-find over the withheld cells, joined along unchanged runs.
	parent := map[seriesCell]seriesCell{}
	var find func(c seriesCell) seriesCell
	find = func(c seriesCell) seriesCell {
		if p := parent[c]; p != c {
			parent[c] = find(p)
		}
		return parent[c]
	}
	for p := range periods {
		for _, code := range v.codes {
			if sup[p][code] {
				c := seriesCell{p, code}
				parent[c] = c
			}
		}
	}
	for p := 1; p < len(periods); p++ {
		for _, code := range v.codes {
			if v.value[p][code] != v.value[p-1][code] {
				continue
			}
			a, b := seriesCell{p - 1, code}, seriesCell{p, code}
			switch sa, sb := sup[p-1][code], sup[p][code]; {
			case sa && sb:
				parent[find(a)] = find(b)
			case sa || sb:
				// One of the two is published: the other is known.
				v.known[a], v.known[b] = v.value[p][code], v.value[p][code]
			}
		}
	}
	// A class with one known member is known whole.
	knownRoot := map[seriesCell]int64{}
	for c := range parent {
		if x, ok := v.known[c]; ok && sup[c.period][c.code] {
			knownRoot[find(c)] = x
		}
	}
	ids := map[seriesCell]int{}
	for _, c := range sortedCells(parent) {
		r := find(c)
		if x, ok := knownRoot[r]; ok {
			v.known[c] = x
			continue
		}
		id, ok := ids[r]
		if !ok {
			id = v.vars
			ids[r] = id
			v.vars++
		}
		v.unknown[c] = id
	}
	return v
}

func sortedCells(m map[seriesCell]seriesCell) []seriesCell {
	out := make([]seriesCell, 0, len(m))
	for c := range m {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b seriesCell) int {
		if a.period != b.period {
			return a.period - b.period
		}
		return strings.Compare(a.code, b.code)
	})
	return out
}

// equation is sum(coef[var] * var) = rhs.
type equation struct {
	coef map[int]*big.Rat
	rhs  *big.Rat
}

// equations are every period's additivity equations over the unknowns,
// known cells moved to the right.
func (v *seriesView) equations() []equation {
	var out []equation
	for p := range v.periods {
		for parent, kids := range v.kids {
			e := equation{coef: map[int]*big.Rat{}, rhs: new(big.Rat)}
			term := func(code string, sign int64) {
				c := seriesCell{p, code}
				if id, ok := v.unknown[c]; ok {
					if e.coef[id] == nil {
						e.coef[id] = new(big.Rat)
					}
					e.coef[id].Add(e.coef[id], big.NewRat(sign, 1))
					return
				}
				x, ok := v.known[c]
				if !ok {
					x = v.value[p][code] // published
				}
				e.rhs.Sub(e.rhs, new(big.Rat).SetInt64(sign*x))
			}
			term(parent, 1)
			for _, k := range kids {
				term(k, -1)
			}
			for id, c := range e.coef {
				if c.Sign() == 0 {
					delete(e.coef, id)
				}
			}
			out = append(out, e)
		}
	}
	return out
}

// recovered returns the withheld cells whose value the attacker computes:
// those known through an unchanged published neighbour, and those the
// equations of all periods determine, by Gauss-Jordan elimination over the
// rationals. Each comes with the value found.
func (v *seriesView) recovered() map[seriesCell]int64 {
	out := map[seriesCell]int64{}
	for c, x := range v.known {
		if v.sup[c.period][c.code] {
			out[c] = x
		}
	}
	rows := v.equations()
	var pivots []int
	used := make([]bool, len(rows))
	for col := range v.vars {
		pr := -1
		for i, r := range rows {
			if !used[i] && r.coef[col] != nil {
				pr = i
				break
			}
		}
		if pr < 0 {
			continue
		}
		used[pr] = true
		pivots = append(pivots, pr)
		p := rows[pr]
		inv := new(big.Rat).Inv(p.coef[col])
		for _, c := range p.coef {
			c.Mul(c, inv)
		}
		p.rhs.Mul(p.rhs, inv)
		for i, r := range rows {
			f := r.coef[col]
			if i == pr || f == nil {
				continue
			}
			f = new(big.Rat).Set(f)
			for j, c := range p.coef {
				t := new(big.Rat).Mul(f, c)
				if r.coef[j] == nil {
					r.coef[j] = new(big.Rat)
				}
				r.coef[j].Sub(r.coef[j], t)
				if r.coef[j].Sign() == 0 {
					delete(r.coef, j)
				}
			}
			r.rhs.Sub(r.rhs, new(big.Rat).Mul(f, p.rhs))
		}
	}
	solved := map[int]*big.Rat{}
	for _, i := range pivots {
		if r := rows[i]; len(r.coef) == 1 {
			for id := range r.coef {
				solved[id] = r.rhs
			}
		}
	}
	for c, id := range v.unknown {
		if x, ok := solved[id]; ok {
			if !x.IsInt() {
				panic(fmt.Sprintf("%v solved to %s", c, x))
			}
			out[c] = x.Num().Int64()
		}
	}
	return out
}

// ranges searches by brute force, for each unknown, for an assignment of
// whole numbers to all unknowns that agrees with everything published in
// every period with that unknown at 0, and for one with it at threshold or
// more: zero and high say whether one was found. Unknowns range over [0,
// the nearest published cell above any of their cells] (or [0, limit]);
// every period's equations are checked as soon as their unknowns are set,
// and an equation with one unknown left sets it.
func (v *seriesView) ranges(limit, threshold int64) (zero, high []bool) {
	// The equations in whole numbers: their coefficients are.
	type intRow struct {
		ids  []int
		coef []int64
		rhs  int64
	}
	var rows []intRow
	for _, e := range v.equations() {
		r := intRow{rhs: e.rhs.Num().Int64()}
		for id, c := range e.coef {
			r.ids = append(r.ids, id)
			r.coef = append(r.coef, c.Num().Int64())
		}
		rows = append(rows, r)
	}
	ub := make([]int64, v.vars)
	for i := range ub {
		ub[i] = limit
	}
	parentOf := map[string]string{}
	for p, kids := range v.kids {
		for _, k := range kids {
			parentOf[k] = p
		}
	}
	for c, id := range v.unknown {
		code := c.code
		for code != GrandTotal {
			code = parentOf[code]
			if _, withheld := v.unknown[seriesCell{c.period, code}]; !withheld {
				x, ok := v.known[seriesCell{c.period, code}]
				if !ok {
					x = v.value[c.period][code]
				}
				ub[id] = min(ub[id], x)
				break
			}
		}
	}
	val := make([]int64, v.vars)
	set := make([]bool, v.vars)
	rowsOf := make([][]int, v.vars)
	for i, r := range rows {
		for _, id := range r.ids {
			rowsOf[id] = append(rowsOf[id], i)
		}
	}
	// eval returns the number of unset unknowns of row i, the last one with
	// its coefficient, and rhs minus the set part.
	eval := func(i int) (n, last int, coef, rest int64) {
		r := rows[i]
		rest = r.rhs
		for j, id := range r.ids {
			if set[id] {
				rest -= r.coef[j] * val[id]
			} else {
				n, last, coef = n+1, id, r.coef[j]
			}
		}
		return n, last, coef, rest
	}
	var assign func(id int, x int64, trail *[]int) bool
	assign = func(id int, x int64, trail *[]int) bool {
		if x < 0 || x > ub[id] {
			return false
		}
		val[id], set[id] = x, true
		*trail = append(*trail, id)
		for _, i := range rowsOf[id] {
			n, last, coef, rest := eval(i)
			switch {
			case n == 0 && rest != 0:
				return false
			case n == 1:
				if rest%coef != 0 || !assign(last, rest/coef, trail) {
					return false
				}
			}
		}
		return true
	}
	undo := func(trail []int) {
		for _, id := range trail {
			set[id] = false
		}
	}
	// solve completes the assignment from next on; true at the first table.
	var solve func(next int) bool
	solve = func(next int) bool {
		for next < v.vars && set[next] {
			next++
		}
		if next == v.vars {
			return true
		}
		for x := range ub[next] + 1 {
			var trail []int
			ok := assign(next, x, &trail) && solve(next+1)
			undo(trail)
			if ok {
				return true
			}
		}
		return false
	}
	zero, high = make([]bool, v.vars), make([]bool, v.vars)
	for id := range v.vars {
		var trail []int
		zero[id] = assign(id, 0, &trail) && solve(0)
		undo(trail)
		for x := threshold; x <= ub[id] && !high[id]; x++ {
			trail = trail[:0]
			high[id] = assign(id, x, &trail) && solve(0)
			undo(trail)
		}
	}
	return zero, high
}

// evolve is the next period of a tree: a few grids change a little, the
// rest stay as they were.
func evolve(r *rand.Rand, nodes []Node) []Node {
	next := slices.Clone(nodes)
	hasKids := map[string]bool{}
	for _, nd := range nodes {
		hasKids[nd.Parent] = true
	}
	var leaves []int
	for i, nd := range next {
		if !hasKids[nd.Code] {
			leaves = append(leaves, i)
		}
	}
	for range 1 + r.IntN(2) {
		i := leaves[r.IntN(len(leaves))]
		next[i].Value = max(0, next[i].Value+int64(r.IntN(7))-3)
	}
	sumUp(next)
	return next
}

// series is a random series: a tree and periods-1 later states of it.
func genSeries(r *rand.Rand, s shape, periods int) [][]Node {
	out := [][]Node{genTree(r, s)}
	for len(out) < periods {
		out = append(out, evolve(r, out[len(out)-1]))
	}
	return out
}

// naiveSeries suppresses each period on its own, as a snapshot of the tables
// of the day would.
func naiveSeries(periods [][]Node, rule Rule) ([]map[string]bool, error) {
	var out []map[string]bool
	for _, nodes := range periods {
		sup, err := Suppress(nodes, rule)
		if err != nil {
			return nil, err
		}
		out = append(out, sup)
	}
	return out, nil
}

// shippedSeries suppresses each period with SuppressSeries, after the
// periods before it.
func shippedSeries(periods [][]Node, rule Rule) ([]map[string]bool, error) {
	var out []map[string]bool
	var earlier []Earlier
	for _, nodes := range periods {
		counts := []Count{{Name: "c", Nodes: nodes, Rule: rule}}
		sup, err := SuppressSeries(counts, nil, earlier)
		if err != nil {
			return nil, err
		}
		out = append(out, sup["c"])
		earlier = append(earlier, Earlier{Counts: counts, Suppressed: sup})
	}
	return out, nil
}

// seriesPrimaryLeaks attacks a suppressed series and describes every primary
// cell of every period that is recovered, or, with limit > 0 (brute force),
// whose range no longer holds 0 and a value at or above the threshold.
func seriesPrimaryLeaks(periods [][]Node, sup []map[string]bool, rule Rule, limit int64) []string {
	th, _ := rule.threshold()
	v := newSeriesView(periods, sup)
	var leaks []string
	for p := range periods {
		for _, code := range v.codes {
			if x := v.value[p][code]; primary(x, th, rule.SuppressZero) && !sup[p][code] && (code != GrandTotal || len(periods[p]) > 0) {
				leaks = append(leaks, fmt.Sprintf("period %d: primary %q = %d published", p, code, x))
			}
		}
	}
	for c, x := range v.recovered() {
		if primary(v.value[c.period][c.code], th, rule.SuppressZero) {
			leaks = append(leaks, fmt.Sprintf("period %d: primary %q recovered = %d", c.period, c.code, x))
		}
	}
	if limit > 0 && len(leaks) == 0 {
		zero, high := v.ranges(limit, th)
		for c, id := range v.unknown {
			x := v.value[c.period][c.code]
			if primary(x, th, rule.SuppressZero) && (!zero[id] || !high[id]) {
				leaks = append(leaks, fmt.Sprintf("period %d: primary %q = %d narrowed: can be 0 %t, can be %d or more %t", c.period, c.code, x, zero[id], th, high[id]))
			}
		}
	}
	slices.Sort(leaks)
	return leaks
}

// TestSeriesDifferencingExample is the attack SuppressSeries documents: a 3
// withheld with a 10 under a published 25 in May; in June a sibling drops
// from 12 to 9 and becomes the smaller complement, so a snapshot of June's
// tables publishes the 10, and May's 3 is 25 - 12 - 10.
func TestSeriesDifferencingExample(t *testing.T) {
	may := mkTree(t, "330001", "g1<330001=3", "g2<330001=10", "g3<330001=12")
	june := mkTree(t, "330001", "g1<330001=3", "g2<330001=10", "g3<330001=9")
	periods := [][]Node{may, june}

	naive, err := naiveSeries(periods, Rule{})
	if err != nil {
		t.Fatal(err)
	}
	if !naive[1]["g3"] || naive[1]["g2"] {
		t.Fatalf("the example no longer moves the complement: June withholds %v", naive[1])
	}
	if leaks := seriesPrimaryLeaks(periods, naive, Rule{}, 0); len(leaks) == 0 {
		t.Error("the attack does not recover May's 3 from the naive snapshots")
	}

	shipped, err := shippedSeries(periods, Rule{})
	if err != nil {
		t.Fatal(err)
	}
	if !shipped[1]["g1"] || !shipped[1]["g2"] {
		t.Errorf("June withholds %v: want g1 and g2 withheld again (unchanged)", shipped[1])
	}
	if leaks := seriesPrimaryLeaks(periods, shipped, Rule{}, 40); len(leaks) > 0 {
		t.Errorf("shipped series leaks: %v", leaks)
	}
}

// TestSeriesNoDifferencing is the recovery test across time: many random
// hierarchies, each published over several periods in which a few grids
// change. Suppressed period by period (a naive snapshot of each day's
// tables), the attacker recovers primary cells by differencing periods; the
// shipped SuppressSeries leaves none recovered by exact elimination over all
// periods at once, and on small series, by brute force over every table of
// whole numbers consistent with all periods, none narrowed: every primary
// cell still takes 0 and a value at or above its threshold.
func TestSeriesNoDifferencing(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	naiveLeaks, series, cells := 0, 0, 0
	for i := range 600 {
		s := randomShape(r)
		small := i%3 == 0
		if small {
			// Small enough to enumerate: few units, small counts.
			s = shape{fan: []int{1, 3, 3}, leaf: func(r *rand.Rand) int64 { return r.Int64N(7) }}
		}
		rule := randomRule(r)
		n := 2 + r.IntN(3)
		if small {
			n = 2 + r.IntN(2)
		}
		periods := genSeries(r, s, n)

		naive, err := naiveSeries(periods, rule)
		if err != nil {
			t.Fatal(err)
		}
		if len(seriesPrimaryLeaks(periods, naive, rule, 0)) > 0 {
			naiveLeaks++
		}

		shipped, err := shippedSeries(periods, rule)
		if err != nil {
			t.Fatal(err)
		}
		limit := int64(0)
		if small {
			limit = 40
		}
		if leaks := seriesPrimaryLeaks(periods, shipped, rule, limit); len(leaks) > 0 {
			t.Fatalf("series %d (rule %+v) leaks: %v\nperiods %v\nwithheld %v", i, rule, leaks, periods, shipped)
		}
		series++
		for _, s := range shipped {
			cells += len(s)
		}
	}
	if naiveLeaks == 0 {
		t.Fatal("no naive series leaked: the attack is not exercised")
	}
	t.Logf("%d series, %d withheld cells: none recovered; the naive snapshots leaked in %d series", series, cells, naiveLeaks)
}

// TestSeriesPeriodsSafeAlone checks that every period SuppressSeries
// decides keeps the rules of one publication: its primary cells withheld,
// nothing recoverable and every primary interval [0, >= threshold] within
// the period alone.
func TestSeriesPeriodsSafeAlone(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for range 200 {
		rule := randomRule(r)
		periods := genSeries(r, randomShape(r), 3)
		shipped, err := shippedSeries(periods, rule)
		if err != nil {
			t.Fatal(err)
		}
		for p, nodes := range periods {
			checkSafe(t, nodes, rule, shipped[p])
		}
		if t.Failed() {
			t.Fatalf("periods %v withheld %v", periods, shipped)
		}
	}
}
