// Package factsync pulls each department's fact feed (the records changed since
// a watermark) into the hub's Postgres, incrementally, so that aggregates are
// computed there and never live against the departments.
//
// # What a sync does
//
// SyncDepartment reads the feed page by page from the department's stored
// watermark (from the beginning for a full sync) and applies the facts in
// batches, each in one transaction that also stores the watermark reached: the
// watermark never runs ahead of the facts, so a sync that fails or crashes
// midway resumes where the last committed batch ended, and a batch replayed
// after a crash is applied again harmlessly (facts are upserted by department,
// set, key and ID). A batch is deduplicated, blinded, encoded, located and
// sorted by key in Go while the previous one is written (the sort makes the
// index lookups and inserts walk the B-trees in order), copied into a
// temporary table with COPY, matched in one pass to the master index and to
// its stored rows (lookups by unique index only: during a department's first
// sync the statistics say it has no facts, and a plan built on that would be
// quadratic), then merged into facts with one INSERT ... ON CONFLICT and one
// DELETE (for facts marked Deleted); rows that did not change are not
// rewritten. Each department's facts are a partition of their own
// (PartitionName), created by its first sync.
//
// Each fact is placed in a responsibility grid as it is stored: the grid its
// record's lon/lat fall in, when it has them (a 城管 case is about a place),
// otherwise the grid of the person (by the blind index of the normalised ID
// number) or organisation (by credit code) it is about. A fact that links to
// no one (a missing or mistyped ID number) is kept with no grid and not counted
// by any indicator; Stats.Unlinked counts them.
//
// The grids whose facts changed are recorded (indicator_dirty) in the batch's
// transaction; when the sync ends, the Aggregator recomputes the per-grid
// aggregates of those grids and the data version is bumped, in one transaction.
// A crash between the two leaves the dirty grids for the next sync to drain.
//
// A full sync re-reads the whole feed and then removes the department's facts
// it did not see (each row carries the generation of the full sync that last
// wrote it). An interrupted full sync is resumed, still as a full one, by the
// next sync of the department.
//
// # The master index and the day
//
// Prepare runs before every sync: when the master index was reseeded since the
// facts were placed, it re-resolves every fact's grid and recomputes every
// aggregate; when the master index or the day changed, it recomputes the
// master-index aggregates (ages are taken on the day, in China Standard Time).
//
// # Freshness
//
// A department's data in the hub is as of its last completed sync
// (LastSync): whatever the department changed after that is not in the hub yet,
// so Lag = now - LastSync bounds how stale the hub's copy is. Feed watermarks are
// opaque, so the hub cannot tell the newest change time of the source itself.
//
// # Concurrency
//
// Several syncers (replicas) may run at once. Each batch transaction checks
// that the stored watermark is still the one the batch was read from, so two
// syncs of one department never interleave their pages: the slower one stops
// with ErrConcurrentSync. Recomputing aggregates takes an exclusive advisory
// lock that batch transactions share.
package factsync

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/grid"
)

// Core is the pseudo-department of the master index (persons, households):
// aggregates over it are recomputed when the index is reseeded or the day
// changes.
const Core = "core"

// Feeds gives the fact feed of each department.
type Feeds interface {
	// Departments lists the department codes to sync, in a fixed order.
	Departments() []string
	// Feed is dept's fact feed; ok is false when dept has none.
	Feed(dept string) (feed connectors.FactFeed, ok bool)
}

// FeedMap is Feeds over a map, for tests and the sync command.
type FeedMap map[string]connectors.FactFeed

// Departments implements Feeds: the codes in sorted order.
func (m FeedMap) Departments() []string {
	out := make([]string, 0, len(m))
	for d := range m {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Feed implements Feeds.
func (m FeedMap) Feed(dept string) (connectors.FactFeed, bool) {
	f, ok := m[dept]
	return f, ok && f != nil
}

// Aggregator keeps the per-grid aggregates of the facts (internal/indicators).
// It is called inside the transaction that makes its result visible.
type Aggregator interface {
	// Recompute replaces the aggregates over dept's facts in grids, or in
	// every grid when grids is nil.
	Recompute(ctx context.Context, tx pgx.Tx, dept string, grids []string) error
	// RecomputeCore replaces the aggregates over the master index, with ages
	// taken on day.
	RecomputeCore(ctx context.Context, tx pgx.Tx, day time.Time) error
	// Fingerprint identifies the aggregates' definitions: when it differs
	// from the one they were computed for, Prepare recomputes them all.
	Fingerprint() string
	// Names are the aggregates kept (indicator_cells names).
	Names() []string
}

// Registry gives the current grid index (a *grid.Registry), used to locate
// records that carry coordinates.
type Registry interface {
	Index(ctx context.Context) (*grid.Index, error)
}

// Blinder is the blind index of a normalised key (*secret.Keys).
type Blinder interface {
	Blind(id string) []byte
}

// Options tune a Syncer; the zero value is usable.
type Options struct {
	// PageSize is the limit asked of the feed per call (default 5000; a
	// connector may return fewer).
	PageSize int
	// BatchSize is how many facts are applied per transaction (default 50000):
	// small feed pages are gathered so that the per-transaction cost is paid
	// once per batch.
	BatchSize int
	// Parallel is how many departments SyncAll syncs at once (default 2).
	Parallel int
	// FullEvery makes SyncAll run a full sync of a department whose last full
	// sync is older than this; 0 never does (the first sync is full anyway).
	FullEvery time.Duration
	// Now is the clock (default time.Now): tests fix the day ages are taken on.
	Now func() time.Time
	// Logger receives one line per sync (default slog.Default()).
	Logger *slog.Logger
	// AfterSync, when set, is called after each sync of a department that
	// completed (the hub follows the cases of the events it reported).
	AfterSync func(ctx context.Context, dept string, st Stats)

	// Linker, when set, places the department's rows whose ID number is
	// missing or invalid after the feed is read and before the aggregates
	// are recomputed (internal/linkage). It runs on what is stored also when
	// the feed failed, so a department that cannot be reached keeps its
	// links.
	Linker Linker
	// Findings, when set, recomputes the findings that read the department
	// (internal/findings) in the transaction that ends its sync, after its
	// aggregates, also when the feed failed (over what is stored).
	Findings Findings
	// AfterRound, when set, runs at the end of every SyncAll, whatever its
	// departments' results: the hub refreshes what is derived from the
	// published indicators there (the bi schema, internal/bi). It runs on
	// the replica that synced, so on the leader for the periodic sync.
	AfterRound func(ctx context.Context)
}

// Findings are the cross-department checks as a sync runs them
// (*findings.Engine).
type Findings interface {
	// Refresh recomputes in tx the findings that read dept, when changed
	// says its facts or links may have changed (and in any case those whose
	// definition changed), and their counts, returning how many were opened
	// or closed.
	Refresh(ctx context.Context, tx pgx.Tx, dept string, changed bool) (int, error)
}

// Linker is record linkage as a sync runs it (*linkage.Linker).
type Linker interface {
	// Link decides the rows of dept whose ID number is missing or invalid,
	// moving their facts to their persons and marking the grids whose
	// counts change (indicator_dirty). changed says whether the sync
	// changed the department's facts (a full sync always may): when not,
	// the linker may keep the links it stored.
	Link(ctx context.Context, dept string, changed bool) error
}

func (o Options) withDefaults() Options {
	if o.PageSize <= 0 {
		o.PageSize = 5000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 50000
	}
	if o.Parallel <= 0 {
		o.Parallel = 2
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Syncer pulls fact feeds into Postgres. It is safe for concurrent use, and
// several Syncers (replicas) may share one database.
type Syncer struct {
	pool  *pgxpool.Pool
	blind Blinder
	feeds Feeds
	reg   Registry
	agg   Aggregator
	opts  Options

	// Syncs of one department in this process run one at a time; across
	// processes the watermark check in each batch keeps them apart.
	locks sync.Map // dept -> *sync.Mutex
}

// New returns a Syncer.
func New(pool *pgxpool.Pool, blind Blinder, feeds Feeds, reg Registry, agg Aggregator, opts Options) *Syncer {
	return &Syncer{pool: pool, blind: blind, feeds: feeds, reg: reg, agg: agg, opts: opts.withDefaults()}
}

// Stats tells what one sync of a department did.
type Stats struct {
	Department string
	Full       bool
	// Facts and Deleted count the feed's facts applied (after removing
	// repeats of one record within a batch); Changed counts the rows actually
	// inserted, updated or removed.
	Facts, Deleted, Changed int
	// Unlinked counts facts stored without a grid: they link to no person or
	// organisation of the master index and carry no location.
	Unlinked int
	// Swept counts facts a full sync removed because the feed no longer has them.
	Swept   int
	Pages   int
	Batches int
	// Grids is how many grids' aggregates were recomputed.
	Grids   int
	Elapsed time.Duration
}

// ErrNoFeed is returned for a department without a fact feed.
var ErrNoFeed = errors.New("factsync: department has no fact feed")

// ErrConcurrentSync is returned when another sync of the department moved its
// watermark meanwhile: that one carries on, this one stops.
var ErrConcurrentSync = errors.New("factsync: another sync of the department moved its watermark")

// LockKey is the advisory lock key shared by batch transactions, by the
// end of a sync (aggregates and findings) and by any other writer of facts,
// such as record linkage, and taken exclusively to re-resolve and recompute
// everything when the master index or the catalogue changes ("gridfact").
const LockKey = 0x6772696466616374

const lockKey = LockKey

// finishLockKey serialises the ends of syncs ("gridfini"): one department's
// aggregates and findings are recomputed at a time, while every other
// department's batches go on being applied.
const finishLockKey = 0x6772696466696e69

func (s *Syncer) deptLock(dept string) *sync.Mutex {
	m, _ := s.locks.LoadOrStore(dept, new(sync.Mutex))
	return m.(*sync.Mutex)
}

// SyncDepartment syncs one department: incrementally from its watermark, or,
// with full, from the beginning, removing afterwards the facts the feed no
// longer has.
func (s *Syncer) SyncDepartment(ctx context.Context, dept string, full bool) (Stats, error) {
	if err := s.Prepare(ctx); err != nil {
		return Stats{Department: dept}, err
	}
	return s.syncDepartment(ctx, dept, full)
}

// Result is one department's outcome in SyncAll.
type Result struct {
	Stats Stats
	Err   error
}

// SyncAll syncs every department of the feeds (Options.Parallel at a time),
// incrementally unless full (or unless Options.FullEvery has passed since a
// department's last full sync). One department's failure does not stop the
// others; its error is in its Result, and the returned error joins them all.
func (s *Syncer) SyncAll(ctx context.Context, full bool) (map[string]Result, error) {
	if err := s.Prepare(ctx); err != nil {
		return nil, err
	}
	fr, err := s.Freshness(ctx)
	if err != nil {
		return nil, err
	}
	fullOf := map[string]bool{}
	if !full && s.opts.FullEvery > 0 {
		for _, f := range fr {
			fullOf[f.Department] = f.LastFull.IsZero() || s.opts.Now().Sub(f.LastFull) >= s.opts.FullEvery
		}
	}
	// The largest departments first (as of their last sync): the round
	// lasts at least as long as the largest one's sync, so it should not
	// wait for a slot.
	slices.SortStableFunc(fr, func(a, b Freshness) int { return cmp.Compare(b.Facts, a.Facts) })
	depts := make([]string, len(fr))
	for i, f := range fr {
		depts[i] = f.Department
	}
	out := make(map[string]Result, len(depts))
	var mu sync.Mutex
	sem := make(chan struct{}, s.opts.Parallel)
	var wg sync.WaitGroup
	for _, d := range depts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			st, err := s.syncDepartment(ctx, d, full || fullOf[d])
			mu.Lock()
			out[d] = Result{Stats: st, Err: err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if s.opts.AfterRound != nil && ctx.Err() == nil {
		s.opts.AfterRound(ctx)
	}
	var errs []error
	for _, d := range depts {
		if err := out[d].Err; err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}

// Run syncs every department every interval until ctx ends, starting at once:
// the loop `gridhub serve` runs. Failures are logged and retried at the next
// tick; a department that is down does not hold up the others.
func (s *Syncer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		// Each department's failure is logged where it happens.
		if res, err := s.SyncAll(ctx, false); res == nil && err != nil && ctx.Err() == nil {
			s.opts.Logger.Warn("fact sync", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Syncer) syncDepartment(ctx context.Context, dept string, full bool) (Stats, error) {
	st, err := s.syncOnce(ctx, dept, full)
	if err == nil && s.opts.AfterSync != nil {
		s.opts.AfterSync(ctx, dept, st)
	}
	return st, err
}

func (s *Syncer) syncOnce(ctx context.Context, dept string, full bool) (Stats, error) {
	st := Stats{Department: dept}
	feed, ok := s.feeds.Feed(dept)
	if !ok {
		return st, fmt.Errorf("%w: %s", ErrNoFeed, dept)
	}
	mu := s.deptLock(dept)
	mu.Lock()
	defer mu.Unlock()

	start := time.Now()
	ix, err := s.reg.Index(ctx)
	if err != nil {
		return st, fmt.Errorf("factsync %s: grid index: %w", dept, err)
	}
	run, err := s.begin(ctx, dept, full)
	if err != nil {
		return st, err
	}
	st.Full = run.full
	err = s.pull(ctx, dept, feed, ix, run, &st)
	if s.opts.Linker != nil && ctx.Err() == nil {
		if lerr := s.opts.Linker.Link(ctx, dept, st.Changed > 0 || run.full); lerr != nil {
			err = errors.Join(err, fmt.Errorf("factsync %s: %w", dept, lerr))
		}
	}
	if ferr := s.finish(ctx, dept, run, err == nil, &st); ferr != nil {
		err = errors.Join(err, ferr)
	}
	st.Elapsed = time.Since(start)
	if errors.Is(err, ErrConcurrentSync) {
		s.opts.Logger.Info("fact sync: another sync of the department is under way", "department", dept)
		return st, err
	}
	if err != nil {
		s.recordError(dept, err)
		s.opts.Logger.Warn("fact sync failed", "department", dept, "full", st.Full, "facts", st.Facts,
			"batches", st.Batches, "elapsed", st.Elapsed.Round(time.Millisecond), "err", err)
		return st, err
	}
	level := slog.LevelDebug // an idle tick of Run
	if st.Full || st.Changed > 0 {
		level = slog.LevelInfo
	}
	s.opts.Logger.Log(ctx, level, "fact sync", "department", dept, "full", st.Full, "facts", st.Facts, "deleted", st.Deleted,
		"changed", st.Changed, "unlinked", st.Unlinked, "swept", st.Swept, "pages", st.Pages, "grids", st.Grids,
		"elapsed", st.Elapsed.Round(time.Millisecond))
	return st, nil
}

// run is the state of one sync at its start.
type run struct {
	watermark string
	gen       int64
	full      bool
	// sweep says whether a full sync may leave facts of an older generation
	// to remove: not when the department had none when it began.
	sweep bool
}

// begin reads (creating it when missing) the department's state and, for a
// full sync, starts a new generation from the beginning of the feed. A full
// sync that did not complete is resumed from its watermark, still full.
func (s *Syncer) begin(ctx context.Context, dept string, full bool) (run, error) {
	var r run
	if err := ensurePartition(ctx, s.pool, dept); err != nil {
		return r, fmt.Errorf("factsync %s: %w", dept, err)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO sync_state (department) VALUES ($1) ON CONFLICT DO NOTHING`, dept); err != nil {
			return err
		}
		var pending, any bool
		var lastFull *time.Time
		if err := tx.QueryRow(ctx, `SELECT watermark, gen, full_pending, last_full_at,
				EXISTS (SELECT 1 FROM facts WHERE department = $1)
			FROM sync_state WHERE department = $1 FOR UPDATE`, dept).
			Scan(&r.watermark, &r.gen, &pending, &lastFull, &any); err != nil {
			return err
		}
		// Never completed a full sync: this one reads everything anyway.
		if lastFull == nil && r.watermark == "" {
			full = true
		}
		switch {
		case pending:
			r.full, r.sweep = true, true
		case full:
			r.full, r.gen, r.watermark, r.sweep = true, r.gen+1, "", any
		}
		_, err := tx.Exec(ctx, `UPDATE sync_state SET watermark = $2, gen = $3, full_pending = $4, last_attempt_at = now() WHERE department = $1`,
			dept, r.watermark, r.gen, r.full)
		return err
	})
	if err != nil {
		return r, fmt.Errorf("factsync %s: start: %w", dept, err)
	}
	return r, nil
}

// batch is facts read from the feed from one watermark to the next, staged:
// deduplicated, keys blinded, records encoded and located.
type batch struct {
	since, until string
	facts        []connectors.Fact
	pages        int
	rows         [][]any
	counts       applied
}

// pull reads the feed and applies it batch by batch. Reading and staging the
// next batch overlaps with applying the current one.
func (s *Syncer) pull(ctx context.Context, dept string, feed connectors.FactFeed, ix *grid.Index, r run, st *Stats) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan batch, 1)
	readErr := make(chan error, 1)
	go func() {
		defer close(batches)
		readErr <- s.read(ctx, dept, feed, ix, r.watermark, batches)
	}()
	for b := range batches {
		n, err := s.apply(ctx, dept, r.gen, r.full, b)
		if err != nil {
			cancel()
			for range batches {
			}
			<-readErr
			return err
		}
		st.Facts += n.facts
		st.Deleted += n.deleted
		st.Changed += n.changed
		st.Unlinked += n.unlinked
		st.Pages += b.pages
		st.Batches++
	}
	return <-readErr
}

// read pulls pages from since and sends them, staged, in batches of about
// BatchSize.
func (s *Syncer) read(ctx context.Context, dept string, feed connectors.FactFeed, ix *grid.Index, since string, out chan<- batch) error {
	b := batch{since: since, until: since}
	for {
		page, err := feed.Facts(ctx, b.until, s.opts.PageSize)
		if err != nil {
			return fmt.Errorf("factsync %s: read feed after %q: %w", dept, b.until, err)
		}
		if page.More && page.Watermark == b.until && len(page.Facts) == 0 {
			return fmt.Errorf("factsync %s: feed returned an empty page with more to come at watermark %q", dept, b.until)
		}
		b.pages++
		b.facts = append(b.facts, page.Facts...)
		b.until = page.Watermark
		if len(b.facts) >= s.opts.BatchSize || !page.More {
			if len(b.facts) > 0 || b.until != b.since {
				var err error
				if b.rows, err = s.stageRows(ix, b.facts, &b.counts); err != nil {
					return fmt.Errorf("factsync %s: %w", dept, err)
				}
				b.facts = nil
				select {
				case out <- b:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			if !page.More {
				return nil
			}
			b = batch{since: b.until, until: b.until}
		}
	}
}

// recordError notes a failed sync in the department's state, on its own: the
// failing sync's transaction may be gone.
func (s *Syncer) recordError(dept string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg := err.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	if _, e := s.pool.Exec(ctx, `UPDATE sync_state SET last_error = $2 WHERE department = $1`, dept, msg); e != nil {
		s.opts.Logger.Warn("fact sync: record error", "department", dept, "err", e)
	}
}

// Freshness is how current the hub's copy of one department's facts is.
type Freshness struct {
	Department string
	// Synced says whether a sync of the department ever completed; when not,
	// LastSync is zero and Lag is meaningless.
	Synced bool
	// LastSync is when the last sync completed: the data is as of then.
	LastSync time.Time
	// Lag is now - LastSync: changes the department made since are not in
	// the hub yet.
	Lag time.Duration
	// LastAttempt is when the last sync started, successful or not.
	LastAttempt time.Time
	// LastFull is when the last full sync completed.
	LastFull time.Time
	// LastChange is when a sync last changed a stored fact.
	LastChange time.Time
	// Facts is how many facts of the department the hub holds.
	Facts int64
	// LastError is the last sync's error, "" when it succeeded.
	LastError string
	// Pending says whether a full sync is under way or was interrupted.
	Pending bool
}

// Freshness reports each department of the feeds, in their order, including
// those never synced.
func (s *Syncer) Freshness(ctx context.Context) ([]Freshness, error) {
	return ReadFreshness(ctx, s.pool, s.feeds.Departments(), s.opts.Now())
}

// ReadFreshness reads the sync state of depts (every synced department when
// depts is nil) as of now.
func ReadFreshness(ctx context.Context, q Querier, depts []string, now time.Time) ([]Freshness, error) {
	rows, _ := q.Query(ctx, `SELECT department, last_sync_at, last_attempt_at, last_full_at, last_change_at,
		rows, coalesce(last_error, ''), full_pending FROM sync_state ORDER BY department`)
	byDept := map[string]Freshness{}
	var all []string
	var (
		f                                    Freshness
		lastSync, attempt, lastFull, changed *time.Time
	)
	_, err := pgx.ForEachRow(rows, []any{&f.Department, &lastSync, &attempt, &lastFull, &changed, &f.Facts, &f.LastError, &f.Pending}, func() error {
		g := f
		if lastSync != nil {
			g.Synced, g.LastSync, g.Lag = true, *lastSync, max(now.Sub(*lastSync), 0)
		}
		g.LastAttempt, g.LastFull, g.LastChange = deref(attempt), deref(lastFull), deref(changed)
		byDept[g.Department] = g
		all = append(all, g.Department)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("factsync: read freshness: %w", err)
	}
	if depts == nil {
		depts = all
	}
	out := make([]Freshness, 0, len(depts))
	for _, d := range depts {
		if g, ok := byDept[d]; ok {
			out = append(out, g)
		} else {
			out = append(out, Freshness{Department: d})
		}
	}
	return out, nil
}

// Querier is what ReadFreshness reads with: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// PartitionName is the name of dept's partition of facts: facts_<code> for a
// code of lower-case letters, digits and underscores, with a hash of the code
// appended for any other.
func PartitionName(dept string) string {
	var b strings.Builder
	for _, r := range dept {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if name != dept || len(name) > 40 {
		sum := sha256.Sum256([]byte(dept))
		name = name[:min(len(name), 40)] + "_" + hex.EncodeToString(sum[:6])
	}
	return "facts_" + name
}

// ensurePartition creates dept's partition of facts unless it exists.
func ensurePartition(ctx context.Context, pool *pgxpool.Pool, dept string) error {
	name := PartitionName(dept)
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up partition: %w", err)
	}
	if exists {
		return nil
	}
	// The hub's role owns no table: a function of migration 00008 creates
	// the partition as the owner.
	if _, err := pool.Exec(ctx, `SELECT gridhub_fact_partition($1, $2)`, name, dept); err != nil {
		// Another syncer creating it at the same moment can make IF NOT
		// EXISTS fail: what matters is that it exists now.
		if e := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); e == nil && exists {
			return nil
		}
		return fmt.Errorf("create partition %s: %w", name, err)
	}
	return nil
}
