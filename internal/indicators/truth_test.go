package indicators_test

import (
	"cmp"
	"slices"
	"time"

	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/synth"
)

// truth computes the count indicators per responsibility grid straight from
// the generator's city and the departments' records, sharing no code with the
// sync or the aggregation: name -> grid code -> count.
//
// A department record counts for the resident its ID number names (parsed and
// normalised by internal/ident; a missing or mistyped number names no one), in
// that resident's grid; a resident counts once when any of their records
// passes (a source may hold duplicates). Cases count where their point lies.
// Every 城管 case counts, with a party or none: the in-memory feeds carry
// them all, and so does the real connector (its cases set is keyless).
func truth(city *synth.City, ds *deptsim.Dataset, ix *grid.Index, day time.Time) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	add := func(name, g string, n int64) {
		if out[name] == nil {
			out[name] = map[string]int64{}
		}
		out[name][g] += n
	}
	byID := map[string]*synth.Person{}
	for i := range city.Persons {
		p := &city.Persons[i]
		byID[p.IDNumber] = p
		add("residents", p.GridCode, 1)
		age := ageOn(p.BirthDate, day)
		for _, a := range []struct {
			name string
			min  int
		}{{"residents18Plus", 18}, {"residents60Plus", 60}, {"residents80Plus", 80}} {
			if age >= a.min {
				add(a.name, p.GridCode, 1)
			}
		}
	}
	for _, h := range city.Households {
		add("households", h.GridCode, 1)
	}
	person := func(id deptsim.Ident) *synth.Person {
		r, err := ident.ParseResidentIDAt(id.IDNumber, day.AddDate(1, 0, 0))
		if err != nil {
			return nil
		}
		return byID[r.Number]
	}
	// rows groups a set's rows by the resident their ID number names.
	rows := func(n int, id func(int) deptsim.Ident) map[*synth.Person][]int {
		out := map[*synth.Person][]int{}
		for i := range n {
			if p := person(id(i)); p != nil {
				out[p] = append(out[p], i)
			}
		}
		return out
	}
	// countPersons counts residents with a row that passes keep.
	countPersons := func(name string, byPerson map[*synth.Person][]int, keep func(int) bool) {
		for p, is := range byPerson {
			if slices.ContainsFunc(is, keep) {
				add(name, p.GridCode, 1)
			}
		}
	}
	all := func(int) bool { return true }

	ca := ds.CivilAffairs
	activeDibao := func(i int) bool { return ca.Dibao[i].Status == "ACTIVE" }
	dibao := rows(len(ca.Dibao), func(i int) deptsim.Ident { return ca.Dibao[i].Ident })
	countPersons("dibaoPersons", dibao, activeDibao)
	households := map[string]map[int64]bool{}
	for p, is := range dibao {
		if slices.ContainsFunc(is, activeDibao) {
			if households[p.GridCode] == nil {
				households[p.GridCode] = map[int64]bool{}
			}
			households[p.GridCode][p.HouseholdID] = true
		}
	}
	for g, hs := range households {
		add("dibaoHouseholds", g, int64(len(hs)))
	}
	tekun := rows(len(ca.Tekun), func(i int) deptsim.Ident { return ca.Tekun[i].Ident })
	countPersons("tekunPersons", tekun, func(i int) bool { return ca.Tekun[i].Status == "ACTIVE" })
	dis := rows(len(ca.Disability), func(i int) deptsim.Ident { return ca.Disability[i].Ident })
	countPersons("disabledSevere", dis, func(i int) bool { return ca.Disability[i].Grade <= 2 })
	countPersons("disabledMild", dis, func(i int) bool { return ca.Disability[i].Grade >= 3 })

	h := ds.Health
	countPersons("floatingPopulation", rows(len(h.Floating), func(i int) deptsim.Ident { return h.Floating[i].Ident }), all)
	mar := rows(len(h.Marriage), func(i int) deptsim.Ident { return h.Marriage[i].Ident })
	countPersons("childbearingWomen", mar, func(i int) bool { return h.Marriage[i].ChildbearingAge })
	for _, b := range h.Births {
		if p := person(b.Mother); p != nil {
			add("births", p.GridCode, 1)
		}
	}

	e := ds.Employment
	un := rows(len(e.Unemployment), func(i int) deptsim.Ident { return e.Unemployment[i].Ident })
	countPersons("registeredUnemployed", un, func(i int) bool { return e.Unemployment[i].Status == "REGISTERED" })
	countPersons("employmentHardship", rows(len(e.Hardship), func(i int) deptsim.Ident { return e.Hardship[i].Ident }), all)

	ss := ds.SocialSecurity
	pen := rows(len(ss.Pension), func(i int) deptsim.Ident { return ss.Pension[i].Ident })
	countPersons("pensionInsured", pen, func(i int) bool { s := ss.Pension[i].Status; return s == "CONTRIBUTING" || s == "RECEIVING" })
	countPersons("pensionReceiving", pen, func(i int) bool { return ss.Pension[i].Status == "RECEIVING" })
	med := rows(len(ss.Medical), func(i int) deptsim.Ident { return ss.Medical[i].Ident })
	countPersons("medicalInsured", med, func(i int) bool { return ss.Medical[i].Status == "INSURED" })

	for _, c := range ds.UrbanManagement.Cases {
		u, ok := ix.Locate(c.Lon, c.Lat)
		if !ok {
			continue
		}
		add("urbanCases", u.Code, 1)
		if c.Stage != "CLOSED" {
			add("openCases", u.Code, 1)
		}
		if c.Overdue {
			add("overdueCases", u.Code, 1)
		}
	}

	pb := ds.PartyBuilding.Members
	mem := rows(len(pb), func(i int) deptsim.Ident { return pb[i].Ident })
	countPersons("partyMembers", mem, all)
	countPersons("probationaryMembers", mem, func(i int) bool { return pb[i].Category == "PROBATIONARY" })
	countPersons("outOfContactMembers", mem, func(i int) bool { return pb[i].OutOfContact })
	return out
}

// ageOn is the age in whole years on day.
func ageOn(birth, day time.Time) int {
	a := day.Year() - birth.Year()
	if day.Month() < birth.Month() || day.Month() == birth.Month() && day.Day() < birth.Day() {
		a--
	}
	return a
}

// rollUp sums grid counts to every unit of the index: code -> count, with ""
// the grand total.
func rollUp(ix *grid.Index, grids map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for code, v := range grids {
		u, ok := ix.Get(code)
		for ok {
			out[u.Code] += v
			if u.Parent == "" {
				break
			}
			u, ok = ix.Get(u.Parent)
		}
		out[""] += v
	}
	return out
}

// allUnits lists every unit of the index, by level then code.
func allUnits(ix *grid.Index) []grid.Unit {
	var out []grid.Unit
	for l := grid.District; l <= grid.Grid; l++ {
		out = append(out, ix.Units(l)...)
	}
	slices.SortStableFunc(out, func(a, b grid.Unit) int { return cmp.Compare(a.Level, b.Level) })
	return out
}
