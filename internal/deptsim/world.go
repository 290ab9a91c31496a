package deptsim

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/synth"
)

// world is the city with the indexes and the true facts the departments share
// (who died, who is disabled, who is on 低保), so that their records agree where
// real ones would: a 低保 member is more likely a registered unemployed person,
// a dead person's pension may still be paid.
type world struct {
	city  *synth.City
	seed  int64
	today time.Time // the city's today, midnight UTC of the civil date
	truth *Truth

	hhIndex  map[int64]int32 // household ID -> index
	bldIndex map[int64]int32 // building ID -> index
	members  [][]int32       // household index -> person indexes, in register order
	hhOf     []int32         // person index -> household index, -1 for none
	ages     []int16         // person index -> age today
	// village tells a household in a village committee (村) from an urban one.
	village   []bool
	community map[string]string // community code -> name

	// The facts, by person index.
	deceased map[int32]time.Time // death date
	dead     []bool
	disabled []int8 // disability grade 1-4, 0 for none
	tekun    []bool
	dibao    []bool // a member of an active 低保 household
	employee []bool // in the employee pension scheme

	// The showcase residents (see chooseShowcase): person indexes in the
	// order chosen, a flag by person index and the chosen persons' IDs. The
	// noise never touches them.
	showcaseIdx []int32
	showcase    []bool
	showcasePID map[int64]bool
	gridIx      *grid.Index // built on first use
}

func newWorld(city *synth.City, seed int64) *world {
	w := &world{
		city:      city,
		seed:      seed,
		today:     synth.RefDate,
		hhIndex:   make(map[int64]int32, len(city.Households)),
		bldIndex:  make(map[int64]int32, len(city.Buildings)),
		members:   make([][]int32, len(city.Households)),
		village:   make([]bool, len(city.Households)),
		community: map[string]string{},
		hhOf:      make([]int32, len(city.Persons)),
		ages:      make([]int16, len(city.Persons)),
		deceased:  map[int32]time.Time{},
		dead:      make([]bool, len(city.Persons)),
		disabled:  make([]int8, len(city.Persons)),
		tekun:     make([]bool, len(city.Persons)),
		dibao:     make([]bool, len(city.Persons)),
		employee:  make([]bool, len(city.Persons)),

		showcase:    make([]bool, len(city.Persons)),
		showcasePID: map[int64]bool{},
	}
	for i, h := range city.Households {
		w.hhIndex[h.ID] = int32(i)
		if len(h.GridCode) >= 12 {
			t, _ := grid.CommunityTypeOf(h.GridCode[:12])
			w.village[i] = t == grid.VillageCommunity
		}
	}
	for i, b := range city.Buildings {
		w.bldIndex[b.ID] = int32(i)
	}
	for i := range city.Persons {
		w.hhOf[i] = -1
		if h, ok := w.hhIndex[city.Persons[i].HouseholdID]; ok {
			w.members[h] = append(w.members[h], int32(i))
			w.hhOf[i] = h
		}
		w.ages[i] = int16(ageOn(city.Persons[i].BirthDate, w.today))
	}
	for _, u := range city.Units {
		if u.Level == grid.Community {
			w.community[u.Code] = u.Name
		}
	}
	return w
}

// rng is the stream of one department's (or fact's) draws.
func (w *world) rng(name string) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(w.seed), hashString(name)))
}

func (w *world) person(i int32) *synth.Person { return &w.city.Persons[i] }

// household is the index of person i's household, -1 if it has none.
func (w *world) household(i int32) int32 { return w.hhOf[i] }

func (w *world) address(i int32) string {
	if h := w.household(i); h >= 0 {
		return w.city.Households[h].Address
	}
	return ""
}

func (w *world) inVillage(i int32) bool {
	h := w.household(i)
	return h >= 0 && w.village[h]
}

// age is person i's age in whole years today.
func (w *world) age(i int32) int { return int(w.ages[i]) }

// diedOn is person i's death date, if civil affairs registered one.
func (w *world) diedOn(i int32) (time.Time, bool) {
	if !w.dead[i] {
		return time.Time{}, false
	}
	return w.deceased[i], true
}

func ageOn(birth, day time.Time) int {
	a := day.Year() - birth.Year()
	if day.Month() < birth.Month() || day.Month() == birth.Month() && day.Day() < birth.Day() {
		a--
	}
	return a
}

// retired tells whether person i has reached the pension age the
// departments use: 60 for men, 55 for women.
func (w *world) retired(i int32) bool {
	p := w.person(i)
	a := w.age(i)
	return a >= 60 || p.Gender == "F" && a >= 55
}

// communityName is the name of the community of a grid code.
func (w *world) communityName(gridCode string) string {
	if len(gridCode) < 12 {
		return ""
	}
	if n, ok := w.community[gridCode[:12]]; ok {
		return grid.CommunityShortName(n)
	}
	return ""
}

// Date helpers. Dates are midnight UTC of the civil date, as connectors
// return them; timestamps are CST clock times.

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func dayOf(t time.Time) time.Time {
	y, m, d := t.In(cst).Date()
	return date(y, m, d)
}

// daysAgo is today minus a uniform number of days in [lo, hi].
func (w *world) daysAgo(r *rand.Rand, lo, hi int) time.Time {
	if hi < lo {
		hi = lo
	}
	return w.today.AddDate(0, 0, -(lo + r.IntN(hi-lo+1)))
}

// between is a uniform date in [a, b] (a when b is before a).
func between(r *rand.Rand, a, b time.Time) time.Time {
	days := int(b.Sub(a).Hours() / 24)
	if days <= 0 {
		return a
	}
	return a.AddDate(0, 0, r.IntN(days+1))
}

// maxDate is the later of two dates.
func maxDate(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// minDate is the earlier of two dates.
func minDate(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// touch is an office-hours timestamp (CST) on a day in [from, today]: when a
// clerk last updated a row.
func (w *world) touch(r *rand.Rand, from time.Time) time.Time {
	d := between(r, minDate(from, w.today), w.today)
	return clock(r, d)
}

// clock is an office-hours time (08:00-17:59 CST) on civil date d.
func clock(r *rand.Rand, d time.Time) time.Time {
	return time.Date(d.Year(), d.Month(), d.Day(), 8+r.IntN(10), r.IntN(60), r.IntN(60), 0, cst)
}

// nextAnniversary is the first anniversary of since after today.
func (w *world) nextAnniversary(since time.Time) time.Time {
	t := since
	for !t.After(w.today) {
		t = t.AddDate(1, 0, 0)
	}
	return t
}

// pick chooses an index by weight.
func pick(r *rand.Rand, weights ...float64) int {
	sum := 0.0
	for _, x := range weights {
		sum += x
	}
	u := r.Float64() * sum
	for i, x := range weights {
		if u < x {
			return i
		}
		u -= x
	}
	return len(weights) - 1
}

// chineseNumeral writes 1..99 as 一..九十九, for branch names.
func chineseNumeral(n int) string {
	digits := []string{"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"}
	switch {
	case n < 10:
		return digits[n]
	case n < 20:
		return "十" + strings.TrimPrefix(digits[n%10], "零")
	default:
		s := digits[n/10] + "十"
		if n%10 != 0 {
			s += digits[n%10]
		}
		return s
	}
}

// deaths decides who died recently: people 65+ at about 1.2% (a few months of
// deaths at the old-age mortality rate), registered by civil affairs.
func (w *world) deaths() {
	r := w.rng("deaths")
	for i := range w.city.Persons {
		a := w.age(int32(i))
		p := 0.0
		switch {
		case a >= 85:
			p = 0.03
		case a >= 75:
			p = 0.012
		case a >= 65:
			p = 0.005
		}
		if r.Float64() < p {
			w.deceased[int32(i)] = w.daysAgo(r, 10, 240)
			w.dead[i] = true
		}
	}
}

// deathTruth records each death and the records other sources still keep
// active after it.
func (w *world) deathTruth(ds *Dataset) {
	active := map[int64][]string{}
	deadIDs := map[int64]bool{}
	for i := range w.deceased {
		deadIDs[w.person(i).ID] = true
	}
	mark := func(pid int64, what string) {
		if deadIDs[pid] && !slices.Contains(active[pid], what) {
			active[pid] = append(active[pid], what)
		}
	}
	for _, p := range ds.SocialSecurity.Pension {
		if p.Status == "RECEIVING" || p.Status == "CONTRIBUTING" {
			mark(p.PersonID, SocialSecurity+".pension")
		}
	}
	for _, m := range ds.SocialSecurity.Medical {
		if m.Status == "INSURED" {
			mark(m.PersonID, SocialSecurity+".medical")
		}
	}
	for _, d := range ds.CivilAffairs.Dibao {
		if d.Status == "ACTIVE" {
			mark(d.PersonID, CivilAffairs+".dibao")
		}
	}
	for _, m := range ds.PartyBuilding.Members {
		if !m.OutOfContact {
			mark(m.PersonID, PartyBuilding+".membership")
		}
	}
	var idx []int32
	for i := range w.deceased {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		p := w.person(i)
		ds.Truth.Deaths = append(ds.Truth.Deaths, Death{PersonID: p.ID, IDNumber: p.IDNumber, DiedOn: w.deceased[i], StillActive: active[p.ID]})
	}
}

// jitter moves a point by up to about d metres, rounded to 1e-6 degrees.
func jitter(r *rand.Rand, lon, lat, d float64) (float64, float64) {
	dl := d / 111000
	lon += (r.Float64()*2 - 1) * dl / math.Cos(lat*math.Pi/180)
	lat += (r.Float64()*2 - 1) * dl
	return math.Round(lon*1e6) / 1e6, math.Round(lat*1e6) / 1e6
}
