package disclosure

import (
	"cmp"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
)

// GrandTotal is the code of the grand total over the top-level units (the
// totals row of a published table of districts). It is not passed in: every
// function adds it as the parent of the nodes whose Parent is "", with their
// sum as its value, because it is published too and so is one more equation
// for an attacker. It appears in results like any other code.
const GrandTotal = ""

// Node is the count of one indicator at one unit. Every unit of the hierarchy
// must be present, and the value of a unit with children must be the sum of
// theirs: the additivity is what an attacker exploits, so the package checks it
// rather than trusting it.
type Node struct {
	Code   string // unit code, unique and not empty
	Parent string // parent unit's code; "" for a top-level unit
	Value  int64  // the count, >= 0
}

// tree is the validated hierarchy, in index form so that the suppression loop
// runs on slices rather than maps. Index 0 is the grand total and index i > 0
// is nodes[i-1]; the children of every node are sorted by code, so that every
// choice made while walking them is independent of the order of the input.
type tree struct {
	nodes  []Node
	value  []int64
	parent []int32 // -1 for the grand total
	kids   []int32 // children of i are kids[start[i]:start[i+1]]
	start  []int32
	order  []int32 // breadth-first from the grand total: parents before children
	index  codeIndex
}

func (t *tree) children(i int32) []int32 { return t.kids[t.start[i]:t.start[i+1]] }

func (t *tree) len() int { return len(t.value) }

func (t *tree) code(i int32) string {
	if i == 0 {
		return GrandTotal
	}
	return t.nodes[i-1].Code
}

// buildTree validates nodes and builds the tree: codes unique and not empty,
// parents present, no cycle, values non-negative and additive. It runs once
// per indicator, so it avoids maps and pointer writes in its loops: they made
// it most of Suppress's time.
func buildTree(nodes []Node) (*tree, error) {
	n := len(nodes) + 1
	t := &tree{nodes: nodes}
	value := make([]int64, n)
	t.index.init(nodes)
	for i, nd := range nodes {
		if nd.Code == "" {
			return nil, fmt.Errorf("disclosure: node %d has an empty code", i)
		}
		if nd.Value < 0 {
			return nil, fmt.Errorf("disclosure: %s has a negative count %d", nd.Code, nd.Value)
		}
		value[i+1] = nd.Value
		if !t.index.insert(int32(i + 1)) {
			return nil, fmt.Errorf("disclosure: duplicate code %q", nd.Code)
		}
	}
	parent := make([]int32, n)
	parent[0] = -1
	start := make([]int32, n+1)
	// Nodes usually come grouped by parent, so the last parent found is
	// usually the next one too.
	lastParent, last := "", int32(0)
	for i, nd := range nodes {
		p := last
		if nd.Parent != lastParent {
			p = t.index.find(nd.Parent)
			lastParent, last = nd.Parent, p
		}
		if p < 0 {
			return nil, fmt.Errorf("disclosure: %s has unknown parent %q", nd.Code, nd.Parent)
		}
		if p == int32(i+1) {
			return nil, fmt.Errorf("disclosure: %s is its own parent", nd.Code)
		}
		parent[i+1] = p
		start[p+1]++
	}
	// Children in one flat slice: fewer allocations.
	for i := 1; i <= n; i++ {
		start[i] += start[i-1]
	}
	kids := make([]int32, n-1)
	fill := slices.Clone(start[:n])
	for i := int32(1); i < int32(n); i++ {
		p := parent[i]
		kids[fill[p]] = i
		fill[p]++
	}
	t.value, t.parent, t.kids, t.start = value, parent, kids, start
	byCode := func(a, b int32) int { return cmp.Compare(nodes[a-1].Code, nodes[b-1].Code) }
	for i := range n {
		// Units usually arrive in code order, and then so do their children.
		if k := kids[start[i]:start[i+1]]; len(k) > 1 && !slices.IsSortedFunc(k, byCode) {
			slices.SortFunc(k, byCode)
		}
	}
	// Breadth-first from the grand total; a node not reached sits on a cycle,
	// since every parent exists.
	order := make([]int32, 1, n)
	for q := 0; q < len(order); q++ {
		i := order[q]
		order = append(order, kids[start[i]:start[i+1]]...)
	}
	t.order = order
	if len(order) != n {
		reached := make([]bool, n)
		for _, i := range order {
			reached[i] = true
		}
		for i := int32(1); i < int32(n); i++ {
			if !reached[i] {
				return nil, fmt.Errorf("disclosure: %s is on a cycle of parents", t.code(i))
			}
		}
	}
	// Additivity, bottom-up; the grand total is defined as its children's sum.
	for q := n - 1; q >= 0; q-- {
		i := order[q]
		k := kids[start[i]:start[i+1]]
		if len(k) == 0 {
			continue
		}
		var sum int64
		for _, c := range k {
			if sum += value[c]; sum < 0 {
				return nil, errors.New("disclosure: counts overflow int64")
			}
		}
		if i == 0 {
			value[0] = sum
		} else if value[i] != sum {
			return nil, fmt.Errorf("disclosure: %s counts %d but its children sum to %d: the indicator is not additive", t.code(i), value[i], sum)
		}
	}
	return t, nil
}

// suppressedSet turns a set of codes into a slice by index, rejecting codes
// that are not in the tree (a set from another hierarchy is a bug to report,
// not something to half-check).
func (t *tree) suppressedSet(suppressed map[string]bool) ([]bool, error) {
	sup := make([]bool, t.len())
	for code, s := range suppressed {
		i := t.index.find(code)
		if i < 0 {
			return nil, fmt.Errorf("disclosure: suppressed code %q is not a node", code)
		}
		sup[i] = s
	}
	return sup, nil
}

// codeIndex finds a node's index by code: an open-addressing hash table of
// node indices. It replaces a map[string]int32 that took half of Suppress's
// time in hashing, growth and the garbage collector's scanning of string keys,
// at twenty indicators per request; this table holds no pointers.
type codeIndex struct {
	nodes []Node
	slots []int32 // node index (nodes[i-1]); 0 is empty
	mask  uint64
}

var indexSeed = maphash.MakeSeed()

func (x *codeIndex) init(nodes []Node) {
	size := 8
	for size < 2*len(nodes) {
		size *= 2
	}
	x.nodes = nodes
	x.slots = make([]int32, size)
	x.mask = uint64(size - 1)
}

// insert adds node i unless a node with its code is there already.
func (x *codeIndex) insert(i int32) bool {
	c := x.nodes[i-1].Code
	for h := maphash.String(indexSeed, c) & x.mask; ; h = (h + 1) & x.mask {
		switch s := x.slots[h]; {
		case s == 0:
			x.slots[h] = i
			return true
		case x.nodes[s-1].Code == c:
			return false
		}
	}
}

// find returns the index of the node with code c (0 for GrandTotal), or -1.
func (x *codeIndex) find(c string) int32 {
	if c == GrandTotal {
		return 0
	}
	for h := maphash.String(indexSeed, c) & x.mask; ; h = (h + 1) & x.mask {
		switch s := x.slots[h]; {
		case s == 0:
			return -1
		case x.nodes[s-1].Code == c:
			return s
		}
	}
}
