package disclosure

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkSuppressCity suppresses the twenty indicators of a city-sized
// hierarchy (4 districts, 60 townships, 460 communities, 1,336 grids): one
// operation is all twenty, the work behind one request for every indicator.
func BenchmarkSuppressCity(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	indicators := cityIndicators(r, cityTree(r), 20)
	cells := 0
	for b.Loop() {
		cells = 0
		for _, nodes := range indicators {
			sup, err := Suppress(nodes, Rule{})
			if err != nil {
				b.Fatal(err)
			}
			cells += len(sup)
		}
	}
	b.ReportMetric(float64(cells)/float64(20*(len(indicators[0])+1)), "suppressed/cell")
}

// TestCityLoss logs how much of a city's data suppression withholds, split
// into primary and complementary cells, as a check on information loss.
func TestCityLoss(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for k, nodes := range cityIndicators(r, cityTree(r), 20) {
		sup, err := Suppress(nodes, Rule{})
		if err != nil {
			t.Fatal(err)
		}
		prim := 0
		var total int64
		for _, nd := range nodes {
			if primary(nd.Value, DefaultThreshold, false) {
				prim++
			}
			if nd.Parent == "" {
				total += nd.Value
			}
		}
		t.Logf("indicator %2d: total %7d, %4d of %d cells suppressed: %4d primary, %4d complements", k, total, len(sup), len(nodes)+1, prim, len(sup)-prim)
	}
}
