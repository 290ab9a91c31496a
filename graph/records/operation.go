// Package records turns department records into GraphQL answers under the
// sharing policy, for the typed sections generated from the built-in mapping
// files (graph/generated/departments) and for the generic records path that
// serves any configured department.
//
// The policy is decided once per operation and department field, not per
// value: an Operation holds the caller, the stated purpose and the policy in
// force, and memoizes each field's decision and each section's selection.
// A field the caller may not see comes out null with an error at its path
// (PURPOSE_REQUIRED, FORBIDDEN_FIELD) and the rest of the answer stands; an
// identifier comes out masked as its class unless the purpose unmasks it,
// and a value that carries a resident ID or mobile number without its field
// declaring a class is masked all the same. The Operation also keeps what the
// operation read, for its access ledger entry.
package records

import (
	"context"
	"slices"
	"sync"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/people"
	"github.com/gridhub/gridhub/internal/policy"
)

// Operation is one GraphQL operation's policy and read log.
type Operation struct {
	Policy    *policy.Policy
	Principal *auth.Principal
	Purpose   *policy.Purpose
	// Masking is how the persons the operation reads show their identifiers.
	Masking *people.Masking

	mu      sync.Mutex
	rules   map[*connectors.Department]deptRules
	sels    map[selKey]*selection
	persons map[string]struct{}
	fields  map[string]struct{}
}

// rule is the decision on one department field for the operation.
type rule struct {
	policy.Decision
	// declared says the field declares an identifier class; a field that
	// does not is still scanned for an embedded identifier.
	declared bool
	// note is the field's name in the access ledger.
	note string
}

// deptRules are a department's rules by set and field.
type deptRules map[string]map[string]*rule

type selKey struct {
	field *ast.Field
	dept  *connectors.Department
}

// NewOperation starts an operation for a caller with a stated purpose (nil
// for none) under pol.
func NewOperation(pol *policy.Policy, pr *auth.Principal, pu *policy.Purpose) *Operation {
	op := &Operation{
		Policy: pol, Principal: pr, Purpose: pu,
		rules:   map[*connectors.Department]deptRules{},
		sels:    map[selKey]*selection{},
		persons: map[string]struct{}{},
		fields:  map[string]struct{}{},
	}
	op.Masking = people.MaskAll
	if pol != nil {
		m := &people.Masking{
			IDNumber: pol.Identifier(pr, pu, "idNumber").Mask,
			Phone:    pol.Identifier(pr, pu, "phone").Mask,
		}
		if *m != *people.MaskAll {
			op.Masking = m
		}
	}
	return op
}

type operationKey struct{}

// With stores op in ctx.
func With(ctx context.Context, op *Operation) context.Context {
	return context.WithValue(ctx, operationKey{}, op)
}

// From returns the operation of ctx, or nil outside one.
func From(ctx context.Context) *Operation {
	op, _ := ctx.Value(operationKey{}).(*Operation)
	return op
}

// Decide is the decision on one department field.
func (op *Operation) Decide(d *connectors.Department, set, field string) policy.Decision {
	if r := op.deptRules(d)[set][field]; r != nil {
		return r.Decision
	}
	return op.Policy.DepartmentField(op.Principal, op.Purpose, d.Code, set, field)
}

// deptRules decides every field of a department once per operation.
func (op *Operation) deptRules(d *connectors.Department) deptRules {
	op.mu.Lock()
	defer op.mu.Unlock()
	if rs, ok := op.rules[d]; ok {
		return rs
	}
	rs := deptRules{}
	for _, set := range d.Records {
		m := make(map[string]*rule, len(set.Fields))
		for _, f := range set.Fields {
			dec := op.Policy.DepartmentField(op.Principal, op.Purpose, d.Code, set.Name, f.Name)
			note := d.Code + "." + set.Name + "." + f.Name
			if dec.Mask != "" {
				note += ":masked"
			}
			m[f.Name] = &rule{Decision: dec, declared: f.Identifier != "", note: note}
		}
		rs[set.Name] = m
	}
	op.rules[d] = rs
	return rs
}

// unmasks tells whether the purpose shows identifiers of class c in clear.
func (op *Operation) unmasks(c ident.Class) bool {
	return op.Policy.Unmasks(op.Principal, op.Purpose, c)
}

// NotePersons records persons the operation read (their surrogate ids) and
// shows their identifiers as the operation may.
func (op *Operation) NotePersons(ps ...*people.Person) {
	op.mu.Lock()
	defer op.mu.Unlock()
	for _, p := range ps {
		if p == nil {
			continue
		}
		p.Masking = op.Masking
		op.persons[p.ID] = struct{}{}
	}
}

// NotePersonIDs records persons the operation read by surrogate id.
func (op *Operation) NotePersonIDs(ids ...string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	for _, id := range ids {
		op.persons[id] = struct{}{}
	}
}

// NoteFields records fields the operation returned, by their ledger names
// ("Person.name", "civil_affairs.dibao.amount").
func (op *Operation) NoteFields(names ...string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	for _, n := range names {
		op.fields[n] = struct{}{}
	}
}

// Read is what the operation read: persons (sorted surrogate ids) and fields
// (sorted ledger names).
func (op *Operation) Read() (persons, fields []string) {
	op.mu.Lock()
	defer op.mu.Unlock()
	for p := range op.persons {
		persons = append(persons, p)
	}
	for f := range op.fields {
		fields = append(fields, f)
	}
	slices.Sort(persons)
	slices.Sort(fields)
	return persons, fields
}

// Show is a department field's value, as text, the way the caller may see
// it: nil when withheld, masked as an identifier when it is one.
func (op *Operation) Show(d *connectors.Department, set, field, value string) *string {
	r := op.deptRules(d)[set][field]
	if r == nil || !r.Allow {
		return nil
	}
	s := op.shown(r, value)
	return &s
}

// ShowCore is a master-index identifier (a Person field: idNumber, phone),
// as text, the way the caller may see it.
func (op *Operation) ShowCore(personField, value string) *string {
	var c ident.Class
	switch personField {
	case "idNumber":
		c = op.Masking.IDNumber
	case "phone":
		c = op.Masking.Phone
	}
	if c != "" {
		value = c.Mask(value)
	}
	return &value
}
