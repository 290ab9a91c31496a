package deptsim

import (
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/synth"
)

func TestMain(m *testing.M) {
	code := devenv.RunTests(m)
	if filesDir != "" {
		os.RemoveAll(filesDir)
	}
	os.Exit(code)
}

// testResidents is the size of the test city: enough for rates to settle.
const testResidents = 20000

var (
	fixtureOnce sync.Once
	fixtureCity *synth.City
	fixtureDS   *Dataset
	fixtureErr  error
)

// fixture is the test city and its dataset, built once per test binary.
func fixture(t testing.TB) (*synth.City, *Dataset) {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureCity, fixtureErr = synth.Generate(synth.Options{Scale: synth.ScaleDemo, Residents: testResidents, Seed: 7})
		if fixtureErr == nil {
			fixtureDS = Build(fixtureCity, 7)
		}
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixtureCity, fixtureDS
}

// mapping loads the shipped department mapping files with their defaults.
func mapping(t testing.TB) map[string]*connectors.Department {
	t.Helper()
	ds, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*connectors.Department{}
	for _, d := range ds {
		out[d.Code] = d
	}
	return out
}

func TestDepartmentsAndEnv(t *testing.T) {
	m := mapping(t)
	raw := map[string]string{}
	for _, d := range Departments() {
		b, err := builtin.FS.ReadFile("departments/" + d + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		raw[d] = string(b)
	}
	if len(m) != len(Departments()) {
		t.Fatalf("%d mapping files, %d departments", len(m), len(Departments()))
	}
	for _, d := range Departments() {
		md, ok := m[d]
		if !ok {
			t.Errorf("%s: no mapping file", d)
			continue
		}
		if md.Kind != Kind(d) {
			t.Errorf("%s: mapping kind %s, simulator kind %s", d, md.Kind, Kind(d))
		}
		e := Env(d, Endpoint{DSN: "dsn", URL: "url", APIKey: "key", Ledger: "ledger"})
		names := EnvNames(d)
		if len(e) != len(names) {
			t.Errorf("%s: Env sets %v, EnvNames lists %v", d, e, names)
		}
		for _, n := range names {
			if _, ok := e[n]; !ok {
				t.Errorf("%s: Env does not set %s", d, n)
			}
			if !strings.Contains(raw[d], "${"+n+":-") {
				t.Errorf("%s: the mapping file does not read ${%s:-default}", d, n)
			}
		}
		if md.Source.REST != nil {
			if md.Source.REST.APIKeyHeader != APIKeyHeader(d) {
				t.Errorf("%s: mapping key header %s, simulator %s", d, md.Source.REST.APIKeyHeader, APIKeyHeader(d))
			}
			if md.Source.REST.APIKey != DefaultAPIKey(d) {
				t.Errorf("%s: mapping default key %s, simulator %s", d, md.Source.REST.APIKey, DefaultAPIKey(d))
			}
			if want := ":" + strconv.Itoa(DefaultPort(d)); !strings.HasSuffix(md.Source.REST.BaseURL, want) {
				t.Errorf("%s: mapping default URL %s, simulator port %d", d, md.Source.REST.BaseURL, DefaultPort(d))
			}
		}
		if md.Source.SQL != nil && !strings.Contains(md.Source.SQL.DSN, DatabaseName(d)) {
			t.Errorf("%s: mapping default DSN %s does not name %s", d, md.Source.SQL.DSN, DatabaseName(d))
		}
		if md.Source.Sheet != nil && !strings.HasSuffix(md.Source.Sheet.Path, LedgerFile) {
			t.Errorf("%s: mapping default ledger %s is not .../%s", d, md.Source.Sheet.Path, LedgerFile)
		}
	}
	if err := checkDept("nope", ""); err == nil {
		t.Error("unknown department accepted")
	}
}

func TestDeterministic(t *testing.T) {
	city, ds := fixture(t)
	again := Build(city, 7)
	if !reflect.DeepEqual(ds, again) {
		t.Fatal("two builds of the same city and seed differ")
	}
	other := Build(city, 8)
	if reflect.DeepEqual(ds.Summary(), other.Summary()) && reflect.DeepEqual(ds.Truth, other.Truth) {
		t.Error("another seed gives the same dataset")
	}
	if len(city.Persons) == 0 || city.Persons[0].Name == "" {
		t.Fatal("empty city")
	}
}

// rate is a measured share with the range a realistic city falls in.
type rate struct {
	name     string
	num, den int
	lo, hi   float64
}

func TestRates(t *testing.T) {
	city, ds := fixture(t)
	w := newWorld(city, ds.Seed)
	var persons, adults, working, urbanAdults, women2040, over80, seniors int
	for i := range city.Persons {
		i := int32(i)
		a := w.age(i)
		persons++
		if a >= 18 {
			adults++
			if !w.inVillage(i) {
				urbanAdults++
			}
		}
		if a >= 18 && a <= 60 {
			working++
		}
		if city.Persons[i].Gender == "F" && a >= 20 && a <= 40 {
			women2040++
		}
		if a >= 80 {
			over80++
		}
		if w.retired(i) {
			seniors++ // men 60+, women 55+
		}
	}
	count := func(n int, keep func(int) bool) int {
		c := 0
		for i := range n {
			if keep(i) {
				c++
			}
		}
		return c
	}
	dup := map[string]map[int64]bool{}
	for _, n := range ds.Truth.Noise {
		if n.Kind == NoiseDuplicate {
			if dup[n.Set] == nil {
				dup[n.Set] = map[int64]bool{}
			}
			dup[n.Set][n.Row] = true
		}
	}
	// distinct counts the persons of a set, duplicates aside.
	distinct := func(set string, n int, pid func(int) int64, keep func(int) bool) int {
		seen := map[int64]bool{}
		for i := range n {
			if keep == nil || keep(i) {
				seen[pid(i)] = true
			}
		}
		return len(seen)
	}
	ca, h, e, si, um, pb := &ds.CivilAffairs, &ds.Health, &ds.Employment, &ds.SocialSecurity, &ds.UrbanManagement, &ds.PartyBuilding
	dibaoActive := distinct("dibao", len(ca.Dibao), func(i int) int64 { return ca.Dibao[i].PersonID }, func(i int) bool { return ca.Dibao[i].Status == "ACTIVE" })
	villageDibao := distinct("dibao", len(ca.Dibao), func(i int) int64 { return ca.Dibao[i].PersonID }, func(i int) bool {
		return ca.Dibao[i].Status == "ACTIVE" && w.inVillage(int32(ca.Dibao[i].PersonID-1))
	})
	villagers := count(len(city.Persons), func(i int) bool { return w.inVillage(int32(i)) })
	tekunOld := distinct("tekun", len(ca.Tekun), func(i int) int64 { return ca.Tekun[i].PersonID }, func(i int) bool {
		return ageOn(ca.Tekun[i].BirthDate, w.today) >= 60
	})
	tekun := distinct("tekun", len(ca.Tekun), func(i int) int64 { return ca.Tekun[i].PersonID }, nil)
	floatingAdults := distinct("floating", len(h.Floating), func(i int) int64 { return h.Floating[i].PersonID }, func(i int) bool {
		return ageOn(h.Floating[i].BirthDate, w.today) >= 18
	})
	mothers := distinct("births", len(h.Births), func(i int) int64 { return h.Births[i].Mother.PersonID }, func(i int) bool {
		a := ageOn(h.Births[i].Mother.BirthDate, w.today)
		return a >= 20 && a <= 40
	})
	married30s := 0
	people30s := 0
	for _, m := range h.Marriage {
		if a := ageOn(m.BirthDate, w.today); a >= 30 && a < 40 {
			people30s++
			if m.MaritalStatus == "MARRIED" {
				married30s++
			}
		}
	}
	registered := distinct("unemployment", len(e.Unemployment), func(i int) int64 { return e.Unemployment[i].PersonID }, func(i int) bool {
		return e.Unemployment[i].Status == "REGISTERED"
	})
	regAll := distinct("unemployment", len(e.Unemployment), func(i int) int64 { return e.Unemployment[i].PersonID }, nil)
	certs := distinct("certificate", len(e.Certificates), func(i int) int64 { return e.Certificates[i].PersonID }, nil)
	hard := distinct("hardship", len(e.Hardship), func(i int) int64 { return e.Hardship[i].PersonID }, nil)
	pension := distinct("pension", len(si.Pension), func(i int) int64 { return si.Pension[i].PersonID }, nil)
	receiving := distinct("pension", len(si.Pension), func(i int) int64 { return si.Pension[i].PersonID }, func(i int) bool {
		return si.Pension[i].Status == "RECEIVING"
	})
	medical := distinct("medical", len(si.Medical), func(i int) int64 { return si.Medical[i].PersonID }, nil)
	members := distinct("membership", len(pb.Members), func(i int) int64 { return pb.Members[i].PersonID }, nil)
	probationary := count(len(pb.Members), func(i int) bool {
		return pb.Members[i].Category == "PROBATIONARY" && !dup["membership"][pb.Members[i].Row]
	})
	lost := count(len(pb.Members), func(i int) bool { return pb.Members[i].OutOfContact && !dup["membership"][pb.Members[i].Row] })
	overdue := count(len(um.Cases), func(i int) bool { return um.Cases[i].Overdue })
	closed := count(len(um.Cases), func(i int) bool { return um.Cases[i].Stage == "CLOSED" })
	perYear := float64(len(um.Cases)) / caseYears

	rates := []rate{
		{"低保 (active) / persons", dibaoActive, persons, 0.010, 0.022},
		{"特困 / persons", tekun, persons, 0.0015, 0.005},
		{"特困 aged 60+ / 特困", tekunOld, tekun, 0.6, 1},
		{"高龄补贴 / persons 80+", distinct("elderlyAllowance", len(ca.Elderly), func(i int) int64 { return ca.Elderly[i].PersonID }, nil), over80, 1, 1},
		{"残疾人 / persons", distinct("disability", len(ca.Disability), func(i int) int64 { return ca.Disability[i].PersonID }, nil), persons, 0.018, 0.032},
		{"流动人口 adults / urban adults", floatingAdults, urbanAdults, 0.07, 0.14},
		{"married / persons 30-39", married30s, people30s, 0.6, 0.92},
		{"mothers with a birth / women 20-40", mothers, women2040, 0.08, 0.3},
		{"registered unemployed / 18-60", registered, working, 0.012, 0.03},
		{"就业困难 / 18-60", hard, working, 0.003, 0.009},
		{"就业创业证 / ever registered", certs, regAll, 0.85, 1},
		{"pension / adults", pension, adults, 0.85, 0.94},
		{"pension receiving / men 60+, women 55+", receiving, seniors, 0.8, 0.95},
		{"medical / persons", medical, persons, 0.93, 0.985},
		{"party members / adults", members, adults, 0.05, 0.09},
		{"probationary / members", probationary, members, 0.025, 0.08},
		{"out of contact / members", lost, members, 0.003, 0.025},
		{"城管 cases / 1000 residents / year", int(perYear), persons / 1000, 10, 20},
		{"overdue cases / cases", overdue, len(um.Cases), 0.03, 0.3},
		{"closed cases / cases", closed, len(um.Cases), 0.85, 0.995},
	}
	for _, r := range rates {
		got := float64(r.num) / float64(max(r.den, 1))
		t.Logf("%-36s %6d / %-6d = %.4f  (want %.4f..%.4f)", r.name, r.num, r.den, got, r.lo, r.hi)
		if got < r.lo || got > r.hi {
			t.Errorf("%s = %.4f, want %.4f..%.4f", r.name, got, r.lo, r.hi)
		}
	}
	if villagers > 0 {
		v := float64(villageDibao) / float64(villagers)
		u := float64(dibaoActive-villageDibao) / float64(persons-villagers)
		t.Logf("低保 in villages %.4f, in towns %.4f", v, u)
		if v <= u {
			t.Errorf("低保 is not more common in villages (%.4f) than in towns (%.4f)", v, u)
		}
	}
	stages := map[string]int{}
	for _, c := range um.Cases {
		stages[c.Stage]++
	}
	for _, s := range []string{"ACCEPTED", "FILED", "DISPATCHED", "HANDLING", "VERIFYING", "CLOSED"} {
		if stages[s] == 0 {
			t.Errorf("no case in stage %s: %v", s, stages)
		}
	}
	parties := map[string]int{}
	for _, c := range um.Cases {
		parties[c.PartyType]++
	}
	if parties[PartyPerson] == 0 || parties[PartyOrganization] == 0 || parties[PartyNone] == 0 {
		t.Errorf("case parties %v: want persons, organisations and none", parties)
	}
	// Hardship categories follow eligibility: 4050 means women 40+ or men 50+.
	for _, x := range e.Hardship {
		a := ageOn(x.BirthDate, w.today)
		if x.Category == "AGE_4050" && !(x.Gender == "F" && a >= 40 || x.Gender == "M" && a >= 50) {
			t.Errorf("hardship AGE_4050 for a %s aged %d", x.Gender, a)
		}
	}
	for _, x := range si.Pension {
		if x.Status == "RECEIVING" && x.MonthlyBenefit <= 0 {
			t.Errorf("pension row %d RECEIVING without a benefit", x.Row)
		}
	}
}

func TestNoiseRecorded(t *testing.T) {
	city, ds := fixture(t)
	kinds := map[string]int{}
	for _, n := range ds.Truth.Noise {
		kinds[n.Kind]++
	}
	t.Logf("noise: %v, deaths: %d", kinds, len(ds.Truth.Deaths))
	for _, k := range []string{NoiseNameTypo, NoiseStaleAddress, NoiseIDMissing, NoiseIDWrongCheck, NoiseID15, NoiseIDLowerX, NoiseDuplicate, NoiseDeceased} {
		if kinds[k] == 0 {
			t.Errorf("no %s noise", k)
		}
	}
	// Every row carries the identity the truth says: the noisy value where
	// listed, the person's true ID number otherwise.
	type rowKey struct {
		dept, set string
		row       int64
	}
	idents := map[rowKey]Ident{}
	add := func(dept, set string, row int64, id Ident) { idents[rowKey{dept, set, row}] = id }
	for _, x := range ds.CivilAffairs.Residents {
		add(CivilAffairs, "residents", x.Row, x.Ident)
	}
	for _, x := range ds.CivilAffairs.Dibao {
		add(CivilAffairs, "dibao", x.Row, x.Ident)
	}
	for _, x := range ds.CivilAffairs.Tekun {
		add(CivilAffairs, "tekun", x.Row, x.Ident)
	}
	for _, x := range ds.CivilAffairs.Elderly {
		add(CivilAffairs, "elderlyAllowance", x.Row, x.Ident)
	}
	for _, x := range ds.CivilAffairs.Disability {
		add(CivilAffairs, "disability", x.Row, x.Ident)
	}
	for _, x := range ds.Health.Floating {
		add(Health, "floating", x.Row, x.Ident)
	}
	for _, x := range ds.Health.Marriage {
		add(Health, "marriage", x.Row, x.Ident)
	}
	for _, x := range ds.Health.Births {
		add(Health, "births", x.Row, x.Mother)
	}
	for _, x := range ds.Employment.Unemployment {
		add(Employment, "unemployment", x.Row, x.Ident)
	}
	for _, x := range ds.Employment.Hardship {
		add(Employment, "hardship", x.Row, x.Ident)
	}
	for _, x := range ds.Employment.Certificates {
		add(Employment, "certificate", x.Row, x.Ident)
	}
	for _, x := range ds.Employment.Assistance {
		add(Employment, "assistance", x.Row, x.Ident)
	}
	for _, x := range ds.SocialSecurity.Pension {
		add(SocialSecurity, "pension", x.Row, x.Ident)
	}
	for _, x := range ds.SocialSecurity.Medical {
		add(SocialSecurity, "medical", x.Row, x.Ident)
	}
	for _, x := range ds.UrbanManagement.Cases {
		if x.PartyType == PartyPerson {
			add(UrbanManagement, "cases", x.Row, x.Party)
		}
	}
	for _, x := range ds.PartyBuilding.Members {
		add(PartyBuilding, "membership", x.Row, x.Ident)
	}
	listed := map[rowKey]bool{}
	dupOf := map[rowKey]rowKey{}
	for _, n := range ds.Truth.Noise {
		k := rowKey{n.Dept, n.Set, n.Row}
		id, ok := idents[k]
		if !ok {
			t.Errorf("noise %+v names no row", n)
			continue
		}
		if id.PersonID != n.PersonID {
			t.Errorf("noise %+v: the row is about person %d", n, id.PersonID)
		}
		p := city.Persons[n.PersonID-1]
		switch n.Kind {
		case NoiseIDMissing, NoiseIDWrongCheck, NoiseID15, NoiseIDLowerX:
			listed[k] = true
			if id.IDNumber != n.Source || n.True != p.IDNumber {
				t.Errorf("noise %+v: row has %q, person %q", n, id.IDNumber, p.IDNumber)
			}
		case NoiseNameTypo:
			if id.Name != n.Source || n.True != p.Name || utf8.RuneCountInString(n.Source) != utf8.RuneCountInString(p.Name) || n.Source == p.Name {
				t.Errorf("noise %+v: row has %q, person %q", n, id.Name, p.Name)
			}
		case NoiseStaleAddress:
			if id.Address != n.Source || n.Source == n.True {
				t.Errorf("noise %+v: row has %q", n, id.Address)
			}
		case NoiseDuplicate:
			orig := rowKey{n.Dept, n.Set, parseInt(n.Source)}
			if _, ok := idents[orig]; !ok {
				t.Errorf("duplicate %+v: no original row", n)
			}
			dupOf[k] = orig
		}
		switch n.Kind {
		case NoiseIDWrongCheck:
			if len(n.Source) != 18 || validID(n.Source) {
				t.Errorf("wrong-check ID %q passes its check", n.Source)
			}
		case NoiseID15:
			if len(n.Source) != 15 || n.Source[:6]+"19"+n.Source[6:] != p.IDNumber[:17] {
				t.Errorf("15-digit ID %q is not the old form of %q", n.Source, p.IDNumber)
			}
		case NoiseIDLowerX:
			if !strings.HasSuffix(n.Source, "x") {
				t.Errorf("lower-case x noise %q", n.Source)
			}
		}
	}
	for k, id := range idents {
		if orig, ok := dupOf[k]; ok {
			k = orig // a duplicate carries its original's identity
		}
		if listed[k] {
			continue
		}
		if want := city.Persons[id.PersonID-1].IDNumber; id.IDNumber != want {
			t.Errorf("%v: ID %q differs from the person's %q but no noise says so", k, id.IDNumber, want)
		}
	}
	pensionAfterDeath := 0
	for _, d := range ds.Truth.Deaths {
		if slices.Contains(d.StillActive, SocialSecurity+".pension") {
			pensionAfterDeath++
		}
	}
	if pensionAfterDeath == 0 {
		t.Error("no death with a pension still paid")
	}
	// The missing or mistyped ID numbers stay rare.
	bad, rows := kinds[NoiseIDMissing]+kinds[NoiseIDWrongCheck], len(idents)
	if share := float64(bad) / float64(rows); share < 0.001 || share > 0.012 {
		t.Errorf("missing or wrong-check IDs on %.4f of rows", share)
	}
}

func parseInt(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

func TestTypo(t *testing.T) {
	city, _ := fixture(t)
	w := newWorld(city, 1)
	r := w.rng("typo")
	changed := 0
	for _, p := range city.Persons[:2000] {
		s, ok := typo(r, p.Name)
		if !ok {
			continue
		}
		changed++
		a, b := []rune(p.Name), []rune(s)
		if len(a) != len(b) {
			t.Fatalf("typo %q -> %q changes the length", p.Name, s)
		}
		diff := 0
		for i := range a {
			if a[i] != b[i] {
				diff++
				if !slices.Contains(homophones[a[i]], b[i]) {
					t.Errorf("typo %q -> %q: %c is not a homophone of %c", p.Name, s, b[i], a[i])
				}
			}
		}
		if diff != 1 {
			t.Errorf("typo %q -> %q changes %d characters", p.Name, s, diff)
		}
	}
	if changed < 1900 {
		t.Errorf("only %d of 2000 names have a homophone to swap", changed)
	}
}

func TestMoney(t *testing.T) {
	for m, want := range map[Money]string{Yuan(50): "50.00", 123456: "1234.56", 5: "0.05", -150: "-1.50"} {
		if got := m.String(); got != want {
			t.Errorf("Money(%d) = %q, want %q", int64(m), got, want)
		}
	}
}
