package ident

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sex is the holder's sex as encoded by the parity of the resident ID sequence
// number. The values are the GB/T 2261.1 codes (1 male, 2 female) so they can
// be stored or exchanged as such; the zero value means unknown.
type Sex int

const (
	// Male is encoded by an odd sequence number.
	Male Sex = 1
	// Female is encoded by an even sequence number.
	Female Sex = 2
)

// String returns "M" or "F", and "" for the zero (unknown) value.
func (s Sex) String() string {
	switch s {
	case Male:
		return "M"
	case Female:
		return "F"
	}
	return ""
}

// ResidentID is a parsed, valid resident identity card number (GB 11643-1999).
type ResidentID struct {
	Number      string    // normalised 18-character number, upper-case X
	AddressCode string    // positions 1-6: GB/T 2260 division code at registration, possibly retired
	BirthDate   time.Time // positions 7-14, midnight UTC of the birth date
	Sequence    int       // positions 15-17, 0..999
	Sex         Sex       // from the parity of Sequence
	Converted   bool      // the input was a 15-digit first-generation number
}

// String returns the masked number, so that printing a ResidentID (in a log
// line, a %v, an error wrap) never shows the full number by accident.
func (r ResidentID) String() string { return MaskResidentID(r.Number) }

// LogValue masks the number for log/slog for the same reason as String: the
// JSON handler would otherwise write the Number field verbatim.
func (r ResidentID) LogValue() slog.Value { return slog.StringValue(r.String()) }

// chinaTime is UTC+8, the zone in which "today" is judged for birth dates. A
// fixed zone is used rather than Asia/Shanghai so that no tzdata is needed;
// China has not observed daylight saving time since 1991.
var chinaTime = time.FixedZone("CST", 8*60*60)

// earliestBirth is the earliest birth date accepted: no living person, nor any
// record a grid still keeps, is older, so anything earlier is a typo.
var earliestBirth = time.Date(1880, time.January, 1, 0, 0, 0, 0, time.UTC)

// provinceCodes are the first two digits of GB/T 2260 codes: they have been
// stable since 1988 (Hainan 46, Chongqing 50 since 1997), unlike the county
// part, which is why only they are checked: numbers issued under retired county
// codes stay valid for life.
var provinceCodes = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
	"71": true, "81": true, "82": true,
}

// ParseResidentID parses and validates a resident ID number against today's
// date in China. See ParseResidentIDAt.
func ParseResidentID(s string) (ResidentID, error) {
	return ParseResidentIDAt(s, time.Now())
}

// ParseResidentIDAt parses and validates a resident ID number, judging "birth
// date not in the future" against now (in UTC+8), so that tests and replays of
// old imports get stable results.
//
// Surrounding white space is trimmed and a lower-case check character x is
// normalised to X. A 15-digit first-generation number is converted to 18
// characters (see ConvertResidentID15) and reported with Converted set. The
// address code must have a known province part but need not be a current code.
// Errors are *RuleError values of kind KindResidentID.
func ParseResidentIDAt(s string, now time.Time) (ResidentID, error) {
	s = strings.TrimSpace(s)
	converted := false
	switch n := utf8.RuneCountInString(s); n {
	case 15:
		s18, err := ConvertResidentID15(s)
		if err != nil {
			return ResidentID{}, err
		}
		s, converted = s18, true
	case 18:
		if err := checkDigits(KindResidentID, s, true); err != nil {
			return ResidentID{}, err
		}
		if s[17] == 'x' {
			s = s[:17] + "X"
		}
	default:
		return ResidentID{}, ruleErr(KindResidentID, RuleLength, fmt.Sprintf("has %d characters, want 18 (or 15 for a first-generation number)", n))
	}

	// From here s is 18 ASCII characters: 17 digits and a digit or X.
	if err := checkAddressCode(KindResidentID, s[:6]); err != nil {
		return ResidentID{}, err
	}
	birth, err := birthDate(KindResidentID, s[6:14], now)
	if err != nil {
		return ResidentID{}, err
	}
	want, err := ResidentCheckChar(s[:17])
	if err != nil {
		return ResidentID{}, err // unreachable: the body was checked above
	}
	if s[17] != want {
		return ResidentID{}, ruleErr(KindResidentID, RuleCheckDigit, fmt.Sprintf("check digit is %c, expected %c", s[17], want))
	}
	seq := atoi(s[14:17])
	sex := Female
	if seq%2 == 1 {
		sex = Male
	}
	return ResidentID{
		Number:      s,
		AddressCode: s[:6],
		BirthDate:   birth,
		Sequence:    seq,
		Sex:         sex,
		Converted:   converted,
	}, nil
}

// ConvertResidentID15 converts a 15-digit first-generation resident ID number
// (address code, YYMMDD birth date in the 1900s, sequence, no check character)
// to the 18-character form by inserting the century "19" and appending the
// check character. It validates the address code and that the birth date is a
// calendar date; surrounding white space is trimmed. Errors are *RuleError
// values of kind KindResidentID.
func ConvertResidentID15(s string) (string, error) {
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n != 15 {
		return "", ruleErr(KindResidentID, RuleLength, fmt.Sprintf("has %d characters, want 15 for a first-generation number", n))
	}
	if err := checkDigits(KindResidentID, s, false); err != nil {
		return "", err
	}
	if err := checkAddressCode(KindResidentID, s[:6]); err != nil {
		return "", err
	}
	body := s[:6] + "19" + s[6:]
	// Every 19YYMMDD date is after 1880 and before any plausible now.
	if _, err := birthDate(KindResidentID, body[6:14], time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)); err != nil {
		return "", err
	}
	c, err := ResidentCheckChar(body)
	if err != nil {
		return "", err // unreachable: all digits
	}
	return body + string(c), nil
}

// NewResidentID builds an 18-character resident ID number from its parts,
// computing the check character; it is meant for generators of test and
// synthetic data, which must produce numbers that pass ParseResidentID. birth
// is taken as a calendar date in its own location; it is not compared with
// today, so that generators stay deterministic. seq must be 0..999 (odd for
// male, even for female). Errors are *RuleError values of kind KindResidentID.
func NewResidentID(addressCode string, birth time.Time, seq int) (string, error) {
	if len(addressCode) != 6 || checkDigits(KindResidentID, addressCode, false) != nil {
		return "", ruleErr(KindResidentID, RuleAddressCode, "want 6 digits")
	}
	if err := checkAddressCode(KindResidentID, addressCode); err != nil {
		return "", err
	}
	y, m, d := birth.Date()
	if y < 1880 || y > 9999 {
		return "", ruleErr(KindResidentID, RuleBirthDate, "year must be 1880..9999")
	}
	if seq < 0 || seq > 999 {
		return "", ruleErr(KindResidentID, RuleSequence, fmt.Sprintf("sequence %d out of range 0..999", seq))
	}
	body := fmt.Sprintf("%s%04d%02d%02d%03d", addressCode, y, int(m), d, seq)
	c, err := ResidentCheckChar(body)
	if err != nil {
		return "", err // unreachable: all digits
	}
	return body + string(c), nil
}

// checkDigits reports a RuleCharset error for the first character of s that is
// not an ASCII digit, allowing X or x as the last character when allowX is set.
// Positions are counted in characters (runes), as a person would count them.
func checkDigits(kind, s string, allowX bool) error {
	n := utf8.RuneCountInString(s)
	pos := 0
	for _, r := range s {
		pos++
		if r >= '0' && r <= '9' {
			continue
		}
		if allowX && pos == n && (r == 'X' || r == 'x') {
			continue
		}
		want := "a digit"
		if allowX && pos == n {
			want = "a digit or X"
		}
		return ruleErr(kind, RuleCharset, fmt.Sprintf("character %d is %s, want %s", pos, quoteRune(r), want))
	}
	return nil
}

// quoteRune quotes one character for an error message. Printable characters
// are shown as themselves; others by code point ("U+200B"), which is what one
// needs to spot the zero-width spaces and BOMs of copy-pasted spreadsheets.
func quoteRune(r rune) string {
	if unicode.IsPrint(r) {
		return fmt.Sprintf("%q", r)
	}
	return fmt.Sprintf("%U", r)
}

// checkAddressCode checks that a 6-digit address code has a GB/T 2260 province
// part. Only the province part is revealed in the message.
func checkAddressCode(kind, code string) error {
	if !provinceCodes[code[:2]] {
		return ruleErr(kind, RuleAddressCode, fmt.Sprintf("province part %s is not a GB/T 2260 province code", code[:2]))
	}
	return nil
}

// birthDate parses an 8-digit YYYYMMDD date and checks it is a calendar date
// between earliestBirth and today (judged in UTC+8 at now). The messages name
// the month and day but never the year, to reveal as little as possible.
func birthDate(kind, yyyymmdd string, now time.Time) (time.Time, error) {
	y, m, d := atoi(yyyymmdd[:4]), atoi(yyyymmdd[4:6]), atoi(yyyymmdd[6:8])
	if m < 1 || m > 12 {
		return time.Time{}, ruleErr(kind, RuleBirthDate, fmt.Sprintf("month %02d out of range", m))
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if d < 1 || t.Day() != d {
		return time.Time{}, ruleErr(kind, RuleBirthDate, fmt.Sprintf("day %02d does not exist in month %02d of that year", d, m))
	}
	if t.Before(earliestBirth) {
		return time.Time{}, ruleErr(kind, RuleBirthDate, "birth date is before 1880-01-01")
	}
	ny, nm, nd := now.In(chinaTime).Date()
	if t.After(time.Date(ny, nm, nd, 0, 0, 0, 0, time.UTC)) {
		return time.Time{}, ruleErr(kind, RuleBirthDate, "birth date is in the future")
	}
	return t, nil
}

// atoi converts a string of ASCII digits, already validated, to an int.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
