package graph

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gridhub/gridhub/internal/indicators"
)

// encodeIndicators writes the data of an operation whose only root field is
// indicators (root), the table t, following the operation's selections
// (aliases, fragments, @skip and @include, __typename) and writing every
// value with the schema's own marshalers, so the bytes are those gqlgen
// would write, without its field-by-field machinery: a city's table is some
// 35,000 cells, and written by gqlgen it costs a quarter to half a second.
// ok is false for a selection it does not know; the operation then runs as
// usual.
func encodeIndicators(ctx context.Context, oc *graphql.OperationContext, root graphql.CollectedField, t *indicators.Table) (data json.RawMessage, ok bool) {
	e := &tableEncoder{ctx: ctx, oc: oc}
	e.buf.Grow(64 * (len(t.Rows) + 1) * (len(t.Names) + 1))
	e.buf.WriteByte('{')
	e.key(root.Alias, true)
	e.table(root.Selections, t)
	e.buf.WriteByte('}')
	if e.failed {
		return nil, false
	}
	return e.buf.Bytes(), true
}

type tableEncoder struct {
	ctx    context.Context
	oc     *graphql.OperationContext
	buf    bytes.Buffer
	failed bool
	// fields keeps the collected fields of each selection set of the
	// document, by its first selection: every row has the same selections.
	fields map[*ast.Selection][]graphql.CollectedField
}

// collect is graphql.CollectFields for an object of type typ, once per
// selection set.
func (e *tableEncoder) collect(sel ast.SelectionSet, typ string) []graphql.CollectedField {
	if len(sel) == 0 {
		return nil
	}
	if e.fields == nil {
		e.fields = map[*ast.Selection][]graphql.CollectedField{}
	}
	if fs, ok := e.fields[&sel[0]]; ok {
		return fs
	}
	fs := graphql.CollectFields(e.oc, sel, []string{typ})
	e.fields[&sel[0]] = fs
	return fs
}

func (e *tableEncoder) key(k string, first bool) {
	if !first {
		e.buf.WriteByte(',')
	}
	e.marshal(graphql.MarshalString(k))
	e.buf.WriteByte(':')
}

func (e *tableEncoder) marshal(m graphql.Marshaler) { m.MarshalGQL(&e.buf) }

func (e *tableEncoder) str(s string) { e.marshal(graphql.MarshalString(s)) }

// object writes an object of type typ: each collected field through field,
// which reports false for a field it does not know.
func (e *tableEncoder) object(sel ast.SelectionSet, typ string, field func(name string, sel ast.SelectionSet) bool) {
	if e.failed {
		return // the answer is the executor's: nothing more to write
	}
	e.buf.WriteByte('{')
	for i, f := range e.collect(sel, typ) {
		e.key(f.Alias, i == 0)
		if f.Name == "__typename" {
			e.str(typ)
			continue
		}
		if !field(f.Name, f.Selections) {
			e.failed = true
			return
		}
	}
	e.buf.WriteByte('}')
}

// list writes a list of n items, each by item.
func (e *tableEncoder) list(n int, item func(i int)) {
	e.buf.WriteByte('[')
	for i := range n {
		if i > 0 {
			e.buf.WriteByte(',')
		}
		item(i)
	}
	e.buf.WriteByte(']')
}

func (e *tableEncoder) table(sel ast.SelectionSet, t *indicators.Table) {
	e.object(sel, "IndicatorTable", func(name string, sel ast.SelectionSet) bool {
		switch name {
		case "level":
			e.str(t.Level.String())
		case "within":
			if t.Within == "" {
				e.marshal(graphql.Null)
			} else {
				e.marshal(graphql.MarshalID(t.Within))
			}
		case "names":
			e.list(len(t.Names), func(i int) { e.str(t.Names[i]) })
		case "rows":
			e.list(len(t.Rows), func(i int) { e.row(sel, &t.Rows[i]) })
		case "totals":
			e.cells(sel, t.Totals)
		case "asOf":
			e.list(len(t.AsOf), func(i int) { e.asOf(sel, t.AsOf[i]) })
		default:
			return false
		}
		return true
	})
}

func (e *tableEncoder) row(sel ast.SelectionSet, r *indicators.Row) {
	e.object(sel, "IndicatorRow", func(name string, sel ast.SelectionSet) bool {
		switch name {
		case "unit":
			e.object(sel, "IndicatorUnit", func(name string, _ ast.SelectionSet) bool {
				switch name {
				case "code":
					e.marshal(graphql.MarshalID(r.Unit.Code))
				case "name":
					e.str(r.Unit.Name)
				case "level":
					e.str(r.Unit.Level.String())
				default:
					return false
				}
				return true
			})
		case "values":
			e.cells(sel, r.Values)
		default:
			return false
		}
		return true
	})
}

func (e *tableEncoder) cells(sel ast.SelectionSet, cells []indicators.Cell) {
	e.list(len(cells), func(i int) {
		c := &cells[i]
		e.object(sel, "IndicatorValue", func(name string, _ ast.SelectionSet) bool {
			switch name {
			case "name":
				e.str(c.Name)
			case "value":
				if c.Value == nil {
					e.marshal(graphql.Null)
				} else if err := graphql.MarshalFloatContext(*c.Value).MarshalGQLContext(e.ctx, &e.buf); err != nil {
					return false // not a finite number: gqlgen reports it
				}
			case "suppressed":
				e.marshal(graphql.MarshalBoolean(c.Suppressed))
			default:
				return false
			}
			return true
		})
	})
}

func (e *tableEncoder) asOf(sel ast.SelectionSet, a indicators.AsOf) {
	e.object(sel, "DepartmentAsOf", func(name string, _ ast.SelectionSet) bool {
		switch name {
		case "department":
			e.str(a.Department)
		case "at":
			if a.At == nil {
				e.marshal(graphql.Null)
			} else {
				e.marshal(graphql.MarshalTime(*a.At))
			}
		default:
			return false
		}
		return true
	})
}
