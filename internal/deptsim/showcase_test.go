package deptsim

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/grid"
)

// TestShowcase checks the showcase residents of the test city: who they are,
// that every department holds clean records of them that the sources answer
// first, and that showcase.json reads back.
func TestShowcase(t *testing.T) {
	city, ds := fixture(t)
	w := newWorld(city, ds.Seed)
	if len(ds.Showcase) != ShowcaseCount {
		t.Fatalf("%d showcase residents, want %d", len(ds.Showcase), ShowcaseCount)
	}
	if !slices.IsSorted(ds.Showcase) {
		t.Errorf("showcase %v not sorted", ds.Showcase)
	}
	byID := map[string]int32{}
	for i, p := range city.Persons {
		byID[p.IDNumber] = int32(i)
	}
	noisy := map[int64][]Noise{}
	for _, n := range ds.Truth.Noise {
		noisy[n.PersonID] = append(noisy[n.PersonID], n)
	}
	ix := grid.NewIndex(city.Units)
	households := map[int64]bool{}
	for _, id := range ds.Showcase {
		i, ok := byID[id]
		if !ok {
			t.Fatalf("showcase %s is no resident", id)
		}
		p := city.Persons[i]
		pid := p.ID
		a := w.age(i)
		if a < 30 || a > 55 || !validID(id) {
			t.Errorf("%s: age %d, valid ID %v", id, a, validID(id))
		}
		if t2, _ := grid.CommunityTypeOf(p.GridCode[:12]); t2 != grid.UrbanCommunity {
			t.Errorf("%s lives in %s, not an urban community", id, p.GridCode)
		}
		if households[p.HouseholdID] {
			t.Errorf("%s: two showcase residents in household %d", id, p.HouseholdID)
		}
		households[p.HouseholdID] = true
		if len(noisy[pid]) > 0 {
			t.Errorf("%s: noise %+v", id, noisy[pid])
		}

		// clean tells that every row about the person carries their true identity.
		clean := func(set string, x Ident) {
			if x.PersonID == pid && (x.IDNumber != id || x.Name != p.Name || x.Address != w.address(i)) {
				t.Errorf("%s %s: row written as %q %q %q", id, set, x.IDNumber, x.Name, x.Address)
			}
		}
		// newest is the status of the person's newest row: what a set kept one
		// per person answers.
		type row struct {
			status  string
			updated time.Time
		}
		newest := func(rows []row) string {
			var best row
			for _, r := range rows {
				if r.updated.Equal(best.updated) && r.status != best.status {
					t.Errorf("%s: two rows updated at %v", id, r.updated)
				}
				if r.updated.After(best.updated) {
					best = r
				}
			}
			return best.status
		}

		// civil_affairs: active 低保 or a disability certificate.
		var dibao []row
		disability := 0
		for _, x := range ds.CivilAffairs.Dibao {
			clean("dibao", x.Ident)
			if x.PersonID == pid {
				dibao = append(dibao, row{x.Status, x.Updated})
			}
		}
		for _, x := range ds.CivilAffairs.Disability {
			clean("disability", x.Ident)
			if x.PersonID == pid {
				disability++
			}
		}
		inResidents := false
		for _, x := range ds.CivilAffairs.Residents {
			clean("residents", x.Ident)
			inResidents = inResidents || x.PersonID == pid
		}
		if newest(dibao) != "ACTIVE" && disability == 0 || !inResidents {
			t.Errorf("%s: civil_affairs: 低保 %v, %d disability certificates, in residents %v", id, dibao, disability, inResidents)
		}

		// health: 婚育, and for women a birth.
		marriage, births := 0, 0
		for _, x := range ds.Health.Marriage {
			clean("marriage", x.Ident)
			if x.PersonID == pid {
				marriage++
			}
		}
		for _, x := range ds.Health.Floating {
			clean("floating", x.Ident)
		}
		for _, x := range ds.Health.Births {
			clean("births", x.Mother)
			if x.Mother.PersonID == pid {
				births++
			}
		}
		if marriage != 1 || p.Gender == "F" && births == 0 {
			t.Errorf("%s (%s): health: %d marriage rows, %d births", id, p.Gender, marriage, births)
		}

		// employment: registered unemployed, a certificate, assistance.
		var unemp []row
		certs, assist := 0, 0
		for _, x := range ds.Employment.Unemployment {
			clean("unemployment", x.Ident)
			if x.PersonID == pid {
				unemp = append(unemp, row{x.Status, x.Updated})
			}
		}
		for _, x := range ds.Employment.Certificates {
			clean("certificate", x.Ident)
			if x.PersonID == pid {
				certs++
			}
		}
		for _, x := range ds.Employment.Assistance {
			clean("assistance", x.Ident)
			if x.PersonID == pid {
				assist++
			}
		}
		for _, x := range ds.Employment.Hardship {
			clean("hardship", x.Ident)
		}
		if newest(unemp) != "REGISTERED" || certs == 0 || assist == 0 {
			t.Errorf("%s: employment: unemployment %v, %d certificates, %d assistance", id, unemp, certs, assist)
		}

		// social_security: contributing and insured.
		var pension, medical []row
		for _, x := range ds.SocialSecurity.Pension {
			clean("pension", x.Ident)
			if x.PersonID == pid {
				pension = append(pension, row{x.Status, x.Updated})
			}
		}
		for _, x := range ds.SocialSecurity.Medical {
			clean("medical", x.Ident)
			if x.PersonID == pid {
				medical = append(medical, row{x.Status, x.Updated})
			}
		}
		if newest(pension) != "CONTRIBUTING" || newest(medical) != "INSURED" {
			t.Errorf("%s: social_security: pension %v, medical %v", id, pension, medical)
		}
		for _, r := range append(pension, medical...) {
			if r.updated.After(ds.Now) {
				t.Errorf("%s: social_security row updated %v, after now", id, r.updated)
			}
		}

		// party_building: one row, a full member with a branch, in contact.
		var members []Member
		for _, x := range ds.PartyBuilding.Members {
			clean("membership", x.Ident)
			if x.PersonID == pid {
				members = append(members, x)
			}
		}
		if len(members) != 1 || members[0].Category != "FULL" || members[0].Branch == "" || members[0].OutOfContact ||
			members[0].RegularOn.IsZero() || strings.HasPrefix(members[0].Remark, "预备期") {
			t.Errorf("%s: party_building: %+v", id, members)
		}

		// urban_management: a case with them as the party, inside their grid.
		cases := 0
		for _, c := range ds.UrbanManagement.Cases {
			if c.PartyType != PartyPerson {
				continue
			}
			clean("cases", c.Party)
			if c.Party.PersonID != pid {
				continue
			}
			cases++
			u, ok := ix.Locate(c.Lon, c.Lat)
			if !ok || u.Code != p.GridCode || c.GridCode != p.GridCode {
				t.Errorf("%s: case %s at %f,%f in %s (grid %s), lives in %s", id, c.Number, c.Lon, c.Lat, u.Code, c.GridCode, p.GridCode)
			}
		}
		if cases == 0 {
			t.Errorf("%s: no 城管 case", id)
		}
		t.Logf("%s %s %s %d, grid %s: 低保 %q, %d disability certificates, %d births, %d assistance, %d cases, %s",
			id, p.Name, p.Gender, a, p.GridCode, newest(dibao), disability, births, assist, cases, members[0].Branch)
	}

	dir := files(t) // written by WriteFiles
	got, err := Showcase(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ds.Showcase) {
		t.Fatalf("showcase.json: %v", got)
	}
	for k, s := range got {
		if s.IDNumber != ds.Showcase[k] || s.Name != city.Persons[byID[s.IDNumber]].Name {
			t.Errorf("showcase.json entry %d: %+v", k, s)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, TruthDir, "showcase.json"))
	if err != nil || !strings.Contains(string(b), `"idNumber"`) || !strings.Contains(string(b), `"name"`) {
		t.Errorf("showcase.json: %s, %v", b, err)
	}
	if _, err := Showcase(t.TempDir()); err == nil {
		t.Error("Showcase of an empty directory: no error")
	}
}
