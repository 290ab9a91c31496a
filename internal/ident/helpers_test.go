package ident_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/ident"
)

// cst is UTC+8, the zone the package judges "today" in.
var cst = time.FixedZone("CST", 8*60*60)

// testNow is the fixed clock of the tests: noon, 15 June 2024, in China.
var testNow = time.Date(2024, time.June, 15, 12, 0, 0, 0, cst)

// date is midnight UTC of a calendar date, the form of ResidentID.BirthDate.
func date(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// withResidentCheck appends the computed check character to a 17-digit body,
// so that test numbers fail only the rule they are meant to fail.
func withResidentCheck(t testing.TB, body17 string) string {
	t.Helper()
	c, err := ident.ResidentCheckChar(body17)
	if err != nil {
		t.Fatalf("ResidentCheckChar: %v", err)
	}
	return body17 + string(c)
}

// wrongResidentCheck is body17 plus a check character that is not the right one.
func wrongResidentCheck(t testing.TB, body17 string) string {
	t.Helper()
	c, err := ident.ResidentCheckChar(body17)
	if err != nil {
		t.Fatalf("ResidentCheckChar: %v", err)
	}
	w := byte('5')
	if c == '5' {
		w = '6'
	}
	return body17 + string(w)
}

// newID builds a resident ID with NewResidentID or fails the test.
func newID(t testing.TB, addr string, birth time.Time, seq int) string {
	t.Helper()
	s, err := ident.NewResidentID(addr, birth, seq)
	if err != nil {
		t.Fatalf("NewResidentID(%q, %v, %d): %v", addr, birth, seq, err)
	}
	return s
}

// newCredit builds a credit code with NewCreditCode or fails the test.
func newCredit(t testing.TB, authority, orgType byte, division, body8 string) string {
	t.Helper()
	s, err := ident.NewCreditCode(authority, orgType, division, body8)
	if err != nil {
		t.Fatalf("NewCreditCode(%c, %c, %q, %q): %v", authority, orgType, division, body8, err)
	}
	return s
}

// creditWithChecks appends both computed check characters to the first 16
// characters of a credit code, bypassing NewCreditCode's structure checks so
// that tests can make codes that fail one structural rule only.
func creditWithChecks(t testing.TB, first16 string) string {
	t.Helper()
	oc, err := ident.OrgCodeCheckChar(first16[8:16])
	if err != nil {
		t.Fatalf("OrgCodeCheckChar: %v", err)
	}
	s := first16 + string(oc)
	cc, err := ident.CreditCodeCheckChar(s)
	if err != nil {
		t.Fatalf("CreditCodeCheckChar: %v", err)
	}
	return s + string(cc)
}

// replaceAt returns s with the byte at i replaced by c.
func replaceAt(s string, i int, c byte) string {
	return s[:i] + string(c) + s[i+1:]
}

// assertRule fails unless err is a *RuleError of the given kind and rule, and
// checks that the message does not contain the input.
func assertRule(t *testing.T, input string, err error, kind, rule string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s: %s", kind, rule)
	}
	var re *ident.RuleError
	if !errors.As(err, &re) {
		t.Fatalf("error %v is %T, want *ident.RuleError", err, err)
	}
	if re.Kind != kind || re.Rule != rule {
		t.Errorf("error %q has kind %q rule %q, want %q %q", err, re.Kind, re.Rule, kind, rule)
	}
	if want := kind + ": " + rule + ": "; !strings.HasPrefix(err.Error(), want) || re.Detail == "" {
		t.Errorf("error %q does not read %q followed by a detail", err, want)
	}
	assertNotLeaked(t, input, err.Error())
}

// assertNotLeaked fails if a message contains the (trimmed) input of 15 or more
// characters: identifiers must not reach logs through error messages.
func assertNotLeaked(t testing.TB, input, msg string) {
	t.Helper()
	in := strings.TrimSpace(input)
	if len(in) >= 15 && strings.Contains(msg, in) {
		t.Errorf("message %q contains the input", msg)
	}
	if len(in) >= 18 && strings.Contains(msg, in[:17]) {
		t.Errorf("message %q contains the first 17 characters of the input", msg)
	}
}
