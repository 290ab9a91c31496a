package records

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/graph/model"
)

// RecordSets is the generic answer about an entity (Person.records,
// Organization.records): sets are the record sets asked for, in the order of
// the mapping file. A withheld value is null with an error at its path when
// the query selects it; what is shown is noted for the ledger.
func RecordSets(ctx context.Context, op *Operation, sec *Section, sets []*connectors.RecordSet) []*model.RecordSet {
	rules := op.deptRules(sec.Dept)
	aliases := genericAliases(ctx)
	src := sec.Source()
	out := make([]*model.RecordSet, 0, len(sets))
	for i, rs := range sets {
		recs := sec.records(rs.Name)
		m := &model.RecordSet{Department: sec.Dept.Code, Name: rs.Name, Label: rs.Label, Source: src,
			Records: make([]*model.Record, 0, len(recs))}
		setRules := rules[rs.Name]
		for j, rec := range recs {
			r := &model.Record{Fields: make([]*model.FieldValue, len(rs.Fields))}
			for k, f := range rs.Fields {
				fv := &model.FieldValue{Name: f.Name, Label: f.Label, Type: f.Type}
				r.Fields[k] = fv
				fr := setRules[f.Name]
				x, present := rec[f.Name]
				if !present {
					continue
				}
				if !fr.Allow {
					for _, p := range aliases.paths(i, j, k) {
						addError(ctx, p, fr, sec.Dept.Code)
					}
					continue
				}
				if s, ok := Text(x); ok {
					s = op.shown(fr, s)
					fv.Value = &s
				}
				if len(aliases.value) > 0 {
					op.NoteFields(fr.note)
				}
			}
			m.Records = append(m.Records, r)
		}
		out = append(out, m)
	}
	return out
}

// genericSelection is the response names under a records field that lead
// to FieldValue.value: records, then fields, then value (each may be asked
// for under several aliases).
type genericSelection struct {
	base                   ast.Path
	records, fields, value []string
}

func genericAliases(ctx context.Context) genericSelection {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || !graphql.HasOperationContext(ctx) {
		return genericSelection{}
	}
	oc := graphql.GetOperationContext(ctx)
	g := genericSelection{base: fc.Path()}
	for _, rf := range graphql.CollectFields(oc, fc.Field.Selections, []string{"RecordSet"}) {
		if rf.Name != "records" {
			continue
		}
		g.records = append(g.records, rf.Alias)
		for _, ff := range graphql.CollectFields(oc, rf.Selections, []string{"Record"}) {
			if ff.Name != "fields" {
				continue
			}
			g.fields = append(g.fields, ff.Alias)
			for _, vf := range graphql.CollectFields(oc, ff.Selections, []string{"FieldValue"}) {
				if vf.Name == "value" {
					g.value = append(g.value, vf.Alias)
				}
			}
		}
	}
	return g
}

// paths are the paths of the value of field k of record j of set i.
func (g genericSelection) paths(i, j, k int) []ast.Path {
	if len(g.value) == 0 {
		return nil
	}
	var out []ast.Path
	for _, ra := range g.records {
		for _, fa := range g.fields {
			for _, va := range g.value {
				p := append(slicesClip(g.base), ast.PathIndex(i), ast.PathName(ra), ast.PathIndex(j), ast.PathName(fa), ast.PathIndex(k), ast.PathName(va))
				out = append(out, p)
			}
		}
	}
	return out
}
