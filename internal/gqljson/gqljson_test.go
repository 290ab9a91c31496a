package gqljson

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/gridhub/gridhub/graph/model"
)

func marshal(m graphql.Marshaler) string {
	var b bytes.Buffer
	m.MarshalGQL(&b)
	return b.String()
}

// Every value is written as gqlgen's own marshaler writes it.
func TestAsGqlgenWrites(t *testing.T) {
	for _, s := range []string{"", "plain", "钱利华", "a\"b", `back\slash`, "tab\there", "cr\rlf\n", "\x00\x01\x1f\x7f", "bad \xff\xfe utf8", "mixed 铜官区\"\n\x02"} {
		if got, want := string(String(nil, s)), marshal(graphql.MarshalString(s)); got != want {
			t.Errorf("String(%q) = %s, gqlgen writes %s", s, got, want)
		}
	}
	for _, f := range []float64{0, 1, -1, 0.5, 1234.5, 1e6, 1e21, 1e-5, 123456789.125, 3.14159, -0.0001, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		got, ok := Float(nil, f)
		var want bytes.Buffer
		if err := graphql.MarshalFloatContext(f).MarshalGQLContext(t.Context(), &want); err != nil || !ok {
			t.Fatalf("Float(%v): ok %v, gqlgen error %v", f, ok, err)
		}
		if string(got) != want.String() {
			t.Errorf("Float(%v) = %s, gqlgen writes %s", f, got, want.String())
		}
	}
	for _, f := range []float64{math.Inf(1), math.Inf(-1), math.NaN()} {
		if _, ok := Float(nil, f); ok {
			t.Errorf("Float(%v) is ok; gqlgen refuses it", f)
		}
	}
	for _, n := range []int64{0, 7, -42, math.MaxInt32, math.MinInt64} {
		if got, want := string(Int(nil, n)), marshal(graphql.MarshalInt64(n)); got != want {
			t.Errorf("Int(%d) = %s, gqlgen writes %s", n, got, want)
		}
	}
	for _, v := range []bool{true, false} {
		if got, want := string(Bool(nil, v)), marshal(graphql.MarshalBoolean(v)); got != want {
			t.Errorf("Bool(%v) = %s, gqlgen writes %s", v, got, want)
		}
	}
	cst := time.FixedZone("CST", 8*3600)
	for _, tm := range []time.Time{time.Date(1971, 6, 13, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 3, 22, 40, 26, 123456789, cst), time.Date(9, 1, 2, 3, 4, 5, 0, time.UTC), time.Date(2000, 10, 31, 23, 59, 59, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 2, 3, 0, 0, 0, 0, time.UTC)} {
		if got, want := string(Date(nil, tm)), marshal(model.MarshalDate(tm)); got != want {
			t.Errorf("Date(%v) = %s, the Date scalar writes %s", tm, got, want)
		}
		got, ok := Time(nil, tm)
		if want := marshal(graphql.MarshalTime(tm)); !ok || string(got) != want {
			t.Errorf("Time(%v) = %s (ok %v), gqlgen writes %s", tm, got, ok, want)
		}
	}
	if _, ok := Time(nil, time.Time{}); ok {
		t.Error("Time of the zero time is ok; gqlgen writes null")
	}
}
