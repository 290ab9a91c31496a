package disclosure

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkTmpBuild(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	ind := cityIndicators(r, cityTree(r), 20)
	for b.Loop() {
		for _, nodes := range ind {
			buildTree(nodes)
		}
	}
}
func BenchmarkTmpMap(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	ind := cityIndicators(r, cityTree(r), 20)
	sups := make([]map[string]bool, 20)
	for k, nodes := range ind {
		sups[k], _ = Suppress(nodes, Rule{})
	}
	for b.Loop() {
		for _, s := range sups {
			m := make(map[string]bool, len(s))
			for c := range s {
				m[c] = true
			}
		}
	}
}
