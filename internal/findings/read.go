package findings

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/internal/apperr"
)

// Finding is one stored finding.
type Finding struct {
	ID   int64
	Kind string
	Key  string
	// Grid is the grid it is counted in ("" when it locates nowhere).
	Grid string
	// PersonID is the resident it is about (0 for none).
	PersonID   int64
	Department string
	Set        string
	FactID     string
	Detail     map[string]any
	OpenedAt   time.Time
	SeenAt     time.Time
	ClosedAt   *time.Time
}

// Filter selects open findings.
type Filter struct {
	// Kinds are the kinds listed; none lists nothing.
	Kinds []string
	// Prefixes are the grid code prefixes a finding's grid must start with;
	// nil for no limit, in which case findings that locate nowhere are
	// listed too.
	Prefixes []string
}

// Page is one page of findings, oldest first.
type Page struct {
	Findings    []Finding
	Cursors     []string
	HasNextPage bool
	Total       int
}

// Reader reads the stored findings.
type Reader struct {
	pool *pgxpool.Pool
}

// NewReader returns a reader over the hub's database.
func NewReader(pool *pgxpool.Pool) *Reader { return &Reader{pool: pool} }

const columns = `id, kind, key, coalesce(grid_code, ''), coalesce(person_id, 0), coalesce(department, ''), coalesce(set, ''),
	coalesce(fact_id, ''), detail, opened_at, seen_at, closed_at`

func scan(row pgx.CollectableRow) (Finding, error) {
	var f Finding
	var detail []byte
	err := row.Scan(&f.ID, &f.Kind, &f.Key, &f.Grid, &f.PersonID, &f.Department, &f.Set, &f.FactID, &detail, &f.OpenedAt, &f.SeenAt, &f.ClosedAt)
	if err == nil && len(detail) > 0 {
		err = json.Unmarshal(detail, &f.Detail)
	}
	return f, err
}

// List reads a page of the open findings f selects, in the order they were
// first seen; after is a cursor of an earlier page ("" for the first).
func (r *Reader) List(ctx context.Context, f Filter, first int, after string) (*Page, error) {
	if first <= 0 || first > 500 {
		return nil, apperr.BadInput("first", "range", "first must be between 1 and 500, got %d", first)
	}
	var from int64
	if after != "" {
		n, err := strconv.ParseInt(after, 10, 64)
		if err != nil || n < 0 {
			return nil, apperr.BadInput("after", "cursor", "not a cursor of this list: %q", after)
		}
		from = n
	}
	if len(f.Kinds) == 0 || f.Prefixes != nil && len(f.Prefixes) == 0 {
		return &Page{}, nil
	}
	var prefixes any
	if f.Prefixes != nil {
		prefixes = f.Prefixes
	}
	const where = `closed_at IS NULL AND kind = ANY($1)
		AND ($2::text[] IS NULL OR EXISTS (SELECT 1 FROM unnest($2::text[]) p WHERE grid_code LIKE p || '%'))`
	p := &Page{}
	if err := r.pool.QueryRow(ctx, `SELECT count(*) FROM findings WHERE `+where, f.Kinds, prefixes).Scan(&p.Total); err != nil {
		return nil, fmt.Errorf("findings: count: %w", err)
	}
	rows, _ := r.pool.Query(ctx, `SELECT `+columns+` FROM findings WHERE `+where+` AND id > $3 ORDER BY id LIMIT $4`,
		f.Kinds, prefixes, from, first+1)
	list, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("findings: list: %w", err)
	}
	if len(list) > first {
		list, p.HasNextPage = list[:first], true
	}
	p.Findings = list
	for _, x := range list {
		p.Cursors = append(p.Cursors, strconv.FormatInt(x.ID, 10))
	}
	return p, nil
}

// Get reads one finding, open or closed; nil when there is none.
func (r *Reader) Get(ctx context.Context, id int64) (*Finding, error) {
	rows, _ := r.pool.Query(ctx, `SELECT `+columns+` FROM findings WHERE id = $1`, id)
	f, err := pgx.CollectExactlyOneRow(rows, scan)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("findings: read %d: %w", id, err)
	}
	return &f, nil
}
