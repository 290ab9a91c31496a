package server_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/gridwork"
	"github.com/gridhub/gridhub/internal/server"
	"github.com/gridhub/gridhub/internal/synth"
	"github.com/gridhub/gridhub/internal/testcity"
)

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// newWorkHub is a test hub with the grid's daily work under the built-in
// gridwork.yaml; each customize may change its options (devPages for the
// pages' paste-a-token card).
func newWorkHub(t *testing.T, customize ...func(opts *server.Options, url string)) *hub {
	t.Helper()
	fx := testcity.Load(t)
	opts, ledger := hubOptions(t, fx)
	conf := gridwork.Default(opts.Config.Get().Departments)
	work, err := gridwork.NewService(fx.App.Pool, func() *gridwork.Config { return conf }, gridwork.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.Work = work
	return startHub(t, fx, opts, ledger, customize...)
}

// devPages makes a test hub a dev hub, whose pages offer the paste-a-token
// card the Chromium tests sign in with.
func devPages(opts *server.Options, _ string) { opts.Dev = true }

// twoGrids picks two residential grids of different communities with
// households, and a household of each.
func twoGrids(t *testing.T, city *synth.City) (a, b synth.Household) {
	t.Helper()
	a = city.Households[0]
	for _, h := range city.Households {
		if h.GridCode[:12] != a.GridCode[:12] {
			return a, h
		}
	}
	t.Fatal("the test city has one community")
	return
}

const (
	recordPatrol = `mutation($in: RecordPatrolInput!) { recordPatrol(input: $in) { id gridCode worker startedAt endedAt } }`
	recordEntry  = `mutation($in: RecordDiaryEntryInput!) { recordDiaryEntry(input: $in) {
		id gridCode patrol households category { code label } heard followUp } }`
	listEntries = `query($w: ID!) { diaryEntries(within: $w, first: 50) { totalCount nodes { id gridCode heard category { label } } } }`
)

// A grid worker patrols their grid and keeps the diary; bad input is each
// refused with a code and leaves nothing; reads are under row scope and
// written to the access ledger.
func TestPatrolAndDiary(t *testing.T) {
	h := newWorkHub(t)
	ctx := context.Background()
	own, other := twoGrids(t, h.fx.City)
	worker := h.as(auth.Principal{Subject: "wgy-001", Roles: []auth.Role{auth.GridWorker}, Scope: []string{own.GridCode}}).with("")
	now := time.Now().UTC().Truncate(time.Second)

	var p struct {
		RecordPatrol struct {
			ID, GridCode, Worker string
		}
	}
	worker.mustQuery(recordPatrol, map[string]any{"in": map[string]any{
		"grid": own.GridCode, "startedAt": now.Add(-time.Hour), "endedAt": now, "idempotencyKey": "patrol-0001",
	}}, &p)
	if p.RecordPatrol.GridCode != own.GridCode || p.RecordPatrol.Worker != "wgy-001" {
		t.Fatalf("recordPatrol = %+v", p.RecordPatrol)
	}
	// The same key again is the same patrol, not a second one.
	var again struct{ RecordPatrol struct{ ID string } }
	worker.mustQuery(recordPatrol, map[string]any{"in": map[string]any{
		"grid": own.GridCode, "startedAt": now.Add(-time.Hour), "endedAt": now, "idempotencyKey": "patrol-0001",
	}}, &again)
	if again.RecordPatrol.ID != p.RecordPatrol.ID {
		t.Errorf("a retried patrol got id %s, the first %s", again.RecordPatrol.ID, p.RecordPatrol.ID)
	}

	var e struct {
		RecordDiaryEntry struct {
			ID         string
			Patrol     *string
			Households []string
			Category   struct{ Code, Label string }
		}
	}
	worker.mustQuery(recordEntry, map[string]any{"in": map[string]any{
		"grid": own.GridCode, "patrol": p.RecordPatrol.ID, "visitedAt": now.Add(-30 * time.Minute),
		"households": []string{itoa(own.ID)}, "category": "HARDSHIP", "heard": "独居老人反映冬季取暖困难",
		"help": "已联系社区送去电暖器", "followUp": true, "idempotencyKey": "entry-0001",
	}}, &e)
	if e.RecordDiaryEntry.Category.Label != "困难求助" || e.RecordDiaryEntry.Patrol == nil || len(e.RecordDiaryEntry.Households) != 1 {
		t.Fatalf("recordDiaryEntry = %+v", e.RecordDiaryEntry)
	}

	// Bad input: each a code and a rule, and nothing stored.
	for _, tc := range []struct {
		name, field, rule string
		in                map[string]any
	}{
		{"unknown category", "category", "unknown", map[string]any{"category": "GOSSIP"}},
		{"household of another grid", "households[0]", "grid", map[string]any{"households": []string{itoa(other.ID)}}},
		{"empty text", "heard", "required", map[string]any{"heard": "  "}},
		{"visit in the future", "visitedAt", "not_future", map[string]any{"visitedAt": now.Add(time.Hour)}},
		{"someone else's patrol grid", "patrol", "unknown", map[string]any{"patrol": "999999"}},
	} {
		in := map[string]any{"grid": own.GridCode, "visitedAt": now, "category": "DISPUTE", "heard": "邻里噪音纠纷", "idempotencyKey": "bad-" + tc.rule + "-" + tc.field}
		for k, v := range tc.in {
			in[k] = v
		}
		errs := worker.query(recordEntry, map[string]any{"in": in}, nil)
		if len(errs) != 1 || errs[0].Extensions["code"] != "BAD_USER_INPUT" || errs[0].Extensions["field"] != tc.field || errs[0].Extensions["rule"] != tc.rule {
			t.Errorf("%s: errors %+v, want BAD_USER_INPUT on %s rule %s", tc.name, errs, tc.field, tc.rule)
		}
	}
	// A grid outside the caller's scope is as one that does not exist.
	errs := worker.query(recordPatrol, map[string]any{"in": map[string]any{
		"grid": other.GridCode, "startedAt": now, "idempotencyKey": "patrol-0002"}}, nil)
	if len(errs) != 1 || errs[0].Extensions["code"] != "NOT_FOUND" {
		t.Errorf("patrol out of scope: %+v", errs)
	}
	var stored int
	if err := h.fx.Store.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM patrols) + (SELECT count(*) FROM diary_entries)`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 2 {
		t.Errorf("%d patrols and entries stored, want the 2 good ones", stored)
	}

	// Reads: the community's staff see the entry, a worker of another
	// grid does not, an officer may not read the diary at all.
	var list struct {
		DiaryEntries struct {
			TotalCount int
			Nodes      []struct{ ID, GridCode, Heard string }
		}
	}
	community := h.as(auth.Principal{Subject: "sqgz-01", Roles: []auth.Role{auth.CommunityAdmin}, Scope: []string{own.GridCode[:12]}}).with("")
	community.mustQuery(listEntries, map[string]any{"w": own.GridCode[:9]}, &list)
	if list.DiaryEntries.TotalCount != 1 || list.DiaryEntries.Nodes[0].ID != e.RecordDiaryEntry.ID {
		t.Errorf("community staff see %+v", list.DiaryEntries)
	}
	stranger := h.as(auth.Principal{Subject: "wgy-002", Roles: []auth.Role{auth.GridWorker}, Scope: []string{other.GridCode}}).with("")
	stranger.mustQuery(listEntries, map[string]any{"w": own.GridCode[:6]}, &list)
	if list.DiaryEntries.TotalCount != 0 {
		t.Errorf("a worker of another grid sees %+v", list.DiaryEntries)
	}
	officer := h.as(auth.Principal{Subject: "mz-01", Roles: []auth.Role{auth.DeptOfficer}, Department: "civil_affairs"}).with("")
	if errs := officer.query(listEntries, map[string]any{"w": own.GridCode}, nil); len(errs) != 1 || errs[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("an officer reads the diary: %+v", errs)
	}

	// The ledger: the entry recorded, and read by the community's staff,
	// about the visited household's head.
	var reads int
	if err := h.fx.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'read' AND actor = 'sqgz-01'
		AND $1 = ANY(persons) AND $2 = ANY(fields)`, itoa(own.HeadID), "DiaryEntry:"+e.RecordDiaryEntry.ID).Scan(&reads); err != nil {
		t.Fatal(err)
	}
	if reads != 1 {
		t.Errorf("%d ledger entries for the diary read, want 1", reads)
	}
	var records int
	if err := h.fx.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'record' AND actor = 'wgy-001'`).Scan(&records); err != nil {
		t.Fatal(err)
	}
	if records != 2 {
		t.Errorf("%d ledger entries for the worker's records, want 2 (the patrol and the entry)", records)
	}
}
