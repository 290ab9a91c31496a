package disclosure

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Earlier is an earlier publication of a family of counts: one period of a
// series (last month's tables, say). Counts are the counts as they were then
// (the same names as now, over the same units), Suppressed the cells that
// publication withheld, by count name and code.
type Earlier struct {
	Counts     []Count
	Suppressed map[string]map[string]bool
}

// SuppressSeries decides the suppression of a family of related counts (as
// SuppressFamily) that is published after earlier publications of the same
// counts, the periods of a series, oldest first, so that no primary cell of
// any period can be narrowed by differencing the periods.
//
// The attacker is taken to know, between one period and the next, which
// cells did not change (the worst case: most small counts stay as they
// were from one month to the next, and the published cells around them
// show it). A cell that did not change is then one unknown in both periods,
// and a complement that protects it in one period and is published in the
// next gives it away: withheld 3 and 10 under a published 25 in May, the 10
// published in June (the complement moved to a smaller sibling), and May's
// 3 is 25 - 12 - 10.
//
// So, first, a cell that did not change keeps the state the last period
// gave it: withheld again if it was withheld, and chosen as a complement
// only when nothing else will do if it was published (withholding it again
// would hide nothing). Then the family of every period together, with a
// row tying each unchanged cell to its predecessor, is checked as
// SuppressFamily checks one family: every primary cell of every period
// must keep a table of whole numbers with it at 0 and one with it at or
// above its threshold, agreeing with everything published in every period.
// Where one is missing, a complement is withheld in the new period (the
// earlier ones are published and cannot change) until none is. When the
// periods withhold the same cells around a primary cell, the same change
// that moves it in its own period moves it in all of them, which finds
// most tables without a linear program.
//
// A period whose counts equal the last one's everywhere is published as the
// last one was. Earlier periods must be over the units of counts (a period
// of another grid layout is not linked; see the package documentation). It
// fails like SuppressFamily, and when an earlier period lacks a count of the
// family or has one more.
func SuppressSeries(counts []Count, relations []Relation, earlier []Earlier) (map[string]map[string]bool, error) {
	if len(earlier) == 0 {
		return SuppressFamily(counts, relations)
	}
	if len(counts) == 0 {
		return nil, fmt.Errorf("disclosure: a series without counts")
	}
	byName := map[string]int{}
	for k, c := range counts {
		byName[c.Name] = k
	}
	// Every period's counts in the order of counts.
	periods := make([][]Count, 0, len(earlier)+1)
	for p, e := range earlier {
		if len(e.Counts) != len(counts) {
			return nil, fmt.Errorf("disclosure: period %d of the series has %d counts, want %d", p, len(e.Counts), len(counts))
		}
		cs := make([]Count, len(counts))
		for _, c := range e.Counts {
			k, ok := byName[c.Name]
			if !ok || cs[k].Name != "" {
				return nil, fmt.Errorf("disclosure: period %d of the series has count %q, which the family has not or has once", p, c.Name)
			}
			cs[k] = c
		}
		periods = append(periods, cs)
	}
	last := earlier[len(earlier)-1]
	if sameValues(counts, periods[len(periods)-1]) {
		out := make(map[string]map[string]bool, len(counts))
		for _, c := range counts {
			out[c.Name] = maps.Clone(last.Suppressed[c.Name])
			if out[c.Name] == nil {
				out[c.Name] = map[string]bool{}
			}
		}
		return out, nil
	}
	periods = append(periods, counts)

	var all []Count
	var rels []Relation
	given := map[string]map[string]bool{}
	for p, cs := range periods {
		for _, c := range cs {
			name := seriesName(c.Name, p)
			all = append(all, Count{Name: name, Nodes: c.Nodes, Rule: c.Rule})
			if p < len(earlier) {
				g := earlier[p].Suppressed[c.Name]
				if g == nil {
					g = map[string]bool{}
				}
				given[name] = g
			}
		}
		for _, r := range relations {
			rr := Relation{Count: seriesName(r.Count, p), Kind: r.Kind}
			for _, o := range r.Of {
				rr.Of = append(rr.Of, seriesName(o, p))
			}
			rels = append(rels, rr)
		}
	}
	si := &seriesInfo{periods: len(periods), width: len(counts)}
	f, err := newFamily(all, rels, given, si)
	if err != nil {
		return nil, err
	}
	if b, ok := tableaux.Get().(*[]float64); ok {
		f.tableau = *b
	}
	f.order()
	f.protect()
	tableaux.Put(&f.tableau)
	out := make(map[string]map[string]bool, len(counts))
	base := len(earlier) * len(counts)
	for k, c := range counts {
		out[c.Name] = f.s[base+k].codes()
	}
	return out, nil
}

// seriesName is the name of a count of period p within the family of a
// series.
func seriesName(name string, p int) string { return name + " (period " + strconv.Itoa(p) + ")" }

// sameValues says whether two lists of counts, in the same order, have the
// same value at every unit.
func sameValues(a, b []Count) bool {
	for k := range a {
		if len(a[k].Nodes) != len(b[k].Nodes) {
			return false
		}
		vb := make(map[string]int64, len(b[k].Nodes))
		for _, nd := range b[k].Nodes {
			vb[nd.Code] = nd.Value
		}
		for _, nd := range a[k].Nodes {
			if v, ok := vb[nd.Code]; !ok || v != nd.Value {
				return false
			}
		}
	}
	return true
}

// seriesInfo places the counts of a series' family in time: period-major,
// width counts per period, count k being count k%width of period k/width.
type seriesInfo struct {
	periods, width int
}

func (si *seriesInfo) period(k int) int { return k / si.width }

// sticky is where the rules of the count of tree t start, given its
// predecessor (tree prev, suppressed as s): the cells that did not change
// keep their state, withheld (held) or published (avoid: a last choice of
// complement).
func (si *seriesInfo) sticky(prev *tree, s *suppressor, t *tree) (held, avoid []bool) {
	held, avoid = make([]bool, t.len()), make([]bool, t.len())
	for i := range t.len() {
		if prev.value[i] == t.value[i] {
			held[i] = s.sup[i]
			avoid[i] = !s.sup[i]
		}
	}
	return held, avoid
}

// rows ties every cell that did not change from one period to the next to
// its predecessor: the cell minus its predecessor is 0. The rows are ranked
// after the relations (rank0 on).
func (si *seriesInfo) rows(f *family, rank0 int32) []lin {
	var out []lin
	for p := 1; p < si.periods; p++ {
		for b := range si.width {
			cur, prev := f.trees[p*si.width+b], f.trees[(p-1)*si.width+b]
			for i := range int32(f.n) {
				if cur.value[i] != prev.value[i] {
					continue
				}
				out = append(out, lin{
					cells: []int32{int32((p*si.width+b)*f.n) + i, int32(((p-1)*si.width+b)*f.n) + i},
					coef:  []int8{1, -1},
					eq:    true,
					rel:   rank0 + int32(p-1),
					same:  true,
				})
			}
		}
	}
	return out
}

// avoided says whether cell c is a last choice of complement.
func (f *family) avoided(c int32) bool {
	a := f.s[f.count(c)].avoid
	return a != nil && a[f.node(c)]
}

// fresh says whether cell c is a withheld cell of the last period whose
// neighbourhood differs from the period before: some row it is in (an
// equation of its count, a relation at its unit) has a cell whose value or
// state changed. A component of the series without a fresh cell needs no
// audit: its cells of the last period repeat those of the period before
// (with the same rows around them), and the earlier periods were shown
// protected together when they were published; every table that showed it
// extends to the last period by repeating the period before, which keeps
// every row. The earlier periods are taken to be as SuppressSeries left
// them.
func (f *family) fresh(c int32) bool {
	last := f.series.periods - 1
	if f.series.period(f.count(c)) != last || !f.sup(c) {
		return false
	}
	for _, r := range f.cellRows[c] {
		row := f.rows[r]
		if row.same {
			continue
		}
		for _, x := range row.cells {
			prev := f.twin(x, last-1)
			if f.value(x) != f.value(prev) || f.sup(x) != f.sup(prev) {
				return true
			}
		}
	}
	return false
}

// pinned says whether withheld cell c of a series is published in a period
// next to its own, and then its value: seriesWitness keeps such a cell
// where it is, since a change there could not be repeated in that period.
func (f *family) pinned(c int32) (int64, bool) {
	p := f.series.period(f.count(c))
	for _, q := range []int{p - 1, p + 1} {
		if q >= 0 && q < f.series.periods && !f.sup(f.twin(c, q)) {
			return f.value(c), true
		}
	}
	return 0, false
}

// twin is cell c's count and unit in period p.
func (f *family) twin(c int32, p int) int32 {
	si := f.series
	b := f.count(c) % si.width
	return int32((p*si.width+b)*f.n) + f.node(c)
}

// seriesWitness looks for a table of a series' component without a
// program: p's period is solved alone as treeWitness does, the rows between
// periods set aside, and every change it makes is then made to the same cell
// in every other period where that cell is withheld in the component (an
// unchanged cell must follow; a changed one may, and that keeps the other
// periods' equations). When the periods withhold the same cells around p,
// which the sticky start makes the usual case, and no count goes negative,
// that is a table of the whole series; witness checks it exactly either way.
func (f *family) seriesWitness(comp []int32, p int32, side int) []float64 {
	target := span{lo: 0, hi: 0}
	if side == sideHigh {
		target = span{lo: f.threshold(p), inf: true}
	}
	for _, c := range comp {
		f.inComp[c] = true
	}
	f.ignoreSame = true
	var moved []int32
	ok := f.plan(p, target, len(f.trees), &moved)
	f.ignoreSame = false
	var copied []int32
	if ok {
		slices.Sort(moved)
		moved = slices.Compact(moved)
		from := f.series.period(f.count(p))
		for q := range f.series.periods {
			// The change is repeated in period q when q withholds every
			// cell it moves, in this component: then it keeps q's
			// equations too.
			if q == from || slices.ContainsFunc(moved, func(c int32) bool { return f.cur[c] != f.value(c) && !f.inComp[f.twin(c, q)] }) {
				continue
			}
			for _, c := range moved {
				if d := f.cur[c] - f.value(c); d != 0 {
					o := f.twin(c, q)
					f.cur[o] = f.value(o) + d
					copied = append(copied, o)
				}
			}
		}
	}
	x := make([]float64, len(comp))
	for j, c := range comp {
		x[j] = float64(f.cur[c])
		f.inComp[c] = false
	}
	for _, c := range moved {
		f.cur[c] = f.value(c)
	}
	for _, c := range copied {
		f.cur[c] = f.value(c)
	}
	if !ok {
		return nil
	}
	return x
}
