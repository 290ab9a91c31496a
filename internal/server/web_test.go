package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/federation/fedtest"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/report"
	"github.com/gridhub/gridhub/internal/server"
	"github.com/gridhub/gridhub/internal/synth"
	"github.com/gridhub/gridhub/internal/testcity"
)

// The pages (/report, /map) driven in headless Chromium against a full hub:
// the test city, the six department mappings answered in memory, the unified
// report with a running delivery client, and the indicator tables.

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// writes records what the departments received from the delivery workers.
type writes struct {
	mu  sync.Mutex
	got map[string][]connectors.Delivery // department -> deliveries
}

func (w *writes) write(ctx context.Context, dept string, d connectors.Delivery) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.got == nil {
		w.got = map[string][]connectors.Delivery{}
	}
	w.got[dept] = append(w.got[dept], d)
	return nil
}

func (w *writes) snapshot() map[string][]connectors.Delivery {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.got)
}

// newPagesHub serves everything the pages call, built as `gridhub serve`
// builds it: the federation over in-memory departments, the report service
// with its River delivery client (writing to w), and the figures with the
// master index aggregates prepared.
//
// The hub is a dev hub (the pages offer the paste-a-token card); each
// customize may change its options, knowing its address.
func newPagesHub(t *testing.T, customize ...func(opts *server.Options, url string)) (*hub, *writes) {
	t.Helper()
	ctx := context.Background()
	fx := testcity.Load(t)
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	fedtest.Register()
	depts = fedtest.AsMemory(depts)
	fed, err := federation.New(depts, federation.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fed.Close)

	cat, err := report.DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.CheckDepartments(depts); err != nil {
		t.Fatal(err)
	}
	templates, err := report.DefaultTemplates(cat)
	if err != nil {
		t.Fatal(err)
	}
	reports, err := report.NewService(fx.App.Pool, cat, templates, fed, report.Options{Opener: fx.Keys})
	if err != nil {
		t.Fatal(err)
	}
	// The memory connectors take no writes (no connectors.Writer): the
	// departments' inboxes are the recorder.
	w := &writes{}
	client, err := report.NewClient(reports, report.WritersFunc(w.write), report.ClientConfig{
		Departments: cat.Departments(), RetryBase: 10 * time.Millisecond,
		FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond, TestOnly: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client.StopAndCancel(stop)
	})

	ic := indicators.Default()
	registry := grid.NewRegistry(fx.App, time.Hour)
	// Prepare computes the master index aggregates (residents, households):
	// enough for core indicators without syncing any department.
	syncer := factsync.New(fx.App.Pool, fx.Keys, factsync.FeedMap{}, registry, indicators.NewAggregator(ic), factsync.Options{})
	if err := syncer.Prepare(ctx); err != nil {
		t.Fatal(err)
	}

	opts, ledger := hubOptions(t, fx)
	opts.Federation = fed
	opts.Reports = reports
	opts.Figures = indicators.NewService(fx.App.Pool, ic, registry, indicators.Options{})
	opts.Freshness = syncer.Freshness
	opts.Dev = true
	return startHub(t, fx, opts, ledger, customize...), w
}

// page is a headless Chromium tab on the hub, collecting the page's console
// errors and uncaught exceptions.
type page struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	bad []string
}

// newPage starts a fresh Chromium (its own profile, no network but the hub)
// with a viewport of w x h CSS pixels, or skips the test where there is no
// Chromium; in CI (CI=true) a missing browser fails it.
func newPage(t *testing.T, w, h int64, mobile bool) *page {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Chromium at %s: run scripts/install-deps.sh --browser", chromiumPath)
		}
		t.Skipf("no Chromium at %s (scripts/install-deps.sh --browser installs it)", chromiumPath)
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("lang", "zh-CN"),
	)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel)
	p := &page{t: t, ctx: ctx}
	var opts []chromedp.EmulateViewportOption
	if mobile {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait, chromedp.EmulateScale(2))
	}
	// The first action starts the browser; then listen to the page.
	p.do(chromedp.EmulateViewport(w, h, opts...))
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				p.mu.Lock()
				p.bad = append(p.bad, m.String())
				p.mu.Unlock()
			}
		}
	}()
	return p
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("browser: %v (page errors: %v)", err, p.errors())
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) into out.
func (p *page) eval(expr string, out any) {
	p.t.Helper()
	raw, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v (page errors: %v)", expr, err, p.errors())
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			p.t.Fatalf("evaluate %s: decode %s: %v", expr, raw, err)
		}
	}
}

// wait polls a JavaScript predicate until it is true.
func (p *page) wait(what, predicate string) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](predicate,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		p.t.Fatalf("waiting for %s: %v (page errors: %v)", what, err, p.errors())
	}
}

// fill sets a form control's value as typing or picking would, with the
// input and change events the page listens to.
func (p *page) fill(selector, value string) {
	p.t.Helper()
	p.eval(fmt.Sprintf(`(() => {
		const el = document.querySelector(%q);
		if (!el) throw new Error('no element ' + %q);
		el.focus();
		el.value = %q;
		el.dispatchEvent(new Event('input', {bubbles: true}));
		el.dispatchEvent(new Event('change', {bubbles: true}));
		return true;
	})()`, selector, selector, value), nil)
}

// hover moves the mouse to the middle of an element.
func (p *page) hover(selector string) {
	p.t.Helper()
	var at struct{ X, Y float64 }
	p.eval(fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
		return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()`, selector), &at)
	p.do(chromedp.MouseEvent("mouseMoved", at.X, at.Y))
}

func (p *page) text(selector string) string {
	p.t.Helper()
	var s string
	p.eval(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ''`, selector), &s)
	return s
}

// signIn pastes a token into the sign-in card and signs in.
func (p *page) signIn(url, token string) {
	p.t.Helper()
	p.do(chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#token")))
	p.do(chromedp.SetValue(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#signin")))
}

func (p *page) errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.bad)
}

// screenshot saves the whole page (or, not full, what the viewport shows)
// as PNG in a temporary file, kept for a look after the test, and for the
// README's pictures (readme) with GRIDHUB_UPDATE_SCREENSHOTS=1 as
// internal/web/testdata/<name>.
func (p *page) screenshot(name string, full, readme bool) {
	p.t.Helper()
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(p.ctx, shot)
	if err != nil {
		p.t.Fatalf("screenshot: %v", err)
	}
	f, err := os.CreateTemp("", "gridhub-"+strings.TrimSuffix(name, ".png")+"-*.png")
	if err != nil {
		p.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(png); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", f.Name())
	if readme && os.Getenv("GRIDHUB_UPDATE_SCREENSHOTS") == "1" {
		dst := filepath.Join("..", "web", "testdata", name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			p.t.Fatal(err)
		}
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			p.t.Fatal(err)
		}
		p.t.Logf("screenshot: %s", dst)
	}
}

// noErrors fails the test if the page logged an error or threw: a script
// error, a refused Content-Security-Policy, a failed request.
func (p *page) noErrors() {
	p.t.Helper()
	if errs := p.errors(); len(errs) > 0 {
		p.t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

func TestReportPageFillsSubmitsAndTracksDeliveries(t *testing.T) {
	h, inbox := newPagesHub(t)
	// The first resident with a phone: on the first page of the city's first grid.
	subject := h.fx.City.Persons[slices.IndexFunc(h.fx.City.Persons, func(p synth.Person) bool { return p.Phone != "" })]
	gridCode, community := subject.GridCode, subject.GridCode[:12]
	var people struct {
		People struct {
			Nodes []struct{ ID, Name, IDNumber string }
		}
	}
	h.mustQuery(`query($g: ID!) { people(within: $g, first: 100) { nodes { id name idNumber } } }`, map[string]any{"g": gridCode}, &people)
	var personID string
	for _, n := range people.People.Nodes {
		if n.IDNumber == subject.IDNumber {
			personID = n.ID
		}
	}
	if personID == "" {
		t.Fatalf("person %s not on the first page of grid %s", subject.Name, gridCode)
	}
	// The community's staff, as the page is for them.
	staff := auth.Principal{Subject: "community-staff", Roles: []auth.Role{auth.CommunityAdmin}, Scope: []string{community}}
	token := h.as(staff).token

	p := newPage(t, 420, 900, true)
	p.signIn(h.srv.URL+"/report", token)
	p.wait("the templates", `!!document.querySelector('[data-template="home_visit"]')`)
	if got := p.text(`[data-template="home_visit"] .title`); got != "入户走访" {
		t.Errorf("home_visit template is titled %q", got)
	}
	p.do(chromedp.Click(chromedp.CSS(`[data-template="home_visit"]`)))

	// One community in scope: it is picked; the grid is for the staff to pick.
	p.wait("the grids of the community", fmt.Sprintf(`!!document.querySelector('#grid option[value="%s"]')`, gridCode))
	var picked string
	p.eval(`document.querySelector('#community').value`, &picked)
	if picked != community {
		t.Errorf("community picker holds %q, want the staff's one community %s", picked, community)
	}
	p.fill("#grid", gridCode)
	personButton := fmt.Sprintf(`.person[data-person-id="%s"]`, personID)
	p.wait("the people of the grid", fmt.Sprintf(`!!document.querySelector(%q)`, personButton))
	// The list shows masked ID numbers.
	if got := p.text(personButton + " .p-id"); got == subject.IDNumber || !strings.Contains(got, "*") || got[:6] != subject.IDNumber[:6] {
		t.Errorf("people list shows ID %q, want it masked", got)
	}
	p.do(chromedp.Click(chromedp.CSS(personButton)))

	// The pre-filled form: the in-memory 卫健 holds inflowDate 2020-01-01 and
	// children 1 for everyone, the master index the person's phone (a home
	// visit unmasks it).
	p.wait("the pre-filled form", `!!document.querySelector('#report-form')`)
	field := func(key string) string { return fmt.Sprintf(`[data-field="%s"]`, key) }
	value := func(key string) string {
		var v string
		p.eval(fmt.Sprintf(`document.querySelector('%s [name]').value`, field(key)), &v)
		return v
	}
	for key, want := range map[string]string{
		"health.floating.inflowDate": "2020-01-01",
		"health.marriage.children":   "1",
		"core.person.phone":          subject.Phone,
	} {
		if got := value(key); got != want {
			t.Errorf("pre-filled %s = %q, want %q", key, got, want)
		}
	}
	if got := p.text(field("health.marriage.children") + " .meta"); !strings.Contains(got, "卫健") {
		t.Errorf("children's source reads %q, want 卫健 and its as-of time", got)
	}
	var types map[string]string
	p.eval(`Object.fromEntries([...document.querySelectorAll('.field')].map(f => [f.dataset.field, f.querySelector('[name]').tagName + ':' + (f.querySelector('[name]').type || '')]))`, &types)
	for key, want := range map[string]string{
		"core.person.residence":                  "SELECT:select-one", // enum
		"health.floating.inflowDate":             "INPUT:date",
		"health.marriage.children":               "INPUT:number",
		"party_building.membership.outOfContact": "SELECT:select-one", // bool
	} {
		if types[key] != want {
			t.Errorf("control of %s is %s, want %s", key, types[key], want)
		}
	}
	var residence []string
	p.eval(`[...document.querySelectorAll('[data-field="core.person.residence"] option')].map(o => o.textContent)`, &residence)
	if !slices.Contains(residence, "在住") || !slices.Contains(residence, "外出") {
		t.Errorf("residence options %v, want the Chinese labels", residence)
	}
	var key string
	p.eval(`document.querySelector('#report-form').dataset.key`, &key)

	// A visit note (civil affairs) and a wrong number of children (卫健):
	// the hub's error names the index of the value sent (values[i].value),
	// and the page puts it next to the children, on no other field.
	sent := []map[string]any{
		{"field": "civil_affairs.visit.note", "value": "入户走访，家中情况正常"},
		{"field": "health.marriage.children", "value": "3"},
	}
	if value("core.person.residence") == "" {
		// Required, and the master index holds none yet: the form says so
		// before sending anything.
		p.do(chromedp.Click(chromedp.CSS("#submit")))
		p.wait("the required mark", fmt.Sprintf(`!!document.querySelector('%s.invalid')`, field("core.person.residence")))
		p.fill(`[name="core.person.residence"]`, "RESIDENT")
		sent = append(sent, map[string]any{"field": "core.person.residence", "value": "RESIDENT"})
	}
	p.fill(`[name="civil_affairs.visit.note"]`, "入户走访，家中情况正常")
	p.fill(`[name="health.marriage.children"]`, "99")
	p.do(chromedp.Click(chromedp.CSS("#submit")))
	p.wait("the validation error", fmt.Sprintf(`!!document.querySelector('%s.invalid')`, field("health.marriage.children")))
	if got := p.text(field("health.marriage.children") + " .err"); !strings.Contains(got, "超出允许范围") {
		t.Errorf("children's error reads %q", got)
	}
	var invalid []string
	p.eval(`[...document.querySelectorAll('.field.invalid')].map(f => f.dataset.field)`, &invalid)
	if !slices.Equal(invalid, []string{"health.marriage.children"}) {
		t.Errorf("fields marked invalid: %v, want only the children", invalid)
	}
	p.eval(`document.querySelector('[data-field="health.marriage.children"]').scrollIntoView({block: 'center'})`, nil)
	// Not for the README: the in-memory departments answer placeholder
	// values ("reason-0414-0") a real form never shows.
	p.screenshot("report-form.png", false, false)

	// Corrected: submitted, then polled until every department has it.
	p.fill(`[name="health.marriage.children"]`, "3")
	p.do(chromedp.Click(chromedp.CSS("#submit")))
	p.wait("the submission", `!!document.querySelector('#result')`)
	p.wait("every delivery done", `(() => { const d = [...document.querySelectorAll('.delivery')];
		return d.length > 0 && d.every(x => x.dataset.status === 'DELIVERED' || x.dataset.status === 'FAILED'); })()`)
	var shown map[string]string
	p.eval(`Object.fromEntries([...document.querySelectorAll('.delivery')].map(d => [d.querySelector('.d-name').textContent, d.querySelector('.badge').textContent]))`, &shown)
	if diff := cmp.Diff(map[string]string{"民政": "已送达", "卫健": "已送达"}, shown); diff != "" {
		t.Errorf("delivery statuses on the page (-want +got):\n%s", diff)
	}
	p.wait("the overall status", `document.querySelector('#overall').dataset.status === 'DELIVERED'`)
	var submissionID string
	p.eval(`document.querySelector('#result').dataset.submission`, &submissionID)

	// Each department received exactly the field changed for it.
	got := inbox.snapshot()
	want := map[string]map[string]any{
		"civil_affairs": {"visit.note": "入户走访，家中情况正常"},
		"health":        {"marriage.children": int64(3)},
	}
	if len(got) != len(want) {
		t.Errorf("deliveries went to %v, want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for dept, fields := range want {
		ds := got[dept]
		if len(ds) != 1 {
			t.Errorf("%s received %d deliveries, want 1", dept, len(ds))
			continue
		}
		d := ds[0]
		if diff := cmp.Diff(fields, d.Fields); diff != "" {
			t.Errorf("%s received (-want +got):\n%s", dept, diff)
		}
		if d.Key != subject.IDNumber || d.IdempotencyKey != report.IdempotencyKey(submissionID, dept) {
			t.Errorf("%s delivery for key %q under %q, want the subject under %s:%s", dept, d.Key, d.IdempotencyKey, submissionID, dept)
		}
	}

	// The form's key was made once, on load: sending it again (a retry of
	// the last request) answers with the same submission.
	var again struct{ SubmitReport struct{ ID string } }
	h.as(staff).with("home_visit").mustQuery(`mutation($in: SubmitReportInput!) { submitReport(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"template": "home_visit", "version": 1, "subject": personID, "idempotencyKey": key, "values": sent,
	}}, &again)
	if again.SubmitReport.ID != submissionID {
		t.Errorf("the form's key %s gave submission %s again, want %s", key, again.SubmitReport.ID, submissionID)
	}
	p.eval(`document.querySelector('#result').scrollIntoView({block: 'start'})`, nil)
	p.screenshot("report.png", false, false)
	p.noErrors()
}

// largest is the key with the largest count.
func largest(counts map[string]int) string {
	best := ""
	for k, n := range counts {
		if best == "" || n > counts[best] || n == counts[best] && k < best {
			best = k
		}
	}
	return best
}

func TestMapPageDrawsIndicatorsOverGridPolygons(t *testing.T) {
	h, _ := newPagesHub(t)
	bi := h.as(auth.Principal{Subject: "bi-tool", Roles: []auth.Role{auth.BIReader}}).token

	// What the map must show: the residents of each community of the district.
	residents := map[string]int{}
	for _, person := range h.fx.City.Persons {
		residents[person.GridCode[:12]]++
	}
	communities, grids := map[string]bool{}, map[string][]string{}
	for _, u := range h.fx.City.Units {
		switch len(u.Code) {
		case 12:
			communities[u.Code] = true
		case 15:
			grids[u.Code[:12]] = append(grids[u.Code[:12]], u.Code)
		}
	}

	p := newPage(t, 1280, 900, false)
	p.signIn(h.srv.URL+"/map", bi)
	ready := func(level, within string) {
		t.Helper()
		p.wait("the map of "+level+" within "+within, fmt.Sprintf(`(() => { const c = document.querySelector('#map-card');
			return !!c && c.dataset.state === 'ready' && c.dataset.level === %q && c.dataset.within === %q; })()`, level, within))
	}
	// One district: the map opens inside it, by township.
	ready("TOWNSHIP", "340705")
	var labels []string
	p.eval(`[...document.querySelectorAll('#indicator option')].map(o => o.textContent)`, &labels)
	if !slices.Contains(labels, "户籍人口（人）") || !slices.Contains(labels, "低保人员（人）") {
		t.Errorf("indicator picker offers %v, want the catalogue's Chinese labels", labels)
	}
	p.fill("#indicator", "residents")
	p.fill("#level", "COMMUNITY")
	ready("COMMUNITY", "340705")

	type unit struct {
		Code, Fill, Value, Suppressed string
	}
	var units []unit
	p.eval(`[...document.querySelectorAll('svg#map path.unit')].map(u => ({code: u.dataset.code, fill: u.getAttribute('fill'), value: u.dataset.value, suppressed: u.dataset.suppressed}))`, &units)
	if len(units) != len(communities) {
		t.Fatalf("the map has %d unit paths, the district %d communities", len(units), len(communities))
	}
	fills := map[string]bool{}
	for _, u := range units {
		if !communities[u.Code] {
			t.Errorf("path for %s, not a community of the city", u.Code)
		}
		if !strings.HasPrefix(u.Fill, "#") && u.Fill != "url(#hatch)" {
			t.Errorf("%s filled %q, want a ramp colour or the hatch", u.Code, u.Fill)
		}
		fills[u.Fill] = true
		switch n := residents[u.Code]; {
		case u.Suppressed == "true":
			if n >= 5 {
				t.Errorf("%s suppressed with %d residents", u.Code, n)
			}
		case u.Value != strconv.Itoa(n):
			t.Errorf("%s shows %q residents, the city has %d", u.Code, u.Value, n)
		}
	}
	if len(fills) < 3 {
		t.Errorf("only %d distinct fills: %v, want a colour ramp", len(fills), fills)
	}
	var legend []string
	p.eval(`[...document.querySelectorAll('#legend .legend-item')].map(i => i.textContent)`, &legend)
	classes := 0
	for _, l := range legend {
		if strings.Contains(l, "人") && strings.Contains(l, "–") {
			classes++
		}
	}
	if classes < 2 || !slices.ContainsFunc(legend, func(s string) bool { return strings.HasPrefix(s, "已抑制 (小于5)") }) {
		t.Errorf("legend %q, want value breaks and 已抑制 (小于5)", legend)
	}
	if got := p.text(`#asof li[data-department="core"]`); !strings.Contains(got, "基本信息") || !strings.Contains(got, "-") {
		t.Errorf("as-of of the master index reads %q", got)
	}
	if got := p.text("#total"); !strings.Contains(got, strconv.FormatInt(int64(len(h.fx.City.Persons))/1000, 10)) {
		t.Errorf("total reads %q, the city has %d residents", got, len(h.fx.City.Persons))
	}
	// A pointer over the largest community shows its tooltip in the picture.
	p.eval(`document.activeElement && document.activeElement.blur()`, nil)
	p.hover(`svg#map path.unit[data-code="` + largest(residents) + `"]`)
	p.screenshot("map.png", true, true)

	// Drill into a community: its grids; then back up by the breadcrumb.
	first := slices.Sorted(maps.Keys(communities))[0]
	p.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`svg#map path.unit[data-code="%s"]`, first))))
	ready("GRID", first)
	var drawn []string
	p.eval(`[...document.querySelectorAll('svg#map path.unit')].map(u => u.dataset.code)`, &drawn)
	slices.Sort(drawn)
	if want := slices.Sorted(slices.Values(grids[first])); !slices.Equal(drawn, want) {
		t.Errorf("community %s drawn with grids %v, want %v", first, drawn, want)
	}
	var crumbs []string
	p.eval(`[...document.querySelectorAll('#breadcrumb li')].map(l => l.textContent)`, &crumbs)
	if len(crumbs) != 3 || crumbs[0] != "铜官区" {
		t.Errorf("breadcrumb %v, want 铜官区 › township › community", crumbs)
	}
	p.do(chromedp.Click(chromedp.CSS(`#breadcrumb button[data-code="340705"]`)))
	ready("TOWNSHIP", "340705")
	p.noErrors()
}
