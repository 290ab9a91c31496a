// Package leader picks one replica of the hub to do what must be done once
// for all of them: the periodic fact sync and the audit ledger's signed
// checkpoints. Every other duty of a replica (requests, report deliveries
// through River) is shared and needs no leader.
//
// The leader is the replica holding a Postgres session-level advisory lock
// (pg_try_advisory_lock) on a connection of its own. Postgres releases the
// lock when that session ends, however it ends: a replica stopped with
// SIGTERM unlocks on its way out, and one killed with SIGKILL, or cut off
// from the database, loses it as soon as Postgres sees the connection gone.
// Followers try for the lock every Interval, so one of them takes over
// within about that time. The leader checks its connection as often and,
// when it fails, stops its duties at once: it can no longer know that it
// still holds the lock.
//
// Leadership saves work and keeps the checkpoints one writer's; it is not
// what keeps the data right. A leader cut off from Postgres may run on for up
// to Interval while the next one starts, and the duties are safe to overlap
// that briefly: two fact syncs of a department never interleave (package
// factsync checks the watermark in every batch), and two checkpoints of the
// same head agree.
package leader

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// LockKey is the advisory lock key of the hub's leadership ("gridlead"),
// apart from the keys package factsync takes.
const LockKey int64 = 0x677269646c656164

// DefaultInterval is how often a follower tries for the lock and the leader
// checks that it still holds its session.
const DefaultInterval = 2 * time.Second

// Duty is work only the leader does. It runs from when this replica takes
// the lead until ctx ends (the lead is lost or the replica stops), and must
// return soon after.
type Duty func(ctx context.Context)

// Options tune an Elector; the zero value is usable.
type Options struct {
	// Interval is DefaultInterval when 0.
	Interval time.Duration
	// Metrics, when set, gets the gauge gridhub_leader (1 while this
	// replica leads).
	Metrics prometheus.Registerer
	// Logger receives a line when the lead is taken or lost (default
	// slog.Default()).
	Logger *slog.Logger
}

// Elector campaigns for the lead on one database and runs the duties while
// it holds it.
type Elector struct {
	conn     *pgx.ConnConfig
	interval time.Duration
	log      *slog.Logger
	gauge    prometheus.Gauge

	mu      sync.Mutex
	leading bool
}

// New returns an Elector connecting to the database of conn (a copy is
// kept; the pool's own connection config, pool.Config().ConnConfig, serves).
func New(conn *pgx.ConnConfig, opts Options) *Elector {
	e := &Elector{
		conn:     conn.Copy(),
		interval: opts.Interval,
		log:      opts.Logger,
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gridhub_leader",
			Help: "1 while this replica leads: it runs the periodic fact sync and writes the audit checkpoints.",
		}),
	}
	if e.interval <= 0 {
		e.interval = DefaultInterval
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if opts.Metrics != nil {
		opts.Metrics.MustRegister(e.gauge)
	}
	return e
}

// Leading reports whether this replica leads now.
func (e *Elector) Leading() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

func (e *Elector) setLeading(v bool) {
	e.mu.Lock()
	e.leading = v
	e.mu.Unlock()
	if v {
		e.gauge.Set(1)
	} else {
		e.gauge.Set(0)
	}
}

// Run campaigns until ctx ends, running duties (each in its own goroutine)
// whenever this replica leads. When ctx ends it stops the duties, waits for
// them, and then gives the lead up, so that no other replica starts them
// while these still run.
func (e *Elector) Run(ctx context.Context, duties ...Duty) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		if conn == nil {
			var err error
			if conn, err = e.connect(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("leader election: connect", "err", err)
			}
		}
		if conn != nil {
			got, err := e.tryLock(ctx, conn)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					e.log.Warn("leader election: try for the lead", "err", err)
				}
				conn.Close(context.Background())
				conn = nil
			case got:
				lost := e.lead(ctx, conn, duties)
				if lost {
					// The session is gone, and the lock with it.
					conn.Close(context.Background())
					conn = nil
				} else {
					e.unlock(conn)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.interval):
		}
	}
}

func (e *Elector) connect(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, e.interval+5*time.Second)
	defer cancel()
	return pgx.ConnectConfig(cctx, e.conn)
}

func (e *Elector) tryLock(ctx context.Context, conn *pgx.Conn) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, e.interval+5*time.Second)
	defer cancel()
	var got bool
	err := conn.QueryRow(cctx, `SELECT pg_try_advisory_lock($1)`, LockKey).Scan(&got)
	return got, err
}

// lead runs the duties until ctx ends or the session holding the lock fails
// (lost is then true), and returns once every duty has returned.
func (e *Elector) lead(ctx context.Context, conn *pgx.Conn, duties []Duty) (lost bool) {
	e.setLeading(true)
	e.log.Info("leader: this replica leads (fact sync, audit checkpoints)")
	dctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, d := range duties {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d(dctx)
		}()
	}
	t := time.NewTicker(e.interval)
	for !lost && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, e.interval+5*time.Second)
			if err := conn.Ping(pctx); err != nil && ctx.Err() == nil {
				e.log.Warn("leader: lost the database session that holds the lead: stopping the leader's duties", "err", err)
				lost = true
			}
			cancel()
		}
	}
	t.Stop()
	stop()
	wg.Wait()
	e.setLeading(false)
	if !lost {
		e.log.Info("leader: giving up the lead")
	}
	return lost
}

// unlock gives the lead up on a session that is still there, so a follower
// takes over at its next try rather than after this replica disconnects.
func (e *Elector) unlock(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, LockKey); err != nil {
		// Closing the session (Run's deferred Close) releases it anyway.
		e.log.Warn("leader: give up the lead", "err", err)
	}
}
