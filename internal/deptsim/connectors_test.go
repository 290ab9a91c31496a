package deptsim

import (
	"context"
	"maps"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gridhub/gridhub/connectors"
	_ "github.com/gridhub/gridhub/connectors/all"
	"github.com/gridhub/gridhub/internal/devenv"
)

// TestConnectorsReadSimulators runs the shipped mapping files through the real
// connector kinds against the six simulated systems, pointed at them the way
// gridhub dev does: with the environment Env gives.
func TestConnectorsReadSimulators(t *testing.T) {
	city, ds := fixture(t)
	dir := files(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, d := range []string{CivilAffairs, Health} {
		u := devenv.NewDatabase(t)
		if err := ds.LoadSQL(ctx, d, u); err != nil {
			t.Fatal(err)
		}
		setEnv(t, Env(d, Endpoint{DSN: u}))
	}
	for _, d := range []string{Employment, SocialSecurity, UrbanManagement} {
		s, err := NewServer(d, dir, testKey)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(s)
		t.Cleanup(hs.Close)
		setEnv(t, Env(d, Endpoint{URL: hs.URL, APIKey: testKey}))
	}
	setEnv(t, Env(PartyBuilding, Endpoint{Ledger: LedgerPath(dir)}))

	// Persons: the showcase residents, the first 300 of the city, and
	// parties of 城管 cases.
	var persons, orgs []string
	seen := map[string]bool{}
	add := func(list *[]string, k string) {
		if !seen[k] {
			seen[k] = true
			*list = append(*list, k)
		}
	}
	if len(ds.Showcase) == 0 {
		t.Fatal("no showcase residents")
	}
	women := map[string]bool{}
	for _, p := range city.Persons {
		if p.Gender == "F" && slices.Contains(ds.Showcase, p.IDNumber) {
			women[p.IDNumber] = true
		}
	}
	for _, id := range ds.Showcase {
		add(&persons, id)
	}
	for _, p := range city.Persons[:300] {
		add(&persons, p.IDNumber)
	}
	for _, c := range ds.UrbanManagement.Cases {
		switch {
		case c.PartyType == PartyPerson && len(persons) < 400:
			add(&persons, city.Persons[c.Party.PersonID-1].IDNumber)
		case c.PartyType == PartyOrganization && len(orgs) < 50:
			add(&orgs, c.CreditCode)
		}
	}
	wantSets := map[string][]string{
		CivilAffairs:    {"dibao", "elderlyAllowance", "disability"},
		Health:          {"floating", "marriage", "births"},
		Employment:      {"unemployment", "assistance"},
		SocialSecurity:  {"pension", "medical"},
		UrbanManagement: {"cases"},
		PartyBuilding:   {"membership"},
	}
	// The sets every showcase resident has, and the field values of the
	// first record of sets kept one per person.
	showcaseSets := map[string][]string{
		Health:          {"marriage"},
		Employment:      {"unemployment", "certificate", "assistance"},
		SocialSecurity:  {"pension", "medical"},
		UrbanManagement: {"cases"},
		PartyBuilding:   {"membership"},
	}
	showcaseFirst := map[string]map[string][2]string{
		Employment:     {"unemployment": {"status", "REGISTERED"}},
		SocialSecurity: {"pension": {"status", "CONTRIBUTING"}, "medical": {"status", "INSURED"}},
		PartyBuilding:  {"membership": {"category", "FULL"}},
	}
	for code, d := range mapping(t) {
		conn, err := connectors.Open(d)
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if c, ok := conn.(connectors.Closer); ok {
			defer c.Close()
		}
		res, err := conn.Read(ctx, connectors.ReadRequest{Entity: connectors.Person, Keys: persons})
		if err != nil {
			t.Errorf("%s: %v", code, err)
			continue
		}
		counts := map[string]int{}
		for key, sets := range res {
			if !seen[key] {
				t.Errorf("%s: records for %s, which was not asked for", code, key)
			}
			for s, recs := range sets {
				counts[s] += len(recs)
			}
		}
		t.Logf("%s: %v", code, counts)
		// Every showcase resident has a section from every department, and
		// what a set kept one per person answers is the showcase record.
		for _, id := range ds.Showcase {
			sets := res[id]
			if len(sets) == 0 {
				t.Errorf("%s: no records for showcase resident %s", code, id)
				continue
			}
			for _, s := range showcaseSets[code] {
				if len(sets[s]) == 0 {
					t.Errorf("%s: no %s records for showcase resident %s (has %v)", code, s, id, slices.Collect(maps.Keys(sets)))
				}
			}
			if code == Health && women[id] && len(sets["births"]) == 0 {
				t.Errorf("%s: no births for showcase resident %s, a mother", code, id)
			}
			if code == CivilAffairs && len(sets["disability"]) == 0 && (len(sets["dibao"]) == 0 || sets["dibao"][0]["status"] != "ACTIVE") {
				t.Errorf("%s: showcase resident %s has neither an active 低保 nor a disability certificate: %v", code, id, sets)
			}
			for s, want := range showcaseFirst[code] {
				if recs := sets[s]; len(recs) > 0 && recs[0][want[0]] != want[1] {
					t.Errorf("%s %s: showcase resident %s has %s %v, want %s", code, s, id, want[0], recs[0][want[0]], want[1])
				}
			}
		}
		for _, s := range wantSets[code] {
			if counts[s] == 0 {
				t.Errorf("%s: no %s records for %d persons", code, s, len(persons))
			}
		}
		if code == UrbanManagement {
			res, err := conn.Read(ctx, connectors.ReadRequest{Entity: connectors.Organization, Keys: orgs})
			if err != nil {
				t.Errorf("%s organisations: %v", code, err)
			} else if len(res) == 0 {
				t.Errorf("%s: no cases for %d organisations that are parties", code, len(orgs))
			}
		}
	}
}

func setEnv(t *testing.T, env map[string]string) {
	for k, v := range env {
		t.Setenv(k, v)
	}
}
