package synth

import (
	"fmt"
	"math"
	"os"
	"testing"
)

func TestZZCalibrate(t *testing.T) {
	if os.Getenv("ZZ_CALIB") == "" {
		t.Skip()
	}
	corr := cohortCorrection
	var target [21]float64
	tot := 0.0
	for i, w := range cohortWeights {
		target[min((refYear-firstBirthYear-i)/5, 20)] += w
		tot += w
	}
	for it := 0; it < 12; it++ {
		cohort = buildCohort(corr)
		c, err := Generate(Options{Scale: "city", Residents: 300000, Seed: int64(it + 1)})
		if err != nil {
			t.Fatal(err)
		}
		var got [21]float64
		for _, p := range c.Persons {
			got[min(ageOn(p.BirthDate)/5, 20)]++
		}
		dev := 0.0
		for g := range corr {
			share := got[g] / float64(len(c.Persons))
			want := target[g] / tot
			if share > 0 {
				corr[g] *= math.Pow(want/share, 0.7)
			} else {
				corr[g] *= 2
			}
			dev += math.Abs(share - want)
		}
		fmt.Printf("iter %d: L1 deviation %.4f\n", it, dev)
	}
	fmt.Print("{")
	for g, x := range corr {
		if g > 0 {
			fmt.Print(", ")
		}
		fmt.Printf("%.3f", x)
	}
	fmt.Println("}")
}
