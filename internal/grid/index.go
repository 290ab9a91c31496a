package grid

import (
	"slices"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/planar"
)

// Index answers which unit a point lies in, and walks the hierarchy by code. It is
// read-only after NewIndex and safe for concurrent use. The Units it returns share
// their Polygon and Warnings with the index: do not modify them.
type Index struct {
	units    []Unit // sorted by level, then code
	bounds   []orb.Bound
	boxes    []bool    // polygon is exactly its bound: the bound check decides
	children [][]int32 // by position in units, each sorted by code
	roots    []int32   // units whose parent is not indexed, sorted by code
	byCode   map[string]int32
}

// NewIndex indexes units (any order; the slice is copied, not the polygons).
func NewIndex(units []Unit) *Index {
	us := slices.Clone(units)
	SortUnits(us)
	ix := &Index{
		units:    us,
		bounds:   make([]orb.Bound, len(us)),
		boxes:    make([]bool, len(us)),
		children: make([][]int32, len(us)),
		byCode:   make(map[string]int32, len(us)),
	}
	for i, u := range us {
		ix.byCode[u.Code] = int32(i)
		if len(u.Polygon) > 0 {
			ix.bounds[i] = u.Polygon.Bound()
			ix.boxes[i] = isBox(u.Polygon)
		}
	}
	for i, u := range us {
		if p, ok := ix.byCode[u.Parent]; ok && u.Parent != "" {
			ix.children[p] = append(ix.children[p], int32(i))
		} else {
			ix.roots = append(ix.roots, int32(i))
		}
	}
	// Roots may mix levels when a parent is missing; keep them in code order.
	slices.SortFunc(ix.roots, func(a, b int32) int { return strings.Compare(us[a].Code, us[b].Code) })
	return ix
}

// Locate is the deepest unit whose polygon contains the point (lon, lat): the
// responsibility grid when the hierarchy is complete. It descends from the
// districts, testing each child's bound before its polygon. A point on an edge
// shared by siblings goes to the one with the lowest code, so the answer is
// deterministic. ok is false when no unit contains the point.
func (ix *Index) Locate(lon, lat float64) (Unit, bool) {
	p := orb.Point{lon, lat}
	found := int32(-1)
	cands := ix.roots
	for len(cands) > 0 {
		next := int32(-1)
		for _, c := range cands {
			if ix.contains(c, p) {
				next = c
				break
			}
		}
		if next < 0 {
			break
		}
		found = next
		cands = ix.children[next]
	}
	if found < 0 {
		return Unit{}, false
	}
	return ix.units[found], true
}

func (ix *Index) contains(i int32, p orb.Point) bool {
	b := &ix.bounds[i]
	if p[0] < b.Min[0] || p[0] > b.Max[0] || p[1] < b.Min[1] || p[1] > b.Max[1] {
		return false
	}
	if ix.boxes[i] {
		return true
	}
	poly := ix.units[i].Polygon
	if len(poly) == 0 {
		return false
	}
	return planar.PolygonContains(poly, p)
}

// isBox reports whether p is one closed axis-aligned rectangle, which Layout
// makes; orb's PolygonContains recomputes the ring's bound on every call, so
// skipping it for boxes halves the cost of a lookup.
func isBox(p orb.Polygon) bool {
	if len(p) != 1 || len(p[0]) != 5 || !p[0].Closed() {
		return false
	}
	r := p[0]
	for i := 0; i < 4; i++ {
		a, b := r[i], r[i+1]
		if a[0] != b[0] && a[1] != b[1] {
			return false
		}
	}
	return !r.Bound().IsEmpty() && planar.Area(p) != 0
}

// Get is the unit with the code.
func (ix *Index) Get(code string) (Unit, bool) {
	i, ok := ix.byCode[code]
	if !ok {
		return Unit{}, false
	}
	return ix.units[i], true
}

// Children are the units whose parent is code, sorted by code.
func (ix *Index) Children(code string) []Unit {
	i, ok := ix.byCode[code]
	if !ok {
		return nil
	}
	out := make([]Unit, len(ix.children[i]))
	for k, c := range ix.children[i] {
		out[k] = ix.units[c]
	}
	return out
}

// Units are all indexed units of level l, sorted by code.
func (ix *Index) Units(l Level) []Unit {
	lo, _ := slices.BinarySearchFunc(ix.units, l, func(u Unit, l Level) int { return int(u.Level) - int(l) })
	hi, _ := slices.BinarySearchFunc(ix.units, l+1, func(u Unit, l Level) int { return int(u.Level) - int(l) })
	return slices.Clone(ix.units[lo:hi])
}

// GeoJSON is the polygon as a GeoJSON geometry object, e.g.
// {"type":"Polygon","coordinates":[[[117.74,30.86],...]]}.
func GeoJSON(p orb.Polygon) ([]byte, error) {
	return geojson.NewGeometry(p).MarshalJSON()
}
