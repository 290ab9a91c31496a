package grid

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// maxGridsPerCommunity is the most grids a 3-digit sequence can number.
const maxGridsPerCommunity = 999

// SplitHouseholds divides a community's h registered households over
// max(1, ceil(h/MaxHouseholds)) residential grids, as evenly as possible (sizes
// differ by at most one, larger first). Whenever h >= MinHouseholds every share is
// within [MinHouseholds, MaxHouseholds]: with n = ceil(h/500) grids the smallest
// share is floor(h/n) >= 250 because h > 500(n-1) >= 250n for n >= 2.
func SplitHouseholds(h int) []int {
	if h < 0 {
		h = 0
	}
	n := max(1, (h+MaxHouseholds-1)/MaxHouseholds)
	out := make([]int, n)
	for i := range out {
		out[i] = h / n
		if i < h%n {
			out[i]++
		}
	}
	return out
}

// ResidentialWarnings are the warnings a residential grid with h households carries:
// none inside [MinHouseholds, MaxHouseholds], otherwise one in English and Chinese.
func ResidentialWarnings(h int) []string {
	switch {
	case h < MinHouseholds:
		return []string{"households " + strconv.Itoa(h) + " below " + strconv.Itoa(MinHouseholds) +
			" (住户数低于" + strconv.Itoa(MinHouseholds) + ")"}
	case h > MaxHouseholds:
		return []string{"households " + strconv.Itoa(h) + " above " + strconv.Itoa(MaxHouseholds) +
			" (住户数高于" + strconv.Itoa(MaxHouseholds) + ")"}
	}
	return nil
}

// PlanGrids lays out the responsibility grids of community c holding h registered
// households: SplitHouseholds(h) residential grids first, then one unit grid for
// each name in unitOrgs (large organisations with their own boundary), numbered
// c.Code + 001, 002, ... Residential grids are named after the community
// (开源社区第1网格), unit grids after their organisation (铜陵市第三中学单位网格).
// Polygons and residents are left for the caller.
func PlanGrids(c Division, h int, unitOrgs []string) ([]Unit, error) {
	if c.Level != Community || len(c.Code) != Community.CodeLen() {
		return nil, fmt.Errorf("grid: plan grids: %s (%s) is not a community", c.Code, c.Name)
	}
	if h < 0 {
		return nil, fmt.Errorf("grid: plan grids: community %s: negative households %d", c.Code, h)
	}
	split := SplitHouseholds(h)
	if n := len(split) + len(unitOrgs); n > maxGridsPerCommunity {
		return nil, fmt.Errorf("grid: plan grids: community %s needs %d grids, a 3-digit sequence holds %d", c.Code, n, maxGridsPerCommunity)
	}
	short := c.ShortName()
	out := make([]Unit, 0, len(split)+len(unitOrgs))
	seq := 0
	next := func() string {
		seq++
		return c.Code + pad3(seq)
	}
	for i, hh := range split {
		out = append(out, Unit{
			Code:       next(),
			Name:       short + "第" + strconv.Itoa(i+1) + "网格",
			Level:      Grid,
			Kind:       Residential,
			Parent:     c.Code,
			Households: hh,
			Warnings:   ResidentialWarnings(hh),
		})
	}
	for _, org := range unitOrgs {
		out = append(out, Unit{
			Code:   next(),
			Name:   org + "单位网格",
			Level:  Grid,
			Kind:   UnitGrid,
			Parent: c.Code,
		})
	}
	return out, nil
}

func pad3(n int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("0", 3-len(s)) + s
}

// CommunityPlan is what Build needs to know about one community: its registered
// households and the large organisations that get their own unit grid.
type CommunityPlan struct {
	Households int
	UnitOrgs   []string
}

// Build makes the whole registry below the divisions divs: the divisions
// themselves, plus the responsibility grids PlanGrids makes from plans (keyed by
// community code; a community without a plan gets one empty residential grid).
// Units come ordered by level, then by code; households are summed up every level
// and polygons laid out with Layout. divs must hold the district of every unit.
func Build(divs []Division, plans map[string]CommunityPlan) ([]Unit, error) {
	units := make([]Unit, 0, len(divs)*2)
	var grids []Unit
	for _, d := range divs {
		units = append(units, Unit{Code: d.Code, Name: d.Name, Level: d.Level, Parent: d.Parent})
		if d.Level != Community {
			continue
		}
		p := plans[d.Code]
		gs, err := PlanGrids(d, p.Households, p.UnitOrgs)
		if err != nil {
			return nil, err
		}
		grids = append(grids, gs...)
	}
	units = append(units, grids...)
	SortUnits(units)
	if err := SumCounts(units); err != nil {
		return nil, err
	}
	if err := Layout(units); err != nil {
		return nil, err
	}
	return units, nil
}

// SortUnits orders units by level, then by code: parents before children.
func SortUnits(units []Unit) {
	slices.SortStableFunc(units, func(a, b Unit) int {
		if a.Level != b.Level {
			return int(a.Level) - int(b.Level)
		}
		return strings.Compare(a.Code, b.Code)
	})
}

// SumCounts recomputes Households and Residents of every unit that has children
// as the sums over its children, deepest level first, so only the leaves' counts
// are taken as given. units must be ordered parents before children (SortUnits).
func SumCounts(units []Unit) error {
	pos := make(map[string]int, len(units))
	hasChild := make([]bool, len(units))
	for i, u := range units {
		pos[u.Code] = i
	}
	for i, u := range units {
		if u.Parent == "" {
			continue
		}
		p, ok := pos[u.Parent]
		if !ok {
			continue
		}
		if p >= i {
			return fmt.Errorf("grid: unit %s comes before its parent %s", u.Code, u.Parent)
		}
		if !hasChild[p] {
			hasChild[p] = true
			units[p].Households, units[p].Residents = 0, 0
		}
	}
	for i := len(units) - 1; i >= 0; i-- {
		u := units[i]
		if p, ok := pos[u.Parent]; ok && u.Parent != "" {
			units[p].Households += u.Households
			units[p].Residents += u.Residents
		}
	}
	return nil
}
