package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Querier is what a read-only service queries: a pool, or a Reader choosing
// between the primary and a replica.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

var (
	_ Querier = (*pgxpool.Pool)(nil)
	_ Querier = (*Reader)(nil)
)

// Reader sends reads that may be a moment behind the primary to a Postgres
// streaming replica (GRIDHUB_DATABASE_REPLICA_URL), while the replica keeps
// within MaxLag of the primary, and to the primary otherwise: when the
// replica falls behind, cannot be reached, or was promoted.
//
// Which reads may go there is the caller's decision, made once per service:
// the master index's person, household, building and organisation reads do
// (they are written only by a seed and by a report's corrections of a phone or
// a residence, and a page read a second after a correction may show the value
// before it), and anything that must see its own writes does not: a report's
// subject, draft and submission right after it is submitted, the access
// ledger and its verification, the fact sync's state, River's jobs. Those
// services are given the primary's pool.
//
// # How far behind
//
// Every CheckInterval the Reader reads the primary's WAL position
// (pg_current_wal_lsn) and the replica's replayed one
// (pg_last_wal_replay_lsn). The replica holds everything committed on the
// primary before the newest primary reading whose position it has replayed,
// so its lag is at most the time since that reading was taken. That bound
// holds whether the primary is busy or idle, unlike the age of the last
// replayed transaction.
type Reader struct {
	primary, replica *pgxpool.Pool
	opts             ReaderOptions

	useReplica atomic.Bool
	lagGauge   prometheus.Gauge
	inUse      prometheus.Gauge

	mu      sync.Mutex
	samples []walSample // primary readings, oldest first, within the window
	lag     time.Duration

	stop chan struct{}
	done chan struct{}
}

// walSample is the primary's WAL position at a time.
type walSample struct {
	at  time.Time
	lsn uint64
}

// ReaderOptions tune a Reader; the zero value is usable.
type ReaderOptions struct {
	// MaxLag is how far behind the primary the replica may be and still be
	// read (default DefaultMaxReplicaLag).
	MaxLag time.Duration
	// CheckInterval is how often the lag is measured (default 1s).
	CheckInterval time.Duration
	// Metrics, when set, gets gridhub_database_replica_lag_seconds and
	// gridhub_database_replica_in_use.
	Metrics prometheus.Registerer
	// Logger receives a line when reads move between the replica and the
	// primary (default slog.Default()).
	Logger *slog.Logger
}

// DefaultMaxReplicaLag is ReaderOptions.MaxLag's default
// (GRIDHUB_DATABASE_REPLICA_MAX_LAG).
const DefaultMaxReplicaLag = 5 * time.Second

// OpenReader opens a pool on the replica at replicaURL ("" for none: every
// read then goes to primary) and starts measuring its lag. Until a
// measurement finds it within MaxLag, reads go to the primary; a replica
// that cannot be reached is not an error, only a reason to read the
// primary. Close the Reader before the primary's pool.
func OpenReader(ctx context.Context, primary *pgxpool.Pool, replicaURL string, opts ReaderOptions) (*Reader, error) {
	if opts.MaxLag <= 0 {
		opts.MaxLag = DefaultMaxReplicaLag
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &Reader{primary: primary, opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	if replicaURL == "" {
		close(r.done)
		return r, nil
	}
	// Not pinged: a replica that is down when the hub starts only sends
	// the reads to the primary until it is back.
	replica, err := newPool(replicaURL)
	if err != nil {
		return nil, fmt.Errorf("store: replica: %w", err)
	}
	r.replica = replica
	r.lagGauge = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gridhub_database_replica_lag_seconds",
		Help: "How far the streaming replica is behind the primary, at most (the time since the newest primary WAL position it has replayed was read).",
	})
	r.inUse = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gridhub_database_replica_in_use",
		Help: "1 while master-index reads go to the streaming replica, 0 while they go to the primary.",
	})
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(r.lagGauge, r.inUse)
	}
	r.check(ctx)
	go r.run()
	return r, nil
}

// Query implements Querier on the pool in use.
func (r *Reader) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return r.pool().Query(ctx, sql, args...)
}

// QueryRow implements Querier on the pool in use.
func (r *Reader) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return r.pool().QueryRow(ctx, sql, args...)
}

// OnReplica reports whether reads go to the replica now.
func (r *Reader) OnReplica() bool { return r.useReplica.Load() }

// Lag is the replica's lag at the last measurement (0 without a replica).
func (r *Reader) Lag() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lag
}

func (r *Reader) pool() *pgxpool.Pool {
	if r.useReplica.Load() {
		return r.replica
	}
	return r.primary
}

// Close stops measuring and closes the replica's pool.
func (r *Reader) Close() {
	if r.replica == nil {
		return
	}
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
	r.useReplica.Store(false)
	r.replica.Close()
}

func (r *Reader) run() {
	defer close(r.done)
	t := time.NewTicker(r.opts.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), r.opts.CheckInterval+2*time.Second)
			r.check(ctx)
			cancel()
		}
	}
}

// check measures the lag and decides where reads go.
func (r *Reader) check(ctx context.Context) {
	lag, err := r.measure(ctx)
	use := err == nil && lag <= r.opts.MaxLag
	if was := r.useReplica.Swap(use); was != use {
		if use {
			r.opts.Logger.Info("master-index reads go to the streaming replica", "lag", lag.Round(time.Millisecond))
		} else {
			r.opts.Logger.Warn("master-index reads go to the primary: the replica is behind or unreachable",
				"lag", lag.Round(time.Millisecond), "max_lag", r.opts.MaxLag, "err", err)
		}
	}
	r.lagGauge.Set(lag.Seconds())
	if use {
		r.inUse.Set(1)
	} else {
		r.inUse.Set(0)
	}
}

// errNotStandby is a replica URL naming a server that is not replaying a
// primary's WAL (a promoted replica, or the primary itself).
var errNotStandby = errors.New("store: the replica is not a standby (pg_last_wal_replay_lsn is null)")

// measure takes a primary reading, then the replica's replayed position, and
// returns the replica's lag bound.
func (r *Reader) measure(ctx context.Context) (time.Duration, error) {
	now := time.Now()
	var text string
	if err := r.primary.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&text); err != nil {
		return 0, fmt.Errorf("store: primary WAL position: %w", err)
	}
	lsn, err := parseLSN(text)
	if err != nil {
		return 0, err
	}
	var replayed *string
	if err := r.replica.QueryRow(ctx, `SELECT pg_last_wal_replay_lsn()::text`).Scan(&replayed); err != nil {
		return 0, fmt.Errorf("store: replica WAL position: %w", err)
	}
	if replayed == nil {
		return 0, errNotStandby
	}
	at, err := parseLSN(*replayed)
	if err != nil {
		return 0, err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.samples = append(r.samples, walSample{at: now, lsn: lsn})
	// The newest reading the replica has caught up with bounds its lag.
	caughtUp := -1
	for i, s := range r.samples {
		if s.lsn <= at {
			caughtUp = i
		}
	}
	if caughtUp >= 0 {
		r.lag = time.Since(r.samples[caughtUp].at)
		r.samples = r.samples[caughtUp:]
	} else {
		// Behind every reading kept: at least as old as the oldest.
		r.lag = time.Since(r.samples[0].at)
	}
	// While the replica is behind them all, readings pile up: drop the
	// oldest while the next is past twice MaxLag too, so the bound still
	// says "too far behind".
	for len(r.samples) > 1 && time.Since(r.samples[1].at) > 2*r.opts.MaxLag {
		r.samples = r.samples[1:]
	}
	return r.lag, nil
}

// parseLSN reads a pg_lsn's text form, "16/B374D848".
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("store: WAL position %q is not a pg_lsn", s)
	}
	return h<<32 | l, nil
}
