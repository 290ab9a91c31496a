package disclosure

import (
	"fmt"
)

// DefaultThreshold is the threshold of a zero Rule: counts 1 to 4 are withheld,
// the usual minimum cell size for counts of persons.
const DefaultThreshold = 5

// Rule is the disclosure rule for one indicator.
type Rule struct {
	// Threshold is the smallest count published as is; 0 means
	// DefaultThreshold. Counts 0 < v < Threshold identify too few persons.
	Threshold int64
	// SuppressZero withholds zeros as well. Zeros are usually safe ("no one in
	// this grid receives 低保" harms no one), so by default a 0 is published;
	// set it for indicators where absence is itself sensitive.
	SuppressZero bool
}

func (r Rule) threshold() (int64, error) {
	switch {
	case r.Threshold < 0:
		return 0, fmt.Errorf("disclosure: negative threshold %d", r.Threshold)
	case r.Threshold == 0:
		return DefaultThreshold, nil
	}
	return r.Threshold, nil
}

// primary reports whether a count is sensitive in itself under threshold t.
func primary(v, t int64, zero bool) bool {
	return v < t && (v > 0 || zero)
}

// Suppress decides which cells of one indicator are withheld and returns their
// codes (GrandTotal among them when the grand total is). It works on the
// whole hierarchy at once because a user can read every level: see the package
// documentation for the rules. The result is a function of the set of nodes
// only, not of their order. It fails when the nodes are not a valid additive
// tree.
//
// The algorithm is a work-list fixpoint over the equations parent =
// sum(children), starting from the primary cells:
//   - an equation with exactly one suppressed cell gets a complement: the
//     smallest published positive sibling, or, when the suppressed cell is the
//     parent, its smallest published positive child; an only child with no
//     sibling to pair with takes its parent down with it;
//   - below a published parent, follow suppressed children down to the
//     suppressed leaves: their total is how much an attacker cannot account
//     for, and it bounds every cell above them. When a primary cell is among
//     them and that total is below the threshold, one more complement is
//     taken, the smallest published positive cell bordering them.
//
// Each step suppresses one more cell and re-examines the equations that cell
// is in, so the loop ends, at the latest with everything suppressed.
func Suppress(nodes []Node, rule Rule) (map[string]bool, error) {
	th, err := rule.threshold()
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return map[string]bool{}, nil // no table, not even a total to withhold
	}
	t, err := buildTree(nodes)
	if err != nil {
		return nil, err
	}
	return newSuppressor(t, th, rule.SuppressZero).codes(), nil
}

// newSuppressor marks the primary cells of t and runs the rules to their
// fixpoint.
func newSuppressor(t *tree, th int64, zero bool) *suppressor {
	return newStickySuppressor(t, th, zero, nil, nil)
}

// newStickySuppressor is newSuppressor for a publication that follows an
// earlier one (SuppressSeries): the cells of held are withheld from the
// start, and those of avoid are chosen as complements only when nothing
// else will do. Either may be nil.
func newStickySuppressor(t *tree, th int64, zero bool, held, avoid []bool) *suppressor {
	s := &suppressor{
		t:       t,
		th:      th,
		sup:     make([]bool, t.len()),
		primary: make([]bool, t.len()),
		queued:  make([]bool, t.len()),
		queue:   make([]int32, t.len()),
		avoid:   avoid,
	}
	for i, v := range t.value {
		if primary(v, th, zero) {
			s.primary[i] = true
			s.sup[i] = true
		}
		if held != nil && held[i] {
			s.sup[i] = true
		}
	}
	// Every equation once, bottom-up: low tables settle first, and what they
	// add to higher ones is queued as it happens.
	for q := len(t.order) - 1; q >= 0; q-- {
		if i := t.order[q]; len(t.children(i)) > 0 {
			s.push(i)
		}
	}
	s.run()
	return s
}

// run examines the queued equations until none needs another cell.
func (s *suppressor) run() {
	for s.size > 0 {
		p := s.queue[s.head]
		s.head = (s.head + 1) % len(s.queue)
		s.size--
		s.queued[p] = false
		s.check(p)
	}
}

// codes returns the codes of the withheld cells.
func (s *suppressor) codes() map[string]bool {
	n := 0
	for _, sup := range s.sup {
		if sup {
			n++
		}
	}
	out := make(map[string]bool, n)
	for i, sup := range s.sup {
		if sup {
			out[s.t.code(int32(i))] = true
		}
	}
	return out
}

// cost is the number of cells that complement(i) would withhold, i
// included; the suppression is left as it was.
func (s *suppressor) cost(i int32) int {
	var trial []int32
	s.trial = &trial
	s.suppress(i)
	s.run()
	s.trial = nil
	for _, c := range trial {
		s.sup[c] = false
	}
	return len(trial)
}

// complement withholds cell i for a reason outside the tree (a relation with
// another count) and restores the tree's own rules around it.
func (s *suppressor) complement(i int32) {
	if !s.sup[i] {
		s.suppress(i)
		s.run()
	}
}

type suppressor struct {
	t       *tree
	th      int64
	sup     []bool
	primary []bool
	// queue is a ring of the parents whose equation must be re-examined; a
	// parent is in it at most once, so it never holds more than all nodes.
	queue      []int32
	head, size int
	queued     []bool
	stack      []int32 // scratch for widen
	// trial, when not nil, records every cell suppress withholds (cost).
	trial *[]int32
	// avoid, when not nil, marks the cells an earlier publication showed
	// at the same value: withholding one now hides nothing, so it is the
	// last choice of complement.
	avoid []bool
}

func (s *suppressor) push(p int32) {
	if p >= 0 && !s.queued[p] && len(s.t.children(p)) > 0 {
		s.queued[p] = true
		s.queue[(s.head+s.size)%len(s.queue)] = p
		s.size++
	}
}

// suppress withholds cell i and queues every equation whose state that
// changes: the one i is the parent of, the one i is a child of, and the
// interval check of the first published ancestor, under which i now counts.
func (s *suppressor) suppress(i int32) {
	s.sup[i] = true
	if s.trial != nil {
		*s.trial = append(*s.trial, i)
	}
	s.push(i)
	a := s.t.parent[i]
	s.push(a)
	for a >= 0 && s.sup[a] {
		a = s.t.parent[a]
	}
	s.push(a)
}

// check restores the two rules on the equation of parent p.
func (s *suppressor) check(p int32) {
	kids := s.t.children(p)
	n := 0
	if s.sup[p] {
		n++
	}
	for _, c := range kids {
		if s.sup[c] {
			n++
		}
	}
	switch {
	case n == 1 && s.sup[p]:
		// p is suppressed but p = sum of its published children.
		s.suppress(s.pick(kids))
	case n == 1:
		// The one suppressed child = p - sum of the published ones.
		if c := s.pick(kids); c >= 0 && !s.avoided(c) {
			s.suppress(c)
		} else {
			// An only child: p equals it. Or every sibling was
			// published at its value before: withholding one again
			// hides nothing, p must go.
			s.suppress(p)
		}
	case n >= 2 && !s.sup[p]:
		s.widen(p)
	}
}

// pick returns the published cell of cells to suppress as a complement: the
// smallest positive one, ties by code (cells are sorted by code), or the first
// zero when there is no positive one; -1 when all are suppressed.
func (s *suppressor) pick(cells []int32) int32 {
	best := int32(-1)
	for _, c := range cells {
		if s.sup[c] {
			continue
		}
		if best < 0 || s.better(c, best) {
			best = c
		}
	}
	return best
}

// avoided says whether cell i is a last choice of complement.
func (s *suppressor) avoided(i int32) bool { return s.avoid != nil && s.avoid[i] }

// better orders complement candidates: not avoided before avoided, positive
// before zero, then smaller, then by code.
func (s *suppressor) better(a, b int32) bool {
	if s.avoid != nil && s.avoid[a] != s.avoid[b] {
		return !s.avoid[a]
	}
	va, vb := s.t.value[a], s.t.value[b]
	if (va > 0) != (vb > 0) {
		return va > 0
	}
	if va != vb {
		return va < vb
	}
	return s.t.code(a) < s.t.code(b)
}

// widen enforces interval protection below the published parent p. The
// unknowns an attacker faces there are the suppressed leaves reached from p
// through suppressed cells: their total (the slack) is exactly how far any
// suppressed cell there can move while p and every published cell stay the
// same, so a primary cell among them is proven to lie in [0, slack]. When that
// is narrower than the threshold, one more cell bordering the suppressed ones
// (a published child of p or of a suppressed cell below it) is suppressed.
func (s *suppressor) widen(p int32) {
	var slack int64
	hasPrimary := false
	best := int32(-1)
	consider := func(c int32) {
		if best < 0 || s.better(c, best) {
			best = c
		}
	}
	stack := s.stack[:0]
	for _, c := range s.t.children(p) {
		if s.sup[c] {
			stack = append(stack, c)
		} else {
			consider(c)
		}
	}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		hasPrimary = hasPrimary || s.primary[x]
		kids := s.t.children(x)
		if len(kids) == 0 {
			slack += s.t.value[x]
		}
		for _, c := range kids {
			if s.sup[c] {
				stack = append(stack, c)
			} else {
				consider(c)
			}
		}
	}
	s.stack = stack
	if !hasPrimary || slack >= s.th {
		return
	}
	if best >= 0 && s.t.value[best] > 0 {
		s.suppress(best)
		return
	}
	// Unreachable for valid data: with nothing positive left to add, the slack
	// is p's own count, which is at least the threshold since p is published
	// and above a primary cell. Suppressing p keeps the guarantee regardless.
	s.suppress(p)
}
