package synth

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/ident"
)

// Small cities keep the tests fast; the natural sizes run in the benchmarks.
var (
	demoSmall = sync.OnceValues(func() (*City, error) { return Generate(Options{Residents: 5000}) })
	citySmall = sync.OnceValues(func() (*City, error) { return Generate(Options{Scale: ScaleCity, Residents: 20000}) })
)

func small(t *testing.T) []*City {
	t.Helper()
	d, err := demoSmall()
	if err != nil {
		t.Fatal(err)
	}
	c, err := citySmall()
	if err != nil {
		t.Fatal(err)
	}
	return []*City{d, c}
}

func TestDeterministic(t *testing.T) {
	a, err := demoSmall()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(Options{Scale: ScaleDemo, Residents: 5000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("two runs differ (-first +second):\n%.2000s", diff)
	}
	sa, sb := writeSummary(t, a), writeSummary(t, b)
	if sa != sb {
		t.Errorf("summaries differ:\n%s\n%s", sa, sb)
	}
	other, err := Generate(Options{Residents: 5000, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if writeSummary(t, other) == sa {
		t.Error("seed 2 gives the same truth as seed 1")
	}
}

func writeSummary(t *testing.T, c *City) string {
	t.Helper()
	dir := t.TempDir()
	if err := c.WriteTruth(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOptions(t *testing.T) {
	if _, err := Generate(Options{Scale: "province"}); err == nil {
		t.Error("unknown scale accepted")
	}
	if _, err := Generate(Options{Residents: -1}); err == nil {
		t.Error("negative residents accepted")
	}
	c, err := demoSmall()
	if err != nil {
		t.Fatal(err)
	}
	if c.Seed != 1 || c.Area != "340705" {
		t.Errorf("seed %d area %s, want 1 and 340705", c.Seed, c.Area)
	}
	for _, c := range small(t) {
		want := 5000
		if c.Area == "3407" {
			want = 20000
		}
		if n := len(c.Persons); math.Abs(float64(n-want)) > 0.1*float64(want) {
			t.Errorf("%s: %d residents, want about %d", c.Area, n, want)
		}
	}
}

func TestResidentIDs(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range small(t) {
		for _, p := range c.Persons {
			id := p.IDNumber
			if len(id) != 18 {
				t.Fatalf("person %d: ID %q", p.ID, id)
			}
			check, err := ident.ResidentCheckChar(id[:17])
			if err != nil || check != id[17] {
				t.Fatalf("person %d: ID %s check %c, want %c (%v)", p.ID, id, id[17], check, err)
			}
			if got := p.BirthDate.Format("20060102"); id[6:14] != got {
				t.Fatalf("person %d: ID %s, birth date %s", p.ID, id, got)
			}
			male := (id[16]-'0')%2 == 1
			if male != (p.Gender == "M") || (p.Gender != "M" && p.Gender != "F") {
				t.Fatalf("person %d: ID %s, gender %s", p.ID, id, p.Gender)
			}
			if p.BirthDate.After(RefDate) || ageOn(p.BirthDate) > 100 {
				t.Fatalf("person %d: born %v", p.ID, p.BirthDate)
			}
			if seen[c.Area+id] {
				t.Fatalf("ID %s issued twice", id)
			}
			seen[c.Area+id] = true
		}
	}
}

func TestRecordsConsistent(t *testing.T) {
	relations := map[string]bool{RelHead: true, RelSpouse: true, RelChild: true, RelParent: true, RelGrandchild: true, RelSibling: true, RelOther: true}
	for _, c := range small(t) {
		grids := map[string]grid.Unit{}
		for _, u := range c.Units {
			if u.Level == grid.Grid {
				grids[u.Code] = u
			}
		}
		isGrid := func(what string, id int64, code string) {
			t.Helper()
			if len(code) != 15 {
				t.Fatalf("%s %d: grid code %q", what, id, code)
			}
			if _, ok := grids[code]; !ok {
				t.Fatalf("%s %d: grid %s not in Units", what, id, code)
			}
		}
		for i, b := range c.Buildings {
			if b.ID != int64(i+1) {
				t.Fatalf("building %d has ID %d", i+1, b.ID)
			}
			isGrid("building", b.ID, b.GridCode)
		}
		members := make([][]Person, len(c.Households)+1)
		for i, p := range c.Persons {
			if p.ID != int64(i+1) {
				t.Fatalf("person %d has ID %d", i+1, p.ID)
			}
			isGrid("person", p.ID, p.GridCode)
			if !relations[p.Relation] {
				t.Fatalf("person %d: relation %q", p.ID, p.Relation)
			}
			if p.HouseholdID < 1 || p.HouseholdID > int64(len(c.Households)) {
				t.Fatalf("person %d: household %d", p.ID, p.HouseholdID)
			}
			members[p.HouseholdID] = append(members[p.HouseholdID], p)
			if age := ageOn(p.BirthDate); (age >= 12) != (p.Phone != "") || p.Phone != "" && len(p.Phone) != 11 {
				t.Fatalf("person %d aged %d: phone %q", p.ID, age, p.Phone)
			}
			if p.Ethnicity == "" || !strings.HasSuffix(p.Ethnicity, "族") {
				t.Fatalf("person %d: ethnicity %q", p.ID, p.Ethnicity)
			}
			if n := len([]rune(p.Name)); n < 2 || n > 3 {
				t.Fatalf("person %d: name %q", p.ID, p.Name)
			}
		}
		for i, h := range c.Households {
			if h.ID != int64(i+1) {
				t.Fatalf("household %d has ID %d", i+1, h.ID)
			}
			isGrid("household", h.ID, h.GridCode)
			if h.BuildingID < 1 || h.BuildingID > int64(len(c.Buildings)) || c.Buildings[h.BuildingID-1].GridCode != h.GridCode {
				t.Fatalf("household %d: building %d", h.ID, h.BuildingID)
			}
			if !strings.HasPrefix(h.Address, c.Buildings[h.BuildingID-1].Address) {
				t.Fatalf("household %d: address %q not in building %q", h.ID, h.Address, c.Buildings[h.BuildingID-1].Address)
			}
			ms := members[h.ID]
			heads := 0
			var head Person
			for _, p := range ms {
				if p.Relation == RelHead {
					heads++
					head = p
				}
				if p.GridCode != h.GridCode {
					t.Fatalf("person %d in grid %s, household %d in %s", p.ID, p.GridCode, h.ID, h.GridCode)
				}
			}
			if len(ms) == 0 || heads != 1 || head.ID != h.HeadID {
				t.Fatalf("household %d: %d members, %d heads, head %d vs HeadID %d", h.ID, len(ms), heads, head.ID, h.HeadID)
			}
			for _, p := range ms {
				if p.Relation == RelSpouse && p.Gender == head.Gender {
					t.Fatalf("household %d: spouse of the same sex", h.ID)
				}
				if p.Relation == RelChild && p.BirthDate.Year()-head.BirthDate.Year() < 18 {
					t.Fatalf("household %d: child %d born %v, head %v", h.ID, p.ID, p.BirthDate, head.BirthDate)
				}
			}
			if age := ageOn(head.BirthDate); age < 18 {
				t.Fatalf("household %d: head aged %d", h.ID, age)
			}
		}
		for i, o := range c.Organizations {
			if o.ID != int64(i+1) {
				t.Fatalf("organisation %d has ID %d", i+1, o.ID)
			}
			isGrid("organisation", o.ID, o.GridCode)
		}
	}
}

func TestUnits(t *testing.T) {
	for _, c := range small(t) {
		households := map[string]int{}
		residents := map[string]int{}
		for _, h := range c.Households {
			households[h.GridCode]++
		}
		for _, p := range c.Persons {
			residents[p.GridCode]++
		}
		levels := map[grid.Level]int{}
		pos := map[string]int{}
		for i, u := range c.Units {
			levels[u.Level]++
			pos[u.Code] = i
			if i > 0 {
				prev := c.Units[i-1]
				if prev.Level > u.Level || prev.Level == u.Level && prev.Code >= u.Code {
					t.Fatalf("unit %s after %s", u.Code, prev.Code)
				}
			}
			if u.Parent != "" {
				if p, ok := pos[u.Parent]; !ok || p >= i {
					t.Fatalf("unit %s before its parent %s", u.Code, u.Parent)
				}
			}
			if len(u.Polygon) == 0 {
				t.Fatalf("unit %s has no polygon", u.Code)
			}
			if u.Level == grid.Grid && (households[u.Code] != u.Households || residents[u.Code] != u.Residents) {
				t.Fatalf("grid %s: %d/%d households/residents, records say %d/%d", u.Code, u.Households, u.Residents, households[u.Code], residents[u.Code])
			}
			if u.Kind == grid.UnitGrid && u.Households != 0 {
				t.Fatalf("unit grid %s with households", u.Code)
			}
		}
		if levels[grid.District] == 0 || levels[grid.Township] == 0 || levels[grid.Community] == 0 || levels[grid.Grid] == 0 {
			t.Fatalf("levels %v", levels)
		}
		total := 0
		for _, u := range c.Units {
			if u.Level == grid.District {
				total += u.Residents
			}
		}
		if total != len(c.Persons) {
			t.Errorf("districts hold %d residents, %d persons", total, len(c.Persons))
		}
	}
}

func TestPlacesInsideGrids(t *testing.T) {
	for _, c := range small(t) {
		ix := grid.NewIndex(c.Units)
		for _, b := range c.Buildings {
			if u, ok := ix.Locate(b.Lon, b.Lat); !ok || u.Code != b.GridCode {
				t.Fatalf("building %d at %v,%v in grid %s, located in %q", b.ID, b.Lon, b.Lat, b.GridCode, u.Code)
			}
		}
		for _, o := range c.Organizations {
			if u, ok := ix.Locate(o.Lon, o.Lat); !ok || u.Code != o.GridCode {
				t.Fatalf("organisation %d at %v,%v in grid %s, located in %q", o.ID, o.Lon, o.Lat, o.GridCode, u.Code)
			}
		}
	}
}

func TestHouseholdSize(t *testing.T) {
	for _, c := range small(t) {
		mean := float64(len(c.Persons)) / float64(len(c.Households))
		if mean < 2.5 || mean > 2.7 {
			t.Errorf("%s: mean household size %.3f, want 2.5-2.7", c.Area, mean)
		}
	}
}

// TestAgePyramid compares the share of each five-year age group with the census
// shape the generator aims at.
func TestAgePyramid(t *testing.T) {
	c, err := citySmall()
	if err != nil {
		t.Fatal(err)
	}
	got, want := ageShares(c), targetAgeShares()
	for g := range got {
		if math.Abs(got[g]-want[g]) > 0.015 {
			t.Errorf("ages %d-%d: %.1f%%, want %.1f%%", 5*g, 5*g+4, 100*got[g], 100*want[g])
		}
	}
	if got[0] > got[1] || got[7] < got[5] || got[11] < got[9] {
		t.Errorf("pyramid lacks its shape: under 5 %.3f, 5-9 %.3f, 35-39 %.3f, 25-29 %.3f, 55-59 %.3f, 45-49 %.3f",
			got[0], got[1], got[7], got[5], got[11], got[9])
	}
}

func ageShares(c *City) [21]float64 {
	var s [21]float64
	for _, p := range c.Persons {
		s[min(ageOn(p.BirthDate)/5, 20)]++
	}
	for g := range s {
		s[g] /= float64(len(c.Persons))
	}
	return s
}

func targetAgeShares() [21]float64 {
	var s [21]float64
	total := 0.0
	for i, w := range cohortWeights {
		s[min((refYear-firstBirthYear-i)/5, 20)] += w
		total += w
	}
	for g := range s {
		s[g] /= total
	}
	return s
}

// TestCalibrateCohort prints new cohortCorrection factors; run it with
// GRIDHUB_CALIBRATE=1 after changing the household templates and paste the result.
func TestCalibrateCohort(t *testing.T) {
	if os.Getenv("GRIDHUB_CALIBRATE") == "" {
		t.Skip("set GRIDHUB_CALIBRATE=1 to recalibrate the age pyramid")
	}
	defer func(c []float64) { cohort = c }(cohort)
	corr := cohortCorrection
	want := targetAgeShares()
	for it := range 12 {
		cohort = buildCohort(corr)
		c, err := Generate(Options{Scale: ScaleCity, Residents: 300000, Seed: int64(it + 1)})
		if err != nil {
			t.Fatal(err)
		}
		got := ageShares(c)
		dev := 0.0
		for g := range corr {
			dev += math.Abs(got[g] - want[g])
			if got[g] > 0 {
				corr[g] *= math.Pow(want[g]/got[g], 0.7) // damped, against sampling noise
			} else {
				corr[g] *= 2
			}
		}
		t.Logf("iteration %d: L1 deviation %.4f", it, dev)
	}
	t.Logf("cohortCorrection = %.3f", corr)
}

func TestCreditCodes(t *testing.T) {
	auth := map[string]bool{"91": true, "92": true, "93": true, "51": true, "52": true, "12": true, "11": true}
	kinds := map[string]bool{KindSchool: true, KindHospital: true, KindMarket: true, KindEnterprise: true, KindShop: true, KindSocialOrg: true, KindGovernment: true}
	for _, c := range small(t) {
		bad := 0
		names := map[string]bool{}
		for _, o := range c.Organizations {
			code := o.CreditCode
			if len(code) != 18 || !auth[code[:2]] || !strings.HasPrefix(code[2:8], c.Area) {
				t.Fatalf("organisation %d: credit code %q", o.ID, code)
			}
			for i := 0; i < 18; i++ {
				if !strings.ContainsRune(creditCharset, rune(code[i])) {
					t.Fatalf("organisation %d: credit code %q has %q", o.ID, code, code[i])
				}
			}
			if oc, err := ident.OrgCodeCheckChar(code[8:16]); err != nil || oc != code[16] {
				t.Fatalf("organisation %d: credit code %s, organisation code check %c (%v)", o.ID, code, oc, err)
			}
			if !creditCodeValid(code) {
				bad++
			}
			if !kinds[o.Kind] || o.Name == "" || o.Address == "" || o.LegalRep == "" || o.Employees < 1 {
				t.Fatalf("organisation %+v", o)
			}
			if names[o.Name] {
				t.Fatalf("organisation name %s twice", o.Name)
			}
			names[o.Name] = true
		}
		if share := float64(bad) / float64(len(c.Organizations)); share > 0.04 {
			t.Errorf("%s: %.1f%% of credit codes fail the check", c.Area, 100*share)
		}
	}
}

// TestNaturalDensity checks the plan at full size without drawing any people:
// residential grids hold 250-500 households except the single grid of a
// community smaller than that, and the city comes to about 1.3 million.
func TestNaturalDensity(t *testing.T) {
	for _, tc := range []struct {
		scale    string
		min, max float64
	}{
		{ScaleDemo, 225_000, 275_000},
		{ScaleCity, 1_235_000, 1_365_000},
	} {
		g, err := plan(Options{Scale: tc.scale})
		if err != nil {
			t.Fatal(err)
		}
		small := map[string]bool{}
		for _, c := range g.comms {
			if c.households < grid.MinHouseholds {
				small[c.div.Code] = true
			}
		}
		outside := 0
		households := 0
		for _, u := range g.units {
			if u.Kind != grid.Residential {
				continue
			}
			households += u.Households
			if u.Households < grid.MinHouseholds || u.Households > grid.MaxHouseholds {
				outside++
				if !small[u.Parent] || len(u.Warnings) == 0 {
					t.Errorf("%s: grid %s (%s) holds %d households, warnings %v", tc.scale, u.Code, u.Name, u.Households, u.Warnings)
				}
			}
		}
		if residents := float64(households) * meanHouseholdSize; residents < tc.min || residents > tc.max {
			t.Errorf("%s: about %.0f residents, want %.0f-%.0f", tc.scale, residents, tc.min, tc.max)
		}
		t.Logf("%s: %d households, %d residential grids outside 250-500", tc.scale, households, outside)
	}
}

func TestWriteTruth(t *testing.T) {
	c, err := demoSmall()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := c.WriteTruth(dir); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "persons.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	lines := 0
	for sc.Scan() {
		if lines == 0 && !strings.HasPrefix(sc.Text(), "id,id_number,name,gender,birth_date,household_id,relation,grid_code") {
			t.Errorf("header %q", sc.Text())
		}
		if lines == 1 {
			p := c.Persons[0]
			want := strings.Join([]string{"1", p.IDNumber, p.Name, p.Gender, p.BirthDate.Format(time.DateOnly), strconv.FormatInt(p.HouseholdID, 10), p.Relation, p.GridCode}, ",")
			if !strings.HasPrefix(sc.Text(), want) {
				t.Errorf("first row %q, want prefix %q", sc.Text(), want)
			}
		}
		lines++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines != len(c.Persons)+1 {
		t.Errorf("%d lines, want %d", lines, len(c.Persons)+1)
	}
	var sum Summary
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Persons != len(c.Persons) || sum.Units["COMMUNITY"] != 50 || len(sum.SHA256) != 5 {
		t.Errorf("summary %+v", sum)
	}
	for _, name := range []string{"households", "buildings", "organizations", "grids"} {
		if _, err := os.Stat(filepath.Join(dir, name+".csv.gz")); err != nil {
			t.Error(err)
		}
	}
}

func BenchmarkGenerateDemo(b *testing.B) {
	benchmarkGenerate(b, Options{Scale: ScaleDemo})
}

// BenchmarkGenerateCity builds all of 铜陵市 (~1.3 million residents); it runs only
// when not -short and GRIDHUB_BENCH_CITY=1.
func BenchmarkGenerateCity(b *testing.B) {
	if testing.Short() || os.Getenv("GRIDHUB_BENCH_CITY") != "1" {
		b.Skip("set GRIDHUB_BENCH_CITY=1 (and no -short) to generate the whole city")
	}
	benchmarkGenerate(b, Options{Scale: ScaleCity})
}

func benchmarkGenerate(b *testing.B, opts Options) {
	var c *City
	for b.Loop() {
		var err error
		if c, err = Generate(opts); err != nil {
			b.Fatal(err)
		}
	}
	s := c.Summary()
	b.ReportMetric(float64(s.Persons), "residents")
	b.ReportMetric(float64(s.Units["GRID"]), "grids")
	b.ReportMetric(float64(s.GridsOutsideBounds)/float64(s.ResidentialGrids), "outside-share")
}
