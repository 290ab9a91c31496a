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
// that resident's grid. Where a source holds several records of one resident
// in a set kept one per resident, the newest counts (the last by update time,
// as the fact feed lists them). Cases count where their point lies.
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
	// latest keeps, per resident, the index of the newest row.
	type row struct {
		i  int
		at time.Time
	}
	latest := func(n int, id func(int) deptsim.Ident, at func(int) time.Time) map[*synth.Person]int {
		best := map[*synth.Person]row{}
		for i := range n {
			p := person(id(i))
			if p == nil {
				continue
			}
			if b, ok := best[p]; !ok || !at(i).Before(b.at) {
				best[p] = row{i, at(i)}
			}
		}
		out := make(map[*synth.Person]int, len(best))
		for p, b := range best {
			out[p] = b.i
		}
		return out
	}
	// countPersons counts residents whose newest row passes keep.
	countPersons := func(name string, newest map[*synth.Person]int, keep func(int) bool) {
		for p, i := range newest {
			if keep(i) {
				add(name, p.GridCode, 1)
			}
		}
	}
	all := func(int) bool { return true }

	ca := ds.CivilAffairs
	dibao := latest(len(ca.Dibao), func(i int) deptsim.Ident { return ca.Dibao[i].Ident }, func(i int) time.Time { return ca.Dibao[i].Updated })
	countPersons("dibaoPersons", dibao, func(i int) bool { return ca.Dibao[i].Status == "ACTIVE" })
	households := map[string]map[int64]bool{}
	for p, i := range dibao {
		if ca.Dibao[i].Status == "ACTIVE" {
			if households[p.GridCode] == nil {
				households[p.GridCode] = map[int64]bool{}
			}
			households[p.GridCode][p.HouseholdID] = true
		}
	}
	for g, hs := range households {
		add("dibaoHouseholds", g, int64(len(hs)))
	}
	tekun := latest(len(ca.Tekun), func(i int) deptsim.Ident { return ca.Tekun[i].Ident }, func(i int) time.Time { return ca.Tekun[i].Updated })
	countPersons("tekunPersons", tekun, func(i int) bool { return ca.Tekun[i].Status == "ACTIVE" })
	dis := latest(len(ca.Disability), func(i int) deptsim.Ident { return ca.Disability[i].Ident }, func(i int) time.Time { return ca.Disability[i].Updated })
	countPersons("disabledSevere", dis, func(i int) bool { return ca.Disability[i].Grade <= 2 })
	countPersons("disabledMild", dis, func(i int) bool { return ca.Disability[i].Grade >= 3 })

	h := ds.Health
	countPersons("floatingPopulation", latest(len(h.Floating), func(i int) deptsim.Ident { return h.Floating[i].Ident },
		func(i int) time.Time { return h.Floating[i].Updated }), all)
	mar := latest(len(h.Marriage), func(i int) deptsim.Ident { return h.Marriage[i].Ident }, func(i int) time.Time { return h.Marriage[i].Updated })
	countPersons("childbearingWomen", mar, func(i int) bool { return h.Marriage[i].ChildbearingAge })
	for _, b := range h.Births {
		if p := person(b.Mother); p != nil {
			add("births", p.GridCode, 1)
		}
	}

	e := ds.Employment
	un := latest(len(e.Unemployment), func(i int) deptsim.Ident { return e.Unemployment[i].Ident }, func(i int) time.Time { return e.Unemployment[i].Updated })
	countPersons("registeredUnemployed", un, func(i int) bool { return e.Unemployment[i].Status == "REGISTERED" })
	countPersons("employmentHardship", latest(len(e.Hardship), func(i int) deptsim.Ident { return e.Hardship[i].Ident },
		func(i int) time.Time { return e.Hardship[i].Updated }), all)

	ss := ds.SocialSecurity
	pen := latest(len(ss.Pension), func(i int) deptsim.Ident { return ss.Pension[i].Ident }, func(i int) time.Time { return ss.Pension[i].Updated })
	countPersons("pensionInsured", pen, func(i int) bool { s := ss.Pension[i].Status; return s == "CONTRIBUTING" || s == "RECEIVING" })
	countPersons("pensionReceiving", pen, func(i int) bool { return ss.Pension[i].Status == "RECEIVING" })
	med := latest(len(ss.Medical), func(i int) deptsim.Ident { return ss.Medical[i].Ident }, func(i int) time.Time { return ss.Medical[i].Updated })
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

	// The ledger has no update times: its last row of a member counts.
	pb := ds.PartyBuilding.Members
	mem := latest(len(pb), func(i int) deptsim.Ident { return pb[i].Ident }, func(int) time.Time { return time.Time{} })
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
