package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/people"
)

// personSections maps the Person fields that hold department sections to the
// departments behind them.
var personSections = map[string]string{
	"civilAffairs":   "civil_affairs",
	"health":         "health",
	"employment":     "employment",
	"socialSecurity": "social_security",
	"party":          "party_building",
	"urbanCases":     "urban_management",
}

// prefetchSections queues, in one go, every department read the persons of
// this field will need: each selected section's loader gets all the keys at
// once, so a page costs one connector call per department however the
// resolvers of its rows are scheduled. The rows' own section resolvers then
// find their answers in the loaders' caches.
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
	seen := map[string]bool{}
	for _, p := range persons {
		if !seen[p.IDNumber] {
			seen[p.IDNumber] = true
			keys = append(keys, p.IDNumber)
		}
	}
	loaders := r.loaders(ctx)
	for dept := range depts {
		if l, ok := loaders.Sections[sectionKey(dept, connectors.Person)]; ok {
			l.LoadAllThunk(ctx, keys) // queued now; the rows collect the results
		}
	}
}

// selectedSections collects the departments whose sections are selected on the
// persons reachable through sels: directly (a Person field), or through a
// connection's nodes and edges.
func selectedSections(oc *graphql.OperationContext, sels ast.SelectionSet, into map[string]bool, depth int) {
	if depth > 3 {
		return
	}
	for _, f := range graphql.CollectFields(oc, sels, []string{"Person", "PersonConnection", "PersonEdge"}) {
		if dept, ok := personSections[f.Name]; ok {
			into[dept] = true
			continue
		}
		if f.Name == "nodes" || f.Name == "edges" || f.Name == "node" {
			selectedSections(oc, f.Selections, into, depth+1)
		}
	}
}
