package report

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/internal/apperr"
)

func TestDraftPrefill(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := context.Background()
	subject := f.person(t, 0)
	f.reader.setDown("health", true) // down, no copy
	f.reader.setDown("employment", true)
	copyAt := time.Date(2026, 4, 30, 18, 0, 0, 0, time.UTC)
	f.reader.copyAt["employment"] = copyAt // down, served from a recent copy

	d, err := f.svc.Draft(ctx, "home_visit", 0, subject)
	if err != nil {
		t.Fatal(err)
	}
	if d.Template != "home_visit" || d.Version != 1 || d.Title != "入户走访" || d.Subject != subject || d.GridCode == "" {
		t.Errorf("draft header: %+v", d)
	}
	type row struct {
		Value  string
		Source string
		AsOf   time.Time
		Stale  bool
	}
	get := func(key string) row {
		df := d.Field(key)
		if df == nil {
			t.Fatalf("no field %s", key)
		}
		var r row
		if df.Value != nil {
			r.Value = *df.Value
		}
		r.Source, r.Stale = df.Source, df.Stale
		if df.AsOf != nil {
			r.AsOf = *df.AsOf
		}
		return r
	}
	var phone string
	var members int
	for _, p := range f.City.Persons {
		if strconv.FormatInt(p.ID, 10) == subject {
			phone = p.Phone
			for _, q := range f.City.Persons {
				if q.HouseholdID == p.HouseholdID {
					members++
				}
			}
		}
	}
	want := map[string]row{
		"core.person.phone":                          {phone, "core", d.ReadAt, false},
		"core.person.residence":                      {"", "core", d.ReadAt, false},
		"core.household.residentCount":               {strconv.Itoa(members), "core", d.ReadAt, false},
		"civil_affairs.dibao.status":                 {"ACTIVE", "civil_affairs", readAt, false},
		"civil_affairs.dibao.persons":                {"3", "civil_affairs", readAt, false},
		"civil_affairs.disability.category":          {"PHYSICAL", "civil_affairs", readAt, false},
		"civil_affairs.disability.certificateNumber": {"", "civil_affairs", readAt, false},
		"health.floating.inflowDate":                 {"", "health", time.Time{}, false},
		"health.marriage.maritalStatus":              {"", "health", time.Time{}, false},
		"employment.unemployment.status":             {"REEMPLOYED", "employment", copyAt, true},
		"employment.unemployment.registeredOn":       {"2023-06-01", "employment", copyAt, true},
		"social_security.medical.scheme":             {"RESIDENT", "social_security", readAt, false},
		"party_building.membership.lastContact":      {"2026-04-01", "party_building", readAt, false},
		"party_building.membership.outOfContact":     {"false", "party_building", readAt, false},
		"urban_management.cases.category":            {"", "urban_management", time.Time{}, false},
		"civil_affairs.visit.note":                   {"", "civil_affairs", time.Time{}, false},
	}
	for key, w := range want {
		if diff := cmp.Diff(w, get(key)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", key, diff)
		}
	}
	var unavailable []string
	for _, u := range d.Unavailable {
		unavailable = append(unavailable, u.Department)
	}
	if diff := cmp.Diff([]string{"health", "employment"}, unavailable); diff != "" {
		t.Errorf("unavailable (-want +got):\n%s", diff)
	}
	// One read per department, asking only for the sets the template uses; none
	// for urban management, whose report fields only add new cases.
	wantCalls := map[string]int{"civil_affairs": 1, "health": 1, "employment": 1, "social_security": 1, "party_building": 1}
	if diff := cmp.Diff(wantCalls, f.reader.calls); diff != "" {
		t.Errorf("reads (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dibao", "disability"}, f.reader.sets["civil_affairs"]); diff != "" {
		t.Errorf("civil affairs sets (-want +got):\n%s", diff)
	}

	if _, err := f.svc.Draft(ctx, "home_visit", 0, "999999999"); !isCode(err, apperr.NotFound, "subject") {
		t.Errorf("unknown subject: %v", err)
	}
	if _, err := f.svc.Draft(ctx, "home_visit", 0, "12a"); !isCode(err, apperr.BadUserInput, "subject") {
		t.Errorf("malformed subject: %v", err)
	}
	if _, err := f.svc.Draft(ctx, "home_visit", 9, subject); !isCode(err, apperr.BadUserInput, "version") {
		t.Errorf("unknown version: %v", err)
	}
}

func isCode(err error, code apperr.Code, field string) bool {
	e, ok := apperr.As(err)
	return ok && e.Code == code && e.Field == field
}

func TestSubmitValidatesEverythingAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := context.Background()
	actor := Actor{Subject: "worker-1", Roles: []string{"grid_worker"}}

	_, err := f.svc.Submit(ctx, SubmitInput{Template: "home_visit", Version: 7, Subject: "abc", IdempotencyKey: "short"}, actor)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error %v is not a ValidationError", err)
	}
	var paths []string
	for _, e := range verr.Errors {
		paths = append(paths, e.Path+"/"+e.Rule)
	}
	if diff := cmp.Diff([]string{"idempotencyKey/length", "version/unknown", "subject/format", "values/empty"}, paths); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}

	// Values are checked against the live draft: required fields the draft
	// does not fill, and required_if conditions on its values.
	subject := f.person(t, 1)
	_, err = f.svc.Submit(ctx, SubmitInput{Template: "home_visit", Version: 1, Subject: subject, IdempotencyKey: newKey(),
		Values: []FieldValue{{"health.floating.reason", "TOURISM"}, {"core.person.awaySince", "2020-01-01"}}}, actor)
	if !errors.As(err, &verr) {
		t.Fatalf("error %v is not a ValidationError", err)
	}
	paths = nil
	for _, e := range verr.Errors {
		paths = append(paths, e.Path+"/"+e.Field+"/"+e.Rule)
	}
	// dibao.persons is required (the draft's dibao status is ACTIVE) and has a
	// value in the draft, so it is not missing.
	want := []string{"values[0].value/health.floating.reason/enum", "values/core.person.residence/required"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if _, err := f.svc.Submit(ctx, SubmitInput{Template: "home_visit", Version: 1, Subject: "99999999", IdempotencyKey: newKey(),
		Values: []FieldValue{{"core.person.residence", "本地"}}}, actor); !isCode(err, apperr.NotFound, "subject") {
		t.Errorf("unknown subject: %v", err)
	}
	if n := f.count(t, `SELECT count(*) FROM report_submissions`); n != 0 {
		t.Errorf("%d submissions stored", n)
	}
}

// deliveredFields decodes a delivery's stored payload.
func (f *fixture) payload(t *testing.T, id, dept string) map[string]any {
	t.Helper()
	var raw []byte
	if err := f.Store.Pool.QueryRow(context.Background(), `SELECT payload FROM report_deliveries WHERE submission_id = $1 AND department = $2`, id, dept).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	var fields []deliveredField
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, fd := range fields {
		if fd.Value == nil {
			out[fd.Target] = nil
		} else {
			out[fd.Target] = *fd.Value
		}
	}
	return out
}

func TestSubmitDeliversOnlyChangedFields(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := context.Background()
	subject := f.person(t, 2)
	draft, err := f.svc.Draft(ctx, "home_visit", 0, subject)
	if err != nil {
		t.Fatal(err)
	}
	// The staff confirm the draft, correcting some fields; meanwhile health
	// goes down, so its fields are unknown at submission.
	values := with(valuesOf(draft),
		FieldValue{"core.person.phone", "13800001111"},
		FieldValue{"core.person.residence", "RESIDENT"},
		FieldValue{"employment.unemployment.status", "REGISTERED"},
		FieldValue{"employment.unemployment.registeredOn", "2026-04-20"},
		FieldValue{"civil_affairs.dibao.persons", "03"}, // unchanged
		FieldValue{"health.marriage.children", "2"},     // as it was, but health is down
		FieldValue{"health.marriage.maritalStatus", ""}, // unknown: not cleared
		FieldValue{"urban_management.cases.category", "SANITATION"},
		FieldValue{"urban_management.cases.description", "楼道堆放杂物"},
		FieldValue{"party_building.membership.branch", ""}, // cleared
	)
	f.reader.setDown("health", true)
	sub, err := f.svc.Submit(ctx, SubmitInput{Template: "home_visit", Version: 1, Subject: subject, IdempotencyKey: newKey(), Values: values},
		Actor{Subject: "worker-1", Roles: []string{"grid_worker"}})
	if err != nil {
		t.Fatal(err)
	}
	if sub.Status != Pending || sub.Replayed {
		t.Errorf("status %s, replayed %v", sub.Status, sub.Replayed)
	}
	var depts []string
	for _, d := range sub.Deliveries {
		depts = append(depts, d.Department)
		if d.Status != Pending || d.Attempts != 0 {
			t.Errorf("%s: %+v", d.Department, d)
		}
	}
	if diff := cmp.Diff([]string{"employment", "health", "party_building", "urban_management"}, depts); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"core.person.phone", "core.person.residence"}, sub.CoreFields); diff != "" {
		t.Errorf("core fields (-want +got):\n%s", diff)
	}
	wantPayload := map[string]map[string]any{
		"employment":       {"unemployment.status": "REGISTERED", "unemployment.registeredOn": "2026-04-20"},
		"health":           {"floating.inflowDate": "2024-03-01", "floating.reason": "WORK", "marriage.children": "2"},
		"party_building":   {"membership.branch": nil},
		"urban_management": {"cases.category": "SANITATION", "cases.description": "楼道堆放杂物"},
	}
	for dept, want := range wantPayload {
		if diff := cmp.Diff(want, f.payload(t, sub.ID, dept)); diff != "" {
			t.Errorf("%s payload (-want +got):\n%s", dept, diff)
		}
	}
	// One job per delivery, on the department's queue.
	var queues []string
	rows, _ := f.Store.Pool.Query(ctx, `SELECT queue FROM river_job ORDER BY queue`)
	for rows.Next() {
		var q string
		_ = rows.Scan(&q)
		queues = append(queues, q)
	}
	if diff := cmp.Diff([]string{"deliver_employment", "deliver_health", "deliver_party_building", "deliver_urban_management"}, queues); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	// Core fields went to the master index in the same transaction.
	var phone, residence string
	if err := f.Store.Pool.QueryRow(ctx, `SELECT phone, residence FROM persons WHERE id = $1`, subject).Scan(&phone, &residence); err != nil {
		t.Fatal(err)
	}
	if phone != "13800001111" || residence != "RESIDENT" {
		t.Errorf("master index: phone %s residence %s", phone, residence)
	}
	// The stored submission reads back alike.
	got, err := f.svc.Submission(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sub, got); diff != "" {
		t.Errorf("stored submission (-returned +loaded):\n%s", diff)
	}
	if e := sub.AuditEntry(Actor{Subject: "worker-1", Roles: []string{"grid_worker"}}); e.Action != "submit" || e.Persons[0] != subject || len(e.Fields) != len(sub.Values) {
		t.Errorf("audit entry: %+v", e)
	}
}

func TestSubmitWithNoChangesEnqueuesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := context.Background()
	subject := f.person(t, 3)
	draft, err := f.svc.Draft(ctx, "floating_registration", 0, subject)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := f.svc.Submit(ctx, SubmitInput{Template: "floating_registration", Version: 1, Subject: subject, IdempotencyKey: newKey(),
		Values: with(valuesOf(draft), FieldValue{"core.person.residence", "RESIDENT"})}, Actor{Subject: "w"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.Deliveries) != 0 || sub.Status != Delivered {
		t.Errorf("deliveries %+v, status %s", sub.Deliveries, sub.Status)
	}
	if n := f.count(t, `SELECT count(*) FROM river_job`); n != 0 {
		t.Errorf("%d jobs", n)
	}
}

// A submission without values is refused, even when the subject's required
// fields already hold values: it would be stored as delivered with nothing
// in it.
func TestSubmitWithoutValuesIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := context.Background()
	subject := f.person(t, 3)
	draft, err := f.svc.Draft(ctx, "floating_registration", 0, subject)
	if err != nil {
		t.Fatal(err)
	}
	// First fill every required field, so that nothing is missing but values.
	if _, err := f.svc.Submit(ctx, SubmitInput{Template: "floating_registration", Version: 1, Subject: subject, IdempotencyKey: newKey(),
		Values: with(valuesOf(draft), FieldValue{"core.person.residence", "RESIDENT"})}, Actor{Subject: "w"}); err != nil {
		t.Fatal(err)
	}
	before := f.count(t, `SELECT count(*) FROM report_submissions`)
	for _, values := range [][]FieldValue{nil, {}} {
		_, err := f.svc.Submit(ctx, SubmitInput{Template: "floating_registration", Version: 1, Subject: subject, IdempotencyKey: newKey(),
			Values: values}, Actor{Subject: "w"})
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Path != "values" || ve.Errors[0].Rule != "empty" {
			t.Errorf("values %v: %v, want BAD_USER_INPUT values/empty", values, err)
		}
	}
	if after := f.count(t, `SELECT count(*) FROM report_submissions`); after != before {
		t.Errorf("%d submissions stored by refused requests", after-before)
	}
}

func TestSubmitIsIdempotent(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := context.Background()
	subject := f.person(t, 4)
	actor := Actor{Subject: "worker-1", Roles: []string{"grid_worker"}}
	in := SubmitInput{Template: "home_visit", Version: 1, Subject: subject, IdempotencyKey: newKey(), Values: []FieldValue{
		{"core.person.residence", "RESIDENT"}, {"employment.unemployment.status", "CANCELLED"}, {"health.marriage.children", "3"},
	}}
	first, err := f.svc.Submit(ctx, in, actor)
	if err != nil {
		t.Fatal(err)
	}
	reads := f.reader.calls["health"]

	// The same request again, values in another order: the stored submission.
	again := in
	again.Values = []FieldValue{in.Values[2], in.Values[0], in.Values[1]}
	second, err := f.svc.Submit(ctx, again, actor)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || !second.Replayed {
		t.Errorf("second submission %s (replayed %v), want %s", second.ID, second.Replayed, first.ID)
	}
	if f.reader.calls["health"] != reads {
		t.Error("a replay read the departments again")
	}
	if n := f.count(t, `SELECT count(*) FROM river_job`); n != 2 {
		t.Errorf("%d jobs, want 2", n)
	}

	// The same key with another payload, or from another actor, is refused.
	changed := in
	changed.Values = with(in.Values, FieldValue{"health.marriage.children", "4"})
	for _, c := range []struct {
		in    SubmitInput
		actor Actor
	}{{changed, actor}, {in, Actor{Subject: "worker-2"}}} {
		_, err = f.svc.Submit(ctx, c.in, c.actor)
		if !isCode(err, apperr.BadUserInput, "idempotencyKey") {
			t.Errorf("reused key: %v", err)
		} else if e, _ := apperr.As(err); e.Rule != "idempotency" {
			t.Errorf("rule %s", e.Rule)
		}
	}

	// Concurrent requests with one key: one submission, one set of jobs.
	race := in
	race.IdempotencyKey = newKey()
	race.Subject = f.person(t, 5)
	var wg sync.WaitGroup
	ids := make([]string, 8)
	errs := make([]error, 8)
	for i := range ids {
		wg.Go(func() {
			s, err := f.svc.Submit(ctx, race, actor)
			errs[i] = err
			if err == nil {
				ids[i] = s.ID
			}
		})
	}
	wg.Wait()
	for i := range ids {
		if errs[i] != nil || ids[i] != ids[0] {
			t.Errorf("request %d: %s %v, want %s", i, ids[i], errs[i], ids[0])
		}
	}
	if n := f.count(t, `SELECT count(*) FROM report_submissions WHERE idempotency_key = $1`, race.IdempotencyKey); n != 1 {
		t.Errorf("%d submissions", n)
	}
	if n := f.count(t, `SELECT count(*) FROM river_job`); n != 4 {
		t.Errorf("%d jobs, want 4", n)
	}
}

// The submission, its deliveries, its jobs and its core fields commit
// together: a failure in the last step (the master index update, made to fail
// by a trigger) leaves none of them.
func TestSubmitRollsBackJobsWithTheSubmission(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := context.Background()
	_, err := f.Store.Pool.Exec(ctx, `
		CREATE FUNCTION refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'persons are read-only today'; END; $$;
		CREATE TRIGGER refuse_update BEFORE UPDATE ON persons FOR EACH ROW EXECUTE FUNCTION refuse_update();`)
	if err != nil {
		t.Fatal(err)
	}
	in := SubmitInput{Template: "home_visit", Version: 1, Subject: f.person(t, 6), IdempotencyKey: newKey(), Values: []FieldValue{
		{"core.person.residence", "AWAY"}, {"core.person.awaySince", "2026-01-15"}, {"employment.unemployment.status", "CANCELLED"},
	}}
	if _, err := f.svc.Submit(ctx, in, Actor{Subject: "w"}); err == nil {
		t.Fatal("submission succeeded")
	}
	for _, table := range []string{"report_submissions", "report_deliveries", "river_job"} {
		if n := f.count(t, `SELECT count(*) FROM `+table); n != 0 {
			t.Errorf("%s has %d rows after the rollback", table, n)
		}
	}
	// The key is not burnt: the retry after the fault goes through.
	if _, err := f.Store.Pool.Exec(ctx, `DROP TRIGGER refuse_update ON persons`); err != nil {
		t.Fatal(err)
	}
	sub, err := f.svc.Submit(ctx, in, Actor{Subject: "w"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sub.Deliveries) != 1 || f.count(t, `SELECT count(*) FROM river_job`) != 1 {
		t.Errorf("deliveries %+v", sub.Deliveries)
	}
}
