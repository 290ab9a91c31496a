package graph

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/graph/records"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/grid"
)

// loaded is a department's answer about one key, as a loader returns it.
type loaded struct {
	section *records.Section
	// unavailable is set when the department could not be read; section
	// then holds the recent copy, if the hub has one (Stale), and is nil
	// otherwise.
	unavailable error
}

// newSectionLoader batches one department's reads of one entity: every section
// resolver of a request queues its key, and one connector call answers them all.
func newSectionLoader(fed *federation.Federation, dept *federation.Dept, entity string) func(context.Context, []string) ([]*loaded, []error) {
	return func(ctx context.Context, keys []string) ([]*loaded, []error) {
		ans, err := fed.Read(ctx, dept.Config.Code, connectors.ReadRequest{Entity: entity, Keys: keys})
		out := make([]*loaded, len(keys))
		for i, k := range keys {
			l := &loaded{unavailable: err}
			if ans != nil {
				if at, ok := ans.AsOf[k]; ok {
					l.section = &records.Section{Dept: dept.Config, Entity: entity, Sets: ans.Result[k], AsOf: at, Stale: ans.Stale,
						LinkedBy: ans.LinkedBy[k]}
				}
			}
			out[i] = l
		}
		return out, nil
	}
}

// section loads a department's section for one entity key. It returns nil
// when there is nothing to show: the department is not configured, keeps
// nothing about the entity, or is unavailable with no recent copy; an
// unavailable department also adds a DEPARTMENT_UNAVAILABLE error for this
// field, and the rest of the answer stands.
func (r *Resolver) section(ctx context.Context, dept, entity, key string) (*records.Section, error) {
	if r.Federation == nil {
		return nil, nil
	}
	d, ok := r.Federation.Dept(dept)
	if !ok {
		graphql.AddError(ctx, &apperr.Error{Code: apperr.DepartmentUnavailable, Department: dept,
			Message: fmt.Sprintf("department %s is not configured on this hub", dept)})
		return nil, nil
	}
	l := r.loaders(ctx).section(r.Federation, d, entity)
	if l == nil {
		return nil, nil // the department keeps nothing about this entity
	}
	got, err := l.Load(ctx, key)
	if err != nil {
		return nil, err
	}
	if got.unavailable != nil {
		graphql.AddError(ctx, got.unavailable)
	}
	return got.section, nil
}

// typedSection resolves a generated typed section (Person.civilAffairs, ...)
// for the entity with key: the records under the operation's policy, decoded
// by the generated decoder.
func typedSection[T any](ctx context.Context, r *Resolver, key string, t *records.Typed, decode func(*records.View) *T) (*T, error) {
	sec, err := r.section(ctx, t.Department, t.Entity, key)
	if sec == nil {
		return nil, err
	}
	return decode(records.NewView(ctx, r.operation(ctx), t, sec)), nil
}

// recordSets resolves Person.records and Organization.records: any
// configured department's record sets about the entity with key.
func (r *Resolver) recordSets(ctx context.Context, entity, key, dept string, sets []string) ([]*model.RecordSet, error) {
	if r.Federation == nil {
		return nil, &apperr.Error{Code: apperr.DepartmentUnavailable, Department: dept, Message: "this hub federates no departments"}
	}
	d, ok := r.Federation.Dept(dept)
	if !ok || !r.operation(ctx).Policy.Configures(dept) {
		return nil, apperr.BadInput("department", "department", "no department %q is configured (configured: %s)", dept, strings.Join(r.Federation.Codes(), ", "))
	}
	var want []*connectors.RecordSet
	for i := range d.Config.Records {
		rs := &d.Config.Records[i]
		if rs.Entity == entity && (sets == nil || slices.Contains(sets, rs.Name)) {
			want = append(want, rs)
		}
	}
	for _, s := range sets {
		if !slices.ContainsFunc(want, func(rs *connectors.RecordSet) bool { return rs.Name == s }) {
			return nil, apperr.BadInput("sets", "set", "department %s has no %s record set %q", dept, entity, s)
		}
	}
	if len(want) == 0 {
		return []*model.RecordSet{}, nil
	}
	sec, err := r.section(ctx, dept, entity, key)
	if sec == nil {
		return nil, err
	}
	return records.RecordSets(ctx, r.operation(ctx), sec, want), nil
}

// locatePoint is the grid a record's point falls in (UrbanCase.grid), or
// nil without a point or outside the city.
func (r *Resolver) locatePoint(ctx context.Context, lon, lat *float64) (*grid.Unit, error) {
	if lon == nil || lat == nil {
		return nil, nil
	}
	return r.locate(ctx, *lon, *lat)
}
