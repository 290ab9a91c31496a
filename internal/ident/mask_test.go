package ident_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/internal/ident"
)

func TestMasks(t *testing.T) {
	for _, tc := range []struct {
		name string
		fn   func(string) string
		in   string
		want string
	}{
		{"ID 18", ident.MaskResidentID, "340705199001011234", "340705********1234"},
		{"ID 18 X", ident.MaskResidentID, "34070519900101123X", "340705********123X"},
		{"ID 18 spaces", ident.MaskResidentID, " 34070519900101123x\n", "340705********123x"},
		{"ID 15", ident.MaskResidentID, "340705900101123", "340705*****1123"},
		{"ID 17 malformed", ident.MaskResidentID, "34070519900101123", "3407*********1123"},
		{"ID 19 malformed", ident.MaskResidentID, "3407051990010112345", "3407***********2345"},
		{"ID short", ident.MaskResidentID, "1234", "1**4"},
		{"ID 3", ident.MaskResidentID, "123", "***"},
		{"ID empty", ident.MaskResidentID, "", ""},
		{"ID invalid UTF-8", ident.MaskResidentID, "\xff\xfe12345678", "\uFFFD\uFFFD******78"},
		{"phone", ident.MaskPhone, "13812345678", "138****5678"},
		{"phone spaces", ident.MaskPhone, " 13812345678 ", "138****5678"},
		{"phone +86", ident.MaskPhone, "+8613812345678", "+86********678"},
		{"phone short", ident.MaskPhone, "1381234", "1*****4"},
		{"credit code", ident.MaskCreditCode, "91340700MA2TXX01X5", "91340700*********5"},
		{"credit code short", ident.MaskCreditCode, "91340700", "91****00"},
		{"name 3", ident.MaskName, "张三丰", "张**"},
		{"name 2", ident.MaskName, "张三", "张*"},
		{"name 1", ident.MaskName, "张", "*"},
		{"name empty", ident.MaskName, "", ""},
		{"name spaces", ident.MaskName, "  李四 ", "李*"},
		{"name with dot", ident.MaskName, "阿依古丽·买买提", "阿*******"},
		{"name Latin", ident.MaskName, "Wang", "W***"},
		{"disability 20", ident.MaskDisabilityCert, "11010519491231002X41", "110105********002X**"},
		{"disability 22", ident.MaskDisabilityCert, "11010519491231002X41B2", "110105********002X**B2"},
		{"disability malformed", ident.MaskDisabilityCert, "11010519491231002X4", "1101***********02X4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.fn(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestMasksRevealAtMostHalfOfMalformedInput checks the half rule on every
// length that is not a well-formed identifier length of that mask.
func TestMasksRevealAtMostHalfOfMalformedInput(t *testing.T) {
	masks := []struct {
		name      string
		fn        func(string) string
		wellKnown map[int]bool
	}{
		{"MaskResidentID", ident.MaskResidentID, map[int]bool{15: true, 18: true}},
		{"MaskPhone", ident.MaskPhone, map[int]bool{11: true}},
		{"MaskCreditCode", ident.MaskCreditCode, map[int]bool{}}, // 9 of 18 even when well formed
		{"MaskName", ident.MaskName, map[int]bool{}},
		{"MaskDisabilityCert", ident.MaskDisabilityCert, map[int]bool{20: true, 22: true}},
	}
	src := "1234567890张三丰李四ABCDEFGHJK1234567890"
	for _, m := range masks {
		for n := 0; n <= utf8.RuneCountInString(src); n++ {
			in := string([]rune(src)[:n])
			out := m.fn(in)
			if utf8.RuneCountInString(out) != n {
				t.Errorf("%s(%q) = %q: length changed", m.name, in, out)
			}
			if m.wellKnown[n] {
				continue
			}
			if shown := n - strings.Count(out, "*"); shown > n/2 {
				t.Errorf("%s(%q) = %q shows %d of %d characters", m.name, in, out, shown, n)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain text", "grid 12 updated by 王五", "grid 12 updated by 王五"},
		{"18-digit ID", "resident 340705199001011234 moved", "resident 340705********1234 moved"},
		{"ID with X", "id=34070519900101123X;", "id=340705********123X;"},
		{"ID with x", "id=34070519900101123x", "id=340705********123x"},
		{"15-digit ID", "old id 340705900101123.", "old id 340705*****1123."},
		{"ID in Chinese text", "身份证号340705199001011234已登记", "身份证号340705********1234已登记"},
		{"full-width ID", "身份证３４０７０５１９９００１０１１２３Ｘ", "身份证３４０７０５********１２３Ｘ"},
		{"mobile", "call 13812345678 now", "call 138****5678 now"},
		{"mobile in Chinese text", "电话13912345678。", "电话139****5678。"},
		{"mobile +86", "tel +8613812345678", "tel +86138****5678"},
		{"mobile 86 no plus", "tel 8613812345678", "tel 86138****5678"},
		{"two numbers", "13812345678,340705199001011234", "138****5678,340705********1234"},
		{"disability cert", "cert 34070519900101123441B2", "cert 340705**********3441B2"},
		{"disability cert with X", "cert 34070519900101123X41", "cert 340705********123X41"},
		{"bank card", "card 6222020200112233", "card 622202******2233"},
		{"11 digits, not mobile", "order 12345678901", "order 12345678901"},
		{"11 digits starting 12", "order 12812345678", "order 12812345678"},
		{"12 digits", "ts 138123456789", "ts 138123456789"},
		{"14 digits", "ts 20240615123045", "ts 20240615123045"},
		{"17 digits then letter", "x 34070519900101123Y", "x 340705*******1123Y"},
		{"X as word after 17 digits", "34070519900101123Xiaoming", "340705********123Xiaoming"},
		{"invalid UTF-8 kept", "\xff340705199001011234\xfe", "\xff340705********1234\xfe"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ident.Redact(tc.in)
			if got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := ident.Redact(got); again != got {
				t.Errorf("Redact is not idempotent: %q then %q", got, again)
			}
		})
	}
}

func TestRedactMatchesMasks(t *testing.T) {
	id := newID(t, "340702", date(1985, 3, 7), 123)
	got := ident.Redact("a " + id + " b 13812345678")
	want := "a " + ident.MaskResidentID(id) + " b " + ident.MaskPhone("13812345678")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Redact mismatch (-want +got):\n%s", diff)
	}
}
