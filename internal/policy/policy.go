// Package policy decides who may see what: for each department field its
// national sharing class (from the department mapping files) combined with
// the caller's role and stated purpose (from the purpose catalogue), and for
// each identifier its masking, by the class of identifier it holds. The
// caller's row scope is the auth package's; the decisions are applied where
// records become answers (graph), once per operation and field.
package policy

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/yamlpos"
)

// Purpose is one entry of the purpose catalogue.
type Purpose struct {
	Code  string      `yaml:"code"`
	Label string      `yaml:"label"`
	Roles []auth.Role `yaml:"roles"`
	// Departments limits a dept_officer's use of the purpose to officers of these
	// departments; empty means any department's officers.
	Departments []string `yaml:"departments"`
	// Fields are the conditional fields the purpose opens: department.set.field,
	// with * for all fields of a set or of a department.
	Fields []string `yaml:"fields"`
	// Unmask are the identifier classes (resident_id, phone, certificate,
	// account) shown in clear under the purpose.
	Unmask []ident.Class `yaml:"unmask"`
}

// field is what the policy knows of one department field.
type field struct {
	sharing    string
	identifier ident.Class
}

// Policy is the purpose catalogue with the sharing classes and identifier
// classes of every department field.
type Policy struct {
	purposes map[string]*Purpose
	order    []string
	fields   map[string]field // "dept.set.field"
	depts    map[string]bool
}

// CoreIdentifiers are the identifier classes of the master index's own Person
// fields: what the hub's schema holds, not what a mapping file says.
var CoreIdentifiers = map[string]ident.Class{
	"idNumber": ident.ResidentIDClass,
	"phone":    ident.PhoneClass,
}

// Load reads the catalogue at path, or the built-in one when path is "", and
// checks it against the departments: every field a purpose names must exist.
func Load(path string, depts []*connectors.Department) (*Policy, error) {
	if path == "" {
		return Parse(builtin.Name+"/policy.yaml", builtin.File("policy.yaml"), depts, false)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, raw, depts, false)
}

// Parse reads a purpose catalogue's content (name is the file, for errors).
// With lenient set, what names a department or field that depts lacks is left
// out instead of refused: that is how the built-in catalogue serves a
// configuration with other departments than the built-in ones.
func Parse(name string, raw []byte, depts []*connectors.Department, lenient bool) (*Policy, error) {
	var doc struct {
		Purposes []*Purpose `yaml:"purposes"`
	}
	file, err := yamlpos.Decode(name, raw, &doc)
	if err != nil {
		return nil, err
	}
	codes := map[string]bool{}
	p := &Policy{purposes: map[string]*Purpose{}, fields: map[string]field{}, depts: codes}
	for _, d := range depts {
		codes[d.Code] = true
		for _, rs := range d.Records {
			for _, f := range rs.Fields {
				p.fields[d.Code+"."+rs.Name+"."+f.Name] = field{sharing: f.Sharing, identifier: f.Identifier}
			}
		}
	}
	var errs []error
	for i, pu := range doc.Purposes {
		at := func(more ...any) []any { return append([]any{"purposes", i}, more...) }
		fail := func(path []any, format string, args ...any) {
			errs = append(errs, file.Errorf(path, "purpose %s: %s", pu.Code, fmt.Sprintf(format, args...)))
		}
		if pu.Code == "" || strings.ContainsAny(pu.Code, " \t") {
			errs = append(errs, file.Errorf(at("code"), "purpose code %q must be a non-empty word", pu.Code))
			continue
		}
		if _, dup := p.purposes[pu.Code]; dup {
			fail(at("code"), "defined twice")
			continue
		}
		for j, r := range pu.Roles {
			if !r.Valid() {
				fail(at("roles", j), "unknown role %q", r)
			}
		}
		var depts []string
		for j, d := range pu.Departments {
			switch {
			case codes[d]:
				depts = append(depts, d)
			case !lenient:
				fail(at("departments", j), "no department %q is configured", d)
			}
		}
		var fields []string
		for j, f := range pu.Fields {
			switch {
			case p.matchesAny(f):
				fields = append(fields, f)
			case !lenient:
				fail(at("fields", j), "field pattern %q matches no department field", f)
			}
		}
		for j, c := range pu.Unmask {
			if !c.Valid() {
				hint := ""
				if c == "idNumber" {
					hint = " (idNumber is now the class resident_id)"
				}
				fail(at("unmask", j), "unmask %q is not an identifier class (%s)%s", c, classList(), hint)
			}
		}
		if lenient && len(pu.Departments) > 0 && len(depts) == 0 {
			continue // a purpose of departments none of which is configured
		}
		pu.Departments, pu.Fields = depts, fields
		p.purposes[pu.Code] = pu
		p.order = append(p.order, pu.Code)
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return p, nil
}

func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return &multi{errs}
}

type multi struct{ errs []error }

func (m *multi) Error() string {
	parts := make([]string, len(m.errs))
	for i, e := range m.errs {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

func (m *multi) Unwrap() []error { return m.errs }

func classList() string {
	var names []string
	for _, c := range ident.Classes() {
		names = append(names, string(c))
	}
	return strings.Join(names, ", ")
}

// Purposes lists the catalogue in file order.
func (p *Policy) Purposes() []*Purpose {
	out := make([]*Purpose, len(p.order))
	for i, c := range p.order {
		out[i] = p.purposes[c]
	}
	return out
}

// Purpose looks a purpose up; an unknown code is BAD_USER_INPUT, so a typo in
// X-Purpose is told rather than silently treated as no purpose.
func (p *Policy) Purpose(code string) (*Purpose, error) {
	if code == "" {
		return nil, nil
	}
	pu, ok := p.purposes[code]
	if !ok {
		return nil, apperr.BadInput("X-Purpose", "purpose", "purpose %q is not in the purpose catalogue (known: %s)", code, strings.Join(p.order, ", "))
	}
	return pu, nil
}

// Configures tells whether the policy was built with department dept. A
// request decides by the policy it began with, so a department a reload adds
// or removes while it runs is, for that request, simply not configured.
func (p *Policy) Configures(dept string) bool { return p.depts[dept] }

// Class is the sharing class of a department field ("" when unknown).
func (p *Policy) Class(dept, set, name string) string {
	return p.fields[dept+"."+set+"."+name].sharing
}

func (p *Policy) matchesAny(pattern string) bool {
	for f := range p.fields {
		if matches(pattern, f) {
			return true
		}
	}
	return false
}

// matches tells whether a purpose's field pattern covers a field path.
func matches(pattern, field string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(field, prefix)
	}
	return pattern == field
}

// usable tells whether principal may state purpose pu at all.
func usable(pr *auth.Principal, pu *Purpose) bool {
	for _, r := range pu.Roles {
		if !pr.Has(r) {
			continue
		}
		if r == auth.DeptOfficer && len(pu.Departments) > 0 && !slices.Contains(pu.Departments, pr.Department) {
			continue
		}
		return true
	}
	return false
}

// Decision is what happens to one field value.
type Decision struct {
	// Allow returns the value; otherwise the field is null with Code.
	Allow bool
	// Mask, when set, returns the value masked as an identifier of its class.
	Mask ident.Class
	Code apperr.Code
	Why  string
}

func deny(code apperr.Code, why string) Decision { return Decision{Code: code, Why: why} }

// DepartmentField decides a department field for a caller with a stated
// purpose (nil for none): its sharing class, then its identifier class. The
// caller's row scope is checked before this, when the record is read.
func (p *Policy) DepartmentField(pr *auth.Principal, pu *Purpose, dept, set, name string) Decision {
	if pr == nil || !pr.ReadsRows() {
		return deny(apperr.Forbidden, "this role reads no personal records")
	}
	path := dept + "." + set + "." + name
	f, known := p.fields[path]
	d := Decision{Allow: true}
	switch {
	case !known:
		return deny(apperr.ForbiddenField, fmt.Sprintf("%s is not a shared field of any configured department", path))
	case pr.Has(auth.DeptOfficer) && pr.Department == dept:
		// A department sees all of its own data; its identifiers masked
		// like anyone's, unless a purpose unmasks them.
	case f.sharing == connectors.Unconditional:
	case f.sharing == connectors.Conditional:
		if pu == nil {
			return deny(apperr.PurposeRequired, fmt.Sprintf("%s is shared on condition: state a purpose (X-Purpose) that allows it", path))
		}
		if !usable(pr, pu) {
			return deny(apperr.ForbiddenField, fmt.Sprintf("purpose %s is not open to your role", pu.Code))
		}
		if !slices.ContainsFunc(pu.Fields, func(pat string) bool { return matches(pat, path) }) {
			return deny(apperr.ForbiddenField, fmt.Sprintf("purpose %s does not cover %s", pu.Code, path))
		}
	default: // not shared
		return deny(apperr.ForbiddenField, fmt.Sprintf("%s is not shared outside the department (不予共享)", path))
	}
	d.Mask = p.mask(pr, pu, f.identifier)
	return d
}

// Identifier decides a master-index identifier (Person.idNumber,
// Person.phone): shown masked, unless the stated purpose unmasks its class.
func (p *Policy) Identifier(pr *auth.Principal, pu *Purpose, name string) Decision {
	if pr == nil || !pr.ReadsRows() {
		return deny(apperr.Forbidden, "this role reads no personal records")
	}
	return Decision{Allow: true, Mask: p.mask(pr, pu, CoreIdentifiers[name])}
}

// mask is the class to mask a value of class c as, "" to show it.
func (p *Policy) mask(pr *auth.Principal, pu *Purpose, c ident.Class) ident.Class {
	if c == "" {
		return ""
	}
	if pu != nil && usable(pr, pu) && slices.Contains(pu.Unmask, c) {
		return ""
	}
	return c
}

// Unmasks tells whether the caller's purpose shows identifiers of class c in
// clear.
func (p *Policy) Unmasks(pr *auth.Principal, pu *Purpose, c ident.Class) bool {
	return p.mask(pr, pu, c) == ""
}
