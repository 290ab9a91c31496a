package disclosure

import (
	"errors"
	"math/big"
	"slices"
)

// Recoverable returns, sorted, the codes of the suppressed cells whose exact
// value follows from the published cells and the additivity equations
// parent = sum(children) (the grand total included): the cells an attacker
// can recompute. It is the audit of a suppression and deliberately shares
// nothing with Suppress: it solves the linear system by exact Gauss-Jordan
// elimination over the rationals, where a suppressed cell is recoverable iff
// its pivot row in the reduced system has no free unknown. Non-negativity is
// not used; see Intervals for that. It fails when the nodes are not a valid
// additive tree or when suppressed names a code that is not a node.
func Recoverable(nodes []Node, suppressed map[string]bool) ([]string, error) {
	t, err := buildTree(nodes)
	if err != nil {
		return nil, err
	}
	sup, err := t.suppressedSet(suppressed)
	if err != nil {
		return nil, err
	}
	solved, err := solve(t, sup)
	if err != nil {
		return nil, err
	}
	codes := make([]string, 0, len(solved))
	for i := range solved {
		codes = append(codes, t.code(i))
	}
	slices.Sort(codes)
	return codes, nil
}

// row is one linear equation sum(coef[j] * x_j) = rhs over the unknowns.
type row struct {
	coef map[int32]*big.Rat
	rhs  *big.Rat
}

// solve returns the suppressed cells determined by the equations, with the
// value they are determined to have.
func solve(t *tree, sup []bool) (map[int32]*big.Rat, error) {
	// One equation per parent with an unknown among its cells, written as
	// parent - sum(children) = 0 with the published cells moved to the right.
	var rows []*row
	for p := range int32(t.len()) {
		kids := t.children(p)
		if len(kids) == 0 {
			continue
		}
		r := &row{coef: map[int32]*big.Rat{}, rhs: new(big.Rat)}
		term := func(i int32, sign int64) {
			if sup[i] {
				r.coef[i] = big.NewRat(sign, 1)
			} else {
				r.rhs.Sub(r.rhs, new(big.Rat).SetInt64(sign*t.value[i]))
			}
		}
		term(p, 1)
		for _, c := range kids {
			term(c, -1)
		}
		if len(r.coef) > 0 {
			rows = append(rows, r)
		}
	}

	// Gauss-Jordan with the sparsest row as pivot row each time (tree systems
	// then stay sparse), eliminating the pivot column from every other row, so
	// that pivot rows end up holding their pivot and free columns only.
	pivot := make([]int32, len(rows)) // pivot column, or -1
	for i := range pivot {
		pivot[i] = -1
	}
	tmp := new(big.Rat)
	for {
		best := -1
		for i, r := range rows {
			if pivot[i] >= 0 || r == nil {
				continue
			}
			if len(r.coef) == 0 {
				if r.rhs.Sign() != 0 {
					return nil, errors.New("disclosure: published counts are inconsistent")
				}
				rows[i] = nil
				continue
			}
			if best < 0 || len(r.coef) < len(rows[best].coef) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		pr := rows[best]
		col := int32(-1)
		for j := range pr.coef {
			if col < 0 || j < col {
				col = j
			}
		}
		inv := new(big.Rat).Inv(pr.coef[col])
		for _, v := range pr.coef {
			v.Mul(v, inv)
		}
		pr.rhs.Mul(pr.rhs, inv)
		pivot[best] = col
		for i, r := range rows {
			if i == best || r == nil {
				continue
			}
			f, ok := r.coef[col]
			if !ok {
				continue
			}
			f = new(big.Rat).Set(f)
			for j, v := range pr.coef {
				tmp.Mul(f, v)
				if w, ok := r.coef[j]; ok {
					w.Sub(w, tmp)
					if w.Sign() == 0 {
						delete(r.coef, j)
					}
				} else {
					r.coef[j] = new(big.Rat).Neg(tmp)
				}
			}
			r.rhs.Sub(r.rhs, tmp.Mul(f, pr.rhs))
		}
	}
	solved := make(map[int32]*big.Rat)
	for i, r := range rows {
		if r != nil && pivot[i] >= 0 && len(r.coef) == 1 {
			solved[pivot[i]] = r.rhs
		}
	}
	return solved, nil
}
