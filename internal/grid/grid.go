// Package grid is the registry of the three-level community grid: township-level
// units, communities and responsibility grids below a county-level district, with
// their codes, names, household counts and synthetic polygons.
package grid

import "github.com/paulmach/orb"

// Level is a level of the grid hierarchy, from the district down to the responsibility grid.
type Level int

// The levels, each with its code length: district 6, township 9, community 12, grid 15.
const (
	District  Level = iota + 1 // 区/县, 6 digits (GB/T 2260)
	Township                   // 街道/镇/乡/开发区, 9 digits (GB/T 10114)
	Community                  // 社区/村, 12 digits
	Grid                       // 责任网格, 15 digits: community code + 3-digit sequence
)

// CodeLen is the length of a code at level l.
func (l Level) CodeLen() int {
	switch l {
	case District:
		return 6
	case Township:
		return 9
	case Community:
		return 12
	case Grid:
		return 15
	}
	return 0
}

// String is the level's name as used in the GraphQL enum.
func (l Level) String() string {
	switch l {
	case District:
		return "DISTRICT"
	case Township:
		return "TOWNSHIP"
	case Community:
		return "COMMUNITY"
	case Grid:
		return "GRID"
	}
	return "UNKNOWN"
}

// LevelOf is the level of a code by its length; ok is false for any other length.
func LevelOf(code string) (Level, bool) {
	switch len(code) {
	case 6:
		return District, true
	case 9:
		return Township, true
	case 12:
		return Community, true
	case 15:
		return Grid, true
	}
	return 0, false
}

// Kind tells a residential grid (居民区网格) from a unit grid (单位网格). Only
// responsibility grids have a kind; the levels above have the zero Kind.
type Kind string

// The two kinds of responsibility grid.
const (
	Residential Kind = "RESIDENTIAL"
	UnitGrid    Kind = "UNIT"
)

// Household bounds of a residential grid: outside them a grid carries a warning.
const (
	MinHouseholds = 250
	MaxHouseholds = 500
)

// Unit is one node of the registry at any level.
type Unit struct {
	Code       string
	Name       string
	Level      Level
	Kind       Kind   // set on responsibility grids only
	Parent     string // "" for a district
	Households int    // registered households under this unit, all levels
	Residents  int    // registered residents under this unit, all levels
	Warnings   []string
	Polygon    orb.Polygon // lon/lat, outer ring first, closed
}
