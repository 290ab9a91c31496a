package disclosure

import "math"

// Unbounded is Interval.Hi when nothing published bounds a cell from above
// (the grand total is suppressed, say).
const Unbounded int64 = math.MaxInt64

// Interval is the range an attacker can prove for a suppressed cell from the
// published cells, the additivity equations and the fact that counts are
// non-negative integers. Every integer in it is the cell's value in some table
// consistent with what is published, so it is exactly what leaks: Lo == Hi is
// a disclosed cell, Lo > 0 proves someone is counted, and Hi below the
// threshold proves the count is small.
type Interval struct {
	Lo, Hi int64
}

// Intervals computes the feasible interval of every suppressed cell, for an
// audit of a suppression (Suppress guarantees [0, hi] with hi >= threshold for
// every primary cell). It fails when the nodes are not a valid additive tree
// or when suppressed names a code that is not a node.
//
// The computation is exact and linear, because the constraints form a tree:
// what the subtree of a cell says about it (below) and what the rest of the
// tree says (above) involve disjoint unknowns, so the feasible set is their
// intersection, and each is a sum of independent integer intervals:
//
//	below(x) = sum of published children + sum of below(c) over suppressed children c ([0, ∞) for a leaf)
//	above(c) = [parent] - published siblings - sum of below(s) over suppressed siblings s, cut to >= 0
//
// where [parent] is the parent's value if published, else above(parent).
func Intervals(nodes []Node, suppressed map[string]bool) (map[string]Interval, error) {
	t, err := buildTree(nodes)
	if err != nil {
		return nil, err
	}
	sup, err := t.suppressedSet(suppressed)
	if err != nil {
		return nil, err
	}
	iv := t.intervals(sup)
	out := make(map[string]Interval)
	for i := range t.len() {
		if sup[i] {
			f := iv[i]
			in := Interval{Lo: f.lo, Hi: f.hi}
			if f.inf {
				in.Hi = Unbounded
			}
			out[t.code(int32(i))] = in
		}
	}
	return out, nil
}

// intervals is Intervals by index: the feasible interval of every cell under
// the tree's equations, non-negativity and the suppression sup (a published
// cell's is its value). It is exact for the tree alone; see Intervals.
func (t *tree) intervals(sup []bool) []span {
	n := t.len()
	below := make([]span, n)
	for q := n - 1; q >= 0; q-- {
		i := t.order[q]
		kids := t.children(i)
		switch {
		case !sup[i]:
			below[i] = point(t.value[i])
		case len(kids) == 0:
			below[i] = span{0, 0, true}
		default:
			var b span
			for _, c := range kids {
				b = b.add(below[c])
			}
			below[i] = b
		}
	}
	above := make([]span, n)
	above[0] = span{0, 0, true}
	if !sup[0] {
		above[0] = point(t.value[0])
	}
	for _, p := range t.order {
		kids := t.children(p)
		if len(kids) == 0 {
			continue
		}
		var top span // what is known of p from outside its subtree
		if sup[p] {
			top = above[p]
		} else {
			top = point(t.value[p])
		}
		// The sum of below over all children, keeping unbounded ones apart so
		// that one child's can be taken out again.
		var lo, hi int64
		inf := 0
		for _, c := range kids {
			lo += below[c].lo
			if below[c].inf {
				inf++
			} else {
				hi += below[c].hi
			}
		}
		for _, c := range kids {
			if !sup[c] {
				above[c] = point(t.value[c])
				continue
			}
			b := below[c]
			others := span{lo: lo - b.lo, hi: hi, inf: inf > 0}
			if b.inf {
				others.inf = inf > 1
			} else {
				others.hi -= b.hi
			}
			above[c] = top.sub(others).nonNegative()
		}
	}
	out := make([]span, n)
	for i := range n {
		if sup[i] {
			out[i] = below[i].intersect(above[i])
		} else {
			out[i] = point(t.value[i])
		}
	}
	return out
}

// span is an integer interval [lo, hi], or [lo, ∞) when inf. A lower bound of
// -∞ only arises in sub, as MinInt64, and is cut to 0 by nonNegative at once.
type span struct {
	lo, hi int64
	inf    bool
}

func point(v int64) span { return span{lo: v, hi: v} }

func (a span) add(b span) span {
	return span{lo: a.lo + b.lo, hi: a.hi + b.hi, inf: a.inf || b.inf}
}

// sub is a - b; its lower bound is a.lo - b.hi, or -∞ (stored as MinInt64)
// when b is unbounded.
func (a span) sub(b span) span {
	r := span{lo: math.MinInt64, inf: a.inf}
	if !b.inf {
		r.lo = a.lo - b.hi
	}
	if !a.inf {
		r.hi = a.hi - b.lo
	}
	return r
}

func (a span) nonNegative() span {
	a.lo = max(a.lo, 0)
	return a
}

func (a span) intersect(b span) span {
	r := span{lo: max(a.lo, b.lo), inf: a.inf && b.inf}
	switch {
	case a.inf:
		r.hi = b.hi
	case b.inf:
		r.hi = a.hi
	default:
		r.hi = min(a.hi, b.hi)
	}
	return r
}
