package ident

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Class is what kind of identifier a field holds. Masking follows the class,
// not the field's name: a field is masked because of what it holds.
type Class string

// The identifier classes a mapping file's field may declare.
const (
	// ResidentIDClass is a resident ID number in any form (18 or 15
	// characters).
	ResidentIDClass Class = "resident_id"
	// PhoneClass is a phone number, mobile or landline.
	PhoneClass Class = "phone"
	// CertificateClass is a certificate number that is or embeds a personal
	// number: a disability certificate (the holder's ID number plus category
	// and grade), a birth medical certificate (出生医学证明), an employment
	// certificate.
	CertificateClass Class = "certificate"
	// AccountClass is a bank, social security or benefit account number.
	AccountClass Class = "account"
)

// Classes lists the identifier classes.
func Classes() []Class {
	return []Class{ResidentIDClass, PhoneClass, CertificateClass, AccountClass}
}

// Valid reports whether c is a known class.
func (c Class) Valid() bool { return slices.Contains(Classes(), c) }

// ParseClass reads a class name; "" is no class.
func ParseClass(s string) (Class, bool) {
	c := Class(s)
	return c, s == "" || c.Valid()
}

// Mask masks s as an identifier of class c. Whatever the class, no more
// than half of s is shown, and an embedded resident ID or mobile number
// elsewhere in s is masked too.
func (c Class) Mask(s string) string {
	switch c {
	case ResidentIDClass:
		return MaskResidentID(s)
	case PhoneClass:
		return MaskPhone(s)
	case CertificateClass:
		t := strings.TrimSpace(s)
		if n := utf8.RuneCountInString(t); n == 20 || n == 22 {
			return MaskDisabilityCert(t)
		}
		return maskHalf([]rune(Redact(t)))
	case AccountClass:
		rs := []rune(strings.TrimSpace(s))
		if len(rs) >= 8 {
			return keepEnds(rs, 0, 4)
		}
		return strings.Repeat("*", len(rs))
	}
	return maskHalf([]rune(Redact(strings.TrimSpace(s))))
}

// Embedded tells whether s holds something that must be treated as an
// identifier whatever a mapping file says of it: a resident ID number with
// a valid check character (alone or inside a longer value, such as a
// certificate number built from it), or a mainland mobile number. It is how
// the hub refuses to show in clear an identifier that a field carries
// without declaring a class.
func Embedded(s string) (Class, bool) {
	if len(s) < 11 {
		return "", false
	}
	var run []byte
	flush := func() (Class, bool) {
		defer func() { run = run[:0] }()
		switch {
		case len(run) >= 18:
			for i := 0; i+18 <= len(run); i++ {
				if validResident18(string(run[i : i+18])) {
					return ResidentIDClass, true
				}
			}
		case len(run) == 15:
			if _, err := ConvertResidentID15(string(run)); err == nil {
				return ResidentIDClass, true
			}
		case len(run) == 11 && run[0] == '1' && run[1] >= '3' && run[1] <= '9':
			return PhoneClass, true
		}
		return "", false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= '0' && b <= '9':
			run = append(run, b)
		case (b == 'X' || b == 'x') && len(run) >= 17:
			run = append(run, 'X')
		default:
			if c, ok := flush(); ok {
				return c, true
			}
		}
	}
	return flush()
}

// validResident18 reports whether s is 18 characters with a valid check
// character and a plausible birth date.
func validResident18(s string) bool {
	_, err := ParseResidentID(s)
	return err == nil
}
