package graph

import (
	"context"
	"net/http"
	"time"

	"github.com/vikstrous/dataloadgen"
	"go.opentelemetry.io/otel"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/people"
)

// Loaders batch the lookups one request makes, so that a page of residents costs
// one query per kind of record, not one per row.
type Loaders struct {
	Persons    *dataloadgen.Loader[string, *people.Person]
	Households *dataloadgen.Loader[string, *people.Household]
	Members    *dataloadgen.Loader[string, []*people.Person]
	Buildings  *dataloadgen.Loader[string, *people.Building]
	// Sections has one loader per department and entity (sectionKey).
	Sections map[string]*dataloadgen.Loader[string, *Section]
}

// loaderWait is how long a loader gathers keys before it fetches: long enough for
// the resolvers of one page to queue their keys, short against a query's time.
const loaderWait = 2 * time.Millisecond

// NewLoaders returns fresh loaders for one request.
func NewLoaders(svc *people.Service, fed *federation.Federation) *Loaders {
	l := &Loaders{
		Persons:    dataloadgen.NewLoader(batch(svc.PersonsByID), dataloadgen.WithWait(loaderWait)),
		Households: dataloadgen.NewLoader(batch(svc.HouseholdsByID), dataloadgen.WithWait(loaderWait)),
		Members:    dataloadgen.NewLoader(batch(svc.MembersOf), dataloadgen.WithWait(loaderWait)),
		Buildings:  dataloadgen.NewLoader(batch(svc.BuildingsByID), dataloadgen.WithWait(loaderWait)),
		Sections:   map[string]*dataloadgen.Loader[string, *Section]{},
	}
	if fed == nil {
		return l
	}
	for _, d := range fed.Departments() {
		for _, entity := range []string{connectors.Person, connectors.Organization} {
			for _, rs := range d.Config.Records {
				if rs.Entity == entity {
					l.Sections[sectionKey(d.Config.Code, entity)] = dataloadgen.NewLoader(
						newSectionLoader(fed, d.Config.Code, entity),
						dataloadgen.WithWait(loaderWait), dataloadgen.WithTracer(tracer))
					break
				}
			}
		}
	}
	return l
}

// tracer gives each loader batch its span.
var tracer = otel.Tracer("github.com/gridhub/gridhub/graph")

// batch adapts a service's batched read to a loader's fetch: one error fails the batch.
func batch[V any](read func(context.Context, []string) ([]V, error)) func(context.Context, []string) ([]V, []error) {
	return func(ctx context.Context, keys []string) ([]V, []error) {
		vs, err := read(ctx, keys)
		if err != nil {
			return nil, []error{err}
		}
		return vs, nil
	}
}

type loadersKey struct{}

// WithLoaders is HTTP middleware that gives each request its own loaders.
func (r *Resolver) WithLoaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := context.WithValue(req.Context(), loadersKey{}, NewLoaders(r.Master, r.Federation))
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

// loaders returns the request's loaders; a call outside an HTTP request (a test
// driving the executor directly) gets fresh ones.
func (r *Resolver) loaders(ctx context.Context) *Loaders {
	if l, ok := ctx.Value(loadersKey{}).(*Loaders); ok {
		return l
	}
	return NewLoaders(r.Master, r.Federation)
}
