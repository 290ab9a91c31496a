package report

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/testcity"
)

// fakeReader answers every person key with the same records per department,
// and can be told that a department is down (with or without a recent copy).
type fakeReader struct {
	mu      sync.Mutex
	records map[string]map[string]connectors.Record // dept -> set -> record
	down    map[string]bool
	copyAt  map[string]time.Time // dept -> as-of of its recent copy, served while down
	asOf    time.Time
	calls   map[string]int
	sets    map[string][]string // dept -> sets asked for in the last call
}

var readAt = time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func newFakeReader() *fakeReader {
	return &fakeReader{
		records: map[string]map[string]connectors.Record{
			"civil_affairs": {
				"dibao":      {"status": "ACTIVE", "persons": int64(3), "amount": 1230.5},
				"disability": {"category": "PHYSICAL", "grade": int64(2)},
			},
			"health": {
				"floating": {"inflowDate": date(2024, 3, 1), "reason": "WORK", "originCode": "340102", "residencePermit": true},
				"marriage": {"maritalStatus": "MARRIED", "children": int64(2)},
			},
			"employment": {
				"unemployment": {"status": "REEMPLOYED", "registeredOn": date(2023, 6, 1)},
			},
			"social_security": {
				"pension": {"status": "CONTRIBUTING", "scheme": "EMPLOYEE"},
				"medical": {"scheme": "RESIDENT", "status": "INSURED"},
			},
			"party_building": {
				"membership": {"lastContact": date(2026, 4, 1), "outOfContact": false, "branch": "第一支部"},
			},
		},
		down:   map[string]bool{},
		copyAt: map[string]time.Time{},
		asOf:   readAt,
		calls:  map[string]int{},
		sets:   map[string][]string{},
	}
}

func (r *fakeReader) Read(ctx context.Context, dept string, req connectors.ReadRequest) (*federation.Answer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[dept]++
	r.sets[dept] = req.Sets
	res := connectors.Result{}
	for _, k := range req.Keys {
		for set, rec := range r.records[dept] {
			if req.Sets == nil || slices.Contains(req.Sets, set) {
				res.Add(k, set, rec)
			}
		}
	}
	if r.down[dept] {
		unavailable := &apperr.Error{Code: apperr.DepartmentUnavailable, Department: dept, Message: "department " + dept + " is unavailable: timeout"}
		at, ok := r.copyAt[dept]
		if !ok {
			return &federation.Answer{Result: connectors.Result{}, AsOf: map[string]time.Time{}, Stale: true}, unavailable
		}
		asOf := map[string]time.Time{}
		for _, k := range req.Keys {
			asOf[k] = at
		}
		return &federation.Answer{Result: res, AsOf: asOf, Stale: true}, unavailable
	}
	asOf := map[string]time.Time{}
	for _, k := range req.Keys {
		asOf[k] = r.asOf
	}
	return &federation.Answer{Result: res, AsOf: asOf}, nil
}

func (r *fakeReader) setDown(dept string, down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down[dept] = down
}

// fakeWriters is the departments' inboxes: like the real ones they apply a
// delivery once per idempotency key, however often it arrives. They count raw
// calls too, and can fail the first N calls of each key, fail permanently, or
// hold a call (after applying it) so that a stopped client loses the answer.
type fakeWriters struct {
	mu        sync.Mutex
	calls     map[string]int                 // raw calls per idempotency key
	applied   map[string]connectors.Delivery // what each key applied
	applies   map[string]int                 // times each key was applied: must stay 1
	failFirst map[string]int                 // dept -> failing calls per key
	permanent map[string]bool
	hold      time.Duration // after applying, wait this long (or until cancelled)
	total     atomic.Int64
}

func newFakeWriters() *fakeWriters {
	return &fakeWriters{
		calls: map[string]int{}, applied: map[string]connectors.Delivery{}, applies: map[string]int{},
		failFirst: map[string]int{}, permanent: map[string]bool{},
	}
}

func (w *fakeWriters) Write(ctx context.Context, dept string, d connectors.Delivery) error {
	w.total.Add(1)
	w.mu.Lock()
	w.calls[d.IdempotencyKey]++
	n := w.calls[d.IdempotencyKey]
	switch {
	case w.permanent[dept]:
		w.mu.Unlock()
		return connectors.Permanentf("%s inbox: rejected: field not accepted", dept)
	case n <= w.failFirst[dept]:
		w.mu.Unlock()
		return fmt.Errorf("%s inbox: 503 service unavailable (call %d): %w", dept, n, connectors.ErrNotConnected)
	}
	if _, done := w.applied[d.IdempotencyKey]; !done {
		w.applied[d.IdempotencyKey] = d
		w.applies[d.IdempotencyKey]++
	}
	hold := w.hold
	w.mu.Unlock()
	if hold > 0 {
		select {
		case <-time.After(hold):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (w *fakeWriters) set(f func(w *fakeWriters)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f(w)
}

func (w *fakeWriters) delivery(key string) (connectors.Delivery, int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, ok := w.applied[key]
	return d, w.calls[key], ok
}

type fixture struct {
	*testcity.Fixture
	svc     *Service
	reader  *fakeReader
	writers *fakeWriters
}

func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	fx := testcity.Load(t)
	cat, ts := defaults(t)
	reader := newFakeReader()
	opts.Opener = fx.Keys
	svc, err := NewService(fx.Store.Pool, cat, ts, reader, opts)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{Fixture: fx, svc: svc, reader: reader, writers: newFakeWriters()}
}

// person returns the i-th adult of the test city (with a phone).
func (f *fixture) person(t testing.TB, i int) string {
	t.Helper()
	for _, p := range f.City.Persons {
		if p.Phone == "" {
			continue
		}
		if i == 0 {
			return strconv.FormatInt(p.ID, 10)
		}
		i--
	}
	t.Fatal("not enough persons")
	return ""
}

// idNumber is the test city's ID number of person id.
func (f *fixture) idNumber(id string) string {
	for _, p := range f.City.Persons {
		if strconv.FormatInt(p.ID, 10) == id {
			return p.IDNumber
		}
	}
	return ""
}

// startClient starts a delivery client with test timings and stops it when
// the test ends.
func (f *fixture) startClient(t testing.TB, cfg ClientConfig) *river.Client[pgx.Tx] {
	t.Helper()
	c := f.newClient(t, cfg)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.StopAndCancel(ctx)
	})
	return c
}

func (f *fixture) newClient(t testing.TB, cfg ClientConfig) *river.Client[pgx.Tx] {
	t.Helper()
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 20 * time.Millisecond
	}
	if cfg.FetchCooldown == 0 {
		cfg.FetchCooldown = 5 * time.Millisecond
	}
	if cfg.FetchPollInterval == 0 {
		cfg.FetchPollInterval = 50 * time.Millisecond
	}
	cfg.TestOnly = true
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := NewClient(f.svc, f.writers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// valuesOf confirms a draft as it is: every field with its current value.
func valuesOf(d *Draft) []FieldValue {
	var out []FieldValue
	for _, f := range d.Fields {
		if f.Value != nil {
			out = append(out, FieldValue{Field: f.Key, Value: *f.Value})
		}
	}
	return out
}

// with replaces or adds values.
func with(vals []FieldValue, more ...FieldValue) []FieldValue {
	out := append([]FieldValue(nil), vals...)
	for _, m := range more {
		found := false
		for i := range out {
			if out[i].Field == m.Field {
				out[i].Value, found = m.Value, true
			}
		}
		if !found {
			out = append(out, m)
		}
	}
	return out
}

var keySeq atomic.Int64

func newKey() string {
	return fmt.Sprintf("test-key-%d-%d", time.Now().UnixNano(), keySeq.Add(1))
}

// waitFor polls until cond holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitDelivery waits until the delivery's status is want.
func (f *fixture) waitDelivery(t testing.TB, id, dept string, want Status) *Delivery {
	t.Helper()
	var got *Delivery
	waitFor(t, 20*time.Second, fmt.Sprintf("%s delivery of %s", want, dept), func() (bool, error) {
		sub, err := f.svc.Submission(context.Background(), id)
		if err != nil {
			return false, err
		}
		got = sub.Delivery(dept)
		if got == nil {
			return false, errors.New("no delivery to " + dept)
		}
		return got.Status == want, nil
	})
	return got
}

func (f *fixture) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.Store.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
