package server_test

import (
	"context"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/factsync/factsynctest"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/federation/fedtest"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/linkage"
	"github.com/gridhub/gridhub/internal/synth"
	"github.com/gridhub/gridhub/internal/testcity"
)

// uniqueNamed returns persons whose names no one else in the city has.
func uniqueNamed(city *synth.City, n int) []synth.Person {
	count := map[string]int{}
	for _, p := range city.Persons {
		count[p.Name]++
	}
	var out []synth.Person
	for _, p := range city.Persons {
		if count[p.Name] == 1 && len(out) < n {
			out = append(out, p)
		}
	}
	return out
}

// The review flow end to end: an employment row with no ID number and a full
// identity links by MATCH and shows in the person's section (linkedBy MATCH);
// rows that name a resident only by name wait for review, seen only within
// the reviewer's scope (and, for an officer, department); a confirmation
// links the row (REVIEWED) through every re-sync, a rejection is never
// proposed again, and each decision is in the access ledger.
func TestReviewFlowEndToEnd(t *testing.T) {
	fx := testcity.Load(t)
	city := fx.City
	ps := uniqueNamed(city, 3)
	matched, confirmed, rejected := ps[0], ps[1], ps[2]
	addr := city.Households[matched.HouseholdID-1].Address
	if city.Households[matched.HouseholdID-1].ID != matched.HouseholdID {
		t.Fatal("households are not in id order")
	}
	facts := []connectors.Fact{
		{Entity: connectors.Person, Set: "unemployment", ID: "9001", KeyInvalid: true,
			Record:   connectors.Record{"status": "REGISTERED"},
			Identity: connectors.Record{"name": matched.Name, "sex": matched.Gender, "birthDate": matched.BirthDate, "address": addr}},
		{Entity: connectors.Person, Set: "hardship", ID: "9002", KeyInvalid: true,
			Record: connectors.Record{"category": "OTHER"}, Identity: connectors.Record{"name": confirmed.Name}},
		{Entity: connectors.Person, Set: "hardship", ID: "9003", KeyInvalid: true,
			Record: connectors.Record{"category": "OTHER"}, Identity: connectors.Record{"name": rejected.Name}},
	}
	feed := factsynctest.NewFeed(facts)
	linker := linkage.New(fx.App.Pool, linkage.Options{})
	syncer := factsync.New(fx.App.Pool, fx.Keys, factsync.FeedMap{"employment": feed}, grid.NewRegistry(fx.Store, time.Hour),
		indicators.NewAggregator(indicators.Default()), factsync.Options{Linker: linker, Now: func() time.Time { return factsynctest.Day }})
	ctx := context.Background()
	if _, err := syncer.SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}

	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	fedtest.Register()
	fed, err := federation.New(fedtest.AsMemory(depts), federation.Options{Linked: linkage.NewRows(fx.App.Pool, fx.Keys)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fed.Close)
	opts, ledger := hubOptions(t, fx)
	opts.Federation, opts.Linker = fed, linker
	h := startHub(t, fx, opts, ledger)

	// The matched row is in the person's section, marked.
	type recordSets struct {
		Person struct {
			Records []struct {
				Name   string
				Source struct{ LinkedBy string }
			}
		}
	}
	linkedBy := func(p synth.Person, set string) string {
		var out recordSets
		h.mustQuery(`query($id: String!, $set: String!) { person(idNumber: $id) { records(department: "employment", sets: [$set]) { name source { linkedBy } } } }`,
			map[string]any{"id": p.IDNumber, "set": set}, &out)
		if len(out.Person.Records) != 1 {
			t.Fatalf("records of %s: %+v", set, out)
		}
		return out.Person.Records[0].Source.LinkedBy
	}
	if got := linkedBy(matched, "unemployment"); got != "MATCH" {
		t.Errorf("the matched row's section: linkedBy %s, want MATCH", got)
	}
	if got := linkedBy(confirmed, "hardship"); got != "ID" {
		t.Errorf("a row waiting for review is not the person's yet: linkedBy %s, want ID", got)
	}

	community := confirmed.GridCode[:12]
	admin := h.as(auth.Principal{Subject: "community-1", Roles: []auth.Role{auth.CommunityAdmin}, Scope: []string{community}}).with("")
	type queue struct {
		LinkCandidates struct {
			TotalCount int
			Nodes      []struct {
				ID, Department, Set, SetLabel, Status string
				Method                                *string
				Score                                 float64
				Evidence                              []struct {
					Field, Level string
					Weight       float64
				}
				Record struct{ Name *string }
				Person *struct{ Name string }
			}
		}
	}
	const q = `{ linkCandidates { totalCount nodes { id department set setLabel status method score
		evidence { field level weight } record { name } person { name } } } }`
	var got queue
	admin.mustQuery(q, nil, &got)
	var mine []string
	for _, n := range got.LinkCandidates.Nodes {
		if n.Person == nil || n.Record.Name == nil || n.Person.Name != *n.Record.Name {
			t.Errorf("candidate %+v: both sides should show the name", n)
		}
		mine = append(mine, *n.Record.Name)
	}
	if !slices.Contains(mine, confirmed.Name) {
		t.Fatalf("the community's reviewer sees %v, want %s among them", mine, confirmed.Name)
	}
	if rejected.GridCode[:12] != community && slices.Contains(mine, rejected.Name) {
		t.Errorf("a candidate outside the reviewer's community is listed")
	}
	var cand string
	for _, n := range got.LinkCandidates.Nodes {
		if *n.Record.Name == confirmed.Name {
			cand = n.ID
			if n.Status != "REVIEW" || n.SetLabel == n.Set || n.Score <= 0 || n.Score >= 0.999 || len(n.Evidence) == 0 || n.Evidence[0].Level != "EXACT" {
				t.Errorf("candidate = %+v", n)
			}
		}
	}

	// Outside the scope, or the wrong role or department: nothing to see or decide.
	var other string
	for _, p := range city.Persons {
		if p.GridCode[:12] != community && p.GridCode[:12] != rejected.GridCode[:12] && p.GridCode[:12] != matched.GridCode[:12] {
			other = p.GridCode[:12]
			break
		}
	}
	outsider := h.as(auth.Principal{Subject: "community-2", Roles: []auth.Role{auth.CommunityAdmin}, Scope: []string{other}}).with("")
	var none queue
	outsider.mustQuery(q, nil, &none)
	if none.LinkCandidates.TotalCount != 0 {
		t.Errorf("a reviewer of another community sees %+v", none)
	}
	const confirm = `mutation($id: ID!) { confirmLink(id: $id) { status method person { name } } }`
	if errs := outsider.query(confirm, map[string]any{"id": cand}, nil); len(errs) != 1 || errs[0].Extensions["code"] != "NOT_FOUND" {
		t.Errorf("confirming outside the scope: %+v, want NOT_FOUND", errs)
	}
	missing := linkage.CandidateID("employment", "hardship", "999999")
	if errs := admin.query(confirm, map[string]any{"id": missing}, nil); len(errs) != 1 || errs[0].Extensions["code"] != "NOT_FOUND" {
		t.Errorf("confirming a row that does not exist: %+v, want NOT_FOUND", errs)
	}
	health := h.as(auth.Principal{Subject: "officer-h", Roles: []auth.Role{auth.DeptOfficer}, Department: "health"}).with("")
	health.mustQuery(q, nil, &none)
	if none.LinkCandidates.TotalCount != 0 {
		t.Errorf("a health officer sees employment's rows: %+v", none)
	}
	if errs := health.query(confirm, map[string]any{"id": cand}, nil); len(errs) != 1 || errs[0].Extensions["code"] != "NOT_FOUND" {
		t.Errorf("a health officer confirming employment's row: %+v, want NOT_FOUND", errs)
	}
	worker := h.as(auth.Principal{Subject: "w", Roles: []auth.Role{auth.GridWorker}, Scope: []string{confirmed.GridCode}}).with("")
	if errs := worker.query(q, nil, nil); len(errs) != 1 || errs[0].Extensions["code"] != "FORBIDDEN" {
		t.Errorf("a grid worker reading the queue: %+v, want FORBIDDEN", errs)
	}
	employment := h.as(auth.Principal{Subject: "officer-e", Roles: []auth.Role{auth.DeptOfficer}, Department: "employment"}).with("")
	var theirs queue
	employment.mustQuery(q, nil, &theirs)
	if theirs.LinkCandidates.TotalCount < 2 {
		t.Errorf("employment's officer sees %d candidates, want both of its rows", theirs.LinkCandidates.TotalCount)
	}

	// Confirm one, reject the other.
	var done struct {
		ConfirmLink struct {
			Status string
			Method *string
			Person struct{ Name string }
		}
	}
	admin.mustQuery(confirm, map[string]any{"id": cand}, &done)
	if done.ConfirmLink.Status != "LINKED" || done.ConfirmLink.Method == nil || *done.ConfirmLink.Method != "REVIEWED" || done.ConfirmLink.Person.Name != confirmed.Name {
		t.Errorf("confirmLink = %+v", done)
	}
	var rejectID string
	for _, n := range theirs.LinkCandidates.Nodes {
		if *n.Record.Name == rejected.Name {
			rejectID = n.ID
		}
	}
	var rej struct{ RejectLink struct{ Status string } }
	employment.mustQuery(`mutation($id: ID!) { rejectLink(id: $id) { status } }`, map[string]any{"id": rejectID}, &rej)
	if rej.RejectLink.Status != "UNLINKED" {
		t.Errorf("rejectLink = %+v, want UNLINKED", rej)
	}

	// The decisions outlive a full re-sync and re-link.
	if _, err := syncer.SyncAll(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := linkedBy(confirmed, "hardship"); got != "REVIEWED" {
		t.Errorf("after a re-sync the confirmed row: linkedBy %s, want REVIEWED", got)
	}
	if got := linkedBy(matched, "unemployment"); got != "MATCH" {
		t.Errorf("after a re-sync the matched row: linkedBy %s, want MATCH", got)
	}
	employment.mustQuery(q, nil, &theirs)
	if theirs.LinkCandidates.TotalCount != 0 {
		t.Errorf("after the decisions and a re-sync the queue holds %+v", theirs.LinkCandidates)
	}

	// Each decision is in the ledger, against the person.
	auditor := h.as(auth.Principal{Subject: "auditor-1", Roles: []auth.Role{auth.Auditor}}).with("")
	for _, c := range []struct {
		p     synth.Person
		actor string
		field string
	}{{confirmed, "community-1", "confirmLink:employment.hardship.9002"}, {rejected, "officer-e", "rejectLink:employment.hardship.9003"}} {
		var log struct {
			AuditLog struct {
				Nodes []struct {
					Actor, Action string
					Fields        []string
				}
			}
		}
		auditor.mustQuery(`query($p: ID!) { auditLog(person: $p) { nodes { actor action fields } } }`,
			map[string]any{"p": strconv.FormatInt(c.p.ID, 10)}, &log)
		found := false
		for _, e := range log.AuditLog.Nodes {
			found = found || e.Action == "link" && e.Actor == c.actor && slices.Contains(e.Fields, c.field)
		}
		if !found {
			t.Errorf("no ledger entry %s by %s: %+v", c.field, c.actor, log.AuditLog.Nodes)
		}
	}
	if rep, err := ledger.Verify(ctx); err != nil || rep.Broken != nil {
		t.Fatalf("chain: %+v, %v", rep, err)
	}
}
