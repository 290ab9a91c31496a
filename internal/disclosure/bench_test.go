package disclosure

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkSuppressCity suppresses twenty counts over a city-sized hierarchy
// (4 districts, 60 townships, 460 communities, 1,336 grids), related like the
// built-in catalogue's (cityFamilies: a chain of four, two pairs, two counts
// with two subsets each, six alone), each family jointly as the indicator
// service does: one operation is all twenty, the work behind one request for
// every indicator after a sync. The counts have the distributions of the
// twenty independent ones this benchmark used before relations were
// protected, so the figures compare.
func BenchmarkSuppressCity(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	fams := cityFamilies(r, cityTree(r))
	cells, total := 0, 0
	for b.Loop() {
		cells, total = 0, 0
		for _, fam := range fams {
			sup, err := SuppressFamily(fam.counts, fam.relations)
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range fam.counts {
				cells += len(sup[c.Name])
				total += len(c.Nodes) + 1
			}
		}
	}
	b.ReportMetric(float64(cells)/float64(total), "suppressed/cell")
}

// BenchmarkSuppressCitySeparately is BenchmarkSuppressCity with each count
// suppressed alone (Suppress), as before relations were protected: the
// difference is the price of the joint check.
func BenchmarkSuppressCitySeparately(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	fams := cityFamilies(r, cityTree(r))
	cells, total := 0, 0
	for b.Loop() {
		cells, total = 0, 0
		for _, fam := range fams {
			for _, c := range fam.counts {
				sup, err := Suppress(c.Nodes, c.Rule)
				if err != nil {
					b.Fatal(err)
				}
				cells += len(sup)
				total += len(c.Nodes) + 1
			}
		}
	}
	b.ReportMetric(float64(cells)/float64(total), "suppressed/cell")
}

// TestCityLoss logs how much of a city's data suppression withholds, split
// into primary and complementary cells, as a check on information loss, and
// how many complements the relations between counts add.
func TestCityLoss(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, fam := range cityFamilies(r, cityTree(r)) {
		joint, err := SuppressFamily(fam.counts, fam.relations)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range fam.counts {
			alone, err := Suppress(c.Nodes, c.Rule)
			if err != nil {
				t.Fatal(err)
			}
			prim := 0
			var total int64
			for _, nd := range c.Nodes {
				if primary(nd.Value, DefaultThreshold, false) {
					prim++
				}
				if nd.Parent == "" {
					total += nd.Value
				}
			}
			sup := joint[c.Name]
			t.Logf("%s (family of %d): total %7d, %4d of %d cells suppressed: %4d primary, %4d complements, %3d of them for relations",
				c.Name, len(fam.counts), total, len(sup), len(c.Nodes)+1, prim, len(sup)-prim, len(sup)-len(alone))
		}
	}
}
