package linkage

import (
	"encoding/json"
	"math"
	"time"
)

// Field names of the evidence.
const (
	FieldIDNumber  = "idNumber"
	FieldName      = "name"
	FieldBirthDate = "birthDate"
	FieldSex       = "sex"
	FieldAddress   = "address"
	FieldPhone     = "phone"
)

// Address agreement levels (names share the others).
const (
	SameBuilding = "SAME_BUILDING" // the address normalises to the person's building
	SameGrid     = "SAME_GRID"     // another building of the person's grid
	Corrected    = "CORRECTED"     // the ID number is one slip from the person's
)

// Evidence is how one field of a department row compares with a candidate
// person: its agreement level and the weight (log2 m/u) it adds to the score.
type Evidence struct {
	Field  string  `json:"field"`
	Level  string  `json:"level"`
	Weight float64 `json:"weight"`
}

// row is a department row to place: a fact whose ID number is missing or does
// not validate, with what its identity block says.
type row struct {
	set, factID string
	keyHMAC     []byte
	name, sex   string
	address     string
	phone       string
	birth       time.Time // stated birth date
	idBirth     time.Time // the date the broken ID number still embeds
	idSex       string
	corrections [][]byte
}

// birthDate is the row's birth date: the stated one, else the one its ID
// number embeds.
func (r *row) birthDate() (time.Time, bool) {
	if !r.birth.IsZero() {
		return r.birth, true
	}
	return r.idBirth, !r.idBirth.IsZero()
}

// sexOf is the row's sex: the stated one, else its ID number's.
func (r *row) sexOf() string {
	if r.sex != "" {
		return r.sex
	}
	return r.idSex
}

// parseIdentity reads a fact's identity column.
func parseIdentity(b []byte, r *row) error {
	var m struct {
		Name        string `json:"name"`
		Sex         string `json:"sex"`
		BirthDate   string `json:"birthDate"`
		Address     string `json:"address"`
		Phone       string `json:"phone"`
		IDBirthDate string `json:"idBirthDate"`
		IDSex       string `json:"idSex"`
	}
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	r.name, r.sex, r.address, r.phone, r.idSex = m.Name, m.Sex, m.Address, m.Phone, m.IDSex
	r.birth = parseDay(m.BirthDate)
	r.idBirth = parseDay(m.IDBirthDate)
	return nil
}

// parseDay reads a date as the identity column holds it (RFC 3339 or
// YYYY-MM-DD); zero when empty or unreadable.
func parseDay(s string) time.Time {
	if len(s) < 10 {
		return time.Time{}
	}
	t, err := time.Parse("2006-01-02", s[:10])
	if err != nil {
		return time.Time{}
	}
	return t
}

// model holds a department's m-probabilities: how often each field agrees
// at each level for rows whose ID number links them for certain. They are
// counted from the department's own keyed rows on every run, so a department
// that types names carelessly gets less credit for a name that agrees.
type model struct {
	m     map[string]map[string]float64 // field -> level -> P(level | match)
	pairs int
}

// levels of each field, in the order they are tried.
var levels = map[string][]string{
	FieldName:      {Exact, Phonetic, Shape, Different},
	FieldBirthDate: {Exact, Different},
	FieldSex:       {Exact, Different},
	FieldAddress:   {SameBuilding, SameGrid, Different},
	FieldPhone:     {Exact, Different},
}

// fallbackM is P(level | match) where a department has too few keyed rows
// to count them: documented guesses from clerks' habits (a name typo in 2 of
// 100 rows, an old address in 5).
var fallbackM = map[string]map[string]float64{
	FieldName:      {Exact: 0.97, Phonetic: 0.02, Shape: 0.005, Different: 0.005},
	FieldBirthDate: {Exact: 0.99, Different: 0.01},
	FieldSex:       {Exact: 0.995, Different: 0.005},
	FieldAddress:   {SameBuilding: 0.9, SameGrid: 0.03, Different: 0.07},
	FieldPhone:     {Exact: 0.8, Different: 0.2},
}

// minPairs is how many agreeing observations of a field a department needs
// before its own m-probabilities replace the fallback.
const minPairs = 200

// estimate counts the m-probabilities from pairs of (keyed row, its person).
func estimate(ix *index, pairs []pair) *model {
	counts := map[string]map[string]int{}
	totals := map[string]int{}
	for _, pr := range pairs {
		for _, e := range compareFields(ix, &pr.r, &ix.persons[pr.p]) {
			if counts[e.Field] == nil {
				counts[e.Field] = map[string]int{}
			}
			counts[e.Field][e.Level]++
			totals[e.Field]++
		}
	}
	md := &model{m: map[string]map[string]float64{}, pairs: len(pairs)}
	for f, ls := range levels {
		md.m[f] = map[string]float64{}
		for _, l := range ls {
			if totals[f] >= minPairs {
				// Add-one-half smoothing: a level never seen in the keyed
				// rows is rare, not impossible.
				md.m[f][l] = (float64(counts[f][l]) + 0.5) / (float64(totals[f]) + 0.5*float64(len(ls)))
			} else {
				md.m[f][l] = fallbackM[f][l]
			}
		}
	}
	return md
}

// pair is a keyed row and the index position of its person.
type pair struct {
	r row
	p int32
}

// compareFields gives each field's agreement level between a row and a
// person (weights not yet set); a field the row does not state is left out.
func compareFields(ix *index, r *row, p *person) []Evidence {
	var out []Evidence
	add := func(f, l string) { out = append(out, Evidence{Field: f, Level: l}) }
	if l := CompareNames(r.name, p.name); l != Missing {
		add(FieldName, l)
	}
	if b, ok := r.birthDate(); ok {
		add(FieldBirthDate, level(b.Equal(p.birth)))
	}
	if s := r.sexOf(); s != "" {
		add(FieldSex, level(s == p.sex))
	}
	if r.address != "" {
		k := BuildingKey(r.address)
		switch {
		case k == p.building:
			add(FieldAddress, SameBuilding)
		case ix.buildGrid[k] != "" && ix.buildGrid[k] == p.grid:
			add(FieldAddress, SameGrid)
		default:
			add(FieldAddress, Different)
		}
	}
	if r.phone != "" && p.phone != "" {
		add(FieldPhone, level(r.phone == p.phone))
	}
	return out
}

func level(agree bool) string {
	if agree {
		return Exact
	}
	return Different
}

// u is P(level | not a match) for a row and a person: how often a person
// drawn at random would agree with the row as much. Agreement on the exact
// value is term-frequency adjusted (the share of the master index with that
// name, birth date, building); a 形近字 is taken as rare as a name met once.
func (ix *index) u(r *row, p *person, e Evidence) float64 {
	n := float64(len(ix.persons))
	share := func(c int) float64 { return math.Max(float64(c), 1) / n }
	switch e.Field {
	case FieldName:
		switch e.Level {
		case Exact:
			return share(ix.names[p.name])
		case Phonetic:
			return share(ix.pinyins[PinyinKey(p.name)])
		case Shape:
			return share(1)
		}
	case FieldBirthDate:
		if e.Level == Exact {
			return share(ix.births[p.birth])
		}
	case FieldSex:
		males := float64(ix.males) / n
		if (p.sex == "M") == (e.Level == Exact) {
			return males
		}
		return 1 - males
	case FieldAddress:
		switch e.Level {
		case SameBuilding:
			return share(ix.buildings[p.building])
		case SameGrid:
			return share(ix.grids[p.grid])
		}
	case FieldPhone:
		if e.Level == Exact {
			return share(len(ix.byPhone[p.phone]))
		}
	}
	return 1 // disagreement: almost every random pair disagrees
}

// score compares a row with a person: the evidence with weights, and their
// sum, the log2 likelihood ratio of "the same person" over "two people".
func (md *model) score(ix *index, r *row, p *person) ([]Evidence, float64) {
	ev := compareFields(ix, r, p)
	total := 0.0
	for i := range ev {
		m := md.m[ev[i].Field][ev[i].Level]
		u := ix.u(r, p, ev[i])
		if u >= 1 {
			u = 1 - 1e-9
		}
		ev[i].Weight = math.Round(math.Log2(m/u)*100) / 100
		total += ev[i].Weight
	}
	return ev, total
}
