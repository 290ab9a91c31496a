package ident

import (
	"strings"
	"unicode/utf8"
)

// The Mask* helpers mask identifiers for display and logs. For a well-formed
// identifier they keep the parts people use to tell records apart (region
// prefix, last digits); for anything else (wrong length, typos) they keep at
// most a quarter of the characters at each end, so never more than half of the
// input, because a malformed number may still be almost all of a real one.
// They trim surrounding white space, never fail and never panic; invalid UTF-8
// bytes come out as U+FFFD.

// MaskResidentID masks a resident ID: an 18-character number keeps its first
// 6 (address code) and last 4 characters, "340705********123X"; a 15-digit one
// keeps the same, "340705*****0123". The birth date is always hidden.
func MaskResidentID(s string) string {
	rs := []rune(strings.TrimSpace(s))
	switch len(rs) {
	case 18, 15:
		return keepEnds(rs, 6, 4)
	}
	return maskHalf(rs)
}

// MaskPhone masks an 11-digit mobile number as "138****5678": the carrier
// prefix and the last 4 digits, the form used on Chinese receipts and SMS.
func MaskPhone(s string) string {
	rs := []rune(strings.TrimSpace(s))
	if len(rs) == 11 {
		return keepEnds(rs, 3, 4)
	}
	return maskHalf(rs)
}

// MaskCreditCode masks a unified social credit code, keeping the first 8
// characters (registration authority, organisation type, division: structure
// that identifies no one) and the last (check) character, "91340700*********5":
// 9 of 18 characters, so within the half rule. Organisations' codes are
// public, but those of sole traders (个体工商户) are effectively personal.
func MaskCreditCode(s string) string {
	rs := []rune(strings.TrimSpace(s))
	if len(rs) == 18 {
		return keepEnds(rs, 8, 1)
	}
	return maskHalf(rs)
}

// MaskName masks a personal name, keeping only the first character (the family
// name for Han names): "张三丰" gives "张**". A one-character input is masked
// entirely, so that no more than half is ever shown.
func MaskName(s string) string {
	rs := []rune(strings.TrimSpace(s))
	if len(rs) < 2 {
		return strings.Repeat("*", len(rs))
	}
	return keepEnds(rs, 1, 0)
}

// MaskDisabilityCert masks a disability certificate number like the holder's
// resident ID, and also hides the category and grade digits, which are health
// data: "340705********123X**", with a reissue suffix kept ("...**B1").
func MaskDisabilityCert(s string) string {
	rs := []rune(strings.TrimSpace(s))
	switch len(rs) {
	case 20, 22:
		return keepEnds(rs[:18], 6, 4) + "**" + string(rs[20:])
	}
	return maskHalf(rs)
}

// keepEnds keeps head runes at the start and tail runes at the end of rs and
// replaces each rune between with '*'. Callers ensure head+tail <= len(rs).
func keepEnds(rs []rune, head, tail int) string {
	var b strings.Builder
	b.Grow(len(rs) + 8)
	for i, r := range rs {
		if i < head || i >= len(rs)-tail {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
	}
	return b.String()
}

// maskHalf masks input of unexpected shape: it keeps len/4 runes at each end,
// so at most half of the input is shown, and inputs under 4 runes are fully
// masked.
func maskHalf(rs []rune) string {
	q := len(rs) / 4
	return keepEnds(rs, q, q)
}

// digitValue reports whether r is a decimal digit, ASCII or full-width (as
// typed with Chinese input methods), which Redact treats alike.
func digitValue(r rune) (int, bool) {
	switch {
	case r >= '0' && r <= '9':
		return int(r - '0'), true
	case r >= '０' && r <= '９':
		return int(r - '０'), true
	}
	return 0, false
}

// isCheckX reports whether r can be the X check character of a resident ID.
func isCheckX(r rune) bool {
	return r == 'X' || r == 'x' || r == 'Ｘ' || r == 'ｘ'
}

// Redact masks personal identifiers in free text, for log lines:
//
//   - every run of 15 or more digits keeps its first 6 and last 4 digits, so a
//     15- or 18-digit resident ID comes out as MaskResidentID gives it. Longer
//     runs are masked too, because an ID can hide inside them (a disability
//     certificate number, concatenated fields) and their middle digits then
//     stay hidden wherever the ID sits; bank card numbers get the usual mask as
//     a bonus. A run of 17 digits followed by X or x is taken as one ID;
//   - a run of exactly 11 digits that looks like a mobile number (1[3-9]...) is
//     masked as MaskPhone does, also after an "86" country code.
//
// Digits may be ASCII or full-width. Everything else, including invalid UTF-8,
// is copied unchanged, and the result has as many characters as s. Numbers
// split by spaces or dashes are not recognised.
func Redact(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if _, ok := digitValue(r); !ok {
			b.WriteString(s[i : i+size])
			i += size
			continue
		}
		// Collect the maximal run of digits starting at i.
		var run []rune
		j := i
		for j < len(s) {
			r, size := utf8.DecodeRuneInString(s[j:])
			if _, ok := digitValue(r); !ok {
				break
			}
			run = append(run, r)
			j += size
		}
		if len(run) == 17 && j < len(s) {
			if r, size := utf8.DecodeRuneInString(s[j:]); isCheckX(r) {
				run = append(run, r)
				j += size
			}
		}
		switch {
		case len(run) >= 15:
			b.WriteString(keepEnds(run, 6, 4))
		case len(run) == 11 && isMobile(run):
			b.WriteString(keepEnds(run, 3, 4))
		case len(run) == 13 && isMobile(run[2:]) && digitIs(run[0], 8) && digitIs(run[1], 6):
			b.WriteString(string(run[:2]) + keepEnds(run[2:], 3, 4))
		default:
			b.WriteString(s[i:j])
		}
		i = j
	}
	return b.String()
}

// isMobile reports whether an 11-digit run looks like a mainland mobile
// number: 1 then 3-9.
func isMobile(run []rune) bool {
	d1, _ := digitValue(run[1])
	return digitIs(run[0], 1) && d1 >= 3
}

// digitIs reports whether r is the digit d.
func digitIs(r rune, d int) bool {
	v, ok := digitValue(r)
	return ok && v == d
}
