package disclosure

import (
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// attack is the direct attack on the published tables, written from the
// nodes alone and sharing nothing with the package: for every published
// table (a unit with its children, the grand total with the top-level units),
// when exactly one of its cells is unknown it is the total minus the published
// siblings (or the sum of the children, for an unknown total). Every value
// recovered becomes known, and the attacker goes round all tables again until
// nothing more falls. It returns what was recovered, with the value the
// attacker computed.
func attack(nodes []Node, suppressed map[string]bool) map[string]int64 {
	kids := map[string][]string{}
	value := map[string]int64{}
	for _, nd := range nodes {
		kids[nd.Parent] = append(kids[nd.Parent], nd.Code)
		value[nd.Code] = nd.Value
		if nd.Parent == "" {
			value[GrandTotal] += nd.Value
		}
	}
	known := map[string]int64{}
	if len(nodes) > 0 && !suppressed[GrandTotal] {
		known[GrandTotal] = value[GrandTotal]
	}
	for _, nd := range nodes {
		if !suppressed[nd.Code] {
			known[nd.Code] = nd.Value // what the API and the CSV show
		}
	}
	recovered := map[string]int64{}
	for changed := true; changed; {
		changed = false
		for parent, children := range kids {
			unknown := ""
			n := 0
			for _, c := range append([]string{parent}, children...) {
				if _, ok := known[c]; !ok {
					unknown = c
					n++
				}
			}
			if n != 1 {
				continue
			}
			var v int64
			if unknown == parent {
				for _, c := range children {
					v += known[c]
				}
			} else {
				v = known[parent]
				for _, c := range children {
					if c != unknown {
						v -= known[c]
					}
				}
			}
			known[unknown] = v
			recovered[unknown] = v
			changed = true
		}
	}
	return recovered
}

// TestNoRecovery is the brute-force check of the issue: for many random
// hierarchies and count distributions, including city-sized ones, every
// suppressed cell is attacked from every published total and its siblings at
// every level, iterated as an attacker would, and by exact linear algebra
// over the rationals; none is recovered. checkSafe also checks the intervals
// given non-negativity and that every primary cell is suppressed.
func TestNoRecovery(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	trees, suppressedCells := 0, 0
	for range 1500 {
		nodes := genTree(r, randomShape(r))
		rule := randomRule(r)
		sup, err := Suppress(nodes, rule)
		if err != nil {
			t.Fatal(err)
		}
		checkSafe(t, nodes, rule, sup)
		trees++
		suppressedCells += len(sup)
		if t.Failed() {
			t.Fatalf("tree %v, rule %+v, suppressed %v", nodes, rule, sup)
		}
	}
	city := cityTree(r)
	for _, nodes := range cityIndicators(r, city, 20) {
		sup, err := Suppress(nodes, Rule{})
		if err != nil {
			t.Fatal(err)
		}
		checkSafe(t, nodes, Rule{}, sup)
		trees++
		suppressedCells += len(sup)
	}
	t.Logf("%d trees, %d suppressed cells attacked, none recovered", trees, suppressedCells)
}

// TestSuppressDeterministic checks that the result depends on the set of
// nodes only: the same input twice, and the input shuffled, give the same
// cells.
func TestSuppressDeterministic(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		nodes := genTree(r, randomShape(r))
		rule := randomRule(r)
		want, err := Suppress(nodes, rule)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := Suppress(nodes, rule)
		shuffled := slices.Clone(nodes)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		other, _ := Suppress(shuffled, rule)
		if diff := cmp.Diff(want, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("second run differs (-first +second):\n%s", diff)
		}
		if diff := cmp.Diff(want, other, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("shuffled input differs (-sorted +shuffled):\n%s", diff)
		}
	}
}

// TestCheckersFindRecovery makes sure the two checkers do detect recovery, so
// that TestNoRecovery finding none means something: on random suppressions
// (not made by Suppress, so often unsafe) the direct attack and the exact
// elimination must find the same cells (for a tree, peeling tables with one
// unknown is complete), with the true values.
func TestCheckersFindRecovery(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	found := 0
	for range 1000 {
		nodes := genTree(r, randomShape(r))
		value := map[string]int64{}
		sup := map[string]bool{}
		p := r.Float64()
		for _, nd := range nodes {
			value[nd.Code] = nd.Value
			if nd.Parent == "" {
				value[GrandTotal] += nd.Value
			}
			if r.Float64() < p {
				sup[nd.Code] = true
			}
		}
		if r.IntN(4) == 0 {
			sup[GrandTotal] = true
		}
		direct := attack(nodes, sup)
		for code, v := range direct {
			if v != value[code] {
				t.Fatalf("attack recovered %s = %d, true value %d", code, v, value[code])
			}
		}
		rec, err := Recoverable(nodes, sup)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]string, 0, len(direct))
		for code := range direct {
			want = append(want, code)
		}
		slices.Sort(want)
		if diff := cmp.Diff(want, rec, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("Recoverable differs from the direct attack (-attack +Recoverable):\n%s\nnodes %v\nsuppressed %v", diff, nodes, sup)
		}
		tr, _ := buildTree(nodes)
		s, _ := tr.suppressedSet(sup)
		solved, _ := solve(tr, s)
		for i, v := range solved {
			if want := new(big.Rat).SetInt64(value[tr.code(i)]); v.Cmp(want) != 0 {
				t.Fatalf("elimination recovered %s = %s, true value %s", tr.code(i), v, want)
			}
		}
		found += len(rec)
	}
	if found == 0 {
		t.Fatal("no random suppression was recoverable: the checkers are not exercised")
	}
}

func TestRecoverableCases(t *testing.T) {
	nodes := mkTree(t, "D", "T1<D", "C1<T1", "g1<C1=3", "g2<C1=10", "C2<T1", "g3<C2=20", "T2<D", "C3<T2", "g4<C3=9")
	tests := []struct {
		name string
		sup  map[string]bool
		want []string
	}{
		{"single suppressed sibling", set("g1"), []string{"g1"}},
		{"two siblings", set("g1", "g2"), nil},
		{"parent with all children published", set("C1"), []string{"C1"}},
		{"only child and its parent", set("C2", "g3"), []string{"C2", "g3"}},
		{"pair of cells across levels: C1 and g1 differ by the published g2", set("C1", "g1"), []string{"C1", "g1"}},
		{"pair of cells across levels, held by C2", set("C1", "g1", "C2", "g3"), nil},
		{"grand total with one district", set("", "D"), []string{"", "D"}},
		{"everything", set("", "D", "T1", "C1", "g1", "g2", "C2", "g3", "T2", "C3", "g4"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Recoverable(nodes, tt.sup)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Recoverable (-want +got):\n%s", diff)
			}
		})
	}
}
