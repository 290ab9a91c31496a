package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/graph/generated/departments"
	"github.com/gridhub/gridhub/internal/people"
)

// personSections maps the Person fields that hold typed department sections
// to the departments behind them, from the generated descriptors.
var personSections = func() map[string]string {
	m := map[string]string{}
	for _, t := range departments.Sections {
		if t.Object == "Person" {
			m[t.Field] = t.Department
		}
	}
	return m
}()

// prefetchSections queues, in one go, every department read the persons of
// this field will need: each selected section's loader (a typed section, or
// Person.records of a department) gets all the keys at once, so a page costs
// one connector call per department however the resolvers of its rows are
// scheduled. The rows' own section resolvers then find their answers in the
// loaders' caches.
func (r *Resolver) prefetchSections(ctx context.Context, persons []*people.Person) {
	if r.Federation == nil || len(persons) == 0 || !graphql.HasOperationContext(ctx) {
		return
	}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return
	}
	depts := map[string]bool{}
	selectedSections(graphql.GetOperationContext(ctx), fc.Field.Selections, depts, 0)
	if len(depts) == 0 {
		return
	}
	keys := make([]string, 0, len(persons))
	seen := make(map[string]bool, len(persons))
	for _, p := range persons {
		if !seen[p.IDNumber] {
			seen[p.IDNumber] = true
			keys = append(keys, p.IDNumber)
		}
	}
	loaders := r.loaders(ctx)
	for code := range depts {
		d, ok := r.Federation.Dept(code)
		if !ok {
			continue
		}
		if l := loaders.section(r.Federation, d, connectors.Person); l != nil {
			l.LoadAllThunk(ctx, keys) // queued now; the rows collect the results
		}
	}
}

// selectedSections collects the departments whose records are selected on the
// persons reachable through sels: a typed section or records(department:) of
// a Person, directly or through a connection's nodes and edges.
func selectedSections(oc *graphql.OperationContext, sels ast.SelectionSet, into map[string]bool, depth int) {
	if depth > 3 {
		return
	}
	for _, f := range graphql.CollectFields(oc, sels, []string{"Person", "PersonConnection", "PersonEdge"}) {
		if dept, ok := personSections[f.Name]; ok {
			into[dept] = true
			continue
		}
		switch f.Name {
		case "records":
			if dept, ok := f.ArgumentMap(oc.Variables)["department"].(string); ok {
				into[dept] = true
			}
		case "nodes", "edges", "node":
			selectedSections(oc, f.Selections, into, depth+1)
		}
	}
}
