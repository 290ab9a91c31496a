package disclosure

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// enumerate finds by brute force the range of every suppressed cell over all
// non-negative integer tables that agree with the published cells and the
// additivity equations, when the grand total is published (so that every cell
// lies in [0, grand total] and the search is finite). Cells are assigned
// top-down; a cell that is the last unknown of a table is computed from it
// rather than searched, and partial sums of children are cut at their parent.
func enumerate(nodes []Node, suppressed map[string]bool) map[string]Interval {
	type unit struct {
		code     string
		parent   int
		kids     []int
		value    int64
		unknown  bool
		assigned int64
	}
	units := []*unit{{code: GrandTotal, parent: -1}}
	idx := map[string]int{GrandTotal: 0}
	for _, nd := range nodes {
		idx[nd.Code] = len(units)
		units = append(units, &unit{code: nd.Code, value: nd.Value, unknown: suppressed[nd.Code]})
	}
	for _, nd := range nodes {
		u := units[idx[nd.Code]]
		u.parent = idx[nd.Parent]
		units[u.parent].kids = append(units[u.parent].kids, idx[nd.Code])
		if nd.Parent == "" {
			units[0].value += nd.Value
		}
	}
	// Top-down order of the unknowns.
	var order []int
	for q := []int{0}; len(q) > 0; q = q[1:] {
		if units[q[0]].unknown {
			order = append(order, q[0])
		}
		q = append(q, units[q[0]].kids...)
	}
	pos := map[int]int{}
	for k, i := range order {
		pos[i] = k
	}
	// known is the value of a unit once published or assigned.
	known := func(i int, upTo int) (int64, bool) {
		u := units[i]
		if !u.unknown {
			return u.value, true
		}
		if pos[i] < upTo {
			return u.assigned, true
		}
		return 0, false
	}
	// closes reports the tables (by parent) whose last unknown is order[k].
	lastOf := map[int][]int{}
	for p, u := range units {
		if len(u.kids) == 0 {
			continue
		}
		last := -1
		for _, i := range append([]int{p}, u.kids...) {
			if units[i].unknown && pos[i] > last {
				last = pos[i]
			}
		}
		if last >= 0 {
			lastOf[last] = append(lastOf[last], p)
		}
	}
	// consistent checks table p once all its cells are known at k+1.
	consistent := func(p, k int) bool {
		v, _ := known(p, k+1)
		var sum int64
		for _, c := range units[p].kids {
			w, _ := known(c, k+1)
			sum += w
		}
		return v == sum
	}
	// fits checks that the known children of the parent of unit i do not
	// already exceed it (the parent is assigned before i, top-down).
	fits := func(i, k int) bool {
		p := units[i].parent
		if p < 0 {
			return true
		}
		pv, _ := known(p, k+1)
		var sum int64
		for _, c := range units[p].kids {
			if w, ok := known(c, k+1); ok {
				sum += w
			}
		}
		return sum <= pv
	}
	out := map[string]Interval{}
	var search func(k int)
	search = func(k int) {
		if k == len(order) {
			for _, i := range order {
				u := units[i]
				iv, ok := out[u.code]
				if !ok {
					iv = Interval{Lo: u.assigned, Hi: u.assigned}
				}
				iv.Lo, iv.Hi = min(iv.Lo, u.assigned), max(iv.Hi, u.assigned)
				out[u.code] = iv
			}
			return
		}
		u := units[order[k]]
		try := func(v int64) bool {
			u.assigned = v
			if !fits(order[k], k) {
				return false
			}
			for _, p := range lastOf[k] {
				if !consistent(p, k) {
					return true // a larger value may still fit the other tables
				}
			}
			search(k + 1)
			return true
		}
		for v := int64(0); v <= units[0].value; v++ {
			if !try(v) {
				break // the parent is exceeded, and more only exceeds it more
			}
		}
	}
	search(0)
	return out
}

// TestIntervalsBruteForce checks Intervals against the brute-force search on
// small trees, for random suppressions (many of them unsafe, so that narrow
// and exact intervals occur) and for the ones Suppress makes.
func TestIntervalsBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	narrow, cases := 0, 0
	for n := 0; cases < 1000; n++ {
		s := shape{fan: []int{2, 3, 3}, leaf: func(r *rand.Rand) int64 { return r.Int64N(6) }}
		if n%3 == 0 {
			s.fan = []int{1, 2, 2, 2}
		}
		nodes := genTree(r, s)
		var sup map[string]bool
		if n%2 == 0 {
			sup = map[string]bool{}
			p := r.Float64()
			for _, nd := range nodes {
				if r.Float64() < p {
					sup[nd.Code] = true
				}
			}
		} else {
			var err error
			if sup, err = Suppress(nodes, Rule{Threshold: 1 + r.Int64N(6), SuppressZero: r.IntN(2) == 0}); err != nil {
				t.Fatal(err)
			}
			if sup[GrandTotal] {
				continue // unbounded: not enumerable
			}
		}
		// The search grows as total^(suppressed leaves): keep it small.
		if suppressedLeaves(nodes, sup) > 4 {
			continue
		}
		cases++
		got, err := Intervals(nodes, sup)
		if err != nil {
			t.Fatal(err)
		}
		want := enumerate(nodes, sup)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("Intervals (-brute force +got):\n%s\nnodes %v\nsuppressed %v", diff, nodes, sup)
		}
		for _, iv := range got {
			if iv.Hi-iv.Lo < 3 {
				narrow++
			}
		}
	}
	if narrow == 0 {
		t.Fatal("no narrow interval: the comparison is not exercised")
	}
}

func suppressedLeaves(nodes []Node, sup map[string]bool) int {
	parents := map[string]bool{}
	for _, nd := range nodes {
		parents[nd.Parent] = true
	}
	n := 0
	for _, nd := range nodes {
		if sup[nd.Code] && !parents[nd.Code] {
			n++
		}
	}
	return n
}

func TestIntervalsUnbounded(t *testing.T) {
	nodes := mkTree(t, "D", "T<D", "C<T", "g1<C=1", "g2<C=2", "g3<C=9")
	got, err := Intervals(nodes, set("", "D", "T", "C", "g1", "g2"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Interval{
		"":   {9, Unbounded},
		"D":  {9, Unbounded},
		"T":  {9, Unbounded},
		"C":  {9, Unbounded},
		"g1": {0, Unbounded},
		"g2": {0, Unbounded},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Intervals (-want +got):\n%s", diff)
	}
	// The published grand total caps everything, and g3 is known.
	got, _ = Intervals(nodes, set("g1", "g2"))
	want = map[string]Interval{"g1": {0, 3}, "g2": {0, 3}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Intervals (-want +got):\n%s", diff)
	}
}
