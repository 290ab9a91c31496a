package gridwork

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/report"
)

// Limits on what a patrol or a diary entry holds.
const (
	// MaxText bounds every free-text field.
	MaxText = 2000
	// MaxHouseholds bounds the households one diary entry names.
	MaxHouseholds = 50
	// Backdating is how far back a patrol or visit may be recorded.
	Backdating = 31 * 24 * time.Hour
	// clockSkew is how far in the future a time may lie (a phone's clock).
	clockSkew = 5 * time.Minute
	// MaxPage is the longest page of a listing.
	MaxPage = 200
)

// Service keeps the grid's daily work in the hub's Postgres.
type Service struct {
	pool *pgxpool.Pool
	conf func() *Config
	now  func() time.Time
	opts Options
	// inserter is an insert-only River client: it enqueues event
	// deliveries in the event's transaction.
	inserter *river.Client[pgx.Tx]
}

// Options configure a Service.
type Options struct {
	// MaxAttempts is how many times an event's delivery is tried before it
	// is FAILED (default report.DefaultMaxAttempts).
	MaxAttempts int
}

// NewService returns a Service over pool (migrated: its tables and River's),
// reading the configuration in force through conf on every call.
func NewService(pool *pgxpool.Pool, conf func() *Config, opts Options) (*Service, error) {
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = report.DefaultMaxAttempts
	}
	inserter, err := river.NewClient(riverpgxv5.New(pool), &river.Config{MaxAttempts: opts.MaxAttempts})
	if err != nil {
		return nil, fmt.Errorf("gridwork: job queue client: %w", err)
	}
	return &Service{pool: pool, conf: conf, now: time.Now, opts: opts, inserter: inserter}, nil
}

// SetClock replaces the clock (tests of periods and backdating).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Config is the gridwork configuration in force.
func (s *Service) Config() *Config { return s.conf() }

// Patrol is a recorded patrol of one grid.
type Patrol struct {
	ID        string
	GridCode  string
	Worker    string
	StartedAt time.Time
	EndedAt   *time.Time
	Note      *string
	CreatedAt time.Time
	// Replayed is set when the idempotency key was already stored.
	Replayed bool
}

// PatrolInput is a patrol to record.
type PatrolInput struct {
	Grid           string
	StartedAt      time.Time
	EndedAt        *time.Time
	Note           string
	IdempotencyKey string
}

// DiaryEntry is one 民情日记 entry.
type DiaryEntry struct {
	ID           string
	PatrolID     *string
	GridCode     string
	Worker       string
	VisitedAt    time.Time
	Households   []string
	Category     string
	Heard        string
	Help         *string
	FollowUp     bool
	FollowUpNote *string
	CreatedAt    time.Time
	Replayed     bool
}

// EntryInput is a diary entry to record.
type EntryInput struct {
	Grid           string
	Patrol         string // optional: the patrol the visit was part of
	VisitedAt      time.Time
	Households     []string
	Category       string
	Heard          string
	Help           string
	FollowUp       bool
	FollowUpNote   string
	IdempotencyKey string
}

// CheckKey checks an idempotency key: 8 to 128 printable ASCII characters.
func CheckKey(key string) error {
	if n := len(key); n < 8 || n > 128 {
		return apperr.BadInput("idempotencyKey", "length", "idempotencyKey must have 8 to 128 characters, got %d", n)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return apperr.BadInput("idempotencyKey", "charset", "idempotencyKey must be printable ASCII without spaces: character %d is not", i+1)
		}
	}
	return nil
}

// CheckGrid checks that code is a responsibility grid's 15-digit code.
func CheckGrid(field, code string) error {
	if len(code) != 15 || strings.Trim(code, "0123456789") != "" {
		return apperr.BadInput(field, "grid", "%s must be a responsibility grid's 15-digit code", field)
	}
	return nil
}

func checkText(field, v string, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return apperr.BadInput(field, "required", "%s is required", field)
	}
	if utf8.RuneCountInString(v) > MaxText {
		return apperr.BadInput(field, "max_length", "%s may hold at most %d characters", field, MaxText)
	}
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return apperr.BadInput(field, "charset", "%s is not valid text", field)
	}
	return nil
}

// checkWhen checks a recorded time: not in the future, not older than
// Backdating.
func (s *Service) checkWhen(field string, t time.Time) error {
	now := s.now()
	switch {
	case t.IsZero():
		return apperr.BadInput(field, "required", "%s is required", field)
	case t.After(now.Add(clockSkew)):
		return apperr.BadInput(field, "not_future", "%s lies in the future", field)
	case t.Before(now.Add(-Backdating)):
		return apperr.BadInput(field, "backdated", "%s lies more than %d days back", field, int(Backdating.Hours()/24))
	}
	return nil
}

func optional(v string) *string {
	if strings.TrimSpace(v) == "" {
		return nil
	}
	return &v
}

// RecordPatrol stores a patrol by worker of a grid the caller has checked is
// in the worker's scope. The same idempotency key again returns the stored
// patrol (Replayed) when it is the same patrol by the same worker, and is
// BAD_USER_INPUT (rule idempotency) otherwise.
func (s *Service) RecordPatrol(ctx context.Context, in PatrolInput, worker string) (*Patrol, error) {
	if err := CheckKey(in.IdempotencyKey); err != nil {
		return nil, err
	}
	if err := CheckGrid("grid", in.Grid); err != nil {
		return nil, err
	}
	if err := s.checkWhen("startedAt", in.StartedAt); err != nil {
		return nil, err
	}
	if in.EndedAt != nil {
		if in.EndedAt.Before(in.StartedAt) {
			return nil, apperr.BadInput("endedAt", "order", "endedAt lies before startedAt")
		}
		if err := s.checkWhen("endedAt", *in.EndedAt); err != nil {
			return nil, err
		}
	}
	if err := checkText("note", in.Note, false); err != nil {
		return nil, err
	}
	p := &Patrol{}
	err := s.pool.QueryRow(ctx, `INSERT INTO patrols (idempotency_key, grid_code, worker, started_at, ended_at, note)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (idempotency_key) DO NOTHING
		RETURNING `+patrolColumns, in.IdempotencyKey, in.Grid, worker, in.StartedAt, in.EndedAt, optional(in.Note)).
		Scan(patrolDest(p)...)
	if errors.Is(err, pgx.ErrNoRows) {
		// Stored before under this key: the same patrol, or a reused key.
		err = s.pool.QueryRow(ctx, `SELECT `+patrolColumns+` FROM patrols WHERE idempotency_key = $1`, in.IdempotencyKey).Scan(patrolDest(p)...)
		if err != nil {
			return nil, fmt.Errorf("gridwork: patrol by key: %w", err)
		}
		if p.Worker != worker || p.GridCode != in.Grid || !p.StartedAt.Equal(in.StartedAt.Truncate(time.Microsecond)) {
			return nil, apperr.BadInput("idempotencyKey", "idempotency", "idempotencyKey was already used for a different patrol: use a new key")
		}
		p.Replayed = true
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gridwork: store patrol: %w", err)
	}
	return p, nil
}

const patrolColumns = `id::text, grid_code, worker, started_at, ended_at, note, created_at`

func patrolDest(p *Patrol) []any {
	return []any{&p.ID, &p.GridCode, &p.Worker, &p.StartedAt, &p.EndedAt, &p.Note, &p.CreatedAt}
}

const entryColumns = `id::text, patrol_id::text, grid_code, worker, visited_at, household_ids::text[], category, heard, help,
	follow_up, follow_up_note, created_at`

func entryDest(e *DiaryEntry) []any {
	return []any{&e.ID, &e.PatrolID, &e.GridCode, &e.Worker, &e.VisitedAt, &e.Households, &e.Category, &e.Heard, &e.Help,
		&e.FollowUp, &e.FollowUpNote, &e.CreatedAt}
}

// RecordEntry stores a diary entry by worker in a grid the caller has
// checked is in the worker's scope. The category must be in the catalogue;
// every household named must be one of the grid's; a patrol named must be
// the same worker's in the same grid. Idempotent like RecordPatrol.
func (s *Service) RecordEntry(ctx context.Context, in EntryInput, worker string) (*DiaryEntry, error) {
	if err := CheckKey(in.IdempotencyKey); err != nil {
		return nil, err
	}
	if err := CheckGrid("grid", in.Grid); err != nil {
		return nil, err
	}
	if err := s.checkWhen("visitedAt", in.VisitedAt); err != nil {
		return nil, err
	}
	if s.conf().Diary.Category(in.Category) == nil {
		var codes []string
		for _, c := range s.conf().Diary.Categories {
			codes = append(codes, c.Code)
		}
		return nil, apperr.BadInput("category", "unknown", "category must be one of %s", strings.Join(codes, ", "))
	}
	for _, f := range []struct {
		name, v  string
		required bool
	}{{"heard", in.Heard, true}, {"help", in.Help, false}, {"followUpNote", in.FollowUpNote, false}} {
		if err := checkText(f.name, f.v, f.required); err != nil {
			return nil, err
		}
	}
	if len(in.Households) > MaxHouseholds {
		return nil, apperr.BadInput("households", "max_items", "an entry names at most %d households", MaxHouseholds)
	}
	households := make([]int64, 0, len(in.Households))
	for i, h := range in.Households {
		id, err := strconv.ParseInt(h, 10, 64)
		if err != nil || id <= 0 {
			return nil, apperr.BadInput(fmt.Sprintf("households[%d]", i), "format", "households[%d] is not a household id", i)
		}
		if !slices.Contains(households, id) {
			households = append(households, id)
		}
	}
	slices.Sort(households)
	var patrol *int64
	if in.Patrol != "" {
		id, err := strconv.ParseInt(in.Patrol, 10, 64)
		if err != nil || id <= 0 {
			return nil, apperr.BadInput("patrol", "format", "patrol is not a patrol id")
		}
		patrol = &id
	}

	e := &DiaryEntry{}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if len(households) > 0 {
			var inGrid []int64
			rows, _ := tx.Query(ctx, `SELECT id FROM households WHERE id = ANY($1) AND grid_code = $2`, households, in.Grid)
			inGrid, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return fmt.Errorf("gridwork: check households: %w", err)
			}
			for i, h := range in.Households {
				id, _ := strconv.ParseInt(h, 10, 64)
				if !slices.Contains(inGrid, id) {
					return apperr.BadInput(fmt.Sprintf("households[%d]", i), "grid", "households[%d] is not a household of grid %s", i, in.Grid)
				}
			}
		}
		if patrol != nil {
			var grid, by string
			err := tx.QueryRow(ctx, `SELECT grid_code, worker FROM patrols WHERE id = $1`, *patrol).Scan(&grid, &by)
			if errors.Is(err, pgx.ErrNoRows) || err == nil && by != worker {
				return apperr.BadInput("patrol", "unknown", "there is no patrol %d of yours", *patrol)
			}
			if err != nil {
				return fmt.Errorf("gridwork: check patrol: %w", err)
			}
			if grid != in.Grid {
				return apperr.BadInput("patrol", "grid", "patrol %d was in another grid", *patrol)
			}
		}
		return tx.QueryRow(ctx, `INSERT INTO diary_entries (idempotency_key, patrol_id, grid_code, worker, visited_at,
				household_ids, category, heard, help, follow_up, follow_up_note)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (idempotency_key) DO NOTHING
			RETURNING `+entryColumns,
			in.IdempotencyKey, patrol, in.Grid, worker, in.VisitedAt, households, in.Category, in.Heard,
			optional(in.Help), in.FollowUp, optional(in.FollowUpNote)).Scan(entryDest(e)...)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		err = s.pool.QueryRow(ctx, `SELECT `+entryColumns+` FROM diary_entries WHERE idempotency_key = $1`, in.IdempotencyKey).Scan(entryDest(e)...)
		if err != nil {
			return nil, fmt.Errorf("gridwork: diary entry by key: %w", err)
		}
		if e.Worker != worker || e.GridCode != in.Grid || e.Heard != in.Heard || e.Category != in.Category {
			return nil, apperr.BadInput("idempotencyKey", "idempotency", "idempotencyKey was already used for a different diary entry: use a new key")
		}
		e.Replayed = true
		return e, nil
	}
	if err != nil {
		if _, ok := apperr.As(err); ok {
			return nil, err
		}
		return nil, fmt.Errorf("gridwork: store diary entry: %w", err)
	}
	return e, nil
}

// Listing bounds a listing: the grid prefixes the caller may see, a time
// window, and a page.
type Listing struct {
	// Prefixes are grid code prefixes; a record lies under one of them.
	Prefixes []string
	From, To *time.Time
	// Category keeps diary entries of one category ("" for all).
	Category string
	First    int
	After    string
}

// Page is one page of a listing, newest first.
type Page[T any] struct {
	Items      []T
	Cursors    []string
	HasNext    bool
	TotalCount int
}

func encodeCursor(kind, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + ":" + id))
}

func decodeCursor(kind, cursor string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	rest, ok := strings.CutPrefix(string(raw), kind+":")
	id, perr := strconv.ParseInt(rest, 10, 64)
	if err != nil || !ok || perr != nil || id <= 0 {
		return 0, apperr.BadInput("after", "cursor", "after is not a cursor of this connection")
	}
	return id, nil
}

// listArgs builds the WHERE clause shared by the listings: $1 prefixes, $2
// from, $3 to, $4 the cursor's id (0: none), $5 the category.
func (l Listing) args(kind string) ([]any, error) {
	if l.First < 0 || l.First > MaxPage {
		return nil, apperr.BadInput("first", "range", "first must be between 0 and %d, got %d", MaxPage, l.First)
	}
	var after int64
	if l.After != "" {
		var err error
		if after, err = decodeCursor(kind, l.After); err != nil {
			return nil, err
		}
	}
	if l.From != nil && l.To != nil && l.To.Before(*l.From) {
		return nil, apperr.BadInput("to", "order", "to lies before from")
	}
	return []any{l.Prefixes, l.From, l.To, after, l.Category}, nil
}

const underPrefixes = `EXISTS (SELECT 1 FROM unnest($1::text[]) p WHERE grid_code >= p AND grid_code < p || '~')`

// Patrols lists the patrols under the listing's prefixes, newest first.
func (s *Service) Patrols(ctx context.Context, l Listing) (*Page[*Patrol], error) {
	args, err := l.args("patrol")
	if err != nil {
		return nil, err
	}
	where := underPrefixes + ` AND ($2::timestamptz IS NULL OR started_at >= $2) AND ($3::timestamptz IS NULL OR started_at < $3)`
	page := &Page[*Patrol]{}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM patrols WHERE `+where, args[:3]...).Scan(&page.TotalCount); err != nil {
		return nil, fmt.Errorf("gridwork: count patrols: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+patrolColumns+` FROM patrols WHERE `+where+`
		AND ($4 = 0 OR id < $4) ORDER BY id DESC LIMIT $5`, append(args[:4:4], l.First+1)...)
	if err != nil {
		return nil, fmt.Errorf("gridwork: list patrols: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*Patrol, error) {
		p := &Patrol{}
		return p, row.Scan(patrolDest(p)...)
	})
	if err != nil {
		return nil, fmt.Errorf("gridwork: list patrols: %w", err)
	}
	if len(list) > l.First {
		list, page.HasNext = list[:l.First], true
	}
	page.Items = list
	for _, p := range list {
		page.Cursors = append(page.Cursors, encodeCursor("patrol", p.ID))
	}
	return page, nil
}

// Entries lists the diary entries under the listing's prefixes, newest
// first.
func (s *Service) Entries(ctx context.Context, l Listing) (*Page[*DiaryEntry], error) {
	args, err := l.args("entry")
	if err != nil {
		return nil, err
	}
	where := underPrefixes + ` AND ($2::timestamptz IS NULL OR visited_at >= $2) AND ($3::timestamptz IS NULL OR visited_at < $3)
		AND ($4 = '' OR category = $4)`
	page := &Page[*DiaryEntry]{}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM diary_entries WHERE `+where, args[0], args[1], args[2], args[4]).Scan(&page.TotalCount); err != nil {
		return nil, fmt.Errorf("gridwork: count diary entries: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+entryColumns+` FROM diary_entries WHERE `+where+`
		AND ($5 = 0 OR id < $5) ORDER BY id DESC LIMIT $6`, args[0], args[1], args[2], args[4], args[3], l.First+1)
	if err != nil {
		return nil, fmt.Errorf("gridwork: list diary entries: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*DiaryEntry, error) {
		e := &DiaryEntry{}
		return e, row.Scan(entryDest(e)...)
	})
	if err != nil {
		return nil, fmt.Errorf("gridwork: list diary entries: %w", err)
	}
	if len(list) > l.First {
		list, page.HasNext = list[:l.First], true
	}
	page.Items = list
	for _, e := range list {
		page.Cursors = append(page.Cursors, encodeCursor("entry", e.ID))
	}
	return page, nil
}

// HouseholdHeads are the heads of the households diary entries name, as
// person ids: who an entry is about, for the access ledger.
func (s *Service) HouseholdHeads(ctx context.Context, entries []*DiaryEntry) ([]string, error) {
	var ids []int64
	for _, e := range entries {
		for _, h := range e.Households {
			if id, err := strconv.ParseInt(h, 10, 64); err == nil {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, _ := s.pool.Query(ctx, `SELECT DISTINCT head_id::text FROM households WHERE id = ANY($1) AND head_id IS NOT NULL ORDER BY 1`, ids)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("gridwork: household heads: %w", err)
	}
	return out, nil
}

// EntryAudit is the ledger entry of a diary read or write: the entries by id
// and the fields they hold, about the heads of the households they name.
func EntryAudit(action string, entries []*DiaryEntry, heads []string) audit.Entry {
	fields := []string{"DiaryEntry.heard", "DiaryEntry.help", "DiaryEntry.followUpNote", "DiaryEntry.households"}
	for _, e := range entries {
		fields = append(fields, "DiaryEntry:"+e.ID)
	}
	return audit.Entry{Action: action, Persons: heads, Fields: fields}
}
