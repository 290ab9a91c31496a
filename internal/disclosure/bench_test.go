package disclosure

import (
	"fmt"
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

// BenchmarkSuppressCityFindings suppresses one family like the hub's
// findings over the city's hierarchy (findingsFamily: eight rare kinds and
// their sum), where nearly every cell is primary and the components of
// withheld cells span the city.
func BenchmarkSuppressCityFindings(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	fam := findingsFamily(r, cityTree(r))
	cells, total := 0, 0
	for b.Loop() {
		sup, err := SuppressFamily(fam.counts, fam.relations)
		if err != nil {
			b.Fatal(err)
		}
		cells, total = 0, 0
		for _, c := range fam.counts {
			cells += len(sup[c.Name])
			total += len(c.Nodes) + 1
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

// evolveFamily is the next month of a city family: in a few grids in a
// hundred the family's counts change, each such grid taking another grid's
// counts of every member (so the relations still hold grid by grid).
func evolveFamily(r *rand.Rand, fam cityFamily) cityFamily {
	next := cityFamily{relations: fam.relations}
	hasKids := map[string]bool{}
	for _, nd := range fam.counts[0].Nodes {
		hasKids[nd.Parent] = true
	}
	var leaves []int
	for i, nd := range fam.counts[0].Nodes {
		if !hasKids[nd.Code] {
			leaves = append(leaves, i)
		}
	}
	type move struct{ to, from int }
	var moves []move
	for range len(leaves) / 50 {
		moves = append(moves, move{leaves[r.IntN(len(leaves))], leaves[r.IntN(len(leaves))]})
	}
	for _, c := range fam.counts {
		nodes := make([]Node, len(c.Nodes))
		copy(nodes, c.Nodes)
		for _, m := range moves {
			nodes[m.to].Value = c.Nodes[m.from].Value
		}
		sumUp(nodes)
		next.counts = append(next.counts, Count{Name: c.Name, Nodes: nodes, Rule: c.Rule})
	}
	return next
}

// BenchmarkSuppressCitySeries is BenchmarkSuppressCity for a month that
// follows earlier months of the series (SuppressSeries): the twenty counts of
// the city, a few grids in a hundred changed since the month before, after 1,
// 3 and 12 earlier months. One operation is all twenty counts.
func BenchmarkSuppressCitySeries(b *testing.B) {
	for _, months := range []int{1, 3, 12} {
		b.Run(fmt.Sprintf("history=%d", months), func(b *testing.B) {
			r := rand.New(rand.NewPCG(11, 12))
			fams := cityFamilies(r, cityTree(r))
			earlier := make([][]Earlier, len(fams))
			for range months {
				for i, fam := range fams {
					sup, err := SuppressSeries(fam.counts, fam.relations, earlier[i])
					if err != nil {
						b.Fatal(err)
					}
					earlier[i] = append(earlier[i], Earlier{Counts: fam.counts, Suppressed: sup})
					fams[i] = evolveFamily(r, fam)
				}
			}
			cells, total := 0, 0
			for b.Loop() {
				cells, total = 0, 0
				for i, fam := range fams {
					sup, err := SuppressSeries(fam.counts, fam.relations, earlier[i])
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
		})
	}
}
