package disclosure

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
)

// Count is one count indicator of a family: its value at every unit of the
// hierarchy (as for Suppress) and its rule.
type Count struct {
	Name  string
	Nodes []Node
	Rule  Rule
}

// RelationKind is the kind of a Relation.
type RelationKind int

const (
	// SubsetOf says that in every unit the count is at most the count Of[0]:
	// it counts a subset of what that one counts (households on 低保 and
	// persons on 低保, probationary and all party members).
	SubsetOf RelationKind = iota + 1
	// SumOf says that in every unit the count is the sum of the counts Of.
	SumOf
)

// Relation is a fact about the counts of a family that holds in every unit
// and that an attacker can know (the catalogue states it): Count <= Of[0]
// for SubsetOf, Count = sum of Of for SumOf.
type Relation struct {
	Count string
	Kind  RelationKind
	Of    []string
}

// SuppressFamily decides the suppression of counts that are related, over
// one hierarchy shared by all of them, and returns the withheld codes of each
// count by name. Each count keeps the rules of Suppress over its own tree;
// on top of that, every primary cell must keep a feasible range that holds 0
// and a value at or above its threshold when an attacker uses every
// published cell of every count of the family at every level, the additivity
// of every count, the relations, and that counts are non-negative integers.
// Where a primary cell falls short, more complements are withheld (among the
// published cells constraining it that can help, the one that withholds the
// fewest cells with it, then the smallest positive, ties by code) until none
// does. See the package documentation for the model and how the check is
// exact.
//
// The result is a function of the counts and relations only, not of the
// order of nodes or counts. Without relations, it is Suppress for each
// count. It fails when a count is not a valid additive tree, related counts
// do not share one hierarchy, a relation names an unknown count, or the
// values break a relation (a relation that does not hold would mislead the
// check, so it is refused rather than trusted).
func SuppressFamily(counts []Count, relations []Relation) (map[string]map[string]bool, error) {
	if len(relations) == 0 && len(counts) > 0 {
		// Unrelated counts: each alone, without the family's machinery.
		out := make(map[string]map[string]bool, len(counts))
		for k, c := range counts {
			if c.Name == "" {
				return nil, fmt.Errorf("disclosure: count %d has no name", k)
			}
			if out[c.Name] != nil {
				return nil, fmt.Errorf("disclosure: duplicate count %q", c.Name)
			}
			sup, err := Suppress(c.Nodes, c.Rule)
			if err != nil {
				return nil, fmt.Errorf("%w (count %s)", err, c.Name)
			}
			out[c.Name] = sup
		}
		return out, nil
	}
	f, err := newFamily(counts, relations, nil, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]bool, len(counts))
	if len(counts[0].Nodes) == 0 {
		for _, c := range counts {
			out[c.Name] = map[string]bool{} // no table, not even a total to withhold
		}
		return out, nil
	}
	if len(f.rows) > f.rel0 {
		// The tableaux are the large allocations: reuse their memory
		// across calls rather than have fresh pages zeroed each time.
		if b, ok := tableaux.Get().(*[]float64); ok {
			f.tableau = *b
		}
		f.order()
		f.protect()
		tableaux.Put(&f.tableau)
	}
	for k, name := range f.names {
		out[name] = f.s[k].codes()
	}
	return out, nil
}

// tableaux holds the memory of tableaux between calls of SuppressFamily.
var tableaux sync.Pool

// Proof is the evidence that a primary cell of a family is protected: two
// tables that agree with every published cell, the additivity of every count
// and every relation, one where the cell is 0 and one where it is at least
// its threshold. A table (count -> code -> value) holds the withheld cells of
// the cell's component, those an attacker must solve together; every other
// withheld cell keeps its true value. Zero or High is nil when none was
// found, and then the cell is not protected, or, where the program of the
// family has fractional vertices (more than two related counts), was not
// shown to be.
type Proof struct {
	Count, Code string
	Zero, High  map[string]map[string]int64
}

// Protection audits a suppression of a family: for every primary cell, the
// tables that prove it protected (see Proof; none for a primary cell that is
// published), in order of count and code.
// The tables can be checked without trusting this package. It fails like
// SuppressFamily, and when suppressed names a count or code that is not in
// the family.
func Protection(counts []Count, relations []Relation, suppressed map[string]map[string]bool) ([]Proof, error) {
	f, err := newFamily(counts, relations, suppressed, nil)
	if err != nil {
		return nil, err
	}
	f.order()
	f.analyze()
	f.proofs = map[int32][2]*evidence{}
	var out []Proof
	for c := range int32(len(f.uf)) {
		if f.primary(c) && !f.sup(c) {
			out = append(out, Proof{Count: f.names[f.count(c)], Code: f.code(c)}) // published: no proof
		}
	}
	for _, comp := range f.components(true) {
		f.audit(comp, true)
		for _, p := range comp {
			if !f.primary(p) {
				continue
			}
			pr := Proof{Count: f.names[f.count(p)], Code: f.code(p)}
			if e := f.proofs[p][0]; e != nil {
				pr.Zero = f.table(e)
			}
			if e := f.proofs[p][1]; e != nil {
				pr.High = f.table(e)
			}
			out = append(out, pr)
		}
	}
	slices.SortFunc(out, func(a, b Proof) int {
		return cmp.Or(cmp.Compare(a.Count, b.Count), cmp.Compare(a.Code, b.Code))
	})
	return out, nil
}

// family is a set of related counts over one hierarchy. A cell is one count
// at one unit, numbered count*n + node index; every tree has the same node
// indices.
type family struct {
	names []string
	rank  []int // rank of each count's name, for tie-breaks independent of the input order
	n     int   // nodes per tree, the grand total included
	trees []*tree
	s     []*suppressor

	// rows are the constraints an attacker has: every equation parent =
	// sum(children) of every count (rows[:rel0]), then every relation at
	// every leaf (rows[rel0:]); relations at the other units follow from
	// those by the equations.
	rows []lin
	rel0 int
	// cellRows[c] lists the rows cell c is in.
	cellRows [][]int32

	// The analysis of the current suppression (analyze).
	iv     [][]span // feasible interval of every cell in its own tree
	need   []bool   // the row constrains withheld cells beyond their own tree's intervals
	uf     []int32  // union-find over cells: components of the withheld cells
	hasRel []bool   // by root: a relation row constrains the component
	// Evidence found so far, by cell: the primary cell can be 0, can be at
	// or above its threshold; for Protection, the tables that show it.
	zeroOK, highOK []bool
	proofs         map[int32][2]*evidence

	ord   []int32 // by cell: its rank in the canonical order (order)
	dirty []bool  // by count: iv is out of date

	// Scratch.
	compIdx  []int32   // by cell
	checking []int32   // the rows witness checks: every row of the component
	tableau  []float64 // the memory of the tableaux, one at a time
	below    []span    // by node, for treeWitness
	cur      []int64   // a table of every cell, for checking witnesses
	inComp   []bool    // by cell: in the component being checked
	cellMark []bool    // by cell
	rowMark  []bool    // by row
	col      []int32   // by cell: its variable in the current program

	// failures counts, by cell, the rounds in which the cell got a
	// complement (protect); price and near are choose's scratch.
	failures []int32
	price    []float64
	near     []bool

	// frozen marks, by count, the counts whose suppression was given and
	// is published already: they never get a complement (SuppressSeries).
	frozen []bool
	// series places the counts in time, for SuppressSeries; nil otherwise.
	series *seriesInfo
	// ignoreSame sets the rows between periods aside while one period is
	// solved alone (seriesWitness).
	ignoreSame bool
}

// lin is the linear constraint sum(coef * cell) = 0, or <= 0 when !eq.
type lin struct {
	cells []int32 // the first is the parent of an equation, the constrained count of a relation
	coef  []int8
	eq    bool
	rel   int32 // the relation's canonical rank; -1 for an equation
	// same marks a row between two periods of a series: the cell did not
	// change from one to the next (SuppressSeries).
	same bool
}

const (
	sideZero = iota // the cell can be 0
	sideHigh        // the cell can be at or above its threshold
)

// newFamily validates the counts and relations and builds the family. With
// suppressed nil, each count's suppression is decided by its own tree's rules
// (Suppress); otherwise it is suppressed, for an audit. With series (from
// SuppressSeries), the counts of the earlier periods have their suppression
// given by suppressed and are frozen, those of the last period are decided
// by their tree's rules started from the earlier period's cells that did not
// change, and rows tie every unchanged cell to its predecessor.
func newFamily(counts []Count, relations []Relation, suppressed map[string]map[string]bool, series *seriesInfo) (*family, error) {
	if len(counts) == 0 {
		return nil, errors.New("disclosure: a family without counts")
	}
	f := &family{series: series, frozen: make([]bool, len(counts))}
	byName := map[string]int{}
	for k, c := range counts {
		if c.Name == "" {
			return nil, fmt.Errorf("disclosure: count %d has no name", k)
		}
		if _, dup := byName[c.Name]; dup {
			return nil, fmt.Errorf("disclosure: duplicate count %q", c.Name)
		}
		byName[c.Name] = k
		f.names = append(f.names, c.Name)
	}
	for name := range suppressed {
		if _, ok := byName[name]; !ok {
			return nil, fmt.Errorf("disclosure: suppressed cells of unknown count %q", name)
		}
	}
	sorted := slices.Clone(f.names)
	slices.Sort(sorted)
	f.rank = make([]int, len(counts))
	for k, name := range f.names {
		f.rank[k], _ = slices.BinarySearch(sorted, name)
	}

	// One tree per count, all indexed like the first: the others' nodes are
	// put in the first's order before building.
	first, err := buildTree(counts[0].Nodes)
	if err != nil {
		return nil, fmt.Errorf("%w (count %s)", err, counts[0].Name)
	}
	f.n = first.len()
	for k, c := range counts {
		t := first
		if k > 0 {
			if len(c.Nodes) != len(counts[0].Nodes) {
				return nil, fmt.Errorf("disclosure: counts %s and %s are not over the same units", counts[0].Name, c.Name)
			}
			nodes := make([]Node, len(c.Nodes))
			placed := make([]bool, len(c.Nodes))
			for _, nd := range c.Nodes {
				i := first.index.find(nd.Code)
				if i <= 0 || placed[i-1] || first.nodes[i-1].Parent != nd.Parent {
					return nil, fmt.Errorf("disclosure: counts %s and %s are not over the same units (%s)", counts[0].Name, c.Name, nd.Code)
				}
				placed[i-1] = true
				nodes[i-1] = nd
			}
			if t, err = buildTree(nodes); err != nil {
				return nil, fmt.Errorf("%w (count %s)", err, c.Name)
			}
		}
		th, err := c.Rule.threshold()
		if err != nil {
			return nil, err
		}
		var s *suppressor
		given := suppressed != nil
		if series != nil {
			given = series.period(k) < series.periods-1
			f.frozen[k] = given
		}
		if !given {
			var held, avoid []bool
			if series != nil && series.period(k) > 0 {
				held, avoid = series.sticky(f.trees[k-series.width], f.s[k-series.width], t)
			}
			s = newStickySuppressor(t, th, c.Rule.SuppressZero, held, avoid)
		} else {
			sup, err := t.suppressedSet(suppressed[c.Name])
			if err != nil {
				return nil, err
			}
			s = &suppressor{t: t, th: th, sup: sup, primary: make([]bool, t.len())}
			for i, v := range t.value {
				s.primary[i] = primary(v, th, c.Rule.SuppressZero)
			}
		}
		f.trees = append(f.trees, t)
		f.s = append(f.s, s)
	}

	// The equations of every count.
	for k, t := range f.trees {
		base := int32(k * f.n)
		for p := range int32(f.n) {
			kids := t.children(p)
			if len(kids) == 0 {
				continue
			}
			r := lin{cells: []int32{base + p}, coef: []int8{1}, eq: true, rel: -1}
			for _, c := range kids {
				r.cells = append(r.cells, base+c)
				r.coef = append(r.coef, -1)
			}
			f.rows = append(f.rows, r)
		}
	}
	f.rel0 = len(f.rows)

	// The relations at every leaf, checked against the values.
	var leaves []int32
	for i := range int32(f.n) {
		if len(first.children(i)) == 0 {
			leaves = append(leaves, i)
		}
	}
	// The relations' canonical ranks, by what they say rather than by
	// their order in the input.
	relKeys := make([]string, len(relations))
	for ri, rel := range relations {
		of := slices.Clone(rel.Of)
		slices.Sort(of)
		relKeys[ri] = fmt.Sprintf("%s\x00%d\x00%s", rel.Count, rel.Kind, strings.Join(of, "\x00"))
	}
	relRank := make([]int32, len(relations))
	for ri := range relations {
		for _, other := range relKeys {
			if other < relKeys[ri] {
				relRank[ri]++
			}
		}
	}
	for ri, rel := range relations {
		k, ok := byName[rel.Count]
		if !ok {
			return nil, fmt.Errorf("disclosure: relation of unknown count %q", rel.Count)
		}
		var of []int
		for _, name := range rel.Of {
			o, ok := byName[name]
			if !ok {
				return nil, fmt.Errorf("disclosure: relation of %s to unknown count %q", rel.Count, name)
			}
			if o == k {
				return nil, fmt.Errorf("disclosure: relation of %s to itself", rel.Count)
			}
			if slices.Contains(of, o) {
				return nil, fmt.Errorf("disclosure: relation of %s names %s twice", rel.Count, name)
			}
			of = append(of, o)
		}
		switch {
		case rel.Kind == SubsetOf && len(of) != 1:
			return nil, fmt.Errorf("disclosure: %s is a subset of %d counts, want 1 per relation", rel.Count, len(of))
		case rel.Kind == SumOf && len(of) == 0:
			return nil, fmt.Errorf("disclosure: %s is a sum of nothing", rel.Count)
		case rel.Kind != SubsetOf && rel.Kind != SumOf:
			return nil, fmt.Errorf("disclosure: relation of %s of unknown kind %d", rel.Count, rel.Kind)
		}
		for _, i := range leaves {
			r := lin{cells: []int32{int32(k*f.n) + i}, coef: []int8{1}, eq: rel.Kind == SumOf, rel: relRank[ri]}
			for _, o := range of {
				r.cells = append(r.cells, int32(o*f.n)+i)
				r.coef = append(r.coef, -1)
			}
			if v := f.eval(r, nil); v > 0 || r.eq && v != 0 {
				var parts []string
				for _, o := range of {
					parts = append(parts, fmt.Sprintf("%s %d", f.names[o], f.trees[o].value[i]))
				}
				verb := map[RelationKind]string{SubsetOf: "more than", SumOf: "not the sum of"}[rel.Kind]
				return nil, fmt.Errorf("disclosure: at %s, %s counts %d, %s %s: the relation does not hold",
					first.code(i), rel.Count, f.trees[k].value[i], verb, strings.Join(parts, " + "))
			}
			f.rows = append(f.rows, r)
		}
	}

	if series != nil {
		f.rows = append(f.rows, series.rows(f, int32(len(relations)))...)
	}

	f.cellRows = make([][]int32, len(counts)*f.n)
	for r, row := range f.rows {
		for _, c := range row.cells {
			f.cellRows[c] = append(f.cellRows[c], int32(r))
		}
	}
	f.iv = make([][]span, len(counts))
	f.need = make([]bool, len(f.rows))
	f.uf = make([]int32, len(counts)*f.n)
	f.hasRel = make([]bool, len(counts)*f.n)
	cells := len(counts) * f.n
	f.zeroOK, f.highOK = make([]bool, cells), make([]bool, cells)
	f.cur, f.inComp, f.cellMark, f.col = make([]int64, cells), make([]bool, cells), make([]bool, cells), make([]int32, cells)
	f.rowMark = make([]bool, len(f.rows))
	f.compIdx = make([]int32, cells)
	f.below = make([]span, f.n)
	f.dirty = make([]bool, len(counts))
	for k := range f.dirty {
		f.dirty[k] = true
	}
	for c := range f.cur {
		f.cur[c] = f.value(int32(c))
	}
	return f, nil
}

func (f *family) count(c int32) int       { return int(c) / f.n }
func (f *family) node(c int32) int32      { return c % int32(f.n) }
func (f *family) sup(c int32) bool        { return f.s[f.count(c)].sup[f.node(c)] }
func (f *family) primary(c int32) bool    { return f.s[f.count(c)].primary[f.node(c)] }
func (f *family) value(c int32) int64     { return f.trees[f.count(c)].value[f.node(c)] }
func (f *family) code(c int32) string     { return f.trees[0].code(f.node(c)) }
func (f *family) threshold(c int32) int64 { return f.s[f.count(c)].th }

// less orders cells by code, then by count name: the canonical order of
// every choice, whatever the order of the input.
func (f *family) less(a, b int32) bool { return f.ord[a] < f.ord[b] }

// order computes the canonical order of the cells (ord).
func (f *family) order() {
	nodes := make([]int32, f.n)
	for i := range nodes {
		nodes[i] = int32(i)
	}
	t := f.trees[0]
	slices.SortFunc(nodes, func(a, b int32) int { return strings.Compare(t.code(a), t.code(b)) })
	k := int32(len(f.trees))
	f.ord = make([]int32, int(k)*f.n)
	for r, i := range nodes {
		for c := range k {
			f.ord[c*int32(f.n)+i] = int32(r)*k + int32(f.rank[c])
		}
	}
	// Rows in canonical order too, so that every program, and so every
	// answer of the simplex method (a vertex, duals), is the same whatever
	// the order of the input: equations by their parent, then relations by
	// rank and unit.
	slices.SortStableFunc(f.rows, func(a, b lin) int {
		return cmp.Or(cmp.Compare(a.rel, b.rel), cmp.Compare(f.ord[a.cells[0]], f.ord[b.cells[0]]))
	})
	for c := range f.cellRows {
		f.cellRows[c] = f.cellRows[c][:0]
	}
	for r, row := range f.rows {
		for _, c := range row.cells {
			f.cellRows[c] = append(f.cellRows[c], int32(r))
		}
	}
}

// better orders complement candidates like suppressor.better: positive before
// zero, then smaller, then canonically.
func (f *family) better(a, b int32) bool {
	if aa, ab := f.avoided(a), f.avoided(b); aa != ab {
		return !aa
	}
	va, vb := f.value(a), f.value(b)
	if (va > 0) != (vb > 0) {
		return va > 0
	}
	if va != vb {
		return va < vb
	}
	return f.less(a, b)
}

// eval is sum(coef * cell) over the true values, or over cur where mask
// says so.
func (f *family) eval(r lin, mask []bool) int64 {
	var v int64
	for j, c := range r.cells {
		x := f.value(c)
		if mask != nil && mask[c] {
			x = f.cur[c]
		}
		v += int64(r.coef[j]) * x
	}
	return v
}

func (f *family) find(c int32) int32 {
	for f.uf[c] != c {
		f.uf[c] = f.uf[f.uf[c]]
		c = f.uf[c]
	}
	return c
}

func (f *family) union(a, b int32) {
	ra, rb := f.find(a), f.find(b)
	if ra != rb {
		f.uf[ra] = rb
	}
}

// analyze splits the withheld cells into components that an attacker must
// solve together, and marks the components where a relation adds to what
// each tree says on its own.
//
// A relation row is left out when it is implied by the trees alone: every
// point within its withheld cells' own-tree intervals satisfies it (the
// intervals are the exact projections of each tree's constraints, so the row
// removes no solution). Leaving such rows out keeps components small and
// loses nothing; every witness is checked against all rows anyway. A
// component that no kept relation row constrains is one tree's component,
// whose cells have exactly their own-tree intervals, which that tree's rules
// protect.
func (f *family) analyze() {
	for k, t := range f.trees {
		if f.dirty[k] {
			f.iv[k] = t.intervals(f.s[k].sup)
			f.dirty[k] = false
		}
	}
	for c := range f.uf {
		f.uf[c] = int32(c)
		f.hasRel[c] = false
	}
	for r, row := range f.rows {
		first := int32(-1)
		for _, c := range row.cells {
			if f.sup(c) {
				first = c
				break
			}
		}
		f.need[r] = first >= 0 && (r < f.rel0 || !f.redundant(row))
		if !f.need[r] {
			continue
		}
		for _, c := range row.cells {
			if f.sup(c) {
				f.union(first, c)
			}
		}
	}
	for r := f.rel0; r < len(f.rows); r++ {
		if f.need[r] {
			for _, c := range f.rows[r].cells {
				if f.sup(c) {
					f.hasRel[f.find(c)] = true
					break
				}
			}
		}
	}
}

// redundant reports whether every point of the box of the row's withheld
// cells' own-tree intervals satisfies the row.
func (f *family) redundant(r lin) bool {
	var most int64 // the largest value of sum(coef * cell) over the box
	for j, c := range r.cells {
		if !f.sup(c) {
			most += int64(r.coef[j]) * f.value(c)
			continue
		}
		s := f.iv[f.count(c)][f.node(c)]
		if r.eq {
			if s.inf || s.lo != s.hi {
				return false // an equation moves with any of its cells
			}
			continue
		}
		if r.coef[j] > 0 {
			if s.inf {
				return false
			}
			most += s.hi
		} else {
			most -= s.lo
		}
	}
	return r.eq || most <= 0
}

// components returns the components to audit, each as its cells in
// canonical order, in canonical order of their first cells: those that a
// relation row constrains with a primary cell not yet shown protected, or,
// with all, every one with a primary cell.
func (f *family) components(all bool) [][]int32 {
	var comps [][]int32
	idx := f.compIdx
	for c := range idx {
		idx[c] = -1
	}
	for c := range int32(len(f.uf)) {
		if !f.sup(c) {
			continue
		}
		root := f.find(c)
		if !all && !f.hasRel[root] {
			continue
		}
		if idx[root] < 0 {
			idx[root] = int32(len(comps))
			comps = append(comps, nil)
		}
		comps[idx[root]] = append(comps[idx[root]], c)
	}
	open := func(c int32) bool { return f.primary(c) && (all || !f.zeroOK[c] || !f.highOK[c]) }
	out := comps[:0]
	for _, comp := range comps {
		if slices.ContainsFunc(comp, open) && (all || f.series == nil || slices.ContainsFunc(comp, f.fresh)) {
			slices.SortFunc(comp, f.cmp)
			out = append(out, comp)
		}
	}
	slices.SortFunc(out, func(a, b []int32) int { return f.cmp(a[0], b[0]) })
	return out
}

func (f *family) cmp(a, b int32) int { return cmp.Compare(f.ord[a], f.ord[b]) }

// rowsOf lists the rows that the program of comp holds: the kept rows with a
// cell in comp (all their withheld cells are in comp). With every, the rows
// left out too: those a witness is checked against.
func (f *family) rowsOf(comp []int32, every bool) []int32 {
	var out []int32
	for _, c := range comp {
		for _, r := range f.cellRows[c] {
			if !f.rowMark[r] && (every || f.need[r]) {
				f.rowMark[r] = true
				out = append(out, r)
			}
		}
	}
	for _, r := range out {
		f.rowMark[r] = false
	}
	slices.Sort(out)
	return out
}

// program is the linear program of a component: one variable per cell of
// comp (in its order), then one slack per inequality; one row per kept row
// (rows, in that order), the published cells moved to the right-hand side.
func (f *family) program(comp []int32) (p *program, rows []int32) {
	for j, c := range comp {
		f.col[c] = int32(j)
	}
	rows = f.rowsOf(comp, false)
	n := len(comp)
	for _, r := range rows {
		if !f.rows[r].eq {
			n++
		}
	}
	p = newProgram(len(rows), n)
	slack := len(comp)
	for i, r := range rows {
		row := f.rows[r]
		var b, lhs int64
		for j, c := range row.cells {
			if f.sup(c) {
				p.a[i] = append(p.a[i], term{int(f.col[c]), float64(row.coef[j])})
				lhs += int64(row.coef[j]) * f.value(c)
			} else {
				b -= int64(row.coef[j]) * f.value(c)
			}
		}
		if !row.eq {
			p.a[i] = append(p.a[i], term{slack, 1})
			p.x0[slack] = float64(b - lhs) // the true table's slack
			slack++
		}
		p.b[i] = float64(b)
	}
	for j, c := range comp {
		p.x0[j] = float64(f.value(c)) // the true table solves the program
	}
	return p, rows
}

// witness rounds a solution of comp's program to integers and checks it
// exactly against every row with a cell in comp, kept or left out, the
// withheld cells outside comp at their true values. Only a table that passes
// counts as evidence: a protection claimed by this package is one an
// attacker cannot refute, whatever the floating point did.
func (f *family) witness(comp []int32, x []float64) []int64 {
	w := make([]int64, len(comp))
	for j := range comp {
		r := math.Round(x[j])
		if r < 0 || math.Abs(x[j]-r) > 1e-6 || r > math.MaxInt64/4 {
			return nil
		}
		w[j] = int64(r)
	}
	for j, c := range comp {
		f.cur[c] = w[j]
		f.inComp[c] = true
	}
	ok := true
	for _, r := range f.checking {
		row := f.rows[r]
		if v := f.eval(row, f.inComp); v > 0 || row.eq && v != 0 {
			ok = false
			break
		}
	}
	for _, c := range comp {
		f.cur[c] = f.value(c)
		f.inComp[c] = false
	}
	if !ok {
		return nil
	}
	return w
}

// table is the table of a Proof: the cells of the component, count -> code
// -> value.
func (f *family) table(e *evidence) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	for j, c := range e.comp {
		name := f.names[f.count(c)]
		if out[name] == nil {
			out[name] = map[string]int64{}
		}
		out[name][f.code(c)] = e.w[j]
	}
	return out
}

// certify records what the witness x of comp's program shows: every primary
// cell at 0 in it can be 0, every one at or above its threshold can be
// that. Evidence is never revoked: withholding more cells only adds
// solutions (the withheld cells of a witness keep their true values), so a
// witness stays one.
func (f *family) certify(comp []int32, x []float64) {
	if w := f.witness(comp, x); w != nil {
		f.record(comp, w)
	}
}

// record is certify for a checked table w of comp; for Protection, it
// keeps the first table that shows each side of each cell.
func (f *family) record(comp []int32, w []int64) {
	for j, c := range comp {
		if !f.primary(c) {
			continue
		}
		if w[j] == 0 && !f.zeroOK[c] {
			f.zeroOK[c] = true
			if f.proofs != nil {
				f.proofs[c] = [2]*evidence{{comp, w}, f.proofs[c][1]}
			}
		}
		if w[j] >= f.threshold(c) && !f.highOK[c] {
			f.highOK[c] = true
			if f.proofs != nil {
				f.proofs[c] = [2]*evidence{f.proofs[c][0], {comp, w}}
			}
		}
	}
}

// evidence is a checked table of the cells of a component.
type evidence struct {
	comp []int32
	w    []int64
}

// certifyAt certifies from the current point of s, as the simplex method
// tracks it or, if that does not check out, recomputed.
func (f *family) certifyAt(comp []int32, s *simplex) {
	if w := f.witness(comp, s.x); w != nil {
		f.record(comp, w)
	} else if w := f.witness(comp, s.point()); w != nil {
		f.record(comp, w)
	}
}

// audit looks for evidence that the primary cells of comp not yet shown
// protected are, and returns the complements to withhold for those it finds
// none for: one for each such cell (in canonical order of the cells, a cell
// that one of them already got is not repeated), -1 for a cell whose rows
// publish nothing; none when all are shown protected. A cell that fails one
// side is not asked the other: it has its complement for this round. With
// all, it gathers all the evidence there is (for Protection) and chooses no
// complement.
//
// Every failure of a component gets its complement in the same round: on a
// city's table of small counts (the findings, a sum of eight kinds, nearly
// every cell below the threshold), one complement a round took hundreds of
// rounds, each solving the growing component's programs again.
//
// Each open cell is first tried in its own tree (treeWitness). For those
// left, the program of comp starts at the true table, and every question
// starts where the previous one ended: all open cells as small as possible
// at once, then each alone, which settles the 0 side; then all as large as
// possible up to their thresholds at once, then each alone, which settles
// the other. The upper side caps the cells at their thresholds for the
// question, so that its answer is a point at the threshold rather than an
// unbounded ray. Where the program's answer reaches the target but is not a
// table of whole numbers (programs of more than two related counts can have
// fractional vertices), other points with the cell held at the target are
// tried before giving up.
func (f *family) audit(comp []int32, all bool) (complements []int32) {
	var open []int
	for j, c := range comp {
		if f.primary(c) && !(f.zeroOK[c] && f.highOK[c]) {
			open = append(open, j)
		}
	}
	if len(open) == 0 {
		return nil
	}
	f.checking = f.rowsOf(comp, true)
	for _, j := range open {
		p := comp[j]
		for _, side := range []int{sideZero, sideHigh} {
			if !f.shown(p, side) && f.series != nil {
				if x := f.seriesWitness(comp, p, side); x != nil {
					f.certify(comp, x)
				}
			}
			if !f.shown(p, side) {
				if x := f.treeWitness(comp, p, side); x != nil {
					f.certify(comp, x)
				}
			}
		}
	}
	open = slices.DeleteFunc(open, func(j int) bool { return f.zeroOK[comp[j]] && f.highOK[comp[j]] })
	if len(open) == 0 {
		return nil
	}
	base, rows := f.program(comp)
	s := base.start(&f.tableau)
	c := make([]float64, base.n)
	// ask optimises c with the open cells of idx held to side: at most 0 or
	// capped at the threshold. With one cell, it tries other points of the
	// face when the answer reaches the target with fractions.
	ask := func(side int, idx ...int) {
		held := map[int][2]float64{}
		for _, j := range idx {
			if p := comp[j]; side == sideHigh && !f.highOK[p] {
				if s.x[j] > float64(f.threshold(p)) {
					c[j] = 0 // above already: raising it further proves nothing
					continue
				}
				held[j] = [2]float64{s.lo[j], s.hi[j]}
				s.hi[j] = float64(f.threshold(p))
			}
		}
		if s.minimize(c) == lpOptimal {
			f.certifyAt(comp, s)
			if j := idx[0]; len(idx) == 1 && !f.shown(comp[j], side) {
				th := float64(f.threshold(comp[j]))
				if _, ok := held[j]; !ok {
					held[j] = [2]float64{s.lo[j], s.hi[j]}
				}
				switch {
				case side == sideZero && s.x[j] < 1e-7:
					s.hi[j] = 0
				case side == sideHigh && s.x[j] > th-1e-7:
					s.lo[j] = th
				default:
					idx = nil // the target is out of reach
				}
				for _, sign := range []float64{1, -1} {
					if idx == nil || f.shown(comp[j], side) {
						break
					}
					for k := range comp {
						c[k] = sign
					}
					if s.minimize(c) == lpOptimal {
						f.certifyAt(comp, s)
					}
				}
				if idx != nil && !f.shown(comp[j], side) {
					budget := 32
					f.whole(comp, s, c, comp[j], side, &budget)
				}
			}
		}
		for j, b := range held {
			s.lo[j], s.hi[j] = b[0], b[1] // a nonbasic variable may sit inside its bounds
		}
	}
	failed := map[int]bool{} // the open cells (by index in comp) that got a complement
	fail := func(j int) {
		if all {
			return
		}
		failed[j] = true
		if c := f.choose(rows, s, comp[j]); c < 0 || !slices.Contains(complements, c) {
			complements = append(complements, c)
		}
	}
	for _, side := range []int{sideZero, sideHigh} {
		// All open cells at once, again over those still open while that
		// settles some; then each one left alone.
		for left := len(open) + 1; ; {
			clear(c)
			n := 0
			for _, j := range open {
				if !f.shown(comp[j], side) && !failed[j] {
					c[j] = 1
					if side == sideHigh {
						c[j] = -1
					}
					n++
				}
			}
			if n == 0 || n == left {
				break
			}
			left = n
			ask(side, open...)
		}
		for _, j := range open {
			if f.shown(comp[j], side) || failed[j] {
				continue
			}
			clear(c)
			c[j] = 1
			if side == sideHigh {
				c[j] = -1
			}
			ask(side, j)
			if !f.shown(comp[j], side) {
				fail(j)
			}
		}
	}
	return complements
}

// whole searches for a table of whole numbers near the current point of s,
// whose values are not all whole (the program has fractional vertices),
// with cell p held at its target by the bounds: it takes the first cell with
// a fraction and pushes it down to the whole number below, holding it
// there, then up to the one above, depth first, each step one
// reoptimisation from the last, until p is shown or budget programs are
// spent. Bounds are restored on the way back, which only relaxes them.
func (f *family) whole(comp []int32, s *simplex, c []float64, p int32, side int, budget *int) bool {
	if f.shown(p, side) {
		return true
	}
	j := -1
	for k := range comp {
		if x := s.x[k]; math.Abs(x-math.Round(x)) > 1e-6 {
			j = k
			break
		}
	}
	if j < 0 || *budget <= 0 {
		return false
	}
	x := s.x[j]
	for _, dir := range []float64{1, -1} {
		*budget--
		clear(c)
		c[j] = dir // down, then up
		if s.minimize(c) != lpOptimal {
			continue
		}
		lo, hi := s.lo[j], s.hi[j]
		switch {
		case dir > 0 && s.x[j] <= math.Floor(x)+1e-9:
			s.hi[j] = math.Floor(x)
		case dir < 0 && s.x[j] >= math.Ceil(x)-1e-9:
			s.lo[j] = math.Ceil(x)
		default:
			continue
		}
		f.certifyAt(comp, s)
		found := f.whole(comp, s, c, p, side, budget)
		s.lo[j], s.hi[j] = lo, hi
		if found {
			return true
		}
	}
	return false
}

// shown says whether cell p has evidence for side.
func (f *family) shown(p int32, side int) bool {
	if side == sideZero {
		return f.zeroOK[p]
	}
	return f.highOK[p]
}

// choose picks the complement for the primary cell p that the program of
// its component (of rows) cannot show protected, and counts the failure.
// The candidates are the published cells of the rows that can improve the
// failed objective of s, that is whose column prices nonzero against s's
// duals (the Farkas certificate of the failure), or all published cells of
// the rows when none can or s is nil; from p's third failure, only those in
// a row of p when any of them is. Of these, the one that withholds the fewest cells in all
// (its tree's rules add complements of their own: a lone community count
// withheld climbs to the total), then the best as the trees choose (smallest
// positive, then canonical). A zero can be the one: capped by a related
// count rather than by itself, it can have room. The next round audits
// again. -1 when no cell of the rows is published.
func (f *family) choose(rows []int32, s *simplex, p int32) int32 {
	var y []float64
	if s != nil {
		y = s.duals()
	}
	if f.failures == nil {
		f.failures = make([]int32, len(f.uf))
		f.price, f.near = make([]float64, len(f.uf)), make([]bool, len(f.uf))
	}
	f.failures[p]++
	// From its third failure on, a cell's complement comes from its own
	// rows where one of them can help: the cheapest cells elsewhere can
	// each add so little room that a cell would take a complement a round
	// for hundreds of rounds (a district's single case, pinned by the sum
	// of the kinds at the district, given a grid at a time).
	own := f.failures[p] > 2
	// price[c] accumulates the reduced cost of cell c's column: -y·a_c;
	// near[c] says that c is in a row of p.
	var cands []int32
	for i, r := range rows {
		row := f.rows[r]
		mine := own && slices.Contains(f.cellRows[p], r)
		for j, c := range row.cells {
			if f.sup(c) || f.frozen[f.count(c)] {
				continue
			}
			if !f.cellMark[c] {
				f.cellMark[c] = true
				cands = append(cands, c)
				f.price[c], f.near[c] = 0, false
			}
			if mine {
				f.near[c] = true
			}
			if y != nil {
				f.price[c] -= y[i] * float64(row.coef[j])
			}
		}
	}
	for _, c := range cands {
		f.cellMark[c] = false
	}
	// Raising c helps if its price is negative, lowering it if positive.
	helps := func(c int32) bool { d := f.price[c]; return d < -1e-7 || d > 1e-7 && f.value(c) > 0 }
	if slices.ContainsFunc(cands, helps) {
		cands = slices.DeleteFunc(cands, func(c int32) bool { return !helps(c) })
	}
	if slices.ContainsFunc(cands, func(c int32) bool { return f.near[c] }) {
		cands = slices.DeleteFunc(cands, func(c int32) bool { return !f.near[c] })
	}
	best, bestCost := int32(-1), 0
	for _, c := range cands {
		cost := f.s[f.count(c)].cost(f.node(c))
		if best < 0 || cost < bestCost || cost == bestCost && f.better(c, best) {
			best, bestCost = c, cost
		}
	}
	return best
}

// protect withholds complements until every primary cell of the family is
// shown protected. Each round analyzes the current suppression and audits,
// in canonical order, the components that a relation constrains and that
// hold a primary cell without evidence yet; each primary cell that fails
// gets one complement (and the rules of its tree after it), chosen from the
// state at the start of the round so that the order of the components does
// not matter, and the next round starts.
func (f *family) protect() {
	for {
		f.analyze()
		var add []int32
		for _, comp := range f.components(false) {
			for _, c := range f.audit(comp, false) {
				if c < 0 {
					c = f.anyPublished()
				}
				if c >= 0 && !slices.Contains(add, c) {
					add = append(add, c)
				}
			}
		}
		if len(add) == 0 {
			return // every primary cell is shown protected, or everything is withheld
		}
		for _, c := range add {
			f.s[f.count(c)].complement(f.node(c))
			f.dirty[f.count(c)] = true
		}
	}
}

// anyPublished is the best published cell of the family, -1 if none: the
// last resort when a primary cell lacks evidence and nothing around it is
// published, which only the floating point can cause. Withholding more
// cells only widens every feasible range, and with everything withheld
// every range is [0, ∞): zero everywhere is a table, and so is any multiple
// of the true one.
func (f *family) anyPublished() int32 {
	best := int32(-1)
	for c := range int32(len(f.uf)) {
		if !f.sup(c) && !f.frozen[f.count(c)] && (best < 0 || f.better(c, best)) {
			best = c
		}
	}
	return best
}

// treeWitness looks for a table without a program, by moving one count at
// a time within its own tree (treeMove): first the related cells in the way
// of the target, then p. For p to be 0, a count that is a subset of p's at
// p's unit must be 0 there first; for p to reach its threshold, a count that
// p's is a subset of must reach it there first (and so on along a chain).
// Each move is solved exactly for its tree with the other counts held where
// the previous moves left them, so the plan can only miss tables that need
// counts to move together in other ways, and then the program decides; a
// sum relation, where no count can move alone, always leaves it to the
// program. The table is returned over comp (the cells of p's family
// component, in order), for witness to check. This finds most tables at a
// fraction of a program's cost.
func (f *family) treeWitness(comp []int32, p int32, side int) []float64 {
	target := span{lo: 0, hi: 0}
	if side == sideHigh {
		target = span{lo: f.threshold(p), inf: true}
	}
	for _, c := range comp {
		f.inComp[c] = true
	}
	var moved []int32
	ok := f.plan(p, target, len(f.trees), &moved)
	x := make([]float64, len(comp))
	for j, c := range comp {
		x[j] = float64(f.cur[c])
		f.inComp[c] = false
	}
	for _, c := range moved {
		f.cur[c] = f.value(c)
	}
	if !ok {
		return nil
	}
	return x
}

// plan moves cell q into target after the cells related to it at its unit
// that are in the way, depth levels deep at most (relations cannot go round
// in a valid catalogue; the depth guards against any that do). moved
// collects the cells changed in f.cur.
func (f *family) plan(q int32, target span, depth int, moved *[]int32) bool {
	if depth == 0 || !f.inComp[q] {
		return false
	}
	for _, r := range f.cellRows[q] {
		if int(r) < f.rel0 {
			continue
		}
		row := f.rows[r]
		if row.same && f.ignoreSame {
			continue
		}
		if row.eq {
			return false // a sum, or a cell tied to another period: its counts cannot move one at a time
		}
		sub, super := row.cells[0], row.cells[1] // sub <= super
		var other int32
		var need span
		switch {
		case q == super && target.hi < f.cur[sub] && !target.inf:
			other, need = sub, span{lo: 0, hi: target.hi} // the subset must come down first
		case q == sub && target.lo > f.cur[super]:
			other, need = super, span{lo: target.lo, inf: true} // the superset must go up first
		default:
			continue
		}
		if !f.sup(other) || !f.plan(other, need, depth-1, moved) {
			return false
		}
	}
	return f.treeMove(q, target, moved)
}

// treeMove solves q's tree for q within target, inside q's component in its
// tree, the other counts at their values in f.cur: each withheld leaf there
// is boxed by the relation rows it is in (their other cells being fixed, a
// row bounds the leaf). A tree with boxes is solved exactly by intervals,
// like Intervals: what a subtree can sum to is an interval, and subtrees are
// independent. The solution goes into f.cur.
func (f *family) treeMove(q int32, target span, moved *[]int32) bool {
	k := f.count(q)
	t, sup := f.trees[k], f.s[k].sup
	base := int32(k * f.n)
	// box is what the relation rows allow a withheld leaf, and q its target.
	box := func(i int32) span {
		b := span{inf: true}
		if i == f.node(q) {
			b = target
		}
		if f.ignoreSame && i != f.node(q) {
			// Solving one period of a series alone, to repeat the
			// change in the periods beside it: a cell published in one
			// of them stays as it is.
			if v, pinned := f.pinned(base + i); pinned {
				b = b.intersect(point(v))
			}
		}
		if len(t.children(i)) > 0 {
			return b
		}
		c := base + i
		for _, r := range f.cellRows[c] {
			if int(r) < f.rel0 {
				continue
			}
			row := f.rows[r]
			if row.same && f.ignoreSame {
				continue
			}
			var rest, coef int64
			for j, o := range row.cells {
				if o == c {
					coef = int64(row.coef[j])
				} else {
					rest += int64(row.coef[j]) * f.cur[o]
				}
			}
			// coef*c + rest <= 0 (or = 0), coef ±1.
			lim := -rest * coef
			switch {
			case row.eq:
				b = b.intersect(point(lim))
			case coef > 0:
				b = b.intersect(span{lo: 0, hi: lim})
			default:
				b = b.intersect(span{lo: lim, inf: true})
			}
		}
		return b
	}
	// The component's top: the highest withheld ancestor of q.
	top := f.node(q)
	for t.parent[top] >= 0 && sup[t.parent[top]] {
		top = t.parent[top]
	}
	below := f.below[:t.len()]
	var down func(i int32) bool // below of the withheld subtree at i; false if empty
	down = func(i int32) bool {
		b := span{}
		kids := t.children(i)
		if len(kids) == 0 {
			b = span{inf: true}
		}
		for _, c := range kids {
			if !sup[c] {
				b = b.add(point(t.value[c]))
				continue
			}
			if !down(c) {
				return false
			}
			b = b.add(below[c])
		}
		b = b.intersect(box(i)).nonNegative()
		below[i] = b
		return b.inf || b.lo <= b.hi
	}
	var assign func(i int32, v int64) bool
	assign = func(i int32, v int64) bool {
		f.cur[base+i] = v
		*moved = append(*moved, base+i)
		kids := t.children(i)
		if len(kids) == 0 {
			return true
		}
		var ws []int32
		for _, c := range kids {
			if sup[c] {
				ws = append(ws, c)
			} else {
				v -= t.value[c]
			}
		}
		return f.split(ws, v, assign)
	}
	if p := t.parent[top]; p < 0 {
		// The grand total is withheld: it is free.
		return down(top) && assign(top, below[top].lo)
	}
	// Share the published parent's count among its withheld children.
	p := t.parent[top]
	var ws []int32
	rest := t.value[p]
	for _, c := range t.children(p) {
		if !sup[c] {
			rest -= t.value[c]
			continue
		}
		if !down(c) {
			return false
		}
		ws = append(ws, c)
	}
	return f.split(ws, rest, assign)
}

// split shares v among the withheld cells ws of one tree, each within its
// below interval (f.below): each gets its least, then the rest goes to the
// first ones up to their most; then assign continues under each.
func (f *family) split(ws []int32, v int64, assign func(int32, int64) bool) bool {
	rest := v
	for _, c := range ws {
		rest -= f.below[c].lo
	}
	if rest < 0 {
		return false
	}
	for _, c := range ws {
		b := f.below[c]
		add := rest
		if !b.inf {
			add = min(rest, b.hi-b.lo)
		}
		rest -= add
		if !assign(c, b.lo+add) {
			return false
		}
	}
	return rest == 0
}
