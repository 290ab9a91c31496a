// Package federation runs the hub's calls to the departments: one connector per
// department, each wrapped with a timeout, a circuit breaker, metrics, spans and
// call statistics, and a recent copy of what it answered to serve when it is
// down. Resolvers reach the departments only through here.
package federation

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/cache"
)

// CopyTTL is how long a department's answer is kept to stand in for it while it
// is down: a recent copy, not an archive.
const CopyTTL = 24 * time.Hour

// Blinder turns an entity key (a resident ID number) into a value safe to use as
// a cache key: copies are stored under the blind index, never the number.
type Blinder interface {
	Blind(id string) []byte
}

// Options configure a Federation.
type Options struct {
	// Cache holds recent copies; nil means an in-process cache.
	Cache   cache.Cache
	Blinder Blinder
	// Metrics registers the per-department metrics; nil registers nothing.
	Metrics prometheus.Registerer
	// BreakerTimeout is how long an open breaker stays open (default 10s).
	BreakerTimeout time.Duration
	// Grace is how long a department removed or replaced by Reconfigure
	// stays open for calls under way (default 1 minute).
	Grace time.Duration
	// CopyRefresh is how often one key's recent copy is renewed
	// (default DefaultCopyRefresh): a key read again sooner keeps the copy
	// it has. Negative renews it on every read.
	CopyRefresh time.Duration
	// Linked, when set, adds to each person's answer the rows record linkage
	// placed on them (see addLinked).
	Linked Linked
}

// DefaultCopyRefresh is Options.CopyRefresh's default. A copy stands in for
// a department that is down, marked with the time it was read; renewing
// it on every read of a busy page cost a blind index, a JSON encoding and
// a cache write per key, while a copy at most half a minute older than the
// last read serves the same purpose.
const DefaultCopyRefresh = 30 * time.Second

// Federation is the set of departments the hub reaches. Reconfigure swaps
// the set while requests run: a call that began with a department finishes
// with it.
type Federation struct {
	cur    atomic.Pointer[deptSet]
	mu     sync.Mutex // serialises Reconfigure and Close
	cache  cache.Cache
	copies *copies
	// kept notes the keys whose copy was renewed within Options.CopyRefresh
	// (nil: every read renews).
	kept    *expirable.LRU[copyID, struct{}]
	blinder Blinder
	tracer  trace.Tracer
	metrics *metrics
	timeout time.Duration
	linked  Linked
	// grace is how long a department that a reconfiguration removed or
	// replaced stays open for the calls already under way.
	grace time.Duration
}

// deptSet is the departments in force, in mapping-file order.
type deptSet struct {
	list   []*Dept
	byCode map[string]*Dept
}

// Dept is one department: its mapping, its connector and what the hub saw of it.
type Dept struct {
	Config  *connectors.Department
	conn    connectors.Connector
	breaker *gobreaker.CircuitBreaker[connectors.Result]

	mu          sync.Mutex
	latencies   []time.Duration // recent successful calls, a ring
	next        int
	lastErr     string
	lastErrAt   time.Time
	lastOK      time.Time
	lastCallErr bool
}

// New opens a connector for each department.
func New(depts []*connectors.Department, opts Options) (*Federation, error) {
	f := &Federation{
		cache:   opts.Cache,
		blinder: opts.Blinder,
		tracer:  otel.Tracer("github.com/gridhub/gridhub/internal/federation"),
		metrics: newMetrics(opts.Metrics),
		timeout: opts.BreakerTimeout,
		grace:   opts.Grace,
		linked:  opts.Linked,
	}
	if f.cache == nil {
		f.cache = cache.NewMemory(200_000)
	}
	f.copies = newCopies(f.cache, opts.Metrics)
	refresh := opts.CopyRefresh
	if refresh == 0 {
		refresh = DefaultCopyRefresh
	}
	if refresh > 0 {
		f.kept = expirable.NewLRU[copyID, struct{}](maxPendingCopies, nil, refresh)
	}
	if f.timeout == 0 {
		f.timeout = 10 * time.Second
	}
	if f.grace == 0 {
		f.grace = time.Minute
	}
	f.cur.Store(&deptSet{byCode: map[string]*Dept{}})
	if err := f.Reconfigure(depts); err != nil {
		return nil, err
	}
	return f, nil
}

// open opens one department's connector.
func (f *Federation) open(cfg *connectors.Department) (*Dept, error) {
	conn, err := connectors.Open(cfg)
	if err != nil {
		return nil, err
	}
	d := &Dept{Config: cfg, conn: conn, latencies: make([]time.Duration, 0, 128)}
	d.breaker = gobreaker.NewCircuitBreaker[connectors.Result](gobreaker.Settings{
		Name:    cfg.Code,
		Timeout: f.timeout,
		// Five failures in a row open the breaker: one slow answer should not.
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= 5 },
		// A caller that gave up says nothing about the department.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(name string, from, to gobreaker.State) {
			slog.Warn("department breaker", "department", name, "from", from.String(), "to", to.String())
			f.metrics.breaker.WithLabelValues(name).Set(float64(to))
		},
	})
	f.metrics.breaker.WithLabelValues(cfg.Code).Set(0)
	return d, nil
}

// Reconfigure puts depts in force: a department whose mapping is unchanged
// keeps its connector, breaker and statistics; a new or changed one is
// opened; one removed or replaced is closed after the grace period, so calls
// under way finish. If a connector cannot be opened, nothing changes.
func (f *Federation) Reconfigure(depts []*connectors.Department) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.cur.Load()
	next := &deptSet{byCode: make(map[string]*Dept, len(depts))}
	var opened []*Dept
	for _, cfg := range depts {
		if d, ok := old.byCode[cfg.Code]; ok && bytes.Equal(d.Config.Raw, cfg.Raw) && d.Config.File == cfg.File {
			next.list = append(next.list, d)
			next.byCode[cfg.Code] = d
			continue
		}
		d, err := f.open(cfg)
		if err != nil {
			for _, o := range opened {
				o.close()
			}
			return err
		}
		opened = append(opened, d)
		next.list = append(next.list, d)
		next.byCode[cfg.Code] = d
	}
	f.cur.Store(next)
	if f.kept != nil && len(opened) > 0 {
		// A department opened anew is read afresh: its copies are renewed
		// on their next read.
		f.kept.Purge()
	}
	for code, d := range old.byCode {
		if next.byCode[code] != d {
			time.AfterFunc(f.grace, d.close)
		}
	}
	return nil
}

// close closes the department's connector when it holds resources.
func (d *Dept) close() {
	if c, ok := d.conn.(connectors.Closer); ok {
		c.Close()
	}
}

// Close stores the recent copies still pending and closes every connector
// that holds resources.
func (f *Federation) Close() {
	f.copies.close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.cur.Load().list {
		d.close()
	}
}

// Departments lists the departments in mapping-file order.
func (f *Federation) Departments() []*Dept { return f.cur.Load().list }

// Dept returns the department with code.
func (f *Federation) Dept(code string) (*Dept, bool) {
	d, ok := f.cur.Load().byCode[code]
	return d, ok
}

// Answer is what a department said about a batch of keys.
type Answer struct {
	Result connectors.Result
	// AsOf is when each key's records were read from the department. A live
	// answer has one time for all; a copy has each key's own.
	AsOf map[string]time.Time
	// Stale marks an answer served from the recent copy while the department is down.
	Stale bool
	// LinkedBy is, per key, how the least certain of its records reached it:
	// ID when all came by the key itself (see Linked).
	LinkedBy map[string]string
}

// copyEntry is how one key's records are kept in the cache.
type copyEntry struct {
	AsOf time.Time                      `json:"asOf"`
	Sets map[string][]connectors.Record `json:"sets"`
}

// Read asks a department for a batch of keys: one call to its connector, within
// the department's timeout, through its breaker. When the call fails, Read
// returns a DEPARTMENT_UNAVAILABLE error and, alongside it, whatever recent copy
// it holds for those keys (Stale set), so the caller can still answer.
func (f *Federation) Read(ctx context.Context, code string, req connectors.ReadRequest) (*Answer, error) {
	d, ok := f.Dept(code)
	if !ok {
		return nil, fmt.Errorf("federation: unknown department %q", code)
	}
	ctx, span := f.tracer.Start(ctx, "connector.read", trace.WithAttributes(
		attribute.String("department", code),
		attribute.String("connector.kind", d.Config.Kind),
		attribute.String("entity", req.Entity),
		attribute.Int("keys", len(req.Keys)),
	))
	defer span.End()

	start := time.Now()
	res, err := d.breaker.Execute(func() (connectors.Result, error) {
		cctx, cancel := context.WithTimeout(ctx, d.Config.Timeout.Std())
		defer cancel()
		return d.conn.Read(cctx, req)
	})
	elapsed := time.Since(start)
	d.record(elapsed, err)
	f.metrics.observe(code, elapsed, err)
	if err == nil {
		now := time.Now()
		f.keepCopy(code, req, res, now)
		asOf := make(map[string]time.Time, len(req.Keys))
		for _, k := range req.Keys {
			asOf[k] = now
		}
		ans := &Answer{Result: res, AsOf: asOf}
		f.addLinked(ctx, d, req, ans)
		return ans, nil
	}

	span.RecordError(err)
	span.SetStatus(codes.Error, "department unavailable")
	unavailable := &apperr.Error{
		Code:       apperr.DepartmentUnavailable,
		Department: code,
		Message:    fmt.Sprintf("department %s (%s) is unavailable: %s", code, d.Config.Name, reason(err)),
	}
	if ctx.Err() != nil {
		return nil, unavailable
	}
	// The rows linkage placed come from the hub's synced copy: they stand
	// while the department is down.
	ans := f.copyOf(ctx, d, req)
	if ans == nil {
		ans = &Answer{Stale: true}
	}
	f.addLinked(ctx, d, req, ans)
	if len(ans.AsOf) == 0 {
		return nil, unavailable
	}
	return ans, unavailable
}

// reason says why a call failed in words safe to show: the kind of failure, not
// the department's internals.
func reason(err error) string {
	var retry *connectors.RetryAfterError
	var perm *connectors.PermanentError
	switch {
	case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
		return "circuit open after repeated failures"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, connectors.ErrNotConnected):
		return "not reachable"
	case errors.As(err, &retry):
		return fmt.Sprintf("busy, retry after %s", retry.Wait)
	case errors.As(err, &perm):
		return "answered with an error or unreadable data"
	default:
		return "failed"
	}
}

func (f *Federation) copyKey(code, entity, key string) string {
	k := key
	if f.blinder != nil {
		k = hex.EncodeToString(f.blinder.Blind(key))
	}
	return "copy:" + code + ":" + entity + ":" + k
}

// keepCopy keeps each key's records, including "no records", so that a copy
// can say "nothing here" as well as what was there. It hands them to the
// copy writer and returns at once.
func (f *Federation) keepCopy(code string, req connectors.ReadRequest, res connectors.Result, at time.Time) {
	if req.Sets != nil {
		return // a partial read must not overwrite a full copy
	}
	entries := make(map[string]copyEntry, len(req.Keys))
	var marked []copyID // the keys this call marks as renewed
	for _, k := range req.Keys {
		if f.kept != nil {
			id := copyID{code, req.Entity, k}
			if f.kept.Contains(id) {
				continue // renewed within Options.CopyRefresh
			}
			f.kept.Add(id, struct{}{})
			marked = append(marked, id)
		}
		// The writer encodes the entry later, while the caller goes on
		// adding to the answer (linked rows, addLinked): it gets the key's
		// sets as the department gave them.
		entries[f.copyKey(code, req.Entity, k)] = copyEntry{AsOf: at, Sets: maps.Clone(res[k])}
	}
	if len(entries) == 0 {
		return
	}
	if dropped := f.copies.keep(entries); len(dropped) > 0 {
		// The writer was behind: these copies are not renewed, and the
		// next read of their keys tries again.
		for _, id := range marked {
			f.kept.Remove(id)
		}
	}
}

// copyID names one key's copy in this process (the cache key is blinded).
type copyID struct{ dept, entity, key string }

// copyOf returns the recent copy for the keys it holds, or nil when it holds none.
func (f *Federation) copyOf(ctx context.Context, d *Dept, req connectors.ReadRequest) *Answer {
	ckeys := make([]string, len(req.Keys))
	for i, k := range req.Keys {
		ckeys[i] = f.copyKey(d.Config.Code, req.Entity, k)
	}
	got := f.copies.get(ctx, ckeys)
	if len(got) == 0 {
		return nil
	}
	ans := &Answer{Result: connectors.Result{}, AsOf: map[string]time.Time{}, Stale: true}
	for i, k := range req.Keys {
		e, ok := got[ckeys[i]]
		if !ok {
			continue
		}
		for set, recs := range e.Sets {
			if req.Sets != nil && !slices.Contains(req.Sets, set) {
				continue
			}
			rs, _ := d.Config.Set(set)
			for _, r := range recs {
				ans.Result.Add(k, set, restore(rs, r))
			}
		}
		ans.AsOf[k] = e.AsOf
	}
	return ans
}

// record keeps the call statistics the departments query shows.
func (d *Dept) record(elapsed time.Duration, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return
		}
		d.lastErr, d.lastErrAt, d.lastCallErr = err.Error(), time.Now(), true
		return
	}
	d.lastOK, d.lastCallErr = time.Now(), false
	if len(d.latencies) < cap(d.latencies) {
		d.latencies = append(d.latencies, elapsed)
	} else {
		d.latencies[d.next] = elapsed
		d.next = (d.next + 1) % len(d.latencies)
	}
}

// Status is what the hub saw of a department.
type Status struct {
	Healthy bool
	Breaker string // closed, half-open, open
	// Latency is the median of recent successful calls; zero before the first.
	Latency     time.Duration
	LastError   string
	LastErrorAt time.Time
	LastSuccess time.Time
}

// Status reports the department's state: healthy while its breaker is closed
// and its last call succeeded. With check set, a connector that can check its
// source's health is asked too, so an idle department's state is current.
func (d *Dept) Status(ctx context.Context, check bool) Status {
	state := d.breaker.State()
	d.mu.Lock()
	st := Status{
		Breaker:     state.String(),
		LastError:   d.lastErr,
		LastErrorAt: d.lastErrAt,
		LastSuccess: d.lastOK,
		Healthy:     state == gobreaker.StateClosed && !d.lastCallErr,
	}
	if n := len(d.latencies); n > 0 {
		sorted := slices.Clone(d.latencies)
		slices.Sort(sorted)
		st.Latency = sorted[n/2]
	}
	d.mu.Unlock()
	hc, ok := d.conn.(connectors.HealthChecker)
	if !check || !ok || state == gobreaker.StateOpen {
		return st
	}
	cctx, cancel := context.WithTimeout(ctx, d.Config.Timeout.Std())
	defer cancel()
	if err := hc.Health(cctx); err != nil {
		st.Healthy = false
		st.LastError, st.LastErrorAt = "health check: "+err.Error(), time.Now()
	}
	return st
}

// Write delivers report fields to a department through its connector, within
// the department's timeout. Writes do not go through the read breaker: the
// report's job queue retries them on its own schedule, and a department that
// cannot take writes must not stop its reads.
func (f *Federation) Write(ctx context.Context, code string, d connectors.Delivery) error {
	_, err := f.write(ctx, code, d, false)
	return err
}

// WriteReceipt is Write for a department whose connector answers with a
// receipt (connectors.ReceiptWriter): a case system's case number. A
// connector that gives none is a permanent error.
func (f *Federation) WriteReceipt(ctx context.Context, code string, d connectors.Delivery) (connectors.Receipt, error) {
	return f.write(ctx, code, d, true)
}

func (f *Federation) write(ctx context.Context, code string, d connectors.Delivery, receipt bool) (connectors.Receipt, error) {
	dept, ok := f.Dept(code)
	if !ok {
		return nil, connectors.Permanentf("federation: unknown department %q", code)
	}
	w, ok := dept.conn.(connectors.Writer)
	if !ok {
		return nil, connectors.Permanentf("federation: department %s takes no write-back", code)
	}
	rw, hasReceipt := dept.conn.(connectors.ReceiptWriter)
	if receipt && !hasReceipt {
		return nil, connectors.Permanentf("federation: department %s gives no receipt for a delivery", code)
	}
	ctx, span := f.tracer.Start(ctx, "connector.write", trace.WithAttributes(
		attribute.String("department", code),
		attribute.String("connector.kind", dept.Config.Kind),
		attribute.Int("fields", len(d.Fields)),
	))
	defer span.End()
	cctx, cancel := context.WithTimeout(ctx, dept.Config.Timeout.Std())
	defer cancel()
	start := time.Now()
	var (
		got connectors.Receipt
		err error
	)
	if receipt {
		got, err = rw.WriteReceipt(cctx, d)
	} else {
		err = w.Write(cctx, d)
	}
	f.metrics.observe(code, time.Since(start), err)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "write failed")
		return nil, fmt.Errorf("write to %s: %w", code, err)
	}
	return got, nil
}

// Codes lists the department codes in mapping-file order.
func (f *Federation) Codes() []string {
	list := f.Departments()
	out := make([]string, len(list))
	for i, d := range list {
		out[i] = d.Config.Code
	}
	return out
}

// Feed is a department's fact feed, for the hub's synced aggregates.
func (f *Federation) Feed(code string) (connectors.FactFeed, bool) {
	d, ok := f.Dept(code)
	if !ok {
		return nil, false
	}
	feed, ok := d.conn.(connectors.FactFeed)
	return feed, ok && len(d.Config.FactSets()) > 0
}

// Feeds is the federation seen as the fact sync's source of feeds.
type Feeds struct{ *Federation }

// Departments lists the department codes to sync.
func (f Feeds) Departments() []string { return f.Codes() }
