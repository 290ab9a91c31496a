package graph

import (
	"context"

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

// prefetchSections queues, in one go, every department read the persons
// will need (depts, from personNeedsAt): each loader gets all the keys at
// once, so a page costs one connector call per department however the
// resolvers of its rows are scheduled. The rows' own section resolvers then
// find their answers in the loaders' caches.
func (r *Resolver) prefetchSections(ctx context.Context, persons []*people.Person, depts map[string]bool) {
	if r.Federation == nil || len(persons) == 0 || len(depts) == 0 {
		return
	}
	keys := personKeys(persons)
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

// personKeys are the persons' ID numbers, each once: the key departments
// know a person by.
func personKeys(persons []*people.Person) []string {
	keys := make([]string, 0, len(persons))
	seen := make(map[string]bool, len(persons))
	for _, p := range persons {
		if !seen[p.IDNumber] {
			seen[p.IDNumber] = true
			keys = append(keys, p.IDNumber)
		}
	}
	return keys
}
