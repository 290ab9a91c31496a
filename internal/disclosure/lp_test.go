package disclosure

import (
	"math"
	"testing"
)

// TestSimplex checks the simplex method on small programs with known
// answers, from a known solution as the package uses it.
func TestSimplex(t *testing.T) {
	// x0 + x1 = 4, x0 - x2 = 1 (x2 a slack: x0 >= 1), all >= 0; x0 <= 3.
	p := newProgram(2, 3)
	p.a[0] = []term{{0, 1}, {1, 1}}
	p.a[1] = []term{{0, 1}, {2, -1}}
	p.b[0], p.b[1] = 4, 1
	p.hi[0] = 3
	p.x0[0], p.x0[1], p.x0[2] = 2, 2, 1
	for _, tc := range []struct {
		c    []float64
		want float64 // x0 at the optimum
	}{
		{[]float64{1, 0, 0}, 1},
		{[]float64{-1, 0, 0}, 3},
		{[]float64{0, 1, 0}, 3}, // x1 as small as possible: x0 at its cap
		{[]float64{0, 0, 0}, 2}, // nothing to do: the known solution
	} {
		s := p.start(nil)
		if st := s.minimize(tc.c); st != lpOptimal {
			t.Fatalf("minimise %v: status %d", tc.c, st)
		}
		x := s.point()
		if math.Abs(x[0]-tc.want) > 1e-9 || math.Abs(x[0]+x[1]-4) > 1e-9 || math.Abs(x[0]-x[2]-1) > 1e-9 {
			t.Errorf("minimise %v: x = %v, want x0 = %v", tc.c, x, tc.want)
		}
	}
	// Without the cap, x0 grows without bound along x2.
	p.hi[0] = math.Inf(1)
	p.a[0] = []term{{0, 1}, {1, -1}} // x0 - x1 = 0
	p.b[0] = 0
	p.x0[1] = 2
	if st := p.start(nil).minimize([]float64{-1, 0, 0}); st != lpUnbounded {
		t.Errorf("maximise an unbounded x0: status %d, want unbounded", st)
	}
}
