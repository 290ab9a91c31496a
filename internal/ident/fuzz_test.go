package ident_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/internal/ident"
)

// residentSeeds are real-shaped resident ID inputs, valid and not.
var residentSeeds = []string{
	"11010519491231002X",
	"11010519491231002x",
	" 440524188001010014 ",
	"110105491231002",
	"34070519900229002X",
	"34070520300101002X",
	"110105194912310025",
	"990105194912310021",
	"３４０７０５１９９００１０１１２３Ｘ",
	"1101051949123100",
	"",
}

// fuzzRuleError checks the error properties common to all parsers: a
// *RuleError of the expected kind, a known rule, and nothing that could carry
// the identifier.
func fuzzRuleError(t *testing.T, in string, err error, kind string) {
	t.Helper()
	var re *ident.RuleError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is %T, want *ident.RuleError", err, err)
	}
	if re.Kind != kind {
		t.Errorf("error %q has kind %q, want %q", err, re.Kind, kind)
	}
	switch re.Rule {
	case ident.RuleLength, ident.RuleCharset, ident.RuleAddressCode, ident.RuleBirthDate,
		ident.RuleCheckDigit, ident.RuleAuthority, ident.RuleOrgType, ident.RuleDivision,
		ident.RuleCategory, ident.RuleGrade, ident.RuleReissue:
	default:
		t.Errorf("error %q has unknown rule %q", err, re.Rule)
	}
	msg := err.Error()
	if utf8.RuneCountInString(strings.TrimSpace(in)) >= 15 && maxDigitRun(in) >= 6 && strings.Contains(msg, strings.TrimSpace(in)) {
		t.Errorf("error %q contains the input", msg)
	}
	// Six digits in a row would be enough for an address code or a birth date.
	// Code points of unprintable characters ("U+10FFFF") are not from the ID.
	if len(in) < 100000 && maxDigitRun(codePoint.ReplaceAllString(msg, "U+")) >= 6 {
		t.Errorf("error %q contains a run of 6 or more digits", msg)
	}
}

// codePoint matches a code point as quoteRune prints it.
var codePoint = regexp.MustCompile(`U\+[0-9A-F]{4,6}`)

// digit reports whether r is an ASCII or full-width decimal digit.
func digit(r rune) bool {
	return r >= '0' && r <= '9' || r >= '０' && r <= '９'
}

// maxDigitRun is the length of the longest run of digits in s.
func maxDigitRun(s string) int {
	best, n := 0, 0
	for _, r := range s {
		if digit(r) {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

// hasMobileRun reports whether s has a maximal run of exactly 11 digits
// beginning 1[3-9], or 13 beginning 861[3-9]: what Redact must mask.
func hasMobileRun(s string) bool {
	var run []rune
	check := func() bool {
		if len(run) == 13 && ascii(run[0]) == '8' && ascii(run[1]) == '6' {
			run = run[2:]
		}
		return len(run) == 11 && ascii(run[0]) == '1' && ascii(run[1]) >= '3'
	}
	for _, r := range s {
		if digit(r) {
			run = append(run, r)
			continue
		}
		if check() {
			return true
		}
		run = run[:0]
	}
	return check()
}

// ascii maps a full-width digit to its ASCII form.
func ascii(r rune) rune {
	if r >= '０' && r <= '９' {
		return r - '０' + '0'
	}
	return r
}

func FuzzParseResidentID(f *testing.F) {
	for _, s := range residentSeeds {
		f.Add(s)
	}
	// Valid numbers with retired address codes, made by the builder.
	f.Add(newID(f, "340702", date(1985, 3, 7), 123))
	f.Add(newID(f, "340703", date(1962, 10, 1), 88) + "\n")
	f.Add(newID(f, "820001", date(2024, 6, 15), 999))
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ident.ParseResidentIDAt(s, testNow)
		if err != nil {
			fuzzRuleError(t, s, err, ident.KindResidentID)
			return
		}
		if len(id.Number) != 18 {
			t.Fatalf("Number %q is not 18 bytes", id.Number)
		}
		if want := utf8.RuneCountInString(strings.TrimSpace(s)) == 15; id.Converted != want {
			t.Errorf("Converted = %v for input of %d characters", id.Converted, len(strings.TrimSpace(s)))
		}
		if (id.Sequence%2 == 1) != (id.Sex == ident.Male) {
			t.Errorf("sequence %d gives sex %v", id.Sequence, id.Sex)
		}
		again, err := ident.ParseResidentIDAt(id.Number, testNow)
		if err != nil {
			t.Fatalf("re-parse of normalised number: %v", err)
		}
		want := id
		want.Converted = false
		if diff := cmp.Diff(want, again); diff != "" {
			t.Errorf("re-parse mismatch (-want +got):\n%s", diff)
		}
		built, err := ident.NewResidentID(id.AddressCode, id.BirthDate, id.Sequence)
		if err != nil || built != id.Number {
			t.Errorf("NewResidentID of parts = %q, %v; want %q", built, err, id.Number)
		}
		mask := ident.MaskResidentID(id.Number)
		if mask[6:14] != "********" || strings.Contains(mask, id.Number[6:14]) {
			t.Errorf("MaskResidentID = %q shows middle digits", mask)
		}
		if r := ident.Redact("id " + s + " end"); maxDigitRun(r) >= 15 || strings.Contains(r, id.Number[6:14]) {
			t.Errorf("Redact left the ID readable: %q", r)
		}
	})
}

func FuzzParseCreditCode(f *testing.F) {
	for _, s := range []string{
		"91340700MA2TXX01X5", // shape only; the fuzz body finds out whether it checks
		" 91340700ma2txx01x5 ",
		"92340702L5K7RW3P00",
		"51100000500000120A",
		"11100000000013127W",
		"Y1110105 A2B3C4D00",
		"N2340721MF1234AB0X",
		"94340700MA2TXX01X5",
		"91990700MA2TXX01X5",
		"91340700MA2TXI01X5",
		"340700000012345",
		"",
	} {
		f.Add(s)
	}
	// Codes with correct check characters, made by the builder.
	f.Add(newCredit(f, '9', '1', "340700", "MA2TXX01"))
	f.Add(newCredit(f, '5', '3', "100000", "50000012"))
	f.Add(newCredit(f, 'N', '9', "340721", "MF1234AB"))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ident.ParseCreditCode(s)
		if err != nil {
			fuzzRuleError(t, s, err, ident.KindCreditCode)
			return
		}
		if len(c.Code) != 18 || c.Code[0] != c.Authority || c.Code[1] != c.OrgType ||
			c.Code[2:8] != c.DivisionCode || c.Code[8:17] != c.OrgCode {
			t.Fatalf("parts of %+v do not match Code", c)
		}
		again, err := ident.ParseCreditCode(c.Code)
		if err != nil {
			t.Fatalf("re-parse of normalised code: %v", err)
		}
		if diff := cmp.Diff(c, again); diff != "" {
			t.Errorf("re-parse mismatch (-want +got):\n%s", diff)
		}
		built, err := ident.NewCreditCode(c.Authority, c.OrgType, c.DivisionCode, c.OrgCode[:8])
		if err != nil {
			t.Fatalf("NewCreditCode of parts: %v", err)
		}
		if len(c.Warnings) == 0 && built != c.Code {
			t.Errorf("NewCreditCode of parts = %q, want %q", built, c.Code)
		}
		if len(c.Warnings) > 0 {
			if built[:16] != c.Code[:16] || built == c.Code {
				t.Errorf("rebuilt %q of %q with warnings %q", built, c.Code, c.Warnings)
			}
			if fixed, err := ident.ParseCreditCode(built); err != nil || fixed.Warnings != nil {
				t.Errorf("rebuilt code %q: %v, warnings %q", built, err, fixed.Warnings)
			}
		}
		for _, w := range c.Warnings {
			if strings.Contains(w, c.Code) || maxDigitRun(w) >= 6 {
				t.Errorf("warning %q reveals the code", w)
			}
		}
		if m := ident.MaskCreditCode(c.Code); m[8:17] != "*********" {
			t.Errorf("MaskCreditCode = %q shows the organisation code", m)
		}
	})
}

func FuzzParseDisabilityCert(f *testing.F) {
	for _, s := range []string{
		"11010519491231002X11",
		"11010519491231002x72b3",
		" 44052418800101001441B9 ",
		newID(f, "340702", date(1985, 3, 7), 123) + "44",
		"11010519491231002X81",
		"11010519491231002X15",
		"11010519491231002X11B0",
		"11010519491231002X11B",
		"110105194912310025" + "11",
		"110105491231002" + "11",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ident.ParseDisabilityCertAt(s, testNow)
		if err != nil {
			fuzzRuleError(t, s, err, ident.KindDisabilityCert)
			return
		}
		num := c.Holder.Number + string(rune('0'+c.Category)) + string(rune('0'+c.Grade))
		if c.Reissue > 0 {
			num += "B" + string(rune('0'+c.Reissue))
		}
		if c.Number != num || c.CategoryName == "" || c.Holder.Converted {
			t.Fatalf("inconsistent %+v", c)
		}
		again, err := ident.ParseDisabilityCertAt(c.Number, testNow)
		if err != nil {
			t.Fatalf("re-parse of normalised number: %v", err)
		}
		if diff := cmp.Diff(c, again); diff != "" {
			t.Errorf("re-parse mismatch (-want +got):\n%s", diff)
		}
		holder, err := ident.ParseResidentIDAt(c.Number[:18], testNow)
		if err != nil {
			t.Fatalf("holder: %v", err)
		}
		if diff := cmp.Diff(holder, c.Holder); diff != "" {
			t.Errorf("holder mismatch (-want +got):\n%s", diff)
		}
		m := ident.MaskDisabilityCert(c.Number)
		if m[6:14] != "********" || m[18:20] != "**" {
			t.Errorf("MaskDisabilityCert = %q shows the birth date or category and grade", m)
		}
		if r := ident.Redact(c.Number); maxDigitRun(r) >= 15 || strings.Contains(r, c.Number[6:14]) {
			t.Errorf("Redact(%q) = %q leaves the ID readable", c.Number, r)
		}
	})
}

func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"resident 340705199001011234 moved to 13812345678",
		"身份证号11010519491231002X，电话+8613912345678。",
		"old 110105491231002 card 6222020200112233",
		"cert 11010519491231002x72B3 order 12345678901",
		"３４０７０５１９９００１０１１２３Ｘ １３８１２３４５６７８",
		"\xff340705199001011234\xfe",
		"34070519900101123Xiaoming",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := ident.Redact(s)
		if again := ident.Redact(r); again != r {
			t.Errorf("not idempotent: %q then %q", r, again)
		}
		if n := maxDigitRun(r); n >= 15 {
			t.Errorf("Redact(%q) = %q keeps a run of %d digits", s, r, n)
		}
		if hasMobileRun(r) {
			t.Errorf("Redact(%q) = %q keeps a mobile number", s, r)
		}
		in, out := []rune(s), []rune(r)
		if len(in) != len(out) {
			t.Fatalf("Redact(%q) = %q changed the length", s, r)
		}
		for i := range in {
			if in[i] != out[i] && (out[i] != '*' || !digit(in[i]) && !strings.ContainsRune("XxＸｘ", in[i])) {
				t.Fatalf("Redact(%q) = %q changed character %d from %q to %q", s, r, i, in[i], out[i])
			}
		}
		if utf8.ValidString(s) != utf8.ValidString(r) {
			t.Errorf("Redact changed UTF-8 validity")
		}
	})
}
