package disclosure

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// shape is a random hierarchy: the number of top-level units is 1..fan[0], and
// a unit at depth d has 1..fan[d+1] children, down to len(fan) levels.
type shape struct {
	fan  []int
	leaf func(r *rand.Rand) int64 // count at a unit of the lowest level
}

// genTree builds a random additive tree with codes shaped like the real ones
// (6, 9, 12, 15 digits).
func genTree(r *rand.Rand, s shape) []Node {
	var nodes []Node
	var grow func(code, parent string, depth int) int64
	grow = func(code, parent string, depth int) int64 {
		at := len(nodes)
		nodes = append(nodes, Node{Code: code, Parent: parent})
		var v int64
		if depth+1 == len(s.fan) {
			v = s.leaf(r)
		} else {
			for k := range 1 + r.IntN(s.fan[depth+1]) {
				v += grow(fmt.Sprintf("%s%03d", code, k+1), code, depth+1)
			}
		}
		nodes[at].Value = v
		return v
	}
	for k := range 1 + r.IntN(s.fan[0]) {
		grow(fmt.Sprintf("33%04d", k+1), "", 0)
	}
	return nodes
}

// skewed is a count distribution with many zeros and small counts and a long
// tail, like rare attributes (低保, registered unemployed) per grid.
func skewed(r *rand.Rand) int64 {
	switch x := r.Float64(); {
	case x < 0.2:
		return 0
	case x < 0.5:
		return 1 + r.Int64N(4)
	case x < 0.6:
		return 5 + r.Int64N(3)
	default:
		return int64(math.Exp(2 + 1.5*r.Float64()*r.Float64()*2))
	}
}

// tiny is a distribution where almost everything is small: most groups are
// all primary cells and complements climb the hierarchy.
func tiny(r *rand.Rand) int64 { return r.Int64N(6) }

// randomShape picks one of a variety of hierarchies, from a single chain of
// only children to four wide levels.
func randomShape(r *rand.Rand) shape {
	levels := 1 + r.IntN(4)
	fan := make([]int, levels)
	for i := range fan {
		fan[i] = 1 + r.IntN(6)
	}
	leaves := []func(*rand.Rand) int64{skewed, tiny, func(r *rand.Rand) int64 { return r.Int64N(40) }}
	return shape{fan: fan, leaf: leaves[r.IntN(len(leaves))]}
}

// randomRule picks the default rule most of the time, and otherwise other
// thresholds and zero suppression.
func randomRule(r *rand.Rand) Rule {
	if r.IntN(2) == 0 {
		return Rule{}
	}
	return Rule{Threshold: 1 + r.Int64N(10), SuppressZero: r.IntN(2) == 0}
}

// cityTree is the hierarchy of a city: 4 districts, 60 townships, 460 communities
// and 1,336 responsibility grids, unevenly spread (a few townships with many
// communities, many communities with a single grid).
func cityTree(r *rand.Rand) []Node {
	const districts, townships, communities, grids = 4, 60, 460, 1336
	var nodes []Node
	add := func(parentIdx []int, n int, child func(parent string, k int) string) []int {
		// Each parent gets one child, the rest go to random parents with a
		// preference for the first ones (skew).
		per := make([]int, len(parentIdx))
		for i := range per {
			per[i] = 1
		}
		for range n - len(parentIdx) {
			per[int(float64(len(per))*r.Float64()*r.Float64())]++
		}
		var out []int
		for i, pi := range parentIdx {
			for k := range per[i] {
				p := nodes[pi].Code
				out = append(out, len(nodes))
				nodes = append(nodes, Node{Code: child(p, k+1), Parent: p})
			}
		}
		return out
	}
	var top []int
	for k := range districts {
		top = append(top, len(nodes))
		nodes = append(nodes, Node{Code: fmt.Sprintf("3301%02d", k+2)})
	}
	seq := func(p string, k int) string { return fmt.Sprintf("%s%03d", p, k) }
	ts := add(top, townships, seq)
	cs := add(ts, communities, seq)
	add(cs, grids, seq)
	return nodes
}

// cityIndicators gives the same hierarchy the counts of twenty indicators:
// each grid has a population, and each indicator is a share of it, from
// common (residents 60+) to rare (registered unemployed, 低保 persons), drawn
// as Poisson counts so that rare ones have many small cells.
func cityIndicators(r *rand.Rand, hierarchy []Node, n int) [][]Node {
	kids := map[string][]int{}
	for i, nd := range hierarchy {
		kids[nd.Parent] = append(kids[nd.Parent], i)
	}
	pop := make([]float64, len(hierarchy))
	for i, nd := range hierarchy {
		if len(kids[nd.Code]) == 0 {
			pop[i] = math.Exp(5.5 + r.NormFloat64()) // median ~250, long tail
		}
	}
	out := make([][]Node, n)
	for k := range out {
		share := 0.2 * math.Pow(0.7, float64(k)) // 20 % down to 0.02 %
		nodes := make([]Node, len(hierarchy))
		copy(nodes, hierarchy)
		for i := range nodes {
			if pop[i] > 0 {
				nodes[i].Value = poisson(r, pop[i]*share)
			}
		}
		sumUp(nodes)
		out[k] = nodes
	}
	return out
}

func poisson(r *rand.Rand, mean float64) int64 {
	if mean > 50 {
		return max(0, int64(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-mean), int64(0), 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// sumUp sets the value of every node with children to their sum.
func sumUp(nodes []Node) {
	idx := map[string]int{}
	kids := map[string][]int{}
	for i, nd := range nodes {
		idx[nd.Code] = i
		kids[nd.Parent] = append(kids[nd.Parent], i)
	}
	var sum func(i int) int64
	sum = func(i int) int64 {
		k := kids[nodes[i].Code]
		if len(k) == 0 {
			return nodes[i].Value
		}
		var v int64
		for _, c := range k {
			v += sum(c)
		}
		nodes[i].Value = v
		return v
	}
	for _, i := range kids[""] {
		sum(i)
	}
}

// cityFamily is one family of related counts of cityFamilies.
type cityFamily struct {
	counts    []Count
	relations []Relation
}

// cityFamilies gives the hierarchy twenty counts with the shares of
// cityIndicators (20 % of the population down to 0.02 %), but related the
// way the built-in catalogue's counts are: counts 0-3 a chain of subsets
// (residents, 18+, 60+, 80+), 4-5 and 6-7 pairs (pension insured and
// receiving; persons and households on 低保), 8-10 and 11-13 two subsets of
// one count each (cases, open and overdue; party members, probationary and
// out of contact), and 14-19 alone. A subset is drawn by thinning its
// superset grid by grid, which keeps every count's distribution as in
// cityIndicators (a thinned Poisson count is Poisson).
func cityFamilies(r *rand.Rand, hierarchy []Node) []cityFamily {
	kids := map[string]int{}
	for _, nd := range hierarchy {
		kids[nd.Parent]++
	}
	pop := make([]float64, len(hierarchy))
	for i, nd := range hierarchy {
		if kids[nd.Code] == 0 {
			pop[i] = math.Exp(5.5 + r.NormFloat64())
		}
	}
	name := func(k int) string { return fmt.Sprintf("i%02d", k) }
	counts := make([]Count, 20)
	for k := range counts {
		counts[k] = Count{Name: name(k), Nodes: slices.Clone(hierarchy)}
	}
	// of[k] is the count that count k is a subset of (thinned from), or -1.
	of := []int{-1, 0, 1, 2, -1, 4, -1, 6, -1, 8, 8, -1, 11, 11, -1, -1, -1, -1, -1, -1}
	for k := range counts {
		share := 0.2 * math.Pow(0.7, float64(k))
		for i := range hierarchy {
			if pop[i] == 0 {
				continue
			}
			if o := of[k]; o >= 0 {
				p := share / (0.2 * math.Pow(0.7, float64(o)))
				counts[k].Nodes[i].Value = binomial(r, counts[o].Nodes[i].Value, p)
			} else {
				counts[k].Nodes[i].Value = poisson(r, pop[i]*share)
			}
		}
	}
	for k := range counts {
		sumUp(counts[k].Nodes)
	}
	var out []cityFamily
	for k := range counts {
		if of[k] >= 0 {
			continue
		}
		fam := cityFamily{counts: []Count{counts[k]}}
		// Members in order, so that a chain's links come after their ends.
		member := map[int]bool{k: true}
		for j := k + 1; j < len(counts); j++ {
			if of[j] >= 0 && member[of[j]] {
				member[j] = true
				fam.counts = append(fam.counts, counts[j])
				fam.relations = append(fam.relations, Relation{Count: name(j), Kind: SubsetOf, Of: []string{name(of[j])}})
			}
		}
		out = append(out, fam)
	}
	return out
}

func binomial(r *rand.Rand, n int64, p float64) int64 {
	var k int64
	for range n {
		if r.Float64() < p {
			k++
		}
	}
	return k
}

// findingsFamily is a family like the hub's findings: eight kinds of
// finding counted by grid, with the means per grid that the seeded city of
// 1.3 million residents has (most kinds are rare: nearly every cell is below
// the threshold), and the open findings, their sum.
func findingsFamily(r *rand.Rand, hierarchy []Node) cityFamily {
	kids := map[string]int{}
	for _, nd := range hierarchy {
		kids[nd.Parent]++
	}
	means := []float64{0.97, 0.006, 0.13, 13.3, 9.5, 0, 2.7, 0.13}
	var fam cityFamily
	total := Count{Name: "open", Nodes: slices.Clone(hierarchy)}
	var parts []string
	for k, mean := range means {
		c := Count{Name: fmt.Sprintf("kind%d", k), Nodes: slices.Clone(hierarchy)}
		for i, nd := range c.Nodes {
			if kids[nd.Code] == 0 {
				c.Nodes[i].Value = poisson(r, mean)
				total.Nodes[i].Value += c.Nodes[i].Value
			}
		}
		sumUp(c.Nodes)
		fam.counts = append(fam.counts, c)
		parts = append(parts, c.Name)
	}
	sumUp(total.Nodes)
	fam.counts = append(fam.counts, total)
	fam.relations = []Relation{{Count: "open", Kind: SumOf, Of: parts}}
	return fam
}
