package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/federation"
)

// Section is what one department holds about one entity, as a loader returns it.
type Section struct {
	Sets  map[string][]connectors.Record
	AsOf  time.Time
	Stale bool
	// Unavailable is set when the department could not be read; Sets then holds
	// the recent copy, if the hub has one (Stale), and is nil otherwise.
	Unavailable error
}

// sectionKey names a loader: one per department and entity.
func sectionKey(dept, entity string) string { return dept + "/" + entity }

// newSectionLoader batches one department's reads of one entity: every section
// resolver of a request queues its key, and one connector call answers them all.
func newSectionLoader(fed *federation.Federation, dept, entity string) func(context.Context, []string) ([]*Section, []error) {
	return func(ctx context.Context, keys []string) ([]*Section, []error) {
		ans, err := fed.Read(ctx, dept, connectors.ReadRequest{Entity: entity, Keys: keys})
		out := make([]*Section, len(keys))
		for i, k := range keys {
			s := &Section{Unavailable: err}
			if ans != nil {
				s.Stale = ans.Stale
				if at, ok := ans.AsOf[k]; ok {
					s.AsOf = at
					s.Sets = ans.Result[k]
					if s.Sets == nil {
						s.Sets = map[string][]connectors.Record{}
					}
				}
			}
			out[i] = s
		}
		return out, nil
	}
}

// section loads a department's section for one entity key and decodes it into
// out, a generated model whose JSON names are the record sets' names. It
// reports false when there is nothing to show: the department is unknown, or
// unavailable with no recent copy; an unavailable department also adds a
// DEPARTMENT_UNAVAILABLE error for this field, and the rest of the answer stands.
func (r *Resolver) section(ctx context.Context, dept, entity, key string, out any) (bool, error) {
	d, ok := r.Federation.Dept(dept)
	if !ok {
		graphql.AddError(ctx, &apperr.Error{Code: apperr.DepartmentUnavailable, Department: dept,
			Message: fmt.Sprintf("department %s is not configured on this hub", dept)})
		return false, nil
	}
	l, ok := r.loaders(ctx).Sections[sectionKey(dept, entity)]
	if !ok {
		return false, nil // the department keeps nothing about this entity
	}
	s, err := l.Load(ctx, key)
	if err != nil {
		return false, err
	}
	if s.Unavailable != nil {
		graphql.AddError(ctx, s.Unavailable)
	}
	if s.Sets == nil {
		return false, nil
	}
	doc := map[string]any{
		"source": map[string]any{"department": dept, "asOf": s.AsOf, "stale": s.Stale},
	}
	for _, rs := range d.Config.Records {
		if rs.Entity != entity {
			continue
		}
		recs := s.Sets[rs.Name]
		switch {
		case rs.Many && recs == nil:
			doc[rs.Name] = []connectors.Record{}
		case rs.Many:
			doc[rs.Name] = recs
		case len(recs) > 0:
			doc[rs.Name] = recs[len(recs)-1]
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return false, fmt.Errorf("section %s: encode: %w", dept, err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return false, fmt.Errorf("section %s: decode into schema: %w", dept, err)
	}
	return true, nil
}
