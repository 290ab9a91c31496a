package federation

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gridhub/gridhub/connectors"
)

// Methods by which a department row reaches a person, from the most to the
// least certain (record linkage, internal/linkage). A section's linkedBy is
// the least certain method among its rows.
const (
	LinkedByID          = "ID"
	LinkedByCorrectedID = "CORRECTED_ID"
	LinkedByReviewed    = "REVIEWED"
	LinkedByMatch       = "MATCH"
)

var certainty = []string{LinkedByID, LinkedByCorrectedID, LinkedByReviewed, LinkedByMatch}

// weaker is the less certain of two methods.
func weaker(a, b string) string {
	if slices.Index(certainty, b) > slices.Index(certainty, a) {
		return b
	}
	return a
}

// LinkedRow is a department row that record linkage placed on a person whose
// ID number does not reach it (the row's number is missing or mistyped): the
// hub's synced copy of it.
type LinkedRow struct {
	Set    string
	Record connectors.Record
	Method string
	AsOf   time.Time
}

// Linked finds the rows record linkage placed on persons, by the persons'
// normalised ID numbers (*linkage.Rows), in every department: department ->
// key -> rows. Keys with none are absent.
type Linked interface {
	LinkedRows(ctx context.Context, keys []string) (map[string]map[string][]LinkedRow, error)
}

// WithLinkedMemo returns a context whose department reads share their reads
// of linked rows: a request that reads several departments about the same
// persons (a person's sections, a page's) asks Postgres once for all of
// them instead of once per department. The memo lives as long as ctx: one
// request.
func WithLinkedMemo(ctx context.Context) context.Context {
	return context.WithValue(ctx, linkedMemoKey{}, &linkedMemo{calls: map[string]*linkedCall{}})
}

type linkedMemoKey struct{}

type linkedMemo struct {
	mu    sync.Mutex
	calls map[string]*linkedCall // by the keys, joined
}

type linkedCall struct {
	once sync.Once
	rows map[string]map[string][]LinkedRow
	err  error
}

// linkedRows reads the linked rows of keys in every department, through the
// request's memo when ctx has one.
func (f *Federation) linkedRows(ctx context.Context, keys []string) (map[string]map[string][]LinkedRow, error) {
	m, ok := ctx.Value(linkedMemoKey{}).(*linkedMemo)
	if !ok {
		return f.linked.LinkedRows(ctx, keys)
	}
	id := strings.Join(keys, "\x00")
	m.mu.Lock()
	c, ok := m.calls[id]
	if !ok {
		c = &linkedCall{}
		m.calls[id] = c
	}
	m.mu.Unlock()
	c.once.Do(func() { c.rows, c.err = f.linked.LinkedRows(ctx, keys) })
	return c.rows, c.err
}

// addLinked adds to ans the rows linkage placed on req's keys, in the sets
// req asks for, after the department's own: a set that keeps one record per
// person shows the department's own first. Each key's LinkedBy is ID, or the
// least certain method of a linked row it shows. A failure to read the links
// leaves the answer as the department gave it.
func (f *Federation) addLinked(ctx context.Context, d *Dept, req connectors.ReadRequest, ans *Answer) {
	if ans == nil {
		return
	}
	if ans.LinkedBy == nil {
		ans.LinkedBy = make(map[string]string, len(req.Keys))
	}
	for _, k := range req.Keys {
		ans.LinkedBy[k] = LinkedByID
	}
	if f.linked == nil || req.Entity != connectors.Person {
		return
	}
	all, err := f.linkedRows(ctx, req.Keys)
	if err != nil {
		slog.WarnContext(ctx, "federation: linked rows", "department", d.Config.Code, "err", err)
		return
	}
	rows := all[d.Config.Code]
	if ans.Result == nil {
		ans.Result = connectors.Result{}
	}
	if ans.AsOf == nil {
		ans.AsOf = map[string]time.Time{}
	}
	for key, rs := range rows {
		for _, r := range rs {
			set, ok := d.Config.Set(r.Set)
			if !ok || set.Entity != req.Entity || req.Sets != nil && !slices.Contains(req.Sets, r.Set) {
				continue
			}
			// The rows may be shared with the request's other reads
			// (WithLinkedMemo): restore a copy.
			ans.Result.Add(key, r.Set, restore(set, maps.Clone(r.Record)))
			ans.LinkedBy[key] = weaker(ans.LinkedBy[key], r.Method)
			if _, ok := ans.AsOf[key]; !ok {
				ans.AsOf[key] = r.AsOf
			}
		}
	}
}
