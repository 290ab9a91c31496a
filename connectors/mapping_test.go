package connectors

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/internal/ident"
)

func mustResidentID(t *testing.T, birth time.Time, seq int) string {
	t.Helper()
	id, err := ident.NewResidentID("340705", birth, seq)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// xID returns a valid resident ID ending in X.
func xID(t *testing.T) string {
	t.Helper()
	for seq := 0; ; seq++ {
		if id := mustResidentID(t, time.Date(1968, 3, 9, 0, 0, 0, 0, time.UTC), seq); strings.HasSuffix(id, "X") {
			return id
		}
	}
}

func TestNormalizeKey(t *testing.T) {
	x := xID(t)
	old := mustResidentID(t, time.Date(1957, 11, 2, 0, 0, 0, 0, time.UTC), 31)
	const code = "91340700MA2N0B0X1P" // a check-character warning only
	cases := []struct {
		entity, raw, want string
		wantErr           string
	}{
		{Person, x, x, ""},
		{Person, strings.ToLower(x), x, ""},
		{Person, "  " + x + "\t", x, ""},
		{Person, old[:6] + old[8:17], old, ""},
		{Person, x[:17] + "0", "", "check digit"},
		{Person, "12345", "", "length"},
		{Person, "", "", "length"},
		{Organization, strings.ToLower(code), code, ""},
		{Organization, "91340700MA2N0B0X1", "", "length"},
		{Organization, "I1340700MA2N0B0X1P", "", "charset"},
		{"building", x, "", "unknown entity"},
	}
	for _, tc := range cases {
		got, err := NormalizeKey(tc.entity, tc.raw)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NormalizeKey(%s, %q) = %q, %v; want an error containing %q", tc.entity, tc.raw, got, err, tc.wantErr)
			}
			if err != nil && len(tc.raw) >= 15 && strings.Contains(err.Error(), strings.TrimSpace(tc.raw)) {
				t.Errorf("NormalizeKey error shows the number: %v", err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeKey(%s, %q) = %q, %v; want %q", tc.entity, tc.raw, got, err, tc.want)
		}
	}
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestConvert(t *testing.T) {
	str := Field{Name: "note", Type: TypeString}
	num := Field{Name: "members", Type: TypeInt}
	dec := Field{Name: "amount", Type: TypeDecimal}
	day := Field{Name: "since", Type: TypeDate}
	compact := Field{Name: "since", Type: TypeDate, Format: "20060102"}
	flag := Field{Name: "active", Type: TypeBool}
	yes := Field{Name: "lost", Type: TypeBool, Format: "是, 有"}
	level := Field{Name: "level", Type: TypeEnum, Codes: map[string]string{"1": "URBAN", "02": "RURAL", "true": "YES"}}
	shanghai := time.FixedZone("CST", 8*3600)

	cases := []struct {
		f    Field
		raw  any
		want any // nil: absent
	}{
		// absent
		{str, nil, nil},
		{str, "", nil},
		{num, "  ", nil},
		{day, "\t", nil},
		// string
		{str, " 入户走访 ", "入户走访"},
		{str, json.Number("13800138000"), "13800138000"},
		{str, int32(42), "42"},
		{str, 1.5, "1.5"},
		// int
		{num, "12", int64(12)},
		{num, json.Number("12"), int64(12)},
		{num, json.Number("12.0"), int64(12)},
		{num, 3.0, int64(3)},
		{num, int16(-4), int64(-4)},
		{num, int32(7), int64(7)},
		{num, int64(1 << 40), int64(1 << 40)},
		{num, uint8(9), int64(9)},
		// decimal
		{dec, "650.50", 650.5},
		{dec, "-0.1", -0.1},
		{dec, json.Number("650.5"), 650.5},
		{dec, 650.5, 650.5},
		{dec, float32(0.1), 0.1},
		{dec, int32(650), 650.0},
		// date
		{day, "2021-03-01", date(2021, 3, 1)},
		{compact, "20210301", date(2021, 3, 1)},
		{compact, json.Number("20210301"), date(2021, 3, 1)},
		{day, time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC), date(2021, 3, 1)},
		{day, time.Date(2021, 3, 1, 23, 30, 0, 0, shanghai), date(2021, 3, 1)},
		// bool
		{flag, "1", true},
		{flag, "0", false},
		{flag, "是", true},
		{flag, "否", false},
		{flag, "TRUE", true},
		{flag, "n", false},
		{flag, true, true},
		{flag, int16(0), false},
		{flag, json.Number("1"), true},
		{yes, "是", true},
		{yes, "有", true},
		{yes, "否", false},
		{yes, "whatever", false},
		// enum
		{level, "1", "URBAN"},
		{level, "02", "RURAL"},
		{level, int16(1), "URBAN"},
		{level, json.Number("1"), "URBAN"},
		{level, true, "YES"},
	}
	for _, tc := range cases {
		got, ok, err := tc.f.Convert(tc.raw)
		if err != nil {
			t.Errorf("%s.Convert(%#v): %v", tc.f.Type, tc.raw, err)
			continue
		}
		if tc.want == nil {
			if ok {
				t.Errorf("%s.Convert(%#v) = %#v, want absent", tc.f.Type, tc.raw, got)
			}
			continue
		}
		if !ok || !cmp.Equal(got, tc.want) {
			t.Errorf("%s.Convert(%#v) = %#v, %t; want %#v", tc.f.Type, tc.raw, got, ok, tc.want)
		}
	}
}

func TestConvertErrors(t *testing.T) {
	id := xID(t)
	cases := []struct {
		f    Field
		raw  any
		want string
	}{
		{Field{Name: "note", Type: TypeString}, map[string]any{"a": 1}, "field note: want string, found an object"},
		{Field{Name: "note", Type: TypeString}, []any{"a"}, "field note: want string, found an array"},
		{Field{Name: "note", Type: TypeString}, true, "field note: want string, found bool true"},
		{Field{Name: "members", Type: TypeInt}, "abc", `field members: want int, found "abc"`},
		{Field{Name: "members", Type: TypeInt}, "3.5", `field members: want int, found "3.5"`},
		{Field{Name: "members", Type: TypeInt}, 3.5, `field members: want int, found number "3.5"`},
		{Field{Name: "members", Type: TypeInt}, time.Now(), "field members: want int, found a timestamp"},
		{Field{Name: "amount", Type: TypeDecimal}, "NaN", `field amount: want decimal, found "NaN"`},
		{Field{Name: "amount", Type: TypeDecimal}, "1e999", `want decimal`},
		{Field{Name: "amount", Type: TypeDecimal}, false, "field amount: want decimal, found bool false"},
		{Field{Name: "since", Type: TypeDate}, "2021-13-01", "field since: want date (2006-01-02), found"},
		{Field{Name: "since", Type: TypeDate, Format: "20060102"}, "2021-03-01", "field since: want date (20060102)"},
		{Field{Name: "since", Type: TypeDate}, 1.5, "field since: want date, found number"},
		{Field{Name: "active", Type: TypeBool}, "maybe", `field active: want bool, found "maybe"`},
		{Field{Name: "active", Type: TypeBool}, []any{}, "field active: want bool, found an array"},
		{Field{Name: "level", Type: TypeEnum, Codes: map[string]string{"1": "URBAN"}}, "9", `field level: unknown code "9"`},
		{Field{Name: "level", Type: TypeEnum, Codes: map[string]string{"1": "URBAN"}}, map[string]any{}, "field level: want enum, found an object"},
		// An ID number in the wrong field is never shown in full.
		{Field{Name: "members", Type: TypeInt}, id, "field members: want int, found \"" + ident.MaskResidentID(id) + "\""},
		{Field{Name: "level", Type: TypeEnum, Codes: map[string]string{"1": "URBAN"}}, id, "field level: unknown code \"" + ident.MaskResidentID(id) + "\""},
		{Field{Name: "since", Type: TypeDate}, id, "field since: want date (2006-01-02), found \"" + ident.MaskResidentID(id) + "\""},
		{Field{Name: "active", Type: TypeBool}, json.Number(id[:15]), "found number \"" + ident.MaskResidentID(id[:15]) + "\""},
	}
	for _, tc := range cases {
		got, ok, err := tc.f.Convert(tc.raw)
		if err == nil {
			t.Errorf("%s.Convert(%#v) = %#v, %t; want an error", tc.f.Type, tc.raw, got, ok)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s.Convert(%#v) error %q, want it to contain %q", tc.f.Type, tc.raw, err, tc.want)
		}
		if strings.Contains(err.Error(), id) || strings.Contains(err.Error(), id[:15]) {
			t.Errorf("error shows an ID number: %v", err)
		}
	}
}

func TestConvertNeverPanics(t *testing.T) {
	raws := []any{nil, "", "x", json.Number("1e400"), json.Number("abc"), math.NaN(), math.Inf(1), -0.0,
		int64(math.MinInt64), uint64(math.MaxUint64), map[string]any{}, []any{nil}, struct{}{}, []byte("1"), time.Time{}}
	for _, typ := range []string{TypeString, TypeInt, TypeDecimal, TypeDate, TypeBool, TypeEnum, "bogus"} {
		f := Field{Name: "f", Type: typ, Codes: map[string]string{"1": "ONE"}}
		for _, raw := range raws {
			f.Convert(raw)
		}
	}
}

func TestMapRecord(t *testing.T) {
	rs := RecordSet{Name: "assistance", Entity: Person, Key: "sfzh", Fields: []Field{
		{Name: "level", From: "dblx", Type: TypeEnum, Codes: map[string]string{"1": "URBAN"}},
		{Name: "amount", From: "bzxx.je", Type: TypeDecimal},
		{Name: "note", From: "bz", Type: TypeString},
		{Name: "since", From: "ksrq", Type: TypeDate},
	}}
	row := func(m map[string]any) func(string) (any, bool) {
		return func(from string) (any, bool) { v, ok := m[from]; return v, ok }
	}
	got, err := rs.MapRecord(row(map[string]any{"dblx": "1", "bzxx.je": "650.5", "bz": "", "extra": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Record{"level": "URBAN", "amount": 650.5}, got); diff != "" {
		t.Errorf("MapRecord (-want +got):\n%s", diff)
	}

	_, err = rs.MapRecord(row(map[string]any{"dblx": "7", "bzxx.je": "abc", "ksrq": "2021-03-01"}))
	want := `record set assistance: field level: unknown code "7"; field amount: want decimal, found "abc"`
	if err == nil || err.Error() != want {
		t.Errorf("MapRecord error = %v, want %s", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Error("MapRecord error spans lines")
	}

	x := xID(t)
	key, err := rs.KeyOf(row(map[string]any{"sfzh": strings.ToLower(x)}))
	if err != nil || key != x {
		t.Errorf("KeyOf = %q, %v; want %q", key, err, x)
	}
	for _, m := range []map[string]any{{}, {"sfzh": nil}, {"sfzh": " "}, {"sfzh": map[string]any{}}, {"sfzh": x[:17] + "1"}} {
		if _, err := rs.KeyOf(row(m)); err == nil || !strings.HasPrefix(err.Error(), "key sfzh: ") {
			t.Errorf("KeyOf(%v) error = %v, want one naming the key field", m, err)
		}
	}
	old := mustResidentID(t, time.Date(1957, 11, 2, 0, 0, 0, 0, time.UTC), 31)
	if key, err := rs.KeyOf(row(map[string]any{"sfzh": json.Number(old[:6] + old[8:17])})); err != nil || key != old {
		t.Errorf("KeyOf(15-digit JSON number) = %q, %v; want %q", key, err, old)
	}
}

func TestAddTo(t *testing.T) {
	one := &RecordSet{Name: "assistance"}
	many := &RecordSet{Name: "visits", Many: true}
	res := Result{}
	one.AddTo(res, "k", Record{"n": 1})
	many.AddTo(res, "k", Record{"n": 1})
	one.AddTo(res, "k", Record{"n": 2})
	many.AddTo(res, "k", Record{"n": 2})
	want := Result{"k": {"assistance": {{"n": 1}}, "visits": {{"n": 1}, {"n": 2}}}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("AddTo (-want +got):\n%s", diff)
	}
}

func TestSetsFor(t *testing.T) {
	d := &Department{Records: []RecordSet{
		{Name: "a", Entity: Person}, {Name: "b", Entity: Organization}, {Name: "c", Entity: Person},
	}}
	names := func(sets []*RecordSet) []string {
		var out []string
		for _, s := range sets {
			out = append(out, s.Name)
		}
		return out
	}
	sets, err := d.SetsFor(ReadRequest{Entity: Person})
	if err != nil || !cmp.Equal(names(sets), []string{"a", "c"}) {
		t.Errorf("SetsFor(person) = %v, %v", names(sets), err)
	}
	sets, err = d.SetsFor(ReadRequest{Entity: Person, Sets: []string{"c"}})
	if err != nil || !cmp.Equal(names(sets), []string{"c"}) {
		t.Errorf("SetsFor(person, c) = %v, %v", names(sets), err)
	}
	for _, bad := range []string{"b", "zzz"} {
		_, err = d.SetsFor(ReadRequest{Entity: Person, Sets: []string{bad}})
		var perm *PermanentError
		if !errors.As(err, &perm) {
			t.Errorf("SetsFor(person, %s) err = %v, want a permanent error", bad, err)
		}
	}
	if sets, err := d.SetsFor(ReadRequest{Entity: Person, Sets: []string{}}); err != nil || len(sets) != 0 {
		t.Errorf("SetsFor with an empty, non-nil Sets = %v, %v; want none", names(sets), err)
	}
}
