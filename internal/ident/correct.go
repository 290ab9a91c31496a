package ident

import (
	"strings"
	"time"
)

// ResidentIDCorrections lists the valid 18-character resident ID numbers one
// mistyped character away from s: s with one of its first 17 digits replaced,
// or with another check character. A clerk's single slip on the keyboard
// leaves the true number among them; record linkage accepts one only when it
// is the only one that names a known resident and agrees with the row's name
// and birth date. s that is not 18 characters of digits (and a final X) has
// none; a valid s has none either (nothing to correct).
func ResidentIDCorrections(s string) []string {
	s = strings.ToUpper(strings.TrimSpace(s))
	if len(s) != 18 || !digits(s[:17]) || !(isDigit(s[17]) || s[17] == 'X') {
		return nil
	}
	if _, err := ParseResidentID(s); err == nil {
		return nil
	}
	var out []string
	b := []byte(s)
	for i := 0; i < 17; i++ {
		orig := b[i]
		for c := byte('0'); c <= '9'; c++ {
			if c == orig {
				continue
			}
			b[i] = c
			if _, err := ParseResidentID(string(b)); err == nil {
				out = append(out, string(b))
			}
		}
		b[i] = orig
	}
	if check, err := ResidentCheckChar(s[:17]); err == nil && check != s[17] {
		fixed := s[:17] + string(check)
		if _, err := ParseResidentID(fixed); err == nil {
			out = append(out, fixed)
		}
	}
	return out
}

// EmbeddedBirth reads the birth date and sex that a resident ID number as
// written still carries when it fails its check (a slip elsewhere leaves
// them): positions 7-14 of an 18-character number, 7-12 of a 15-digit one
// (born in the 1900s), the sex from the sequence's parity. ok is false when
// the date part is not a date.
func EmbeddedBirth(s string) (birth time.Time, sex Sex, ok bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	var date, seq string
	switch len(s) {
	case 18:
		date, seq = s[6:14], s[14:17]
	case 15:
		date, seq = "19"+s[6:12], s[12:15]
	default:
		return time.Time{}, 0, false
	}
	if !digits(date) {
		return time.Time{}, 0, false
	}
	t, err := time.Parse("20060102", date)
	if err != nil || t.Before(earliestBirth) {
		return time.Time{}, 0, false
	}
	if digits(seq) {
		if (seq[2]-'0')%2 == 1 {
			sex = Male
		} else {
			sex = Female
		}
	}
	return t, sex, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
