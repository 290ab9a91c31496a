package ident_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/internal/ident"
)

func TestParseDisabilityCertValid(t *testing.T) {
	holder := func(number string, birth time.Time, seq int, sex ident.Sex) ident.ResidentID {
		return ident.ResidentID{Number: number, AddressCode: number[:6], BirthDate: birth, Sequence: seq, Sex: sex}
	}
	sample := holder("11010519491231002X", date(1949, 12, 31), 2, ident.Female)
	retired := newID(t, "340702", date(1985, time.March, 7), 123)
	retiredHolder := holder(retired, date(1985, 3, 7), 123, ident.Male)

	for _, tc := range []struct {
		name, in string
		want     ident.DisabilityCert
	}{
		{"visual first grade", "11010519491231002X11", ident.DisabilityCert{
			Number: "11010519491231002X11", Holder: sample, Category: 1, CategoryName: "视力", Grade: 1}},
		{"physical fourth grade", retired + "44", ident.DisabilityCert{
			Number: retired + "44", Holder: retiredHolder, Category: 4, CategoryName: "肢体", Grade: 4}},
		{"multiple, reissued", retired + "72B3", ident.DisabilityCert{
			Number: retired + "72B3", Holder: retiredHolder, Category: 7, CategoryName: "多重", Grade: 2, Reissue: 3}},
		{"lower case and spaces", " 11010519491231002x63b9 ", ident.DisabilityCert{
			Number: "11010519491231002X63B9", Holder: sample, Category: 6, CategoryName: "精神", Grade: 3, Reissue: 9}},
		{"hearing", "11010519491231002X22", ident.DisabilityCert{
			Number: "11010519491231002X22", Holder: sample, Category: 2, CategoryName: "听力", Grade: 2}},
		{"speech", "11010519491231002X33", ident.DisabilityCert{
			Number: "11010519491231002X33", Holder: sample, Category: 3, CategoryName: "言语", Grade: 3}},
		{"intellectual", "11010519491231002X54B1", ident.DisabilityCert{
			Number: "11010519491231002X54B1", Holder: sample, Category: 5, CategoryName: "智力", Grade: 4, Reissue: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ident.ParseDisabilityCertAt(tc.in, testNow)
			if err != nil {
				t.Fatalf("ParseDisabilityCertAt: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseDisabilityCertAt mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := ident.ParseDisabilityCert("11010519491231002X11"); err != nil {
		t.Errorf("ParseDisabilityCert: %v", err)
	}
}

func TestParseDisabilityCertErrors(t *testing.T) {
	const id = "11010519491231002X"
	for _, tc := range []struct {
		name, in, rule string
	}{
		{"empty", "", ident.RuleLength},
		{"bare resident ID", id, ident.RuleLength},
		{"one digit", id + "1", ident.RuleLength},
		{"23 characters", id + "11B12", ident.RuleLength},
		{"15-digit holder", "110105491231002" + "11", ident.RuleLength},
		{"holder charset", "1101051949123100AX11", ident.RuleCharset},
		{"holder inner space", "11010519491231002 11", ident.RuleCharset},
		{"holder address", withResidentCheck(t, "99010519491231002") + "11", ident.RuleAddressCode},
		{"holder Feb 29 non-leap", withResidentCheck(t, "34070519900229002") + "11", ident.RuleBirthDate},
		{"holder born in future", withResidentCheck(t, "34070520300101002") + "11", ident.RuleBirthDate},
		{"holder check digit", "110105194912310025" + "11", ident.RuleCheckDigit},
		{"category 0", id + "01", ident.RuleCategory},
		{"category 8", id + "81", ident.RuleCategory},
		{"category letter", id + "A1", ident.RuleCategory},
		{"category full-width", id + "１1", ident.RuleCategory},
		{"grade 0", id + "10", ident.RuleGrade},
		{"grade 5", id + "15", ident.RuleGrade},
		{"grade letter", id + "1B", ident.RuleGrade},
		{"suffix B alone", id + "11B", ident.RuleReissue},
		{"suffix B0", id + "11B0", ident.RuleReissue},
		{"suffix C1", id + "11C1", ident.RuleReissue},
		{"suffix BB", id + "11BB", ident.RuleReissue},
		{"suffix 12", id + "1112", ident.RuleReissue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ident.ParseDisabilityCertAt(tc.in, testNow)
			assertRule(t, tc.in, err, ident.KindDisabilityCert, tc.rule)
			if diff := cmp.Diff(ident.DisabilityCert{}, got); diff != "" {
				t.Errorf("result on error is not zero (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseDisabilityCertHolderMessage(t *testing.T) {
	_, err := ident.ParseDisabilityCertAt("110105194912310025"+"11", testNow)
	want := "disability certificate: check digit: holder ID check digit is 5, expected X"
	if got := fmt.Sprint(err); got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestDisabilityCertPrintsMasked(t *testing.T) {
	c, err := ident.ParseDisabilityCertAt("11010519491231002X41B2", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(c), "110105********002X**B2"; got != want {
		t.Errorf("fmt.Sprint = %q, want %q", got, want)
	}
	if got, want := c.LogValue().String(), "110105********002X**B2"; got != want {
		t.Errorf("LogValue = %q, want %q", got, want)
	}
}
