package graph

import (
	"context"
	"time"

	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/gridwork"
	"github.com/gridhub/gridhub/internal/people"
)

// The grid's daily work is the grid staff's own: grid workers and community
// staff record it in their grids; they, street staff and admins read it
// under their row scope. Department officers, BI readers and auditors do
// not (auditors read the ledger of it).

// work is the daily-work service, or an error when the hub runs without it.
func (r *Resolver) work() (*gridwork.Service, error) {
	if r.Work == nil {
		return nil, &apperr.Error{Code: apperr.Forbidden, Message: "this hub keeps no daily work"}
	}
	return r.Work, nil
}

// gridRecorder is the caller when it may record the daily work of grid: a
// grid worker or community staff (or an admin) with the grid in scope. A
// grid out of scope answers as one that does not exist.
func (r *Resolver) gridRecorder(ctx context.Context, code string) (*auth.Principal, *grid.Unit, error) {
	pr, err := principal(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !pr.Has(auth.GridWorker) && !pr.Has(auth.CommunityAdmin) && !pr.Has(auth.Admin) {
		return nil, nil, &apperr.Error{Code: apperr.Forbidden, Message: "the daily work is recorded by grid workers and community staff"}
	}
	if err := gridwork.CheckGrid("grid", code); err != nil {
		return nil, nil, err
	}
	ix, err := r.Registry.Index(ctx)
	if err != nil {
		return nil, nil, err
	}
	u, ok := ix.Get(code)
	if !ok || u.Level != grid.Grid || !visible(pr, code) {
		return nil, nil, &apperr.Error{Code: apperr.NotFound, Field: "grid", Message: "no responsibility grid with this code in your scope"}
	}
	return pr, &u, nil
}

// workReader is the caller when it may read the daily work, with the grid
// prefixes of within it may see.
func workReader(ctx context.Context, within string) (*auth.Principal, []string, error) {
	pr, err := principal(ctx)
	if err != nil {
		return nil, nil, err
	}
	if !pr.Has(auth.GridWorker) && !pr.Has(auth.CommunityAdmin) && !pr.Has(auth.StreetAdmin) && !pr.Has(auth.Admin) {
		return nil, nil, &apperr.Error{Code: apperr.Forbidden, Message: "the daily work is read by grid, community and street staff"}
	}
	if err := people.CheckCode("within", within); err != nil {
		return nil, nil, err
	}
	return pr, scopedPrefixes(pr, within), nil
}

// listing turns a connection's arguments into a gridwork.Listing.
func listing(prefixes []string, from, to *time.Time, first *int, after *string) (gridwork.Listing, error) {
	l := gridwork.Listing{Prefixes: prefixes, From: from, To: to, First: people.DefaultPage}
	if first != nil {
		if *first < 0 || *first > gridwork.MaxPage {
			return l, apperr.BadInput("first", "range", "first must be between 0 and %d, got %d", gridwork.MaxPage, *first)
		}
		l.First = *first
	}
	if after != nil {
		l.After = *after
	}
	return l, nil
}

// record appends a ledger entry for a daily-work write or read, filled with
// what the request knows of the caller. Stored is stored: the entry is
// written even if the client hangs up.
func (r *Resolver) record(ctx context.Context, pr *auth.Principal, e audit.Entry) error {
	if r.Ledger == nil {
		return nil
	}
	e.Actor, e.Department, e.TraceID = pr.Subject, pr.Department, traceID(ctx)
	for _, role := range pr.Roles {
		e.Roles = append(e.Roles, string(role))
	}
	if pu := PurposeFrom(ctx); pu != nil {
		e.Purpose = pu.Code
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	_, err := r.Ledger.Append(actx, e)
	return err
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// catalogue answers a signed-in caller one of the daily work's configured
// lists (diary categories, event kinds, case stages) as pointers into it.
func catalogue[T any](r *Resolver, ctx context.Context, list func(*gridwork.Config) []T) ([]*T, error) {
	w, err := r.work()
	if err != nil {
		return nil, err
	}
	if _, err := principal(ctx); err != nil {
		return nil, err
	}
	items := list(w.Config())
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out, nil
}

// connectionOf lays a page out as a connection's parts: its nodes (never
// null), an edge per node with its cursor, and the page info.
func connectionOf[N, E any](p *gridwork.Page[N], edge func(cursor string, node N) E) ([]N, []E, *model.PageInfo) {
	nodes, edges := p.Items, make([]E, len(p.Items))
	if nodes == nil {
		nodes = []N{}
	}
	info := &model.PageInfo{HasNextPage: p.HasNext}
	for i, n := range p.Items {
		edges[i] = edge(p.Cursors[i], n)
		info.EndCursor = &p.Cursors[i]
	}
	return nodes, edges, info
}

func patrolConnection(p *gridwork.Page[*gridwork.Patrol]) *model.PatrolConnection {
	nodes, edges, info := connectionOf(p, func(c string, n *gridwork.Patrol) *model.PatrolEdge { return &model.PatrolEdge{Cursor: c, Node: n} })
	return &model.PatrolConnection{Nodes: nodes, Edges: edges, PageInfo: info, TotalCount: p.TotalCount}
}

func entryConnection(p *gridwork.Page[*gridwork.DiaryEntry]) *model.DiaryEntryConnection {
	c := &model.DiaryEntryConnection{Edges: []*model.DiaryEntryEdge{}, Nodes: p.Items, TotalCount: p.TotalCount,
		PageInfo: &model.PageInfo{HasNextPage: p.HasNext}}
	if c.Nodes == nil {
		c.Nodes = []*gridwork.DiaryEntry{}
	}
	for i, n := range p.Items {
		c.Edges = append(c.Edges, &model.DiaryEntryEdge{Cursor: p.Cursors[i], Node: n})
		c.PageInfo.EndCursor = &p.Cursors[i]
	}
	return c
}

// eventVisible says whether the caller may read an event: one of the roles
// that read the daily work, with its grid in scope or as its reporter.
func eventVisible(pr *auth.Principal, e *gridwork.Event) bool {
	if !pr.Has(auth.GridWorker) && !pr.Has(auth.CommunityAdmin) && !pr.Has(auth.StreetAdmin) && !pr.Has(auth.Admin) {
		return false
	}
	return visible(pr, e.GridCode) || e.Reporter == pr.Subject
}

// EventVisible is eventVisible for the photo route and the subscriptions.
func EventVisible(pr *auth.Principal, e *gridwork.Event) bool { return eventVisible(pr, e) }

func eventConnection(p *gridwork.Page[*gridwork.Event]) *model.GridEventConnection {
	c := &model.GridEventConnection{Edges: []*model.GridEventEdge{}, Nodes: p.Items, TotalCount: p.TotalCount,
		PageInfo: &model.PageInfo{HasNextPage: p.HasNext}}
	if c.Nodes == nil {
		c.Nodes = []*gridwork.Event{}
	}
	for i, n := range p.Items {
		c.Edges = append(c.Edges, &model.GridEventEdge{Cursor: p.Cursors[i], Node: n})
		c.PageInfo.EndCursor = &p.Cursors[i]
	}
	return c
}
