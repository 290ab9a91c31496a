package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/gridwork"
	"github.com/gridhub/gridhub/internal/report"
	"github.com/gridhub/gridhub/internal/server"
	"github.com/gridhub/gridhub/internal/synth"
	"github.com/gridhub/gridhub/internal/testcity"
)

// caseSystem stands in for the department that takes events: it records
// every delivery and answers with a case number per idempotency key, as a
// case system does (the real one, internal/deptsim, is driven by the
// binary's end-to-end test).
type caseSystem struct {
	mu    sync.Mutex
	got   []connectors.Delivery
	cases map[string]string
}

func (c *caseSystem) WriteReceipt(ctx context.Context, dept string, d connectors.Delivery) (connectors.Receipt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, d)
	if c.cases == nil {
		c.cases = map[string]string{}
	}
	n, ok := c.cases[d.IdempotencyKey]
	if !ok {
		n = fmt.Sprintf("SB2026%05d", len(c.cases)+1)
		c.cases[d.IdempotencyKey] = n
	}
	return connectors.Receipt{"code": "OK", "caseNo": n}, nil
}

func (c *caseSystem) deliveries() []connectors.Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// noReader is a report.Reader for hubs whose tests draft no reports.
type noReader struct{}

func (noReader) Read(ctx context.Context, dept string, req connectors.ReadRequest) (*federation.Answer, error) {
	return nil, fmt.Errorf("no department %s in this test", dept)
}

// newEventsHub is a work hub whose events are delivered by a running River
// client to a caseSystem.
func newEventsHub(t *testing.T, customize ...func(opts *server.Options, url string)) (*hub, *gridwork.Service, *caseSystem) {
	t.Helper()
	fx := testcity.Load(t)
	opts, ledger := hubOptions(t, fx)
	conf := gridwork.Default(opts.Config.Get().Departments)
	work, err := gridwork.NewService(fx.App.Pool, func() *gridwork.Config { return conf }, gridwork.Options{MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	opts.Work = work
	cat, err := report.DefaultCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	tpls, err := report.DefaultTemplates(cat)
	if err != nil {
		t.Fatal(err)
	}
	reports, err := report.NewService(fx.App.Pool, cat, tpls, noReader{}, report.Options{Opener: fx.Keys})
	if err != nil {
		t.Fatal(err)
	}
	cs := &caseSystem{}
	client, err := report.NewClient(reports, report.WritersFunc(func(context.Context, string, connectors.Delivery) error { return nil }), report.ClientConfig{
		Departments: []string{conf.Events.Department}, RetryBase: 10 * time.Millisecond, FetchCooldown: 5 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond, TestOnly: true, AddWorkers: work.AddWorkers(cs),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		client.StopAndCancel(stop)
	})
	return startHub(t, fx, opts, ledger, customize...), work, cs
}

// buildingOf is the place of a household's building: a point in its grid.
func buildingOf(city *synth.City, h synth.Household) (lon, lat float64) {
	for _, b := range city.Buildings {
		if b.ID == h.BuildingID {
			return b.Lon, b.Lat
		}
	}
	return 0, 0
}

// jpeg is a file whose first bytes make it a JPEG, n bytes long.
func jpeg(n int) []byte {
	b := make([]byte, n)
	copy(b, []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0})
	return b
}

type upload struct {
	name, contentType string
	data              []byte
}

// multipartGraphQL sends an operation with files, as the GraphQL multipart
// request spec says: operations, map, then the files; variables.input.photos
// are the files.
func (h *hub) multipartGraphQL(query string, input map[string]any, files []upload) gqlResponse {
	h.t.Helper()
	photos := make([]any, len(files))
	input["photos"] = photos
	ops, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"in": input}})
	m := map[string][]string{}
	for i := range files {
		m[fmt.Sprint(i)] = []string{fmt.Sprintf("variables.in.photos.%d", i)}
	}
	mp, _ := json.Marshal(m)
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("operations", string(ops))
	w.WriteField("map", string(mp))
	for i, f := range files {
		hdr := textproto.MIMEHeader{}
		hdr.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%d"; filename="%s"`, i, f.name))
		hdr.Set("Content-Type", f.contentType)
		part, _ := w.CreatePart(hdr)
		part.Write(f.data)
	}
	w.Close()
	req, _ := http.NewRequest("POST", h.srv.URL+"/graphql", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+h.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r gqlResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		h.t.Fatalf("HTTP %d: %s", resp.StatusCode, raw)
	}
	return r
}

const reportEvent = `mutation($in: ReportEventInput!) { reportEvent(input: $in) {
	id gridCode outsideOwnGrid kind category status caseNumber photos { n contentType size url } } }`

type eventOut struct {
	ID, GridCode, Kind, Category, Status string
	OutsideOwnGrid                       bool
	CaseNumber                           *string
	Photos                               []struct {
		N           int
		ContentType string
		Size        int
		URL         string
	}
	Stage *struct{ Value, Label string }
}

// A grid worker reports an event with a photo: stored, delivered once to
// the department that takes events, its case number kept, its photo served
// only to who may read the event; a point outside the worker's grid is
// flagged; bad photos and a point outside the city are refused with a code
// and leave nothing; the case's stage follows the department's facts.
func TestReportEvent(t *testing.T) {
	h, work, cs := newEventsHub(t)
	ctx := context.Background()
	own, other := twoGrids(t, h.fx.City)
	worker := h.as(auth.Principal{Subject: "wgy-201", Roles: []auth.Role{auth.GridWorker}, Scope: []string{own.GridCode}}).with("")
	lon, lat := buildingOf(h.fx.City, own)
	input := func(key string) map[string]any {
		return map[string]any{"kind": "COMPONENT", "category": "井盖破损", "description": "人行道井盖松动，有安全隐患",
			"lon": lon, "lat": lat, "address": "1栋前", "idempotencyKey": key}
	}
	photo := jpeg(4000)
	r := worker.multipartGraphQL(reportEvent, input("event-0001"), []upload{{"a.jpg", "image/jpeg", photo}})
	if len(r.Errors) > 0 {
		t.Fatalf("reportEvent: %+v", r.Errors)
	}
	var got struct{ ReportEvent eventOut }
	json.Unmarshal(r.Data, &got)
	e := got.ReportEvent
	if e.GridCode != own.GridCode || e.OutsideOwnGrid || len(e.Photos) != 1 || e.Photos[0].ContentType != "image/jpeg" || e.Photos[0].Size != len(photo) {
		t.Fatalf("reportEvent = %+v", e)
	}

	// Delivered once, about no one, with the configured fields.
	var ev eventOut
	waitFor(t, "the event delivered", func() bool {
		var q struct{ GridEvent eventOut }
		worker.mustQuery(`query($id: ID!) { gridEvent(id: $id) { id status caseNumber } }`, map[string]any{"id": e.ID}, &q)
		ev = q.GridEvent
		return ev.Status == "DELIVERED"
	})
	if ev.CaseNumber == nil || *ev.CaseNumber != "SB202600001" {
		t.Errorf("case number %v, want the department's", ev.CaseNumber)
	}
	ds := cs.deliveries()
	if len(ds) != 1 || ds[0].Entity != "" || ds[0].Key != "" || ds[0].Fields["cases.kind"] != "COMPONENT" ||
		ds[0].Fields["cases.category"] != "井盖破损" || ds[0].Fields["cases.lon"] != lon || ds[0].IdempotencyKey != "event:"+e.ID {
		t.Errorf("deliveries %+v", ds)
	}
	// A retried request is the same event, delivered no second time.
	r = worker.multipartGraphQL(reportEvent, input("event-0001"), []upload{{"a.jpg", "image/jpeg", photo}})
	json.Unmarshal(r.Data, &got)
	if len(r.Errors) > 0 || got.ReportEvent.ID != e.ID {
		t.Errorf("retry: %+v %+v", r.Errors, got.ReportEvent)
	}

	// The photo: to the reporter, not to a worker of another grid, not
	// without a token.
	get := func(tok string) (int, []byte, string) {
		req, _ := http.NewRequest("GET", h.srv.URL+e.Photos[0].URL, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, resp.Header.Get("Content-Type")
	}
	if code, b, ct := get(worker.token); code != 200 || !bytes.Equal(b, photo) || ct != "image/jpeg" {
		t.Errorf("the reporter gets the photo: %d %s, %d bytes", code, ct, len(b))
	}
	stranger := h.as(auth.Principal{Subject: "wgy-202", Roles: []auth.Role{auth.GridWorker}, Scope: []string{other.GridCode}}).with("")
	if code, _, _ := get(stranger.token); code != http.StatusNotFound {
		t.Errorf("a worker of another grid gets the photo: %d", code)
	}
	if code, _, _ := get(""); code != http.StatusUnauthorized {
		t.Errorf("no token gets the photo: %d", code)
	}

	// Outside the worker's grid: taken, flagged.
	olon, olat := buildingOf(h.fx.City, other)
	in := input("event-0002")
	in["lon"], in["lat"] = olon, olat
	r = worker.multipartGraphQL(reportEvent, in, nil)
	json.Unmarshal(r.Data, &got)
	if len(r.Errors) > 0 || !got.ReportEvent.OutsideOwnGrid || got.ReportEvent.GridCode != other.GridCode {
		t.Errorf("outside the own grid: %+v %+v", r.Errors, got.ReportEvent)
	}

	// Bad input: a code, a field, a rule, nothing stored.
	for _, tc := range []struct {
		name, field, rule string
		change            func(map[string]any)
		files             []upload
	}{
		{"photo too large", "photos[0]", "too_large", nil, []upload{{"big.jpg", "image/jpeg", jpeg(2<<20 + 1)}}},
		{"not a photo", "photos[0]", "type", nil, []upload{{"a.pdf", "application/pdf", []byte("%PDF-1.4 not a photo")}}},
		{"declared as another type", "photos[1]", "type", nil, []upload{{"a.jpg", "image/jpeg", photo}, {"b.png", "image/png", photo}}},
		{"too many photos", "photos", "max_items", nil, []upload{{"1.jpg", "image/jpeg", photo}, {"2.jpg", "image/jpeg", photo}, {"3.jpg", "image/jpeg", photo}, {"4.jpg", "image/jpeg", photo}}},
		{"outside the city", "lon", "outside_city", func(m map[string]any) { m["lon"], m["lat"] = 2.35, 48.85 }, nil},
		{"unknown category", "category", "unknown", func(m map[string]any) { m["category"] = "占道经营" }, nil},
	} {
		in := input("bad-" + tc.rule + "-" + tc.field)
		if tc.change != nil {
			tc.change(in)
		}
		r := worker.multipartGraphQL(reportEvent, in, tc.files)
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" || r.Errors[0].Extensions["field"] != tc.field || r.Errors[0].Extensions["rule"] != tc.rule {
			t.Errorf("%s: %+v, want BAD_USER_INPUT on %s rule %s", tc.name, r.Errors, tc.field, tc.rule)
		}
	}
	var events, photos int
	if err := h.fx.Store.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM grid_events), (SELECT count(*) FROM grid_event_photos)`).Scan(&events, &photos); err != nil {
		t.Fatal(err)
	}
	if events != 2 || photos != 1 {
		t.Errorf("stored %d events and %d photos, want 2 and 1", events, photos)
	}

	// The case's stage follows the department's facts.
	if _, err := h.fx.Store.Pool.Exec(ctx, `SELECT gridhub_fact_partition('facts_urban_management', 'urban_management')`); err != nil {
		t.Fatal(err)
	}
	if _, err := h.fx.Store.Pool.Exec(ctx, `INSERT INTO facts (department, set, key_hmac, id, entity, record, grid_code)
		VALUES ('urban_management', 'cases', '\x00', '900001', 'person', $1, $2)`,
		fmt.Sprintf(`{"caseNumber": %q, "stage": "FILED", "deadline": "2020-01-01T00:00:00Z"}`, *ev.CaseNumber), own.GridCode); err != nil {
		t.Fatal(err)
	}
	changed, err := work.Follow(ctx, "urban_management")
	if err != nil || len(changed) != 1 || changed[0] != e.ID {
		t.Fatalf("Follow: %v %v", changed, err)
	}
	var q struct {
		GridEvent struct {
			Stage    struct{ Value, Label string }
			Deadline string
			Overdue  bool
		}
	}
	worker.mustQuery(`query($id: ID!) { gridEvent(id: $id) { stage { value label } deadline overdue } }`, map[string]any{"id": e.ID}, &q)
	if q.GridEvent.Stage.Label != "立案" || q.GridEvent.Deadline != "2020-01-01" || !q.GridEvent.Overdue {
		t.Errorf("after the sync: %+v", q.GridEvent)
	}
	if again, _ := work.Follow(ctx, "urban_management"); len(again) != 0 {
		t.Errorf("a second Follow with nothing new changed %v", again)
	}
}

// waitFor polls cond for up to 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
