package grid

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

func TestLoadDivisionsTongguan(t *testing.T) {
	divs, err := LoadDivisions("340705")
	if err != nil {
		t.Fatal(err)
	}
	// Read the table again, independently of the embedded parser.
	f, err := os.Open("divisions/villages-3407.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ",")
		if strings.HasPrefix(fields[0], "340705") {
			want[fields[0]] = strings.Trim(fields[1], `"`)
		}
	}
	count := map[Level]int{}
	for _, d := range divs {
		count[d.Level]++
		if !strings.HasPrefix(d.Code, "340705") {
			t.Errorf("%s outside 340705", d.Code)
		}
		if len(d.Code) != d.Level.CodeLen() {
			t.Errorf("%s: code length %d at level %v", d.Code, len(d.Code), d.Level)
		}
		if d.Level == Community {
			if want[d.Code] != d.Name {
				t.Errorf("%s: name %q, CSV says %q", d.Code, d.Name, want[d.Code])
			}
			if _, ok := CommunityTypeOf(d.Code); !ok {
				t.Errorf("%s: no community type", d.Code)
			}
		}
	}
	if count[District] != 1 || count[Township] != 23 || count[Community] != 50 || len(want) != 50 {
		t.Errorf("counts %v (CSV communities %d), want 1 district, 23 townships, 50 communities", count, len(want))
	}
}

func TestLoadDivisionsCity(t *testing.T) {
	divs, err := LoadDivisions("3407")
	if err != nil {
		t.Fatal(err)
	}
	count := map[Level]int{}
	seen := map[string]bool{}
	for i, d := range divs {
		count[d.Level]++
		if d.Level != District && !seen[d.Parent] {
			t.Errorf("%s: parent %s not listed before it", d.Code, d.Parent)
		}
		if i > 0 && divs[i-1].Level == d.Level && divs[i-1].Code >= d.Code {
			t.Errorf("%s after %s: not sorted", d.Code, divs[i-1].Code)
		}
		seen[d.Code] = true
	}
	if count[District] != 4 || count[Township] != 60 || count[Community] != 460 {
		t.Errorf("counts %v, want 4/60/460", count)
	}
	if _, err := LoadDivisions("3408"); err == nil {
		t.Error("LoadDivisions(3408): no error")
	}
	if name, err := CityName("340705"); err != nil || name != "铜陵市" {
		t.Errorf("CityName = %q, %v", name, err)
	}
}

func TestCommunityTypesAndNames(t *testing.T) {
	for _, tc := range []struct {
		code, name, short string
		typ               CommunityType
	}{
		{"340705005002", "开源社区居委会", "开源社区", UrbanCommunity},
		{"340705100200", "农林村委会", "农林村", VillageCommunity},
		{"340722118014", "小缸窑居民委员会", "小缸窑社区", UrbanCommunity},
		{"340711001004", "景山社区居民委员会", "景山社区", UrbanCommunity},
		{"340705400401", "开发区生活一区社区", "开发区生活一区社区", DevZoneCommunity},
		{"340705401498", "铜陵狮子山高新技术产业开发区虚拟社区", "铜陵狮子山高新技术产业开发区虚拟社区", DevZoneCommunity},
	} {
		if typ, ok := CommunityTypeOf(tc.code); !ok || typ != tc.typ {
			t.Errorf("CommunityTypeOf(%s) = %v, %v; want %v", tc.code, typ, ok, tc.typ)
		}
		d := Division{Code: tc.code, Name: tc.name, Level: Community}
		if got := d.ShortName(); got != tc.short {
			t.Errorf("ShortName(%s) = %q, want %q", tc.name, got, tc.short)
		}
	}
	if _, ok := CommunityTypeOf("340705005"); ok {
		t.Error("a township code has a community type")
	}
	if typ, ok := TownshipTypeOf("340705402"); !ok || typ != DevZoneOffice {
		t.Errorf("TownshipTypeOf(340705402) = %v", typ)
	}
}

func TestPlanGrids(t *testing.T) {
	c := Division{Code: "340705005002", Name: "开源社区居委会", Level: Community, Parent: "340705005"}
	units, err := PlanGrids(c, 2480, []string{"铜陵市第三中学", "开源农贸市场"})
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != 7 {
		t.Fatalf("%d grids, want 5 residential + 2 unit", len(units))
	}
	total := 0
	for i, u := range units {
		if len(u.Code) != 15 || !strings.HasPrefix(u.Code, c.Code) || u.Parent != c.Code || u.Level != Grid {
			t.Errorf("grid %d: code %s parent %s level %v", i, u.Code, u.Parent, u.Level)
		}
		if want := c.Code + pad3(i+1); u.Code != want {
			t.Errorf("grid %d: code %s, want %s", i, u.Code, want)
		}
		total += u.Households
		if len(u.Warnings) > 0 {
			t.Errorf("%s: unexpected warnings %v", u.Code, u.Warnings)
		}
	}
	if total != 2480 {
		t.Errorf("households sum %d, want 2480", total)
	}
	if units[0].Name != "开源社区第1网格" || units[4].Name != "开源社区第5网格" || units[0].Kind != Residential {
		t.Errorf("residential names %q, %q kind %v", units[0].Name, units[4].Name, units[0].Kind)
	}
	if units[5].Name != "铜陵市第三中学单位网格" || units[5].Kind != UnitGrid || units[5].Households != 0 {
		t.Errorf("unit grid %+v", units[5])
	}

	small, err := PlanGrids(Division{Code: "340705100200", Name: "农林村委会", Level: Community}, 180, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(small) != 1 || small[0].Name != "农林村第1网格" ||
		len(small[0].Warnings) != 1 || small[0].Warnings[0] != "households 180 below 250 (住户数低于250)" {
		t.Errorf("small village grids %+v", small)
	}
	if _, err := PlanGrids(Division{Code: "340705005", Level: Township}, 10, nil); err == nil {
		t.Error("PlanGrids accepted a township")
	}
}

func TestSplitHouseholdsKeepsBounds(t *testing.T) {
	for h := MinHouseholds; h <= 100000; h++ {
		split := SplitHouseholds(h)
		if want := (h + 499) / 500; len(split) != want {
			t.Fatalf("h=%d: %d grids, want %d", h, len(split), want)
		}
		sum, lo, hi := 0, split[0], split[0]
		for _, s := range split {
			sum += s
			lo, hi = min(lo, s), max(hi, s)
		}
		if sum != h || lo < MinHouseholds || hi > MaxHouseholds || hi-lo > 1 {
			t.Fatalf("h=%d: split %v (sum %d, min %d, max %d)", h, split, sum, lo, hi)
		}
	}
	for _, h := range []int{0, 1, 249} {
		if s := SplitHouseholds(h); len(s) != 1 || s[0] != h {
			t.Errorf("SplitHouseholds(%d) = %v", h, s)
		}
	}
}

// cityUnits builds the registry of all of 铜陵市 with deterministic household
// counts resembling the generator's.
func cityUnits(t testing.TB) []Unit {
	t.Helper()
	divs, err := LoadDivisions("3407")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	plans := map[string]CommunityPlan{}
	for _, d := range divs {
		if d.Level != Community {
			continue
		}
		typ, _ := CommunityTypeOf(d.Code)
		var p CommunityPlan
		switch typ {
		case UrbanCommunity:
			p.Households = 1600 + r.IntN(1800)
			for k := r.IntN(3); k > 0; k-- {
				p.UnitOrgs = append(p.UnitOrgs, d.Code+"单位"+pad3(k))
			}
		case VillageCommunity:
			p.Households = 350 + r.IntN(550)
		default:
			p.Households = r.IntN(300)
		}
		plans[d.Code] = p
	}
	units, err := Build(divs, plans)
	if err != nil {
		t.Fatal(err)
	}
	return units
}

// interiorPoint is a random point strictly inside the box polygon p, away from its edges.
func interiorPoint(r *rand.Rand, p orb.Polygon) orb.Point {
	b := p.Bound()
	return orb.Point{
		b.Min[0] + (0.01+0.98*r.Float64())*(b.Max[0]-b.Min[0]),
		b.Min[1] + (0.01+0.98*r.Float64())*(b.Max[1]-b.Min[1]),
	}
}

func TestBuildNestingAndTiling(t *testing.T) {
	units := cityUnits(t)
	ix := NewIndex(units)
	r := rand.New(rand.NewPCG(3, 4))
	grids := 0
	for i, u := range units {
		if i > 0 && (units[i-1].Level > u.Level || units[i-1].Level == u.Level && units[i-1].Code >= u.Code) {
			t.Fatalf("units not ordered at %s", u.Code)
		}
		if len(u.Polygon) != 1 || len(u.Polygon[0]) != 5 || !u.Polygon[0].Closed() {
			t.Fatalf("%s: polygon %v is not a closed ring", u.Code, u.Polygon)
		}
		if planar.Area(u.Polygon) <= 0 {
			t.Fatalf("%s: ring is not counter-clockwise or has no area", u.Code)
		}
		kids := ix.Children(u.Code)
		if len(kids) == 0 {
			if u.Level != Grid {
				t.Errorf("%s: a %v without children", u.Code, u.Level)
			}
			grids++
			continue
		}
		area, households := 0.0, 0
		for _, k := range kids {
			area += planar.Area(k.Polygon)
			households += k.Households
			if !strings.HasPrefix(k.Code, u.Code) {
				t.Errorf("%s: child %s does not extend its code", u.Code, k.Code)
			}
			// Nested: the child's corners lie in the parent.
			for _, pt := range k.Polygon[0] {
				if !planar.PolygonContains(u.Polygon, pt) {
					t.Fatalf("%s: corner %v of child %s outside", u.Code, pt, k.Code)
				}
			}
			// No overlap: interior points of a child are in no sibling.
			for range 5 {
				pt := interiorPoint(r, k.Polygon)
				for _, s := range kids {
					if s.Code != k.Code && planar.PolygonContains(s.Polygon, pt) {
						t.Fatalf("%s and %s overlap at %v", k.Code, s.Code, pt)
					}
				}
			}
		}
		if own := planar.Area(u.Polygon); (area-own)/own > 1e-9 || (own-area)/own > 1e-9 {
			t.Errorf("%s: children cover %.12f of area %.12f", u.Code, area, own)
		}
		if households != u.Households {
			t.Errorf("%s: households %d, children sum %d", u.Code, u.Households, households)
		}
	}
	if grids != len(ix.Units(Grid)) {
		t.Errorf("%d leaves, %d grids", grids, len(ix.Units(Grid)))
	}
	// Districts touch but never overlap.
	ds := ix.Units(District)
	for i := range ds {
		for j := i + 1; j < len(ds); j++ {
			a, b := ds[i].Polygon.Bound(), ds[j].Polygon.Bound()
			if a.Min[0] < b.Max[0] && b.Min[0] < a.Max[0] && a.Min[1] < b.Max[1] && b.Min[1] < a.Max[1] {
				t.Errorf("districts %s and %s overlap", ds[i].Code, ds[j].Code)
			}
		}
	}
}

func TestLocate(t *testing.T) {
	units := cityUnits(t)
	ix := NewIndex(units)
	r := rand.New(rand.NewPCG(5, 6))
	grids := ix.Units(Grid)
	if len(grids) < 1000 {
		t.Fatalf("only %d grids", len(grids))
	}
	for _, g := range grids {
		for range 3 {
			pt := interiorPoint(r, g.Polygon)
			got, ok := ix.Locate(pt[0], pt[1])
			if !ok || got.Code != g.Code {
				t.Fatalf("Locate(%v) = %s, %v; want %s", pt, got.Code, ok, g.Code)
			}
		}
	}
	if u, ok := ix.Locate(116.0, 29.0); ok {
		t.Errorf("Locate outside the city = %s", u.Code)
	}
	// A point on the edge two sibling grids share goes to the lower code, every time.
	for _, c := range ix.Units(Community) {
		kids := ix.Children(c.Code)
		if len(kids) < 2 {
			continue
		}
		a, b := kids[0].Polygon.Bound(), kids[1].Polygon.Bound()
		var pt orb.Point
		switch {
		case a.Max[0] == b.Min[0]:
			pt = orb.Point{a.Max[0], (max(a.Min[1], b.Min[1]) + min(a.Max[1], b.Max[1])) / 2}
		case a.Min[1] == b.Max[1]:
			pt = orb.Point{(max(a.Min[0], b.Min[0]) + min(a.Max[0], b.Max[0])) / 2, a.Min[1]}
		default:
			continue
		}
		for range 3 {
			if got, ok := ix.Locate(pt[0], pt[1]); !ok || got.Code != kids[0].Code {
				t.Fatalf("edge point %v of %s/%s: Locate = %s, %v", pt, kids[0].Code, kids[1].Code, got.Code, ok)
			}
		}
		break
	}
	if u, ok := ix.Get(grids[0].Code); !ok || u.Code != grids[0].Code {
		t.Errorf("Get(%s) = %v, %v", grids[0].Code, u.Code, ok)
	}
	if _, ok := ix.Get("999999"); ok {
		t.Error("Get of an unknown code succeeded")
	}
}

func TestGeoJSON(t *testing.T) {
	b, err := GeoJSON(boxPolygon(orb.Bound{Min: orb.Point{117.74, 30.86}, Max: orb.Point{117.92, 31}}))
	if err != nil {
		t.Fatal(err)
	}
	var g struct {
		Type        string
		Coordinates [][][2]float64
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if g.Type != "Polygon" || len(g.Coordinates) != 1 || len(g.Coordinates[0]) != 5 || g.Coordinates[0][0] != [2]float64{117.74, 30.86} {
		t.Errorf("GeoJSON = %s", b)
	}
}

func BenchmarkLocate(b *testing.B) {
	ix := NewIndex(cityUnits(b))
	bound, _ := DistrictBound("340722")
	bound = bound.Union(ix.Units(District)[0].Polygon.Bound())
	r := rand.New(rand.NewPCG(7, 8))
	pts := make([]orb.Point, 4096)
	for i := range pts {
		pts[i] = orb.Point{
			bound.Min[0] + r.Float64()*(bound.Max[0]-bound.Min[0]),
			bound.Min[1] + r.Float64()*(bound.Max[1]-bound.Min[1]),
		}
	}
	b.ReportMetric(float64(len(ix.Units(Grid))), "grids")
	b.ResetTimer()
	i := 0
	for b.Loop() {
		p := pts[i&4095]
		ix.Locate(p[0], p[1])
		i++
	}
}

func TestLocateNonBoxPolygon(t *testing.T) {
	tri := orb.Polygon{orb.Ring{{117.74, 30.86}, {117.92, 30.86}, {117.74, 31.00}, {117.74, 30.86}}}
	ix := NewIndex([]Unit{{Code: "340705", Level: District, Polygon: tri}})
	if u, ok := ix.Locate(117.76, 30.87); !ok || u.Code != "340705" {
		t.Errorf("point inside the triangle: %v, %v", u.Code, ok)
	}
	if _, ok := ix.Locate(117.91, 30.99); ok {
		t.Error("point in the triangle's bound but outside it was located")
	}
}
