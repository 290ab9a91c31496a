// Package policy decides who may see what: the row scope of a caller, and for
// each department field its national sharing class (from the department mapping
// files) combined with the caller's role and stated purpose (from the purpose
// catalogue). The decisions are enforced at one boundary, the GraphQL field
// middleware (Enforcer), not in resolvers.
package policy

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/auth"
)

//go:embed policy.yaml
var defaultPolicy []byte

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
	// Unmask are the Person identifier fields shown in clear under the purpose.
	Unmask []string `yaml:"unmask"`
}

// Policy is the purpose catalogue with the sharing classes of every department
// field.
type Policy struct {
	purposes map[string]*Purpose
	order    []string
	classes  map[string]string // "dept.set.field" -> sharing class
}

// Load reads the catalogue at path, or the built-in one when path is "", and
// checks it against the departments: every field a purpose names must exist.
func Load(path string, depts []*connectors.Department) (*Policy, error) {
	raw, name := defaultPolicy, "internal/policy/policy.yaml"
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		raw, name = b, path
	}
	var file struct {
		Purposes []*Purpose `yaml:"purposes"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &Policy{purposes: map[string]*Purpose{}, classes: map[string]string{}}
	for _, d := range depts {
		for _, rs := range d.Records {
			for _, f := range rs.Fields {
				p.classes[d.Code+"."+rs.Name+"."+f.Name] = f.Sharing
			}
		}
	}
	for _, pu := range file.Purposes {
		if pu.Code == "" || strings.ContainsAny(pu.Code, " \t") {
			return nil, fmt.Errorf("%s: purpose code %q must be a non-empty word", name, pu.Code)
		}
		if _, dup := p.purposes[pu.Code]; dup {
			return nil, fmt.Errorf("%s: purpose %s is defined twice", name, pu.Code)
		}
		for _, r := range pu.Roles {
			if !r.Valid() {
				return nil, fmt.Errorf("%s: purpose %s: unknown role %q", name, pu.Code, r)
			}
		}
		for _, f := range pu.Fields {
			if !p.matchesAny(f) {
				return nil, fmt.Errorf("%s: purpose %s: field pattern %q matches no department field", name, pu.Code, f)
			}
		}
		for _, f := range pu.Unmask {
			if f != "idNumber" && f != "phone" {
				return nil, fmt.Errorf("%s: purpose %s: unmask %q is not idNumber or phone", name, pu.Code, f)
			}
		}
		p.purposes[pu.Code] = pu
		p.order = append(p.order, pu.Code)
	}
	return p, nil
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

// Class is the sharing class of a department field ("" when unknown).
func (p *Policy) Class(dept, set, field string) string { return p.classes[dept+"."+set+"."+field] }

func (p *Policy) matchesAny(pattern string) bool {
	for f := range p.classes {
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
func usable(pr *auth.Principal, pu *Purpose) []auth.Role {
	var roles []auth.Role
	for _, r := range pu.Roles {
		if !pr.Has(r) {
			continue
		}
		if r == auth.DeptOfficer && len(pu.Departments) > 0 && !slices.Contains(pu.Departments, pr.Department) {
			continue
		}
		roles = append(roles, r)
	}
	return roles
}

// Decision is what happens to one field value.
type Decision struct {
	// Allow returns the value; otherwise the field is null with Code.
	Allow bool
	// Mask returns the value masked (identifiers).
	Mask bool
	Code apperr.Code
	Why  string
}

var (
	allow = Decision{Allow: true}
	mask  = Decision{Allow: true, Mask: true}
)

func deny(code apperr.Code, why string) Decision { return Decision{Code: code, Why: why} }

// DepartmentField decides a department field for a caller with a stated
// purpose (nil for none). The caller's row scope is checked before this, when
// the record is read.
func (p *Policy) DepartmentField(pr *auth.Principal, pu *Purpose, dept, set, field string) Decision {
	if pr == nil || !pr.ReadsRows() {
		return deny(apperr.Forbidden, "this role reads no personal records")
	}
	path := dept + "." + set + "." + field
	class := p.classes[path]
	if pr.Has(auth.DeptOfficer) && pr.Department == dept {
		return allow // a department sees all of its own data
	}
	switch class {
	case connectors.Unconditional:
		return allow
	case connectors.Conditional:
		if pu == nil {
			return deny(apperr.PurposeRequired, fmt.Sprintf("%s is shared on condition: state a purpose (X-Purpose) that allows it", path))
		}
		if len(usable(pr, pu)) == 0 {
			return deny(apperr.ForbiddenField, fmt.Sprintf("purpose %s is not open to your role", pu.Code))
		}
		for _, f := range pu.Fields {
			if matches(f, path) {
				return allow
			}
		}
		return deny(apperr.ForbiddenField, fmt.Sprintf("purpose %s does not cover %s", pu.Code, path))
	default: // not shared, or a field no mapping declares
		return deny(apperr.ForbiddenField, fmt.Sprintf("%s is not shared outside the department (不予共享)", path))
	}
}

// Identifier decides a Person identifier field (idNumber, phone): shown masked,
// unless the stated purpose unmasks it for the caller's role.
func (p *Policy) Identifier(pr *auth.Principal, pu *Purpose, field string) Decision {
	if pr == nil || !pr.ReadsRows() {
		return deny(apperr.Forbidden, "this role reads no personal records")
	}
	if pu != nil && len(usable(pr, pu)) > 0 && slices.Contains(pu.Unmask, field) {
		return allow
	}
	return mask
}
