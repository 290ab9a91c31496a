package ident_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/internal/ident"
)

func TestResidentCheckCharPublishedSamples(t *testing.T) {
	// The GB 11643-1999 example and a widely published sample born on the
	// earliest accepted date; their check characters are computed, not assumed.
	for _, tc := range []struct {
		body string
		want byte
	}{
		{"11010519491231002", 'X'},
		{"44052418800101001", '4'},
	} {
		got, err := ident.ResidentCheckChar(tc.body)
		if err != nil || got != tc.want {
			t.Errorf("ResidentCheckChar(%q) = %q, %v; want %q", tc.body, got, err, tc.want)
		}
	}
}

// TestResidentCheckCharISO7064 verifies the table-driven check character with
// the defining property of ISO 7064 MOD 11-2, computed independently: with X
// as 10, sum of a_i * 2^(18-i) over all 18 characters is 1 mod 11.
func TestResidentCheckCharISO7064(t *testing.T) {
	for n := 0; n < 2000; n++ {
		body := fmt.Sprintf("%017d", uint64(n)*7919*104729%100000000000000000)
		c, err := ident.ResidentCheckChar(body)
		if err != nil {
			t.Fatal(err)
		}
		sum, w := 0, 1 // w = 2^(18-i) mod 11, from i = 18 down
		full := body + string(c)
		for i := 17; i >= 0; i-- {
			v := int(full[i] - '0')
			if full[i] == 'X' {
				v = 10
			}
			sum += v * w
			w = w * 2 % 11
		}
		if sum%11 != 1 {
			t.Fatalf("%s: weighted sum %d mod 11 = %d, want 1", full, sum, sum%11)
		}
	}
}

func TestResidentCheckCharErrors(t *testing.T) {
	for _, tc := range []struct {
		body, rule string
	}{
		{"1101051949123100", ident.RuleLength},
		{"110105194912310021", ident.RuleLength},
		{"1101051949123100X", ident.RuleCharset},
		{"11010519491231 02", ident.RuleCharset},
	} {
		_, err := ident.ResidentCheckChar(tc.body)
		assertRule(t, tc.body, err, ident.KindResidentID, tc.rule)
	}
}

func TestParseResidentIDValid(t *testing.T) {
	retired702 := newID(t, "340702", date(1985, time.March, 7), 123)
	retired703 := newID(t, "340703", date(1962, time.October, 1), 88)
	leap := newID(t, "320102", date(2000, time.February, 29), 7)
	today := newID(t, "330106", date(2024, time.June, 15), 0)
	current := newID(t, "340705", date(1990, time.January, 1), 999)

	for _, tc := range []struct {
		name string
		in   string
		want ident.ResidentID
	}{
		{"standard example", "11010519491231002X", ident.ResidentID{
			Number: "11010519491231002X", AddressCode: "110105", BirthDate: date(1949, 12, 31), Sequence: 2, Sex: ident.Female}},
		{"born 1880-01-01", "440524188001010014", ident.ResidentID{
			Number: "440524188001010014", AddressCode: "440524", BirthDate: date(1880, 1, 1), Sequence: 1, Sex: ident.Male}},
		{"lower-case x and white space", " \t11010519491231002x\n", ident.ResidentID{
			Number: "11010519491231002X", AddressCode: "110105", BirthDate: date(1949, 12, 31), Sequence: 2, Sex: ident.Female}},
		{"ideographic space", "\u300011010519491231002X\u3000", ident.ResidentID{
			Number: "11010519491231002X", AddressCode: "110105", BirthDate: date(1949, 12, 31), Sequence: 2, Sex: ident.Female}},
		{"retired code 340702", retired702, ident.ResidentID{
			Number: retired702, AddressCode: "340702", BirthDate: date(1985, 3, 7), Sequence: 123, Sex: ident.Male}},
		{"retired code 340703", retired703, ident.ResidentID{
			Number: retired703, AddressCode: "340703", BirthDate: date(1962, 10, 1), Sequence: 88, Sex: ident.Female}},
		{"Feb 29 of a leap year", leap, ident.ResidentID{
			Number: leap, AddressCode: "320102", BirthDate: date(2000, 2, 29), Sequence: 7, Sex: ident.Male}},
		{"born today", today, ident.ResidentID{
			Number: today, AddressCode: "330106", BirthDate: date(2024, 6, 15), Sequence: 0, Sex: ident.Female}},
		{"sequence 999", current, ident.ResidentID{
			Number: current, AddressCode: "340705", BirthDate: date(1990, 1, 1), Sequence: 999, Sex: ident.Male}},
		{"15-digit converted", "110105491231002", ident.ResidentID{
			Number: "11010519491231002X", AddressCode: "110105", BirthDate: date(1949, 12, 31), Sequence: 2, Sex: ident.Female, Converted: true}},
		{"15-digit with spaces", " 440524800101001 ", ident.ResidentID{
			Number: withResidentCheck(t, "44052419800101001"), AddressCode: "440524", BirthDate: date(1980, 1, 1), Sequence: 1, Sex: ident.Male, Converted: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ident.ParseResidentIDAt(tc.in, testNow)
			if err != nil {
				t.Fatalf("ParseResidentIDAt: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseResidentIDAt mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseResidentIDErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, rule string
	}{
		{"empty", "", ident.RuleLength},
		{"too short", "1101051949", ident.RuleLength},
		{"17 digits", "11010519491231002", ident.RuleLength},
		{"19 characters", "11010519491231002X1", ident.RuleLength},
		{"16 digits", "1101051949123100", ident.RuleLength},
		{"letter in body", "110105194912A1002X", ident.RuleCharset},
		{"X not last", "X10105194912310021", ident.RuleCharset},
		{"inner space", "110105 9491231002X", ident.RuleCharset},
		{"full-width digit", "１10105194912310021", ident.RuleCharset},
		{"other check letter", "11010519491231002Y", ident.RuleCharset},
		{"15 with X", "11010549123100X", ident.RuleCharset},
		{"province 99", withResidentCheck(t, "99010519491231002"), ident.RuleAddressCode},
		{"province 00", withResidentCheck(t, "00000019491231002"), ident.RuleAddressCode},
		{"province 16", withResidentCheck(t, "16010519491231002"), ident.RuleAddressCode},
		{"province 72", withResidentCheck(t, "72010519491231002"), ident.RuleAddressCode},
		{"15-digit province 99", "990105491231002", ident.RuleAddressCode},
		{"month 13", withResidentCheck(t, "11010519491331002"), ident.RuleBirthDate},
		{"month 00", withResidentCheck(t, "11010519490031002"), ident.RuleBirthDate},
		{"day 00", withResidentCheck(t, "11010519491200002"), ident.RuleBirthDate},
		{"April 31", withResidentCheck(t, "11010519490431002"), ident.RuleBirthDate},
		{"Feb 29 non-leap 1990", withResidentCheck(t, "34070519900229002"), ident.RuleBirthDate},
		{"Feb 29 non-leap 1900", withResidentCheck(t, "34070519000229002"), ident.RuleBirthDate},
		{"future 2030", withResidentCheck(t, "34070520300101002"), ident.RuleBirthDate},
		{"tomorrow", withResidentCheck(t, "34070520240616002"), ident.RuleBirthDate},
		{"before 1880", withResidentCheck(t, "34070518791231002"), ident.RuleBirthDate},
		{"15-digit Feb 30", "110105490230002", ident.RuleBirthDate},
		{"wrong check", wrongResidentCheck(t, "11010519491231002"), ident.RuleCheckDigit},
		{"wrong check 1880", wrongResidentCheck(t, "44052418800101001"), ident.RuleCheckDigit},
		{"X instead of digit", "44052418800101001X", ident.RuleCheckDigit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ident.ParseResidentIDAt(tc.in, testNow)
			assertRule(t, tc.in, err, ident.KindResidentID, tc.rule)
			if diff := cmp.Diff(ident.ResidentID{}, got); diff != "" {
				t.Errorf("result on error is not zero (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseResidentIDUnprintableMessage(t *testing.T) {
	_, err := ident.ParseResidentIDAt("\u200b1101051949123100X", testNow)
	if got, want := fmt.Sprint(err), "resident ID: charset: character 1 is U+200B, want a digit"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestParseResidentIDCheckDigitMessage(t *testing.T) {
	_, err := ident.ParseResidentIDAt("110105194912310025", testNow)
	if got, want := fmt.Sprint(err), "resident ID: check digit: check digit is 5, expected X"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// TestParseResidentIDTodayInChina checks that "today" is the date in China:
// at 23:30 UTC on 15 June it is already 16 June in China.
func TestParseResidentIDTodayInChina(t *testing.T) {
	id := newID(t, "340705", date(2024, time.June, 16), 1)
	if _, err := ident.ParseResidentIDAt(id, time.Date(2024, 6, 15, 23, 30, 0, 0, time.UTC)); err != nil {
		t.Errorf("born on the China date of now: %v", err)
	}
	_, err := ident.ParseResidentIDAt(id, time.Date(2024, 6, 15, 15, 30, 0, 0, time.UTC))
	assertRule(t, id, err, ident.KindResidentID, ident.RuleBirthDate)
}

func TestParseResidentIDUsesClock(t *testing.T) {
	// A number born "tomorrow" relative to the real clock must be rejected by
	// ParseResidentID; one born long ago accepted.
	tomorrow := time.Now().In(cst).AddDate(0, 0, 2)
	id := newID(t, "110105", tomorrow, 3)
	_, err := ident.ParseResidentID(id)
	assertRule(t, id, err, ident.KindResidentID, ident.RuleBirthDate)
	if _, err := ident.ParseResidentID("11010519491231002X"); err != nil {
		t.Errorf("ParseResidentID(standard example): %v", err)
	}
}

func TestConvertResidentID15(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"110105491231002", "11010519491231002X"},
		{"440524800101001", withResidentCheck(t, "44052419800101001")},
		{" 340702850307123 ", withResidentCheck(t, "34070219850307123")},
	} {
		got, err := ident.ConvertResidentID15(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ConvertResidentID15(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		// The converted number must be exactly what the builder makes.
		id, err := ident.ParseResidentIDAt(got, testNow)
		if err != nil {
			t.Errorf("ParseResidentIDAt(%q): %v", got, err)
		}
		if b := newID(t, id.AddressCode, id.BirthDate, id.Sequence); b != got {
			t.Errorf("NewResidentID of parts of %q = %q", got, b)
		}
	}
	for _, tc := range []struct {
		in, rule string
	}{
		{"11010519491231002X", ident.RuleLength},
		{"11010549123100", ident.RuleLength},
		{"11010549123100x", ident.RuleCharset},
		{"990105491231002", ident.RuleAddressCode},
		{"340705900229002", ident.RuleBirthDate},
	} {
		_, err := ident.ConvertResidentID15(tc.in)
		assertRule(t, tc.in, err, ident.KindResidentID, tc.rule)
	}
}

func TestNewResidentID(t *testing.T) {
	got, err := ident.NewResidentID("110105", date(1949, 12, 31), 2)
	if err != nil || got != "11010519491231002X" {
		t.Errorf("NewResidentID(standard example parts) = %q, %v", got, err)
	}
	// The birth date is read in its own location: 1 January in China is still
	// 31 December in UTC.
	got, err = ident.NewResidentID("340705", time.Date(1990, 1, 1, 0, 30, 0, 0, cst), 10)
	if err != nil || got[6:14] != "19900101" {
		t.Errorf("NewResidentID(CST midnight) = %q, %v; want birth 19900101", got, err)
	}
	for _, tc := range []struct {
		name  string
		addr  string
		birth time.Time
		seq   int
		rule  string
	}{
		{"short address", "34070", date(1990, 1, 1), 1, ident.RuleAddressCode},
		{"letter address", "34070A", date(1990, 1, 1), 1, ident.RuleAddressCode},
		{"unknown province", "990000", date(1990, 1, 1), 1, ident.RuleAddressCode},
		{"before 1880", "340705", date(1879, 12, 31), 1, ident.RuleBirthDate},
		{"year 10000", "340705", date(10000, 1, 1), 1, ident.RuleBirthDate},
		{"negative sequence", "340705", date(1990, 1, 1), -1, ident.RuleSequence},
		{"sequence 1000", "340705", date(1990, 1, 1), 1000, ident.RuleSequence},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ident.NewResidentID(tc.addr, tc.birth, tc.seq)
			assertRule(t, "", err, ident.KindResidentID, tc.rule)
		})
	}
}

func TestSexString(t *testing.T) {
	got := []string{ident.Male.String(), ident.Female.String(), ident.Sex(0).String()}
	if diff := cmp.Diff([]string{"M", "F", ""}, got); diff != "" {
		t.Errorf("Sex.String mismatch (-want +got):\n%s", diff)
	}
}

// TestResidentIDPrintsMasked checks that the number does not leak when a
// ResidentID is printed or logged whole.
func TestResidentIDPrintsMasked(t *testing.T) {
	id, err := ident.ParseResidentIDAt("11010519491231002X", testNow)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("resident", "id", id)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("resident", "id", id)
	for _, out := range []string{fmt.Sprint(id), fmt.Sprintf("%v %+v %s", id, id, id), buf.String()} {
		if strings.Contains(out, "19491231") {
			t.Errorf("output %q shows the birth date", out)
		}
		if !strings.Contains(out, "110105********002X") {
			t.Errorf("output %q lacks the masked number", out)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(bytes.SplitN(buf.Bytes(), []byte("\n"), 2)[0], &m); err != nil || m["id"] != "110105********002X" {
		t.Errorf("JSON log id = %v (%v), want the masked number", m["id"], err)
	}
}
