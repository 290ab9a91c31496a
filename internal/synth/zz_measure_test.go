package synth

import (
	"fmt"
	"os"
	"testing"
	"time"
)

func TestZZMeasure(t *testing.T) {
	scale := os.Getenv("ZZ_SCALE")
	if scale == "" {
		t.Skip()
	}
	start := time.Now()
	c, err := Generate(Options{Scale: scale})
	if err != nil {
		t.Fatal(err)
	}
	el := time.Since(start)
	s := c.Summary()
	fmt.Printf("%s: %v persons=%d households=%d buildings=%d orgs=%d units=%v res=%d unit=%d outside=%d\n", scale, el, s.Persons, s.Households, s.Buildings, s.Organizations, s.Units, s.ResidentialGrids, s.UnitGrids, s.GridsOutsideBounds)
	// age pyramid
	var ages [21]int
	for _, p := range c.Persons {
		ages[min(ageOn(p.BirthDate)/5, 20)]++
	}
	for i, n := range ages {
		lo, hi := refYear-i*5-4, refYear-i*5
		tw := 0.0
		if hi >= firstBirthYear {
			l := max(lo, firstBirthYear)
			base := 0.0
			if l > firstBirthYear {
				base = cohort[l-firstBirthYear-1]
			}
			tw = (cohort[hi-firstBirthYear] - base) / cohort[len(cohort)-1] * 100
		}
		fmt.Printf("%3d-%3d %6.2f%% target %5.2f%% %s\n", i*5, i*5+4, 100*float64(n)/float64(len(c.Persons)), tw, bar(100*float64(n)/float64(len(c.Persons))))
	}
	if dir := os.Getenv("ZZ_TRUTH"); dir != "" {
		st := time.Now()
		if err := c.WriteTruth(dir); err != nil {
			t.Fatal(err)
		}
		fmt.Println("truth", time.Since(st))
	}
}

func bar(p float64) string {
	s := ""
	for i := 0; i < int(p*4); i++ {
		s += "#"
	}
	return s
}
