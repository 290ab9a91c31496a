package audit

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gridhub/gridhub/internal/apperr"
)

// The page sizes of Find.
const (
	// DefaultPageSize is used when Filter.First is 0.
	DefaultPageSize = 50
	// MaxPageSize caps Filter.First, so one query cannot pull the whole ledger.
	MaxPageSize = 500
)

// Filter selects entries for auditors. Empty fields do not filter; the set
// fields must all match.
type Filter struct {
	// Actor is an actor's subject, exactly.
	Actor string
	// Person is a person surrogate id: "who read this resident's record,
	// when and why". Callers resolve an ID number to the id first.
	Person string
	// From (inclusive) and To (exclusive) bound At.
	From, To time.Time
	// First is the page size: DefaultPageSize when 0, at most MaxPageSize.
	First int
	// After is the EndCursor of the previous page.
	After string
}

// Page is one page of entries, newest first.
type Page struct {
	Entries []Entry
	// HasNext reports that older entries match too.
	HasNext bool
	// EndCursor is the last entry's cursor (empty on an empty page): pass it
	// as Filter.After for the next page.
	EndCursor string
}

// Cursor is the opaque paging cursor of the entry with seq, for the edges of a
// connection. It names a position in the chain, so pages stay stable while
// entries are appended.
func Cursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("audit:" + strconv.FormatInt(seq, 10)))
}

func parseCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if s, ok := strings.CutPrefix(string(b), "audit:"); ok {
			if seq, err := strconv.ParseInt(s, 10, 64); err == nil && seq > 0 {
				return seq, nil
			}
		}
	}
	return 0, apperr.BadInput("after", "cursor", "after: not a cursor of the audit log")
}

// where builds the filter's conditions. Only the conditions in use are
// written, so that each combination gets a plan for its own index (actor,
// persons or at) rather than one generic plan for all.
func (f Filter) where(withCursor bool) (string, []any, error) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if f.Actor != "" {
		add("actor = $%d", f.Actor)
	}
	if f.Person != "" {
		if !isPersonID(f.Person) {
			return "", nil, apperr.BadInput("person", "person_id", "person: not a person id")
		}
		add("persons @> ARRAY[$%d::text]", f.Person)
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return "", nil, apperr.BadInput("from", "range", "from must be before to")
	}
	if !f.From.IsZero() {
		add("at >= $%d", f.From)
	}
	if !f.To.IsZero() {
		add("at < $%d", f.To)
	}
	if withCursor && f.After != "" {
		seq, err := parseCursor(f.After)
		if err != nil {
			return "", nil, err
		}
		add("seq < $%d", seq)
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

// Find returns the entries that match f, newest first, one page at a time.
// Invalid input (a bad cursor, page size or time range) is an apperr
// BAD_USER_INPUT error.
func (l *Ledger) Find(ctx context.Context, f Filter) (Page, error) {
	first := f.First
	switch {
	case first == 0:
		first = DefaultPageSize
	case first < 0 || first > MaxPageSize:
		return Page{}, apperr.BadInput("first", "range", "first must be between 1 and %d", MaxPageSize)
	}
	where, args, err := f.where(true)
	if err != nil {
		return Page{}, err
	}
	args = append(args, first+1) // one more tells whether a next page exists
	rows, err := l.pool.Query(ctx, `SELECT `+columns+` FROM audit_log`+where+
		fmt.Sprintf(` ORDER BY seq DESC LIMIT $%d`, len(args)), args...)
	if err != nil {
		return Page{}, fmt.Errorf("audit: find: %w", err)
	}
	defer rows.Close()
	var page Page
	for rows.Next() {
		var r rawRow
		if err := rows.Scan(r.dest()...); err != nil {
			return Page{}, fmt.Errorf("audit: find: %w", err)
		}
		if len(page.Entries) == first {
			page.HasNext = true
			break
		}
		e, _ := r.entry() // a tampered row is shown as it is; Verify is the judge
		page.Entries = append(page.Entries, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("audit: find: %w", err)
	}
	if n := len(page.Entries); n > 0 {
		page.EndCursor = Cursor(page.Entries[n-1].Seq)
	}
	return page, nil
}

// Count returns how many entries match f, all pages together (First and
// After are ignored): a connection's totalCount, asked for only when wanted
// since it reads every match.
func (l *Ledger) Count(ctx context.Context, f Filter) (int64, error) {
	where, args, err := f.where(false)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := l.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log`+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit: count: %w", err)
	}
	return n, nil
}
