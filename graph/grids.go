package graph

import (
	"context"
	"encoding/base64"
	"sort"
	"strings"

	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/people"
)

// unit looks a code up in the registry; a malformed code is BAD_USER_INPUT, and
// an unknown one or one the caller may not see is nil.
func (r *Resolver) unit(ctx context.Context, field, code string) (*grid.Unit, error) {
	if err := people.CheckCode(field, code); err != nil {
		return nil, err
	}
	pr, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	ix, err := r.Registry.Index(ctx)
	if err != nil {
		return nil, err
	}
	u, ok := ix.Get(code)
	if !ok || !pr.CoversUnit(code) {
		return nil, nil
	}
	return &u, nil
}

// locate finds the responsibility grid at a point, if the caller may see it.
func (r *Resolver) locate(ctx context.Context, lon, lat float64) (*grid.Unit, error) {
	pr, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	ix, err := r.Registry.Index(ctx)
	if err != nil {
		return nil, err
	}
	u, ok := ix.Locate(lon, lat)
	if !ok || !pr.CoversUnit(u.Code) {
		return nil, nil
	}
	return &u, nil
}

// gridPage cuts one page out of units sorted by code: the ones after the cursor,
// at most first of them.
func gridPage(units []grid.Unit, first *int, after *string) (*model.GridConnection, error) {
	limit, err := people.PageSize(first)
	if err != nil {
		return nil, err
	}
	start := 0
	if after != nil {
		code, err := decodeGridCursor(*after)
		if err != nil {
			return nil, err
		}
		start = sort.Search(len(units), func(i int) bool { return units[i].Code > code })
	}
	end := min(start+limit, len(units))
	conn := &model.GridConnection{
		Edges:      make([]*model.GridEdge, 0, end-start),
		Nodes:      make([]*grid.Unit, 0, end-start),
		PageInfo:   &model.PageInfo{HasNextPage: end < len(units)},
		TotalCount: len(units),
	}
	for i := start; i < end; i++ {
		u := &units[i]
		cursor := encodeGridCursor(u.Code)
		conn.Edges = append(conn.Edges, &model.GridEdge{Cursor: cursor, Node: u})
		conn.Nodes = append(conn.Nodes, u)
		conn.PageInfo.EndCursor = &cursor
	}
	return conn, nil
}

// under keeps the units whose code lies under prefix (all of them for "").
func under(units []grid.Unit, prefix string) []grid.Unit {
	if prefix == "" {
		return units
	}
	lo := sort.Search(len(units), func(i int) bool { return units[i].Code >= prefix })
	hi := lo
	for hi < len(units) && strings.HasPrefix(units[hi].Code, prefix) {
		hi++
	}
	return units[lo:hi]
}

func encodeGridCursor(code string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("g:" + code))
}

func decodeGridCursor(cursor string) (string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	code, ok := strings.CutPrefix(string(raw), "g:")
	if err != nil || !ok || people.CheckCode("after", code) != nil {
		return "", apperr.BadInput("after", "cursor", "after is not a cursor of this connection")
	}
	return code, nil
}
