package disclosure

import (
	"math"
	"slices"
)

// program is a linear program over bounded variables:
//
//	minimise c·x subject to A x = b and lo <= x <= hi
//
// with every lo finite and hi possibly +Inf, and a known solution x0. The
// programs of the joint suppression are small (the withheld cells of one
// component of a family, tens to a few hundred), their coefficients are 0
// and ±1, and the true table is a solution of each, so a dense tableau
// started at x0 is simple and fast enough. Results are floating point:
// callers round a solution and check it exactly (family.witness), and only
// a table that passes that check is evidence of anything.
type program struct {
	m, n   int
	a      [][]term // the nonzero coefficients of each row
	b      []float64
	lo, hi []float64
	x0     []float64
}

// term is a nonzero coefficient of a row: v at column j.
type term struct {
	j int
	v float64
}

// newProgram is a program of m empty rows over n variables, all in [0,
// +Inf).
func newProgram(m, n int) *program {
	p := &program{m: m, n: n, a: make([][]term, m), b: make([]float64, m), lo: make([]float64, n), hi: make([]float64, n), x0: make([]float64, n)}
	for j := range p.hi {
		p.hi[j] = math.Inf(1)
	}
	return p
}

// scratch returns a zeroed slice of size floats, from *buf when not nil
// (growing it): the tableaux are the large allocations here, and one family
// makes many of them in turn.
func scratch(buf *[]float64, size int) []float64 {
	if buf == nil {
		return make([]float64, size)
	}
	if cap(*buf) < size {
		// With room to grow: a component gains a few cells a round, and
		// a fresh tableau each round would be zeroed twice.
		*buf = make([]float64, size+size/4)
	}
	b := (*buf)[:size]
	clear(b)
	return b
}

// Outcomes of the simplex method.
const (
	lpOptimal   = iota
	lpUnbounded // the objective decreases without bound
	lpStalled   // the iteration cap was hit (not expected; taken as no answer)
)

const lpEps = 1e-9

// simplex is the primal simplex method for bounded variables on a dense
// tableau, started at the known solution rather than at a vertex: a
// nonbasic variable may sit between its bounds (it can then enter moving
// either way, and once it leaves the basis it does so at a bound). The basis
// starts as one artificial variable per row, fixed at zero: x0 satisfies
// every row, so nothing is left for them to carry and no phase 1 is needed.
// Their columns keep B⁻¹, for the duals and for recomputing the point.
type simplex struct {
	p     *program
	m, w  int       // rows; columns, artificials (n..w-1) included
	t     []float64 // m rows of w: B⁻¹ [A | I]
	x     []float64 // value of every column
	basis []int     // the column basic in each row
	row   []int     // the row of a basic column, -1 for a nonbasic one
	lo    []float64 // bounds of every column
	hi    []float64
	c     []float64 // the current objective
	d     []float64 // its reduced costs
	nz    []int     // scratch for pivot
}

// start sets up the simplex method at x0; buf, when not nil, lends the
// tableau its memory.
func (p *program) start(buf *[]float64) *simplex {
	m, n := p.m, p.n
	w := n + m
	s := &simplex{
		p: p, m: m, w: w,
		t:     scratch(buf, m*w),
		x:     make([]float64, w),
		basis: make([]int, m),
		row:   make([]int, w),
		lo:    make([]float64, w),
		hi:    make([]float64, w),
		c:     make([]float64, w),
		d:     make([]float64, w),
	}
	for i, a := range p.a {
		t := s.t[i*w : (i+1)*w]
		for _, e := range a {
			t[e.j] = e.v
		}
		t[n+i] = 1
	}
	copy(s.lo, p.lo)
	copy(s.hi, p.hi)
	copy(s.x, p.x0)
	for j := range s.row {
		s.row[j] = -1
	}
	for i := range m {
		s.basis[i] = n + i
		s.row[n+i] = i
	}
	return s
}

// minimize optimises the objective c (over the program's variables) from
// the current point, which must be feasible.
func (s *simplex) minimize(c []float64) int {
	clear(s.c)
	copy(s.c, c)
	copy(s.d, s.c)
	for i := range s.m {
		if cb := s.c[s.basis[i]]; cb != 0 {
			t := s.t[i*s.w : (i+1)*s.w]
			for j, v := range t {
				if v != 0 {
					s.d[j] -= cb * v
				}
			}
		}
	}
	for _, j := range s.basis {
		s.d[j] = 0
	}
	return s.iterate()
}

// point is the current values of the program's variables, the basic ones
// recomputed from the nonbasic ones, B⁻¹ (b - A x_N), to shed the rounding
// that the incremental updates accumulate.
func (s *simplex) point() []float64 {
	n := s.p.n
	r := make([]float64, s.m)
	for l := range s.m {
		v := s.p.b[l]
		for _, e := range s.p.a[l] {
			if s.row[e.j] < 0 {
				v -= e.v * s.x[e.j]
			}
		}
		r[l] = v
	}
	x := slices.Clone(s.x[:n])
	for i := range s.m {
		if k := s.basis[i]; k < n {
			t := s.t[i*s.w+n : (i+1)*s.w]
			var v float64
			for l, b := range t {
				v += b * r[l]
			}
			x[k] = v
		}
	}
	return x
}

// duals are the duals of the current objective and basis, y = c_B B⁻¹: the
// objective's sensitivity to each row. At an optimum, a variable that is not
// in the program, with coefficients col on its rows, has reduced cost -y·col:
// negative if raising it would improve the objective, positive if lowering
// it would.
func (s *simplex) duals() []float64 {
	n := s.p.n
	y := make([]float64, s.m)
	for i := range s.m {
		if cb := s.c[s.basis[i]]; cb != 0 {
			for l, v := range s.t[i*s.w+n : (i+1)*s.w] {
				y[l] += cb * v
			}
		}
	}
	return y
}

// iterate pivots until no reduced cost improves the objective. The entering
// column is the one of largest reduced cost (Dantzig), except during a run of
// degenerate pivots, where it is the first eligible one and the leaving row
// the one of the lowest basic column (Bland's rule), which cannot cycle; the
// programs here are very degenerate (many cells at 0, and the artificials
// leave the basis without moving anything).
func (s *simplex) iterate() int {
	w := s.w
	degenerate := 0
	for it := 0; it < 50*(w+s.m)+1000; it++ {
		bland := degenerate > 10
		q, dir := -1, 0.0
		best := 0.0
		for j := range s.p.n { // the artificials are fixed: never candidates
			if s.row[j] >= 0 {
				continue
			}
			var gain, dj float64
			switch dj = s.d[j]; {
			case dj < -lpEps && s.x[j] < s.hi[j]:
				gain = -dj
			case dj > lpEps && s.x[j] > s.lo[j]:
				gain = dj
			default:
				continue
			}
			if q < 0 || gain > best {
				q, best = j, gain
				dir = 1
				if dj > 0 {
					dir = -1
				}
				if bland {
					break
				}
			}
		}
		if q < 0 {
			return lpOptimal
		}
		// Ratio test: how far q can move before a basic variable reaches a
		// bound (ties to the lowest basic column), or q its own bound.
		leave, ratio := -1, math.Inf(1)
		for i := range s.m {
			a := dir * s.t[i*w+q]
			k := s.basis[i]
			var lim float64
			switch {
			case a > lpEps:
				lim = (s.x[k] - s.lo[k]) / a
			case a < -lpEps && !math.IsInf(s.hi[k], 1):
				lim = (s.hi[k] - s.x[k]) / -a
			default:
				continue
			}
			lim = max(lim, 0)
			switch {
			case lim < ratio-lpEps:
				leave, ratio = i, lim
			case lim < ratio+lpEps && k < s.basis[leave]:
				leave = i
			}
		}
		step := s.hi[q] - s.x[q]
		if dir < 0 {
			step = s.x[q] - s.lo[q]
		}
		if leave >= 0 && ratio <= step {
			step = ratio
		} else {
			leave = -1
		}
		if math.IsInf(step, 1) {
			return lpUnbounded
		}
		if step < lpEps {
			degenerate++
		} else {
			degenerate = 0
		}
		if step != 0 {
			for i := range s.m {
				if a := s.t[i*w+q]; a != 0 {
					s.x[s.basis[i]] -= step * dir * a
				}
			}
		}
		if leave < 0 {
			// q reached its own bound.
			if dir > 0 {
				s.x[q] = s.hi[q]
			} else {
				s.x[q] = s.lo[q]
			}
			continue
		}
		s.x[q] += dir * step
		k := s.basis[leave]
		// k leaves at the bound it reached.
		if dir*s.t[leave*w+q] > 0 {
			s.x[k] = s.lo[k]
		} else {
			s.x[k] = s.hi[k]
		}
		s.pivot(leave, q)
		s.basis[leave], s.row[q], s.row[k] = q, leave, -1
	}
	return lpStalled
}

// pivot makes column q basic in row r.
func (s *simplex) pivot(r, q int) {
	w := s.w
	pr := s.t[r*w : (r+1)*w]
	inv := 1 / pr[q]
	// The nonzeros of the pivot row: rows are sparse, and every other row
	// is updated only there.
	nz := s.nz[:0]
	for j, v := range pr {
		if v != 0 {
			pr[j] = v * inv
			nz = append(nz, j)
		}
	}
	pr[q] = 1
	s.nz = nz
	for i := range s.m {
		if i == r {
			continue
		}
		t := s.t[i*w : (i+1)*w]
		if f := t[q]; f != 0 {
			for _, j := range nz {
				t[j] -= f * pr[j]
			}
			t[q] = 0
		}
	}
	if f := s.d[q]; f != 0 {
		for _, j := range nz {
			s.d[j] -= f * pr[j]
		}
		s.d[q] = 0
	}
}
