package grid

import (
	"fmt"
	"math"

	"github.com/paulmach/orb"
)

// districtBounds are the synthetic boxes of 铜陵市's districts, placed around their
// real location and touching without overlap: 铜官区 at the city centre, 郊区 west
// of it along the river, 义安区 to the south and south-east, 枞阳县 across the
// Yangtze to the west and north-west.
var districtBounds = map[string]orb.Bound{
	"340705": {Min: orb.Point{117.74, 30.86}, Max: orb.Point{117.92, 31.00}}, // 铜官区
	"340706": {Min: orb.Point{117.74, 30.62}, Max: orb.Point{118.10, 30.86}}, // 义安区
	"340711": {Min: orb.Point{117.60, 30.70}, Max: orb.Point{117.74, 31.00}}, // 郊区
	"340722": {Min: orb.Point{117.10, 30.60}, Max: orb.Point{117.60, 31.10}}, // 枞阳县
}

// DistrictBound is the synthetic box of the district with the 6-digit code.
func DistrictBound(code string) (orb.Bound, bool) {
	b, ok := districtBounds[code]
	return b, ok
}

// minWeightShare is the floor of a unit's layout weight, as a share of the mean
// weight of its siblings: a unit grid has no households but still needs ground,
// and a nearly empty community must stay visible and clickable on a map.
const minWeightShare = 0.25

// Layout sets the Polygon of every unit: districts get their fixed DistrictBound
// boxes and the children of each unit tile their parent's box exactly by a
// weighted treemap (weight: households, floored at minWeightShare of the siblings'
// mean), children in code order so neighbouring codes lie side by side. Children
// share their split lines bit for bit, so they neither overlap nor leave gaps.
// units must be ordered parents before children (SortUnits) and every top unit
// must be a district with a DistrictBound.
func Layout(units []Unit) error {
	pos := make(map[string]int, len(units))
	children := make(map[string][]int)
	var roots []int
	for i, u := range units {
		pos[u.Code] = i
		if _, ok := pos[u.Parent]; ok && u.Parent != "" {
			children[u.Parent] = append(children[u.Parent], i)
			continue
		}
		if u.Level != District {
			return fmt.Errorf("grid: layout: %s (%s) has no parent among the units and is not a district", u.Code, u.Name)
		}
		roots = append(roots, i)
	}
	var place func(i int, b orb.Bound)
	place = func(i int, b orb.Bound) {
		units[i].Polygon = boxPolygon(b)
		kids := children[units[i].Code]
		if len(kids) == 0 {
			return
		}
		w := weights(units, kids)
		boxes := make([]orb.Bound, len(kids))
		treemap(b, w, boxes)
		for k, c := range kids {
			place(c, boxes[k])
		}
	}
	for _, r := range roots {
		b, ok := districtBounds[units[r].Code]
		if !ok {
			return fmt.Errorf("grid: layout: no synthetic box for district %s (%s)", units[r].Code, units[r].Name)
		}
		place(r, b)
	}
	return nil
}

func weights(units []Unit, kids []int) []float64 {
	w := make([]float64, len(kids))
	sum := 0.0
	for k, c := range kids {
		w[k] = float64(max(units[c].Households, 0))
		sum += w[k]
	}
	if sum == 0 {
		for k := range w {
			w[k] = 1
		}
		return w
	}
	floor := minWeightShare * sum / float64(len(w))
	for k := range w {
		w[k] = max(w[k], floor)
	}
	return w
}

// treemap splits b among weights w (all > 0) into out, recursively: the run of
// weights is cut where its two halves weigh closest to equal and b is cut across
// its longer side in that proportion.
func treemap(b orb.Bound, w []float64, out []orb.Bound) {
	if len(w) == 1 {
		out[0] = b
		return
	}
	total := 0.0
	for _, x := range w {
		total += x
	}
	cut, acc, best := 1, 0.0, math.Inf(1)
	for k := 1; k < len(w); k++ {
		acc += w[k-1]
		if d := math.Abs(2*acc - total); d < best {
			cut, best = k, d
		}
	}
	left := 0.0
	for _, x := range w[:cut] {
		left += x
	}
	f := left / total
	a, c := b, b
	// A degree of longitude is cos(lat) of a degree of latitude on the ground.
	width := (b.Max[0] - b.Min[0]) * math.Cos((b.Min[1]+b.Max[1])/2*math.Pi/180)
	if width >= b.Max[1]-b.Min[1] {
		x := b.Min[0] + (b.Max[0]-b.Min[0])*f
		a.Max[0], c.Min[0] = x, x
	} else {
		// Lower codes go north, as a map is read from the top.
		y := b.Max[1] - (b.Max[1]-b.Min[1])*f
		a.Min[1], c.Max[1] = y, y
	}
	treemap(a, w[:cut], out[:cut])
	treemap(c, w[cut:], out[cut:])
}

// boxPolygon is the closed, counter-clockwise ring of b (RFC 7946 outer ring order).
func boxPolygon(b orb.Bound) orb.Polygon {
	return orb.Polygon{orb.Ring{
		{b.Min[0], b.Min[1]},
		{b.Max[0], b.Min[1]},
		{b.Max[0], b.Max[1]},
		{b.Min[0], b.Max[1]},
		{b.Min[0], b.Min[1]},
	}}
}
