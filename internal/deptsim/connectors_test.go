package deptsim

import (
	"context"
	"net/http/httptest"
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

	// Persons: the first 300 of the city, and parties of 城管 cases.
	var persons, orgs []string
	seen := map[string]bool{}
	add := func(list *[]string, k string) {
		if !seen[k] {
			seen[k] = true
			*list = append(*list, k)
		}
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
