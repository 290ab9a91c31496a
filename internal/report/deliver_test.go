package report

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/config/builtin"
)

// allChanged is a home visit that changes at least one field of every
// department and of the master index.
var allChanged = []FieldValue{
	{"core.person.phone", "13812345678"},
	{"core.person.residence", "RESIDENT"},
	{"civil_affairs.dibao.status", "SUSPENDED"},
	{"civil_affairs.visit.note", "老人独居，行动不便"},
	{"health.marriage.children", "3"},
	{"health.floating.inflowDate", "2025-02-03"},
	{"employment.unemployment.status", "CANCELLED"},
	{"social_security.medical.status", "LAPSED"},
	{"urban_management.cases.category", "ILLEGAL_CONSTRUCTION"},
	{"urban_management.cases.description", "阳台违章搭建"},
	{"party_building.membership.outOfContact", "true"},
}

var sixDepartments = []string{"civil_affairs", "employment", "health", "party_building", "social_security", "urban_management"}

func (f *fixture) submit(t testing.TB, subject string, values []FieldValue) *Submission {
	t.Helper()
	sub, err := f.svc.Submit(context.Background(), SubmitInput{Template: "home_visit", Version: 1, Subject: subject,
		IdempotencyKey: newKey(), Values: values}, Actor{Subject: "worker-1", Roles: []string{"grid_worker"}})
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func TestDeliverySucceeds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.startClient(t, ClientConfig{})
	subject := f.person(t, 0)
	sub := f.submit(t, subject, allChanged)
	if len(sub.Deliveries) != 6 {
		t.Fatalf("%d deliveries", len(sub.Deliveries))
	}
	for _, dept := range sixDepartments {
		d := f.waitDelivery(t, sub.ID, dept, Delivered)
		if d.Attempts != 1 || d.LastError != nil || d.DeliveredAt == nil {
			t.Errorf("%s: %+v", dept, d)
		}
	}
	got, err := f.svc.Submission(context.Background(), sub.ID)
	if err != nil || got.Status != Delivered {
		t.Fatalf("submission %+v %v", got, err)
	}
	// What health received: its own changed fields, typed, keyed by ID number.
	d, calls, ok := f.writers.delivery(IdempotencyKey(sub.ID, "health"))
	if !ok || calls != 1 {
		t.Fatalf("health: applied %v after %d calls", ok, calls)
	}
	want := connectors.Delivery{
		IdempotencyKey: sub.ID + ":health",
		Entity:         connectors.Person,
		Key:            f.idNumber(subject),
		Fields:         map[string]any{"marriage.children": int64(3), "floating.inflowDate": date(2025, 2, 3)},
		SubmittedAt:    sub.CreatedAt,
	}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("health delivery (-want +got):\n%s", diff)
	}
	pb, _, _ := f.writers.delivery(IdempotencyKey(sub.ID, "party_building"))
	if diff := cmp.Diff(map[string]any{"membership.outOfContact": true}, pb.Fields); diff != "" {
		t.Errorf("party building fields (-want +got):\n%s", diff)
	}
	// Every department's mapping takes what it was sent.
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	for _, dept := range depts {
		d, _, _ := f.writers.delivery(IdempotencyKey(sub.ID, dept.Code))
		if _, err := dept.EncodeDelivery(d); err != nil {
			t.Errorf("%s refuses the delivery: %v", dept.Code, err)
		}
	}
}

func TestDeliveryRetriesThenSucceeds(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.writers.failFirst["health"] = 3
	f.startClient(t, ClientConfig{RetryBase: 40 * time.Millisecond})
	sub := f.submit(t, f.person(t, 1), allChanged)

	// Between attempts the failure is visible.
	r := f.waitDelivery(t, sub.ID, "health", Retrying)
	if r.Attempts < 1 || r.LastError == nil || !strings.Contains(*r.LastError, "503") {
		t.Errorf("retrying: %+v", r)
	}
	if s, _ := f.svc.Submission(context.Background(), sub.ID); s.Status != Retrying {
		t.Errorf("submission status %s while health retries", s.Status)
	}
	d := f.waitDelivery(t, sub.ID, "health", Delivered)
	if d.Attempts != 4 || d.LastError != nil {
		t.Errorf("delivered: attempts %d, last error %v", d.Attempts, d.LastError)
	}
	if _, calls, _ := f.writers.delivery(IdempotencyKey(sub.ID, "health")); calls != 4 {
		t.Errorf("%d calls", calls)
	}
	for _, dept := range sixDepartments {
		if dept != "health" {
			if d := f.waitDelivery(t, sub.ID, dept, Delivered); d.Attempts != 1 {
				t.Errorf("%s took %d attempts", dept, d.Attempts)
			}
		}
	}
}

func TestPermanentFailureThenRedeliver(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.writers.permanent["employment"] = true
	f.startClient(t, ClientConfig{})
	ctx := context.Background()
	sub := f.submit(t, f.person(t, 2), allChanged)

	d := f.waitDelivery(t, sub.ID, "employment", Failed)
	if d.Attempts != 1 || d.LastError == nil || !strings.Contains(*d.LastError, "permanent") {
		t.Errorf("failed: %+v", d)
	}
	f.waitDelivery(t, sub.ID, "health", Delivered)
	if s, _ := f.svc.Submission(ctx, sub.ID); s.Status != Failed {
		t.Errorf("submission status %s", s.Status)
	}
	waitFor(t, 5*time.Second, "the job cancelled", func() (bool, error) {
		return f.count(t, `SELECT count(*) FROM river_job WHERE queue = 'deliver_employment' AND state = 'cancelled'`) == 1, nil
	})

	// Only a FAILED delivery is redelivered.
	if _, err := f.svc.Redeliver(ctx, sub.ID, "health"); !isCode(err, apperr.BadUserInput, "department") {
		t.Errorf("redeliver a delivered one: %v", err)
	}
	if _, err := f.svc.Redeliver(ctx, sub.ID, "nowhere"); !isCode(err, apperr.NotFound, "department") {
		t.Errorf("redeliver to an unknown department: %v", err)
	}
	if _, err := f.svc.Redeliver(ctx, "not-an-id", "health"); !isCode(err, apperr.BadUserInput, "submission") {
		t.Errorf("redeliver a malformed id: %v", err)
	}

	// The department fixes its side; the admin redelivers.
	f.writers.set(func(w *fakeWriters) { w.permanent["employment"] = false })
	r, err := f.svc.Redeliver(ctx, sub.ID, "employment")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != Pending || r.Redeliveries != 1 {
		t.Errorf("redelivered: %+v", r)
	}
	d = f.waitDelivery(t, sub.ID, "employment", Delivered)
	if d.Attempts != 2 || d.Redeliveries != 1 || d.LastError != nil {
		t.Errorf("delivered: %+v", d)
	}
	if _, calls, ok := f.writers.delivery(IdempotencyKey(sub.ID, "employment")); !ok || calls != 2 {
		t.Errorf("employment: applied %v, %d calls", ok, calls)
	}
	// The other departments' deliveries may still be under way on a busy
	// machine: the submission is delivered once they are.
	waitFor(t, 30*time.Second, "the submission delivered", func() (bool, error) {
		s, err := f.svc.Submission(ctx, sub.ID)
		if err != nil {
			return false, err
		}
		return s.Status == Delivered, nil
	})
}

func TestLastAttemptFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{MaxAttempts: 3})
	f.writers.failFirst["social_security"] = 1000
	f.startClient(t, ClientConfig{RetryBase: 5 * time.Millisecond})
	ctx := context.Background()
	sub := f.submit(t, f.person(t, 3), allChanged)

	d := f.waitDelivery(t, sub.ID, "social_security", Failed)
	if d.Attempts != 3 || d.LastError == nil || !strings.Contains(*d.LastError, "call 3") {
		t.Errorf("failed: %+v", d)
	}
	waitFor(t, 5*time.Second, "the job discarded", func() (bool, error) {
		return f.count(t, `SELECT count(*) FROM river_job WHERE queue = 'deliver_social_security' AND state = 'discarded'`) == 1, nil
	})
	f.writers.set(func(w *fakeWriters) { w.failFirst["social_security"] = 0 })
	if _, err := f.svc.Redeliver(ctx, sub.ID, "social_security"); err != nil {
		t.Fatal(err)
	}
	d = f.waitDelivery(t, sub.ID, "social_security", Delivered)
	if d.Attempts != 4 {
		t.Errorf("attempts %d", d.Attempts)
	}
}

// A job River gives up on without the worker hearing of it (cancelled by an
// operator, rescued and discarded after a crash) shows as FAILED, and can be
// redelivered.
func TestDeliveryWhoseJobIsGoneIsFailed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := context.Background()
	sub := f.submit(t, f.person(t, 4), allChanged) // no client works the queues yet
	var jobID int64
	if err := f.Store.Pool.QueryRow(ctx, `SELECT job_id FROM report_deliveries WHERE submission_id = $1 AND department = 'health'`, sub.ID).Scan(&jobID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.inserter.JobCancel(ctx, jobID); err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.Submission(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := got.Delivery("health"); d.Status != Failed || d.LastError == nil || !strings.Contains(*d.LastError, "cancelled") {
		t.Errorf("health: %+v", d)
	}
	if d := got.Delivery("employment"); d.Status != Pending {
		t.Errorf("employment: %+v", d)
	}
	if _, err := f.svc.Redeliver(ctx, sub.ID, "health"); err != nil {
		t.Fatal(err)
	}
	f.startClient(t, ClientConfig{})
	for _, dept := range sixDepartments {
		f.waitDelivery(t, sub.ID, dept, Delivered)
	}
	if _, calls, _ := f.writers.delivery(IdempotencyKey(sub.ID, "health")); calls != 1 {
		t.Errorf("health: %d calls (the cancelled job must not run)", calls)
	}
}

// submitMany submits n home visits for different persons, concurrently.
func (f *fixture) submitMany(t testing.TB, n int) []*Submission {
	t.Helper()
	subs := make([]*Submission, n)
	subjects := make([]string, n)
	for i := range n {
		subjects[i] = f.person(t, 10+i)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			values := with(allChanged, FieldValue{"core.person.phone", fmt.Sprintf("139%08d", i)})
			sub, err := f.svc.Submit(context.Background(), SubmitInput{Template: "home_visit", Version: 1, Subject: subjects[i],
				IdempotencyKey: newKey(), Values: values}, Actor{Subject: "worker-1"})
			if err != nil {
				t.Error(err)
				return
			}
			subs[i] = sub
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return subs
}

// waitAllDelivered waits until every delivery of subs is DELIVERED.
func (f *fixture) waitAllDelivered(t testing.TB, subs []*Submission) {
	t.Helper()
	want := 0
	for _, s := range subs {
		want += len(s.Deliveries)
	}
	waitFor(t, 30*time.Second, fmt.Sprintf("%d deliveries", want), func() (bool, error) {
		return f.count(t, `SELECT count(*) FROM report_deliveries WHERE status = 'DELIVERED'`) == want, nil
	})
}

// Two hub processes (two River clients) on one database, working the same
// queues, deliver each job once.
func TestTwoClientsDeliverEachJobOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.startClient(t, ClientConfig{MaxWorkers: 3})
	f.startClient(t, ClientConfig{MaxWorkers: 3})
	subs := f.submitMany(t, 60)
	f.waitAllDelivered(t, subs)

	f.writers.mu.Lock()
	defer f.writers.mu.Unlock()
	if n := len(f.writers.calls); n != 60*6 {
		t.Errorf("%d idempotency keys written, want %d", n, 60*6)
	}
	for key, n := range f.writers.calls {
		if n != 1 {
			t.Errorf("%s: %d calls", key, n)
		}
	}
	if n := f.count(t, `SELECT count(*) FROM report_deliveries WHERE attempts <> 1`); n != 0 {
		t.Errorf("%d deliveries took more than one attempt", n)
	}
}

// A hub process stopped mid-delivery (its jobs' contexts cancelled after the
// departments applied them but before it recorded so) and a new one started:
// every delivery completes, each applied exactly once per key even though
// some were sent twice.
func TestCrashedClientIsRestartedAndDeliversOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	f.writers.hold = 300 * time.Millisecond
	first := f.newClient(t, ClientConfig{MaxWorkers: 2})
	if err := first.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	subs := f.submitMany(t, 20)
	waitFor(t, 10*time.Second, "deliveries in flight", func() (bool, error) {
		return f.writers.total.Load() >= 6, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.StopAndCancel(ctx); err != nil {
		t.Fatal(err)
	}
	inFlight := f.writers.total.Load()

	f.writers.set(func(w *fakeWriters) { w.hold = 0 })
	f.startClient(t, ClientConfig{MaxWorkers: 2})
	f.waitAllDelivered(t, subs)

	f.writers.mu.Lock()
	defer f.writers.mu.Unlock()
	resent := 0
	for key, n := range f.writers.applies {
		if n != 1 {
			t.Errorf("%s applied %d times", key, n)
		}
		if f.writers.calls[key] > 1 {
			resent++
		}
	}
	if n := len(f.writers.applies); n != 20*6 {
		t.Errorf("%d keys applied, want %d", n, 20*6)
	}
	if resent == 0 {
		t.Errorf("no delivery was sent twice: the stop did not interrupt any (%d calls before it)", inFlight)
	}
	t.Logf("%d calls before the stop, %d deliveries sent again after it", inFlight, resent)
}

type recordingWriter struct{ got []connectors.Delivery }

func (w *recordingWriter) Write(_ context.Context, d connectors.Delivery) error {
	w.got = append(w.got, d)
	return nil
}

func TestConnectorWriters(t *testing.T) {
	health := &recordingWriter{}
	ws := ConnectorWriters{"health": health}
	d := connectors.Delivery{IdempotencyKey: "s:health", Entity: connectors.Person, Key: "k", Fields: map[string]any{"marriage.children": int64(1)}}
	if err := ws.Write(context.Background(), "health", d); err != nil || len(health.got) != 1 {
		t.Fatalf("health: %v %v", err, health.got)
	}
	err := ws.Write(context.Background(), "nowhere", d)
	if connectors.Retryable(err) {
		t.Errorf("a department without a writer must be a permanent error: %v", err)
	}
}
