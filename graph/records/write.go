package records

import (
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/gqljson"
)

// A TypedPlan writes a typed section's answer straight from the
// department's records, for a query whose selection of the section the
// plan was compiled from: the bytes gqlgen's executor writes for the model
// the generated decoder makes (a View), under the same policy, with the
// same fields noted for the ledger. It is compiled once per operation
// (graph's planned queries keep it with the operation) and holds no
// decision: those are the Operation's, made per request.
type TypedPlan struct {
	t       *Typed
	field   graphql.CollectedField
	entries []typedEntry
}

// typedEntry is one response field of the section.
type typedEntry struct {
	key    []byte // "alias":
	kind   entryKind
	set    *TypedSet
	fields []valueEntry // a set's record fields, or the source's fields
}

// valueEntry is one response field of a record or of the source.
type valueEntry struct {
	key  []byte
	name string
	kind entryKind
}

type entryKind uint8

const (
	entryTypename entryKind = iota
	entrySource
	entrySet
	// Record and source values.
	valueString
	valueInt
	valueFloat
	valueBool
	valueDate
	valueTime
	valueLinkMethod
)

// CompileTyped compiles the selection of the typed section t at field (a
// field of the query whose type is t.Type); ok is false for a selection a
// plan does not write (a record's grid, located from its point, or a
// deferred fragment): gqlgen's executor answers those.
func CompileTyped(oc *graphql.OperationContext, field graphql.CollectedField, t *Typed) (*TypedPlan, bool) {
	p := &TypedPlan{t: t, field: field}
	for _, sf := range graphql.CollectFields(oc, field.Selections, []string{t.Type}) {
		if len(sf.Deferrables) > 0 {
			return nil, false
		}
		e := typedEntry{key: gqljson.Key(sf.Alias)}
		ok := true
		switch sf.Name {
		case "__typename":
			e.kind = entryTypename
		case "source":
			e.kind = entrySource
			e.fields, ok = compileValues(oc, sf.Selections, "SectionSource", func(f graphql.CollectedField) (entryKind, bool) {
				k, ok := sourceKinds[f.Name]
				return k, ok
			})
		default:
			for i := range t.Sets {
				if t.Sets[i].Field == sf.Name {
					e.set = &t.Sets[i]
				}
			}
			if e.set == nil {
				return nil, false
			}
			e.kind = entrySet
			e.fields, ok = compileValues(oc, sf.Selections, e.set.Type, func(f graphql.CollectedField) (entryKind, bool) {
				if f.Name == "__typename" {
					return entryTypename, true
				}
				typ := f.Definition.Type
				if typ.Elem != nil || typ.NonNull {
					return 0, false
				}
				k, ok := scalarKinds[typ.NamedType] // not a record's grid
				return k, ok
			})
		}
		if !ok {
			return nil, false
		}
		p.entries = append(p.entries, e)
	}
	return p, true
}

// sourceKinds are SectionSource's fields; scalarKinds the scalars of
// record fields.
var (
	sourceKinds = map[string]entryKind{"__typename": entryTypename, "department": valueString, "asOf": valueTime, "stale": valueBool, "linkedBy": valueLinkMethod}
	scalarKinds = map[string]entryKind{"String": valueString, "Int": valueInt, "Float": valueFloat, "Boolean": valueBool, "Date": valueDate}
)

// compileValues collects a selection of scalar fields on typ, each of the
// kind kindOf says; ok is false when a field has none.
func compileValues(oc *graphql.OperationContext, set ast.SelectionSet, typ string, kindOf func(graphql.CollectedField) (entryKind, bool)) ([]valueEntry, bool) {
	var out []valueEntry
	for _, f := range graphql.CollectFields(oc, set, []string{typ}) {
		if len(f.Deferrables) > 0 || f.Definition == nil || f.Definition.Type == nil {
			return nil, false
		}
		k, ok := kindOf(f)
		if !ok {
			return nil, false
		}
		out = append(out, valueEntry{key: gqljson.Key(f.Alias), name: f.Name, kind: k})
	}
	return out, true
}

// AppendTyped appends the answer of p's section for sec to b and notes what
// it shows, as NewView and the generated decoder would. ok is false when
// that answer carries an error (a withheld field asked of a record, a value
// gqlgen cannot write): the caller then has gqlgen's executor answer, which
// reports it; what was noted is what the executor notes too.
func (op *Operation) AppendTyped(b []byte, oc *graphql.OperationContext, p *TypedPlan, sec *Section) (_ []byte, ok bool) {
	rules := op.deptRules(sec.Dept)
	sel := op.typedSelection(oc, p.field, p.t, sec.Dept, rules)
	for _, s := range sel.sets {
		if len(sec.records(s.set)) == 0 {
			continue
		}
		if len(s.denied) > 0 {
			return b, false
		}
		op.NoteFields(s.notes...)
	}
	b = append(b, '{')
	for i, e := range p.entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.key...)
		switch e.kind {
		case entryTypename:
			b = gqljson.String(b, p.t.Type)
		case entrySource:
			if b, ok = appendSource(b, e.fields, sec); !ok {
				return b, false
			}
		case entrySet:
			recs := sec.Sets[e.set.Set]
			setRules := rules[e.set.Set]
			switch {
			case e.set.Many:
				b = append(b, '[')
				for j, rec := range recs {
					if j > 0 {
						b = append(b, ',')
					}
					if b, ok = op.appendRecord(b, e, setRules, rec); !ok {
						return b, false
					}
				}
				b = append(b, ']')
			case len(recs) == 0:
				b = gqljson.Null(b)
			default:
				if b, ok = op.appendRecord(b, e, setRules, recs[0]); !ok {
					return b, false
				}
			}
		}
	}
	return append(b, '}'), true
}

// appendSource writes the section's SectionSource.
func appendSource(b []byte, fields []valueEntry, sec *Section) (_ []byte, ok bool) {
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f.key...)
		switch f.kind {
		case entryTypename:
			b = gqljson.String(b, "SectionSource")
		case valueString:
			b = gqljson.String(b, sec.Dept.Code)
		case valueTime:
			if b, ok = gqljson.Time(b, sec.AsOf); !ok {
				return b, false // Time! null: an error
			}
		case valueBool:
			b = gqljson.Bool(b, sec.Stale)
		case valueLinkMethod:
			b = gqljson.String(b, string(sec.Source().LinkedBy))
		}
	}
	return append(b, '}'), true
}

// appendRecord writes one record of a set as the generated decoder reads it
// through a View: a value the caller may not see, or of another type than
// the field's, is null; text is shown as View.Str shows it.
func (op *Operation) appendRecord(b []byte, e typedEntry, setRules map[string]*rule, rec connectors.Record) (_ []byte, ok bool) {
	b = append(b, '{')
	for i, f := range e.fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f.key...)
		if f.kind == entryTypename {
			b = gqljson.String(b, e.set.Type)
			continue
		}
		r := setRules[f.name]
		var x any
		if r != nil && r.Allow {
			x = rec[f.name]
		}
		switch f.kind {
		case valueString:
			if s, isStr := x.(string); isStr {
				b = gqljson.String(b, op.shown(r, s))
				continue
			}
		case valueInt:
			if n, isInt := x.(int64); isInt {
				b = gqljson.Int(b, int64(int(n)))
				continue
			}
		case valueFloat:
			switch n := x.(type) {
			case float64:
				if b, ok = gqljson.Float(b, n); !ok {
					return b, false
				}
				continue
			case int64:
				if b, ok = gqljson.Float(b, float64(n)); !ok {
					return b, false
				}
				continue
			}
		case valueBool:
			if v, isBool := x.(bool); isBool {
				b = gqljson.Bool(b, v)
				continue
			}
		case valueDate:
			if t, isTime := x.(time.Time); isTime {
				b = gqljson.Date(b, t)
				continue
			}
		}
		b = gqljson.Null(b)
	}
	return append(b, '}'), true
}
