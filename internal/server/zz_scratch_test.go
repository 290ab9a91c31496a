package server_test

import (
	"github.com/gridhub/gridhub/internal/testcity"
	"testing"
)

func TestZZScratch(t *testing.T) {
	c := testcity.City(t)
	grids := map[string]int{}
	for _, p := range c.Persons {
		grids[p.GridCode]++
	}
	same := 0
	for _, o := range c.Organizations {
		if grids[o.GridCode] > 0 {
			same++
		}
	}
	t.Logf("persons %d orgs %d orgs in grids with persons %d", len(c.Persons), len(c.Organizations), same)
	comm := map[string]int{}
	for _, o := range c.Organizations {
		comm[o.GridCode[:12]]++
	}
	n := 0
	for _, p := range c.Persons {
		if comm[p.GridCode[:12]] > 0 {
			n++
		}
	}
	t.Logf("persons in communities with orgs: %d", n)
	lvls := map[int]int{}
	for _, u := range c.Units {
		lvls[len(u.Code)]++
	}
	t.Logf("units %v; p0 %+v; o0 %+v", lvls, c.Persons[0], c.Organizations[0])
}
