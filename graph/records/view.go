package records

import (
	"context"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/ident"
)

// Section is what one department holds about one entity, as its connector
// (or the hub's recent copy of its answer) gave it.
type Section struct {
	Dept   *connectors.Department
	Entity string
	// Sets holds the records by record set name.
	Sets  map[string][]connectors.Record
	AsOf  time.Time
	Stale bool
	// LinkedBy is how the least certain of its records reached the entity
	// (federation.LinkedBy*); "" means ID.
	LinkedBy string
}

// Source is the section's provenance.
func (s *Section) Source() *model.SectionSource {
	by := model.LinkMethodID
	if s.LinkedBy != "" {
		by = model.LinkMethod(s.LinkedBy)
	}
	return &model.SectionSource{Department: s.Dept.Code, AsOf: s.AsOf, Stale: s.Stale, LinkedBy: by}
}

// records lists a set's records as the answer shows them: all of them for a
// set that keeps many, the first for one that keeps one per entity.
func (s *Section) records(set string) []connectors.Record {
	recs := s.Sets[set]
	if rs, ok := s.Dept.Set(set); ok && !rs.Many && len(recs) > 1 {
		return recs[:1]
	}
	return recs
}

// Typed describes a typed section of the generated schema: the department
// and entity behind it, its GraphQL type, and its set fields.
type Typed struct {
	Department string
	Entity     string
	// Object and Field are where the section hangs: Person.civilAffairs.
	Object, Field string
	Type          string
	Sets          []TypedSet
}

// TypedSet is one set field of a typed section.
type TypedSet struct {
	// Field is the set's field in the section, Set the record set behind
	// it, Type its record type.
	Field, Set, Type string
	Many             bool
}

// View is a section on its way into a typed answer: the generated decoder
// reads each value through it, and it applies the operation's decisions.
type View struct {
	sec   *Section
	op    *Operation
	rules deptRules
}

// NewView prepares sec for the typed section t at the field being resolved:
// it reports the withheld fields the query selected (an error at each
// value's path) and notes what is shown in the operation's ledger entry.
func NewView(ctx context.Context, op *Operation, t *Typed, sec *Section) *View {
	v := &View{sec: sec, op: op, rules: op.deptRules(sec.Dept)}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return v
	}
	sel := op.typedSelection(graphql.GetOperationContext(ctx), fc.Field, t, sec.Dept, v.rules)
	var path ast.Path
	for _, s := range sel.sets {
		recs := sec.records(s.set)
		if len(recs) == 0 {
			continue
		}
		op.NoteFields(s.notes...)
		if len(s.denied) == 0 {
			continue
		}
		if path == nil {
			path = fc.Path()
		}
		for i := range recs {
			at := append(slicesClip(path), ast.PathName(s.alias))
			if s.many {
				at = append(at, ast.PathIndex(i))
			}
			for _, d := range s.denied {
				addError(ctx, append(slicesClip(at), ast.PathName(d.alias)), d.rule, sec.Dept.Code)
			}
		}
	}
	return v
}

func slicesClip(p ast.Path) ast.Path { return p[:len(p):len(p)] }

// addError reports a withheld value at path.
func addError(ctx context.Context, path ast.Path, r *rule, dept string) {
	graphql.AddError(ctx, gqlerror.WrapPath(path, &apperr.Error{Code: r.Code, Message: r.Why, Department: dept}))
}

// selection is what a section field selects: per set field (by response
// name), the record set, the withheld fields asked for and the ledger names
// of those shown.
type selection struct {
	sets []selSet
}

type selSet struct {
	alias, set string
	many       bool
	denied     []deniedField
	notes      []string
}

type deniedField struct {
	alias string
	rule  *rule
}

// typedSelection works out, once per operation and field of the query, what
// a typed section's selection asks for.
func (op *Operation) typedSelection(oc *graphql.OperationContext, field graphql.CollectedField, t *Typed, d *connectors.Department, rules deptRules) *selection {
	key := selKey{field.Field, d}
	op.mu.Lock()
	sel, ok := op.sels[key]
	op.mu.Unlock()
	if ok {
		return sel
	}
	sel = &selection{}
	for _, sf := range graphql.CollectFields(oc, field.Selections, []string{t.Type}) {
		var ts *TypedSet
		for i := range t.Sets {
			if t.Sets[i].Field == sf.Name {
				ts = &t.Sets[i]
			}
		}
		if ts == nil {
			continue // source, __typename
		}
		s := selSet{alias: sf.Alias, set: ts.Set, many: ts.Many}
		setRules := rules[ts.Set]
		for _, f := range graphql.CollectFields(oc, sf.Selections, []string{ts.Type}) {
			r := setRules[f.Name]
			if r == nil {
				if f.Name == "__typename" || f.Name == "grid" {
					continue // the hub's own: located from lon/lat
				}
				r = &rule{Decision: op.Policy.DepartmentField(op.Principal, op.Purpose, d.Code, ts.Set, f.Name)}
			}
			if !r.Allow {
				s.denied = append(s.denied, deniedField{alias: f.Alias, rule: r})
				continue
			}
			s.notes = append(s.notes, r.note)
		}
		sel.sets = append(sel.sets, s)
	}
	op.mu.Lock()
	op.sels[key] = sel
	op.mu.Unlock()
	return sel
}

// Source is the section's provenance.
func (v *View) Source() *model.SectionSource { return v.sec.Source() }

// One is the record of a set that keeps one per entity.
func (v *View) One(set string) (connectors.Record, bool) {
	recs := v.sec.Sets[set]
	if len(recs) == 0 {
		return nil, false
	}
	return recs[0], true
}

// Many is the records of a set that keeps many.
func (v *View) Many(set string) []connectors.Record { return v.sec.Sets[set] }

// value is a field's value when the caller may see it.
func (v *View) value(set string, rec connectors.Record, field string) (any, *rule) {
	r := v.rules[set][field]
	if r == nil || !r.Allow {
		return nil, nil
	}
	x, ok := rec[field]
	if !ok {
		return nil, nil
	}
	return x, r
}

// Str is a string or enum field.
func (v *View) Str(set string, rec connectors.Record, field string) *string {
	x, r := v.value(set, rec, field)
	s, ok := x.(string)
	if !ok {
		return nil
	}
	s = v.op.shown(r, s)
	return &s
}

// shown is a text value as the caller may see it: masked as its declared
// class, or as the class of an identifier found in it.
func (op *Operation) shown(r *rule, s string) string {
	switch {
	case r.Mask != "":
		return r.Mask.Mask(s)
	case r.declared:
		return s
	}
	if c, ok := ident.Embedded(s); ok && !op.unmasks(c) {
		return c.Mask(s)
	}
	return s
}

// Int is an int field.
func (v *View) Int(set string, rec connectors.Record, field string) *int {
	x, _ := v.value(set, rec, field)
	n, ok := x.(int64)
	if !ok {
		return nil
	}
	i := int(n)
	return &i
}

// Float is a decimal field.
func (v *View) Float(set string, rec connectors.Record, field string) *float64 {
	x, _ := v.value(set, rec, field)
	switch n := x.(type) {
	case float64:
		return &n
	case int64:
		f := float64(n)
		return &f
	}
	return nil
}

// Bool is a bool field.
func (v *View) Bool(set string, rec connectors.Record, field string) *bool {
	x, _ := v.value(set, rec, field)
	b, ok := x.(bool)
	if !ok {
		return nil
	}
	return &b
}

// Date is a date field.
func (v *View) Date(set string, rec connectors.Record, field string) *time.Time {
	x, _ := v.value(set, rec, field)
	t, ok := x.(time.Time)
	if !ok {
		return nil
	}
	return &t
}

// Text writes a record value as text, the form of FieldValue.value: dates
// YYYY-MM-DD, numbers as written, bools true/false.
func Text(x any) (string, bool) {
	switch v := x.(type) {
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	case time.Time:
		return v.Format(time.DateOnly), true
	}
	return "", false
}
