package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/people"
)

// personNeeds is what the query asks of the persons a field returns beyond
// their own columns: their households, and departments' records.
type personNeeds struct {
	household bool
	depts     map[string]bool
	// identifiers and details say whether a plan writes the persons' ID
	// numbers or phones, and their ethnicity or relation (compilePerson
	// sets them; the executor's reads fetch everything).
	identifiers, details bool
}

// read is what a plan's page query fetches of the persons.
func (n personNeeds) read() people.Read {
	return people.Read{Identifiers: n.identifiers || len(n.depts) > 0, Details: n.details, Households: n.household}
}

// personNeedsAt reads the needs off the current field's selection: the
// persons' own fields, or those reached through a connection's nodes and
// edges.
func personNeedsAt(ctx context.Context) personNeeds {
	n := personNeeds{depts: map[string]bool{}}
	if !graphql.HasOperationContext(ctx) {
		return n
	}
	if fc := graphql.GetFieldContext(ctx); fc != nil {
		n.collect(graphql.GetOperationContext(ctx), fc.Field.Selections, 0)
	}
	return n
}

func (n *personNeeds) collect(oc *graphql.OperationContext, sels ast.SelectionSet, depth int) {
	if depth > 3 {
		return
	}
	for _, f := range graphql.CollectFields(oc, sels, []string{"Person", "PersonConnection", "PersonEdge"}) {
		if dept, ok := personSections[f.Name]; ok {
			n.depts[dept] = true
			continue
		}
		switch f.Name {
		case "household":
			n.household = true
		case "records":
			if dept, ok := f.ArgumentMap(oc.Variables)["department"].(string); ok {
				n.depts[dept] = true
			}
		case "nodes", "edges", "node", "person": // person: a link candidate's
			n.collect(oc, f.Selections, depth+1)
		}
	}
}

// present readies persons for the answer (needs is personNeedsAt the field
// returning them), in one pass for all of them: each
// noted in the operation's read log and shown under its masking, placed in
// its grid unit, given its household when the query asks for it (of, when
// they are its members; else those a page query joined, or one batched
// load), and their departments' records queued in one call per department.
func (r *Resolver) present(ctx context.Context, persons []*people.Person, of *people.Household, needs personNeeds) error {
	if len(persons) == 0 {
		return nil
	}
	r.operation(ctx).NotePersons(persons...)
	ix, err := r.Registry.Index(ctx)
	if err != nil {
		return err
	}
	units := map[string]*grid.Unit{}
	for _, p := range persons {
		u, ok := units[p.GridCode]
		if !ok {
			if v, found := ix.Get(p.GridCode); found {
				u = &v
			}
			units[p.GridCode] = u
		}
		p.Grid = u
	}
	if needs.household {
		var missing []string
		for _, p := range persons {
			switch {
			case p.Household != nil:
			case of != nil && of.ID == p.HouseholdID:
				p.Household = of
			default:
				missing = append(missing, p.HouseholdID)
			}
		}
		if len(missing) > 0 {
			hs, err := r.loaders(ctx).Households.LoadAll(ctx, missing)
			if err != nil {
				return err
			}
			byID := make(map[string]*people.Household, len(hs))
			for _, h := range hs {
				if h != nil {
					byID[h.ID] = h
				}
			}
			for _, p := range persons {
				if p.Household == nil {
					p.Household = byID[p.HouseholdID]
				}
			}
		}
	}
	r.prefetchSections(ctx, persons, needs.depts)
	return nil
}
