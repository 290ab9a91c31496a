package connectors

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// This file is the identity part of a record set's mapping: the fields that say
// who a row is about besides its key, which the hub's record linkage
// (internal/linkage) compares with the master index.

// Identity field names a record set's identity block may map.
const (
	IdentityName      = "name"      // 姓名, string
	IdentitySex       = "sex"       // enum onto M or F
	IdentityBirthDate = "birthDate" // date
	IdentityAddress   = "address"   // string: the address the department holds
	IdentityPhone     = "phone"     // string
)

// IdentityFields lists the identity field names in a fixed order.
var IdentityFields = []string{IdentityName, IdentitySex, IdentityBirthDate, IdentityAddress, IdentityPhone}

// identityTypes is the type each identity field must have.
var identityTypes = map[string]string{
	IdentityName: TypeString, IdentitySex: TypeEnum, IdentityBirthDate: TypeDate,
	IdentityAddress: TypeString, IdentityPhone: TypeString,
}

// validateIdentity checks record set i's identity block.
func (d *Department) validateIdentity(fail failFunc, i int, rs *RecordSet) {
	if len(rs.Identity) == 0 {
		return
	}
	at := func(more ...any) []any { return append([]any{"records", i, "identity"}, more...) }
	if rs.Entity != Person {
		fail(at(), "identity applies to person record sets only")
	}
	seen := map[string]bool{}
	hasName := false
	for j, f := range rs.Identity {
		fat := func(more ...any) []any { return append(at(j), more...) }
		want, ok := identityTypes[f.Name]
		if !ok {
			fail(fat("name"), "identity field %q is not one of %s", f.Name, strings.Join(IdentityFields, ", "))
			continue
		}
		if seen[f.Name] {
			fail(fat("name"), "identity field %q is defined twice", f.Name)
		}
		seen[f.Name] = true
		hasName = hasName || f.Name == IdentityName
		if f.From == "" {
			fail(fat("from"), "from (the source field) is required")
		}
		if f.Type != want {
			fail(fat("type"), "identity field %s has type %s, not %q", f.Name, want, f.Type)
		}
		if f.Type == TypeDate && f.Format != "" && !dateLayout(f.Format) {
			fail(fat("format"), "date format %q is not a Go layout", f.Format)
		}
		if f.Name == IdentitySex {
			for code, v := range f.Codes {
				if v != "M" && v != "F" {
					fail(fat("codes"), "sex code %q maps onto %q, not M or F", code, v)
				}
			}
			if len(f.Codes) == 0 {
				fail(fat("codes"), "sex needs codes (source code -> M or F)")
			}
		}
	}
	if !hasName {
		fail(at(), "an identity block needs the name field: a row is never linked without a name")
	}
}

// IdentityOf maps a raw source row's identity fields (see MapRecord for get).
// A value that does not convert is left out rather than failing the row: the
// identity is evidence, and a row whose key is valid needs none. Nil when the
// record set has no identity block.
func (rs *RecordSet) IdentityOf(get func(from string) (any, bool)) Record {
	if len(rs.Identity) == 0 {
		return nil
	}
	rec := Record{}
	for _, f := range rs.Identity {
		raw, ok := get(f.From)
		if !ok {
			continue
		}
		if v, ok, err := f.Convert(raw); err == nil && ok {
			rec[f.Name] = v
		}
	}
	return rec
}

// IdentityFroms lists the source fields of the identity block.
func (rs *RecordSet) IdentityFroms() []string {
	out := make([]string, 0, len(rs.Identity))
	for _, f := range rs.Identity {
		if !slices.Contains(out, f.From) {
			out = append(out, f.From)
		}
	}
	return out
}

// FactKey decides how a fact feed lists a raw source row: by its normalised
// key (invalid false), or, for a record set with an identity block whose row
// names someone but has no usable key, by the key as written (trimmed and
// upper-cased; "" when missing) with invalid true, for record linkage to
// place. Any other row that KeyOf refuses is refused with KeyOf's error: a
// row with no key and no name is about no one (ErrNoKey), one with a key that
// does not normalise and no identity block is bad data.
func (rs *RecordSet) FactKey(get func(from string) (any, bool), identity Record) (key string, invalid bool, err error) {
	key, err = rs.KeyOf(get)
	if err == nil {
		return key, false, nil
	}
	name, _ := identity[IdentityName].(string)
	if len(rs.Identity) == 0 || strings.TrimSpace(name) == "" {
		return "", false, err
	}
	raw, _ := get(rs.Key)
	written := ""
	if raw != nil {
		if s, serr := keyText(raw); serr == nil {
			written = strings.ToUpper(strings.TrimSpace(s))
		} else if !errors.Is(serr, ErrNoKey) {
			return "", false, fmt.Errorf("key %s: %w", rs.Key, serr)
		}
	}
	return written, true, nil
}
