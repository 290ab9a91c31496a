package grid

import (
	"bytes"
	"embed"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"sync"
)

//go:embed divisions/*.csv
var divisionFiles embed.FS

// Division is one real administrative division from the NBS tables: a district,
// a township-level unit or a community (居委会/村委会).
type Division struct {
	Code   string
	Name   string // full name as published, e.g. 开源社区居委会
	Level  Level
	Parent string // "" for a district
}

// ShortName is the name used to build grid names and addresses: the committee
// suffix is dropped, so 开源社区居委会 -> 开源社区, 农林村委会 -> 农林村 and
// 雨亭居委会 -> 雨亭社区. Names of other levels are returned unchanged.
func (d Division) ShortName() string {
	if d.Level != Community {
		return d.Name
	}
	return CommunityShortName(d.Name)
}

// CommunityShortName drops the committee suffix of a community name (see Division.ShortName).
func CommunityShortName(name string) string {
	for _, s := range []string{"居民委员会", "居委会"} {
		if base, ok := strings.CutSuffix(name, s); ok {
			if strings.HasSuffix(base, "社区") {
				return base
			}
			return base + "社区"
		}
	}
	for _, s := range []string{"村民委员会", "村委会"} {
		if base, ok := strings.CutSuffix(name, s); ok {
			return base + "村"
		}
	}
	return name
}

// CommunityType tells an urban residents' committee from a village committee and
// from a development-zone or virtual community, by the community code's digits 10-12.
type CommunityType string

// The community types of the NBS urban-rural code (GB/T 10114 practice).
const (
	UrbanCommunity   CommunityType = "URBAN"    // 居委会, 001-199
	VillageCommunity CommunityType = "VILLAGE"  // 村委会, 200-399
	DevZoneCommunity CommunityType = "DEV_ZONE" // 开发区/虚拟社区, 400-499
)

// CommunityTypeOf is the type of the community with the 12-digit code; ok is false
// for a code of another length or a sequence outside the three ranges.
func CommunityTypeOf(code string) (CommunityType, bool) {
	if len(code) != 12 {
		return "", false
	}
	n, ok := digits3(code[9:])
	switch {
	case !ok || n == 0:
		return "", false
	case n < 200:
		return UrbanCommunity, true
	case n < 400:
		return VillageCommunity, true
	case n < 500:
		return DevZoneCommunity, true
	}
	return "", false
}

// TownshipType tells a street office (街道) from a town (镇), a township (乡) and a
// development zone (开发区), by the township code's digits 7-9.
type TownshipType string

// The township types of GB/T 10114.
const (
	Subdistrict   TownshipType = "SUBDISTRICT" // 街道, 001-099
	Town          TownshipType = "TOWN"        // 镇, 100-199
	Xiang         TownshipType = "XIANG"       // 乡, 200-399
	DevZoneOffice TownshipType = "DEV_ZONE"    // 政企合一/开发区, 400-599
)

// TownshipTypeOf is the type of the township-level unit with the 9-digit code; ok
// is false for a code of another length or an unknown range.
func TownshipTypeOf(code string) (TownshipType, bool) {
	if len(code) != 9 {
		return "", false
	}
	n, ok := digits3(code[6:])
	switch {
	case !ok || n == 0:
		return "", false
	case n < 100:
		return Subdistrict, true
	case n < 200:
		return Town, true
	case n < 400:
		return Xiang, true
	case n < 600:
		return DevZoneOffice, true
	}
	return "", false
}

func digits3(s string) (int, bool) {
	if len(s) != 3 {
		return 0, false
	}
	n := 0
	for i := 0; i < 3; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// allDivisions parses the embedded tables once; callers get filtered copies.
var allDivisions = sync.OnceValues(parseDivisions)

// cityNames maps 4-digit prefecture codes to names.
var cityNames = sync.OnceValues(func() (map[string]string, error) {
	rows, err := readCSV("divisions/cities-3407.csv", "code", "name")
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(rows))
	for _, r := range rows {
		m[r[0]] = r[1]
	}
	return m, nil
})

// CityName is the name of the prefecture-level city whose code starts code, e.g.
// 铜陵市 for "3407" or "340705005002".
func CityName(code string) (string, error) {
	if len(code) < 4 {
		return "", fmt.Errorf("grid: code %q is shorter than a city code", code)
	}
	m, err := cityNames()
	if err != nil {
		return "", err
	}
	name, ok := m[code[:4]]
	if !ok {
		return "", fmt.Errorf("grid: no city with code %s", code[:4])
	}
	return name, nil
}

// LoadDivisions returns the districts, township-level units and communities whose
// code starts with area ("3407" for all of 铜陵市, "340705" for 铜官区), ordered by
// level, then by code. It fails when area matches nothing.
func LoadDivisions(area string) ([]Division, error) {
	all, err := allDivisions()
	if err != nil {
		return nil, err
	}
	var out []Division
	for _, d := range all {
		if strings.HasPrefix(d.Code, area) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("grid: no division code starts with %q", area)
	}
	return out, nil
}

func parseDivisions() ([]Division, error) {
	var out []Division
	for _, f := range []struct {
		file   string
		level  Level
		parent string // column naming the parent code
	}{
		{"divisions/areas-3407.csv", District, ""},
		{"divisions/streets-3407.csv", Township, "areaCode"},
		{"divisions/villages-3407.csv", Community, "streetCode"},
	} {
		cols := []string{"code", "name"}
		if f.parent != "" {
			cols = append(cols, f.parent)
		}
		rows, err := readCSV(f.file, cols...)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			d := Division{Code: r[0], Name: r[1], Level: f.level}
			if f.parent != "" {
				d.Parent = r[2]
			}
			if len(d.Code) != f.level.CodeLen() {
				return nil, fmt.Errorf("grid: %s: code %q is not %d digits", f.file, d.Code, f.level.CodeLen())
			}
			if d.Parent != "" && !strings.HasPrefix(d.Code, d.Parent) {
				return nil, fmt.Errorf("grid: %s: code %s does not start with its parent %s", f.file, d.Code, d.Parent)
			}
			out = append(out, d)
		}
	}
	slices.SortStableFunc(out, func(a, b Division) int {
		if a.Level != b.Level {
			return int(a.Level) - int(b.Level)
		}
		return strings.Compare(a.Code, b.Code)
	})
	return out, nil
}

// readCSV reads an embedded table and returns, per row, the named columns in order.
func readCSV(file string, cols ...string) ([][]string, error) {
	data, err := divisionFiles.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("grid: %w", err)
	}
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("grid: %s: %w", file, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("grid: %s is empty", file)
	}
	idx := make([]int, len(cols))
	for i, c := range cols {
		idx[i] = slices.Index(recs[0], c)
		if idx[i] < 0 {
			return nil, fmt.Errorf("grid: %s has no column %q", file, c)
		}
	}
	out := make([][]string, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		row := make([]string, len(cols))
		for i, j := range idx {
			row[i] = strings.TrimSpace(rec[j])
		}
		out = append(out, row)
	}
	return out, nil
}
