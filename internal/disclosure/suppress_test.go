package disclosure

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// tree builds nodes from "code<parent=value" specs ("code=value" for a
// top-level unit); the value of a unit with children is left out and summed.
func mkTree(t *testing.T, specs ...string) []Node {
	t.Helper()
	var nodes []Node
	for _, s := range specs {
		var nd Node
		head, val, hasVal := strings.Cut(s, "=")
		nd.Code, nd.Parent, _ = strings.Cut(head, "<")
		if hasVal {
			var v int64
			for _, ch := range val {
				v = v*10 + int64(ch-'0')
			}
			nd.Value = v
		}
		nodes = append(nodes, nd)
	}
	sumUp(nodes)
	return nodes
}

func set(codes ...string) map[string]bool {
	m := map[string]bool{}
	for _, c := range codes {
		m[c] = true
	}
	return m
}

func TestSuppress(t *testing.T) {
	// Two communities of one township of one district; the second one's
	// grids are all published, so what happens is in the first.
	community := func(grids ...string) []string {
		specs := []string{"D", "T<D", "C1<T", "C2<T", "c21<C2=20", "c22<C2=30"}
		return append(specs, grids...)
	}
	tests := []struct {
		name  string
		rule  Rule
		nodes []string
		want  map[string]bool
	}{{
		name:  "one small cell takes the smallest published sibling as complement",
		nodes: community("g1<C1=3", "g2<C1=57", "g3<C1=40"),
		want:  set("g1", "g3"),
	}, {
		name:  "ties between complements go to the smaller code",
		nodes: community("g1<C1=3", "g3<C1=40", "g2<C1=40"),
		want:  set("g1", "g2"),
	}, {
		name:  "a group of small cells is suppressed without complement",
		nodes: community("g1<C1=1", "g2<C1=2", "g3<C1=3", "g4<C1=4"),
		want:  set("g1", "g2", "g3", "g4"),
	}, {
		name:  "zeros are published",
		nodes: community("g1<C1=0", "g2<C1=0", "g3<C1=50"),
		want:  set(),
	}, {
		name:  "a zero is not preferred as complement",
		nodes: community("g1<C1=0", "g2<C1=3", "g3<C1=50"),
		want:  set("g2", "g3"),
	}, {
		name:  "SuppressZero: zeros need a positive complement, or the attacker knows they sum to 0",
		rule:  Rule{SuppressZero: true},
		nodes: community("g1<C1=0", "g2<C1=0", "g3<C1=50"),
		want:  set("g1", "g2", "g3"),
	}, {
		name:  "4 is below the default threshold, 5 is not",
		nodes: community("g1<C1=4", "g2<C1=5", "g3<C1=91"),
		want:  set("g1", "g2"),
	}, {
		name:  "5 and above are published",
		nodes: community("g1<C1=5", "g2<C1=6", "g3<C1=89"),
		want:  set(),
	}, {
		name:  "custom threshold 10: 9 is small, 10 is not",
		rule:  Rule{Threshold: 10},
		nodes: community("g1<C1=9", "g2<C1=10", "g3<C1=81"),
		want:  set("g1", "g2"),
	}, {
		name: "two small cells together under the threshold need a third: 1 + 2 would be known to be 3",
		// Without g3 an attacker knows g1 + g2 = 3, so each is at most 3.
		nodes: community("g1<C1=1", "g2<C1=2", "g3<C1=17", "g4<C1=30"),
		want:  set("g1", "g2", "g3"),
	}, {
		name: "a chain of only children is suppressed together and the grandparent's table takes a complement",
		// g11 = C1 = T1 = 3 are all primary; D = T1 + T2 publishes, so T2
		// must go, then T2 = C2 + C3 needs C3 (the smaller), and C3 = g31 + g32
		// needs g31.
		nodes: []string{
			"D", "T1<D", "C1<T1", "g11<C1=3",
			"T2<D", "C2<T2", "g21<C2=20", "g22<C2=30", "C3<T2", "g31<C3=7", "g32<C3=8",
		},
		want: set("T1", "C1", "g11", "T2", "C3", "g31"),
	}, {
		name: "the grand total is a published table too: a small district needs a complement district",
		// "" = D1 + D2 is published. D2 goes as complement, and its chain of
		// only children down to a grid with it.
		nodes: []string{
			"D1", "T1<D1", "C1<T1", "g1<C1=3",
			"D2", "T2<D2", "C2<T2", "g2<C2=60", "g3<C2=40",
		},
		want: set("D1", "T1", "C1", "g1", "D2", "T2", "C2", "g3"),
	}, {
		name:  "a small area suppresses the grand total with it",
		nodes: []string{"D", "T<D", "C<T", "g1<C=1", "g2<C=2"},
		want:  set("", "D", "T", "C", "g1", "g2"),
	}, {
		name:  "threshold 1 with zeros published suppresses nothing",
		rule:  Rule{Threshold: 1},
		nodes: community("g1<C1=0", "g2<C1=1", "g3<C1=2"),
		want:  set(),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := mkTree(t, tt.nodes...)
			got, err := Suppress(nodes, tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("suppressed (-want +got):\n%s", diff)
			}
			checkSafe(t, nodes, tt.rule, got)
		})
	}
}

func TestSuppressInvalid(t *testing.T) {
	tests := []struct {
		name  string
		rule  Rule
		nodes []Node
		want  string
	}{
		{"not additive", Rule{}, []Node{{"D", "", 10}, {"T1", "D", 4}, {"T2", "D", 5}}, "D counts 10 but its children sum to 9"},
		{"empty code", Rule{}, []Node{{"", "", 10}}, "empty code"},
		{"duplicate", Rule{}, []Node{{"D", "", 1}, {"D", "", 1}}, `duplicate code "D"`},
		{"unknown parent", Rule{}, []Node{{"D", "", 1}, {"T", "X", 1}}, `unknown parent "X"`},
		{"own parent", Rule{}, []Node{{"D", "D", 1}}, "its own parent"},
		{"cycle", Rule{}, []Node{{"D", "", 1}, {"A", "B", 1}, {"B", "A", 1}}, "cycle"},
		{"negative count", Rule{}, []Node{{"D", "", -1}}, "negative count"},
		{"negative threshold", Rule{Threshold: -1}, []Node{{"D", "", 1}}, "negative threshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Suppress(tt.nodes, tt.rule)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Suppress error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	nodes := mkTree(t, "D", "g1<D=3", "g2<D=7")
	if _, err := Recoverable(nodes, set("X")); err == nil {
		t.Error("Recoverable accepted a suppressed code that is not a node")
	}
	if _, err := Intervals(nodes, set("X")); err == nil {
		t.Error("Intervals accepted a suppressed code that is not a node")
	}
}

func TestSuppressEmpty(t *testing.T) {
	for _, rule := range []Rule{{}, {SuppressZero: true}} {
		got, err := Suppress(nil, rule)
		if err != nil || len(got) != 0 {
			t.Errorf("Suppress(nil, %+v) = %v, %v; want nothing", rule, got, err)
		}
	}
}

func TestSuppressRate(t *testing.T) {
	for _, tt := range []struct{ num, den, want bool }{
		{false, false, false}, {true, false, true}, {false, true, true}, {true, true, true},
	} {
		if got := SuppressRate(tt.num, tt.den); got != tt.want {
			t.Errorf("SuppressRate(%v, %v) = %v", tt.num, tt.den, got)
		}
	}
	tests := []struct {
		rule     Rule
		den      int64
		num, sup bool
		want     bool
	}{
		{Rule{}, 4, false, false, true},  // 1 of 4 is a person
		{Rule{}, 5, false, false, false}, // at the threshold
		{Rule{}, 0, false, false, true},  // undefined
		{Rule{}, 500, true, false, true}, // numerator suppressed
		{Rule{}, 500, false, true, true}, // denominator suppressed
		{Rule{Threshold: 20}, 19, false, false, true},
		{Rule{Threshold: 20}, 20, false, false, false},
		{Rule{Threshold: -3}, 4, false, false, true}, // invalid: default
	}
	for _, tt := range tests {
		if got := tt.rule.RateSuppressed(tt.den, tt.num, tt.sup); got != tt.want {
			t.Errorf("%+v.RateSuppressed(%d, %v, %v) = %v, want %v", tt.rule, tt.den, tt.num, tt.sup, got, tt.want)
		}
	}
}

// checkSafe asserts what every suppression must satisfy: every primary cell
// suppressed, nothing recoverable by the direct attack nor by exact linear
// algebra, and every primary cell's interval [0, >= threshold].
func checkSafe(t *testing.T, nodes []Node, rule Rule, sup map[string]bool) {
	t.Helper()
	th, _ := rule.threshold()
	total := int64(0)
	for _, nd := range nodes {
		if nd.Parent == "" {
			total += nd.Value
		}
		if primary(nd.Value, th, rule.SuppressZero) && !sup[nd.Code] {
			t.Errorf("primary cell %s = %d is published", nd.Code, nd.Value)
		}
	}
	if primary(total, th, rule.SuppressZero) && len(nodes) > 0 && !sup[GrandTotal] {
		t.Errorf("grand total %d is published", total)
	}
	if got := attack(nodes, sup); len(got) > 0 {
		t.Errorf("direct attack recovers %v", got)
	}
	rec, err := Recoverable(nodes, sup)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) > 0 {
		t.Errorf("Recoverable = %v", rec)
	}
	iv, err := Intervals(nodes, sup)
	if err != nil {
		t.Fatal(err)
	}
	value := map[string]int64{GrandTotal: total}
	for _, nd := range nodes {
		value[nd.Code] = nd.Value
	}
	for code, in := range iv {
		if v := value[code]; v < in.Lo || v > in.Hi {
			t.Errorf("%s = %d outside its interval %+v", code, v, in)
		}
		if primary(value[code], th, rule.SuppressZero) && (in.Lo != 0 || in.Hi < th) {
			t.Errorf("primary cell %s = %d has interval %+v, want [0, >= %d]", code, value[code], in, th)
		}
	}
}
