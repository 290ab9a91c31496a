package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	"github.com/gridhub/gridhub/internal/server"
	"github.com/gridhub/gridhub/internal/testcity"
)

// reviewHub syncs employment rows (facts) through record linkage and serves
// the hub over the synced links, the federation answering in memory; each
// customize may change its options.
func reviewHub(t *testing.T, fx *testcity.Fixture, facts []connectors.Fact, customize ...func(*server.Options)) (*hub, *factsync.Syncer) {
	t.Helper()
	feed := factsynctest.NewFeed(facts)
	linker := linkage.New(fx.App.Pool, linkage.Options{})
	syncer := factsync.New(fx.App.Pool, fx.Keys, factsync.FeedMap{"employment": feed}, grid.NewRegistry(fx.Store, time.Hour),
		indicators.NewAggregator(indicators.Default()), factsync.Options{Linker: linker, Now: func() time.Time { return factsynctest.Day }})
	if _, err := syncer.SyncAll(context.Background(), false); err != nil {
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
	for _, c := range customize {
		c(&opts)
	}
	return startHub(t, fx, opts, ledger), syncer
}

// The /review page on a phone: community staff sign in, see the rows
// waiting for review side by side with the proposed residents (the ID
// number masked), the score and the evidence, and confirm one and reject
// another; the decisions are the hub's (links and link_decisions), by them.
func TestReviewPageConfirmsAndRejects(t *testing.T) {
	fx := testcity.Load(t)
	// Two residents of one community whose names no one else has.
	ps := uniqueNamed(fx.City, len(fx.City.Persons))
	confirmed := ps[0]
	var rejected = ps[1]
	for _, p := range ps[1:] {
		if p.GridCode[:12] == confirmed.GridCode[:12] {
			rejected = p
			break
		}
	}
	if rejected.GridCode[:12] != confirmed.GridCode[:12] {
		t.Fatal("no two uniquely named residents in one community")
	}
	facts := []connectors.Fact{
		{Entity: connectors.Person, Set: "hardship", ID: "9102", KeyInvalid: true,
			Record: connectors.Record{"category": "OTHER"}, Identity: connectors.Record{"name": confirmed.Name}},
		{Entity: connectors.Person, Set: "hardship", ID: "9103", KeyInvalid: true,
			Record: connectors.Record{"category": "OTHER"}, Identity: connectors.Record{"name": rejected.Name}},
	}
	h, _ := reviewHub(t, fx, facts, func(o *server.Options) { o.Dev = true })
	staff := auth.Principal{Subject: "community-staff", Roles: []auth.Role{auth.CommunityAdmin}, Scope: []string{confirmed.GridCode[:12]}}

	p := newPage(t, 390, 844, true)
	p.signIn(h.srv.URL+"/review", h.as(staff).token)
	p.wait("the queue", `document.querySelectorAll('.cand').length >= 2`)
	if got := p.text("#total"); got != "共 2 条待审核" {
		t.Errorf("total: %q", got)
	}
	card := func(name string) string {
		var id string
		p.eval(`(Array.from(document.querySelectorAll('.cand')).find((c) => c.querySelector('.side.record dd').textContent === `+
			jsString(name)+`) || {dataset: {}}).dataset.id || ''`, &id)
		if id == "" {
			t.Fatalf("no card for %s", name)
		}
		return `.cand[data-id="` + id + `"]`
	}
	c1 := card(confirmed.Name)
	if got := p.text(c1 + " .side.person dd"); got != confirmed.Name {
		t.Errorf("the proposed resident's side shows %q, want %s", got, confirmed.Name)
	}
	side := p.text(c1 + " .side.person")
	if strings.Contains(side, confirmed.IDNumber) || !strings.Contains(side, "身份证号") || !strings.Contains(side, "*") {
		t.Errorf("the resident's ID number should be shown masked: %q", side)
	}
	if got := p.text(c1 + " .score"); !strings.HasPrefix(got, "匹配度 ") || !strings.HasSuffix(got, "%") {
		t.Errorf("score: %q", got)
	}
	if got := p.text(c1 + " .evidence"); !strings.Contains(got, "姓名：一致") {
		t.Errorf("evidence: %q", got)
	}
	var wide bool
	p.eval(`document.documentElement.scrollWidth > window.innerWidth`, &wide)
	if wide {
		t.Error("the page scrolls sideways on a phone")
	}

	p.do(chromedp.Click(chromedp.CSS(c1 + " button.confirm")))
	p.wait("the confirmation", `(document.querySelector('`+c1+` .decided') || {}).textContent === '已确认：此记录已关联到该居民。'`)
	c2 := card(rejected.Name)
	p.do(chromedp.Click(chromedp.CSS(c2 + " button.reject")))
	p.wait("the rejection", `(document.querySelector('`+c2+` .decided') || {}).textContent === '已拒绝：不会再次推荐此关联。'`)
	if got := p.text("#total"); got != "共 0 条待审核" {
		t.Errorf("total after both decisions: %q", got)
	}
	p.noErrors()

	ctx := context.Background()
	for _, c := range []struct{ fact, outcome, decision string }{{"9102", "LINKED", "CONFIRMED"}, {"9103", "UNLINKED", "REJECTED"}} {
		var outcome, decision, actor string
		if err := fx.Store.Pool.QueryRow(ctx, `SELECT l.outcome, d.decision, d.actor FROM links l
			JOIN link_decisions d USING (department, set, fact_id) WHERE l.department = 'employment' AND l.fact_id = $1`, c.fact).
			Scan(&outcome, &decision, &actor); err != nil {
			t.Fatalf("row %s: %v", c.fact, err)
		}
		if outcome != c.outcome || decision != c.decision || actor != staff.Subject {
			t.Errorf("row %s: %s, %s by %s; want %s, %s by %s", c.fact, outcome, decision, actor, c.outcome, c.decision, staff.Subject)
		}
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
