package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/live"
	"github.com/gridhub/gridhub/internal/server"
)

// startLive runs a live hub on the test database until the test ends and
// waits until it listens.
func startLive(t *testing.T, opts *server.Options) *live.Hub {
	t.Helper()
	l := live.New(opts.Store.Pool, nil)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go l.Run(ctx)
	select {
	case <-l.Ready():
	case <-time.After(time.Minute):
		t.Fatal("the live hub does not listen")
	}
	return l
}

// withLive gives a test hub live updates and keeps its options in keep, to
// start another replica from.
func withLive(t *testing.T, keep *server.Options) func(*server.Options, string) {
	return func(opts *server.Options, _ string) {
		opts.Live = startLive(t, opts)
		*keep = *opts
	}
}

// replica is another replica of the hub opts built: the same database, a
// live hub and a server of its own.
func replica(t *testing.T, h *hub, opts server.Options) (*hub, *live.Hub) {
	t.Helper()
	opts.Live = startLive(t, &opts)
	opts.Metrics = nil
	srv := httptest.NewServer(server.New(opts))
	t.Cleanup(srv.Close)
	c := *h
	c.srv = srv
	return &c, opts.Live
}

// liveClient is the reference subscription client (tools/live/subscribe.mjs:
// graphql-ws or graphql-sse) subscribed to one subscription; each message it
// prints is a line.
type liveClient struct {
	t     *testing.T
	name  string
	lines chan liveMessage
	stdin io.WriteCloser
}

// liveMessage is one message the client printed.
type liveMessage struct {
	Next     json.RawMessage `json:"next"`
	Errors   []gqlError      `json:"errors"`
	Complete bool            `json:"complete"`
	Closed   int             `json:"closed"`
	Reason   string          `json:"reason"`
}

// subscribe starts the client (scripts/live-client.sh, which installs it
// when missing) on transport ws or sse, as token.
func subscribe(t *testing.T, name, transport, url, token, query string, vars map[string]any) *liveClient {
	t.Helper()
	v, _ := json.Marshal(vars)
	cmd := exec.Command("bash", "../../scripts/live-client.sh", "--transport", transport, "--url", url+"/graphql",
		"--token", token, "--query", query, "--variables", string(v))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c := &liveClient{t: t, name: name, lines: make(chan liveMessage, 100), stdin: stdin}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m liveMessage
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m.Errors = []gqlError{{Message: "unreadable line: " + sc.Text()}}
			}
			c.lines <- m
		}
		cmd.Wait()
		if s := stderr.String(); strings.Contains(s, "Error") {
			t.Logf("%s: stderr: %s", name, s)
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
	})
	return c
}

// next is the client's next message; the test fails when it ends or says
// nothing for a minute.
func (c *liveClient) next() liveMessage {
	c.t.Helper()
	select {
	case m, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("%s: the client ended", c.name)
		}
		return m
	case <-time.After(time.Minute):
		c.t.Fatalf("%s: no message in a minute", c.name)
	}
	return liveMessage{}
}

// rest stops the client and returns what it printed since.
func (c *liveClient) rest() []liveMessage {
	c.stdin.Close()
	var out []liveMessage
	for {
		select {
		case m, ok := <-c.lines:
			if !ok {
				return out
			}
			out = append(out, m)
		case <-time.After(time.Minute):
			c.t.Fatalf("%s: the client does not end", c.name)
		}
	}
}

// waitSubscribers waits until l feeds n subscriptions.
func waitSubscribers(t *testing.T, l *live.Hub, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); l.Subscribers() < n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscriptions, want %d", l.Subscribers(), n)
		}
	}
}

// refused checks a client was refused with code (a GraphQL error), or for
// a connection without a token, closed or answered with an error.
func refused(t *testing.T, c *liveClient, code string) {
	t.Helper()
	m := c.next()
	switch {
	case m.Next != nil:
		t.Errorf("%s: got data %s, want %s", c.name, m.Next, code)
	case code == "" && (m.Closed != 0 || len(m.Errors) > 0):
	case code != "" && len(m.Errors) > 0 && m.Errors[0].Extensions["code"] == code:
	default:
		t.Errorf("%s: %+v, want %s", c.name, m, code)
	}
}

const submissionDelivery = `subscription($id: ID!) { submissionDelivery(id: $id) { id status deliveries { department status } } }`

// A submission made through one replica is followed to its delivery by
// clients of another, over graphql-ws and SSE: first as it is (nothing
// delivered while the departments are held), then delivered, then the
// stream ends. No token, or a caller whose scope does not hold the
// submission, is refused; a subscription ends with its token.
func TestLiveSubmissionDelivery(t *testing.T) {
	var opts server.Options
	a, w := newPagesHub(t, func(o *server.Options, _ string) { opts = *o })
	b, lb := replica(t, a, opts)
	ctx := context.Background()
	var subject struct {
		ID       int64
		GridCode string
	}
	if err := a.fx.Store.Pool.QueryRow(ctx, `SELECT id, grid_code FROM persons ORDER BY id LIMIT 1`).Scan(&subject.ID, &subject.GridCode); err != nil {
		t.Fatal(err)
	}
	release := w.hold()
	staff := a.as(auth.Principal{Subject: "sq-live", Roles: []auth.Role{auth.CommunityAdmin}, Scope: []string{subject.GridCode[:12]}}).with("home_visit")
	var sub struct{ SubmitReport struct{ ID, Status string } }
	staff.mustQuery(`mutation($s: ID!) { submitReport(input: {template: "home_visit", version: 1, subject: $s, idempotencyKey: "live-0001",
		values: [{field: "core.person.residence", value: "RESIDENT"}, {field: "civil_affairs.visit.note", value: "入户走访，家中情况正常"}]}) { id status } }`,
		map[string]any{"s": fmt.Sprint(subject.ID)}, &sub)
	id := sub.SubmitReport.ID
	if sub.SubmitReport.Status == "DELIVERED" {
		t.Fatal("delivered while the departments are held")
	}

	vars := map[string]any{"id": id}
	clients := []*liveClient{
		subscribe(t, "graphql-ws", "ws", b.srv.URL, staff.token, submissionDelivery, vars),
		subscribe(t, "graphql-sse", "sse", b.srv.URL, staff.token, submissionDelivery, vars),
	}
	type submission struct {
		SubmissionDelivery struct {
			ID, Status string
			Deliveries []struct{ Department, Status string }
		}
	}
	for _, c := range clients {
		m := c.next()
		var s submission
		if err := json.Unmarshal(m.Next, &s); err != nil || s.SubmissionDelivery.ID != id || s.SubmissionDelivery.Status == "DELIVERED" {
			t.Fatalf("%s: first message %+v, want the submission not yet delivered", c.name, m)
		}
	}
	// Hostile: no token; a grid worker of another grid; a BI reader.
	other := b.as(auth.Principal{Subject: "wgy-other", Roles: []auth.Role{auth.GridWorker}, Scope: []string{subject.GridCode[:12] + "999"}})
	bi := b.as(auth.Principal{Subject: "bi", Roles: []auth.Role{auth.BIReader}})
	refused(t, subscribe(t, "ws without a token", "ws", b.srv.URL, "", submissionDelivery, vars), "")
	refused(t, subscribe(t, "sse without a token", "sse", b.srv.URL, "", submissionDelivery, vars), "")
	refused(t, subscribe(t, "ws with a forged token", "ws", b.srv.URL, staff.token+"x", submissionDelivery, vars), "")
	refused(t, subscribe(t, "ws of another grid", "ws", b.srv.URL, other.token, submissionDelivery, vars), "NOT_FOUND")
	refused(t, subscribe(t, "sse of another grid", "sse", b.srv.URL, other.token, submissionDelivery, vars), "NOT_FOUND")
	refused(t, subscribe(t, "ws of a BI reader", "ws", b.srv.URL, bi.token, submissionDelivery, vars), "FORBIDDEN")

	// A subscription ends when its token expires, delivered or not.
	brief, err := auth.DevToken(testKey, auth.Principal{Subject: "sq-live", Roles: []auth.Role{auth.CommunityAdmin},
		Scope: []string{subject.GridCode[:12]}}, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	expiring := subscribe(t, "ws with a token about to expire", "ws", b.srv.URL, brief, submissionDelivery, vars)
	if m := expiring.next(); m.Next == nil {
		t.Fatalf("%s: %+v, want the submission", expiring.name, m)
	}
	if m := expiring.next(); !m.Complete && m.Closed == 0 && len(m.Errors) == 0 {
		t.Errorf("%s: %+v after the token expired, want the end of the stream", expiring.name, m)
	}

	waitSubscribers(t, lb, 2)
	release()
	for _, c := range clients {
		var last submission
		for {
			m := c.next()
			if m.Complete {
				break
			}
			if m.Next == nil {
				t.Fatalf("%s: %+v", c.name, m)
			}
			json.Unmarshal(m.Next, &last)
		}
		if last.SubmissionDelivery.Status != "DELIVERED" || len(last.SubmissionDelivery.Deliveries) == 0 {
			t.Errorf("%s: the stream ended at %+v, want every delivery DELIVERED", c.name, last.SubmissionDelivery)
		}
		for _, d := range last.SubmissionDelivery.Deliveries {
			if d.Status != "DELIVERED" {
				t.Errorf("%s: %s %s at the end", c.name, d.Department, d.Status)
			}
		}
	}
}

const gridEventChanges = `subscription($within: ID) { gridEventChanges(within: $within) {
	change event { id gridCode status caseNumber stage { value } } } }`

// eventChange is one message of gridEventChanges.
type eventChange struct {
	GridEventChanges struct {
		Change string
		Event  struct {
			ID, GridCode, Status string
			CaseNumber           *string
			Stage                *struct{ Value string }
		}
	}
}

// An event a worker reports through one replica reaches, on another, the
// worker's own subscription (graphql-ws) and its street's staff's (SSE):
// reported, delivered with its case number, then the case's stage as the
// department's facts show it. The worker of another grid hears nothing of
// it; a street's staff naming another street, and no token, are refused.
func TestLiveEventChanges(t *testing.T) {
	var opts server.Options
	a, work, _ := newEventsHub(t, withLive(t, &opts))
	b, lb := replica(t, a, opts)
	ctx := context.Background()
	own, other := twoGrids(t, a.fx.City)
	worker := a.as(auth.Principal{Subject: "wgy-live", Roles: []auth.Role{auth.GridWorker}, Scope: []string{own.GridCode}}).with("")
	street := b.as(auth.Principal{Subject: "jd-live", Roles: []auth.Role{auth.StreetAdmin}, Scope: []string{own.GridCode[:9]}})
	stranger := b.as(auth.Principal{Subject: "wgy-other", Roles: []auth.Role{auth.GridWorker}, Scope: []string{other.GridCode}})

	mine := subscribe(t, "worker over graphql-ws", "ws", b.srv.URL, worker.token, gridEventChanges, map[string]any{})
	streets := subscribe(t, "street over SSE", "sse", b.srv.URL, street.token, gridEventChanges, map[string]any{"within": own.GridCode[:9]})
	theirs := subscribe(t, "another grid's worker", "ws", b.srv.URL, stranger.token, gridEventChanges, map[string]any{})
	otherStreet := ""
	for _, p := range personsOfStreets(t, a.fx.City, 2) {
		if p.GridCode[:9] != own.GridCode[:9] {
			otherStreet = p.GridCode[:9]
		}
	}
	refused(t, subscribe(t, "street naming another street", "sse", b.srv.URL, street.token, gridEventChanges,
		map[string]any{"within": otherStreet}), "FORBIDDEN")
	refused(t, subscribe(t, "no token", "ws", b.srv.URL, "", gridEventChanges, map[string]any{}), "")
	waitSubscribers(t, lb, 3)

	lon, lat := buildingOf(a.fx.City, own)
	r := worker.multipartGraphQL(reportEvent, map[string]any{"kind": "COMPONENT", "category": "井盖破损", "description": "人行道井盖松动",
		"lon": lon, "lat": lat, "idempotencyKey": "live-event-0001"}, []upload{{"a.jpg", "image/jpeg", jpeg(2000)}})
	if len(r.Errors) > 0 {
		t.Fatalf("reportEvent: %+v", r.Errors)
	}
	var got struct{ ReportEvent eventOut }
	json.Unmarshal(r.Data, &got)
	id := got.ReportEvent.ID

	// Reported, then delivered with its case number.
	caseNumber := ""
	for _, c := range []*liveClient{mine, streets} {
		first := true
		for {
			m := c.next()
			var ch eventChange
			if err := json.Unmarshal(m.Next, &ch); err != nil || ch.GridEventChanges.Event.ID != id {
				t.Fatalf("%s: %+v, want a change of %s", c.name, m, id)
			}
			if first && ch.GridEventChanges.Change != "NEW" {
				t.Errorf("%s: first %s, want NEW", c.name, ch.GridEventChanges.Change)
			}
			first = false
			if e := ch.GridEventChanges.Event; e.Status == "DELIVERED" && e.CaseNumber != nil {
				caseNumber = *e.CaseNumber
				break
			}
		}
	}

	// The case's stage follows the department's facts.
	if _, err := a.fx.Store.Pool.Exec(ctx, `SELECT gridhub_fact_partition('facts_urban_management', 'urban_management')`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.fx.Store.Pool.Exec(ctx, `INSERT INTO facts (department, set, key_hmac, id, entity, record, grid_code)
		VALUES ('urban_management', 'cases', '\x00', '900101', 'person', $1, $2)`,
		fmt.Sprintf(`{"caseNumber": %q, "stage": "DISPATCHED", "deadline": "2030-01-01T00:00:00Z"}`, caseNumber), own.GridCode); err != nil {
		t.Fatal(err)
	}
	if changed, err := work.Follow(ctx, "urban_management"); err != nil || len(changed) != 1 {
		t.Fatalf("Follow: %v %v", changed, err)
	}
	for _, c := range []*liveClient{mine, streets} {
		for {
			m := c.next()
			var ch eventChange
			json.Unmarshal(m.Next, &ch)
			if ch.GridEventChanges.Change != "CHANGED" || ch.GridEventChanges.Event.ID != id {
				t.Fatalf("%s: %+v, want a change of %s", c.name, m, id)
			}
			if s := ch.GridEventChanges.Event.Stage; s != nil && s.Value == "DISPATCHED" {
				break
			}
		}
	}
	for _, m := range theirs.rest() {
		t.Errorf("another grid's worker heard %+v", m)
	}
}
