package graph

import (
	"context"
	"net/http"
	"slices"
	"sync"
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

	mu sync.Mutex
	// sections has one loader per department and entity, made on first use.
	sections map[sectionKey]*dataloadgen.Loader[string, *loaded]
}

type sectionKey struct {
	dept   *federation.Dept
	entity string
}

// section is the loader of a department's records about an entity, nil when
// the department keeps none.
func (l *Loaders) section(fed *federation.Federation, d *federation.Dept, entity string) *dataloadgen.Loader[string, *loaded] {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := sectionKey{d, entity}
	if ld, ok := l.sections[k]; ok {
		return ld
	}
	var ld *dataloadgen.Loader[string, *loaded]
	if slices.ContainsFunc(d.Config.Records, func(rs connectors.RecordSet) bool { return rs.Entity == entity }) {
		// No loader tracer: it opens two spans per key (a page's six
		// sections made 1,200 a request); the connector.read span of the
		// one batched call is the one worth having.
		ld = dataloadgen.NewLoader(newSectionLoader(fed, d, entity), dataloadgen.WithWait(loaderWait))
	}
	if l.sections == nil {
		l.sections = map[sectionKey]*dataloadgen.Loader[string, *loaded]{}
	}
	l.sections[k] = ld
	return ld
}

// loaderWait is how long a loader gathers keys before it fetches: long enough for
// the resolvers of one page to queue their keys, short against a query's time.
const loaderWait = 2 * time.Millisecond

// NewLoaders returns fresh loaders for one request.
func NewLoaders(svc *people.Service) *Loaders {
	return &Loaders{
		Persons:    dataloadgen.NewLoader(batch(svc.PersonsByID), dataloadgen.WithWait(loaderWait)),
		Households: dataloadgen.NewLoader(batch(svc.HouseholdsByID), dataloadgen.WithWait(loaderWait)),
		Members:    dataloadgen.NewLoader(batch(svc.MembersOf), dataloadgen.WithWait(loaderWait)),
		Buildings:  dataloadgen.NewLoader(batch(svc.BuildingsByID), dataloadgen.WithWait(loaderWait)),
	}
}

// tracer gives each operation its span (tracing.go).
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
		ctx := context.WithValue(federation.WithLinkedMemo(req.Context()), loadersKey{}, NewLoaders(r.Master))
		next.ServeHTTP(w, req.WithContext(ctx))
	})
}

// loaders returns the request's loaders; a call outside an HTTP request (a test
// driving the executor directly) gets fresh ones.
func (r *Resolver) loaders(ctx context.Context) *Loaders {
	if l, ok := ctx.Value(loadersKey{}).(*Loaders); ok {
		return l
	}
	return NewLoaders(r.Master)
}
