package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/deptsim"
)

// TestDailyWorkEndToEnd runs the real binary with its department
// simulators: a grid worker patrols, records a diary entry and reports an
// event with a photo; 城管's simulator opens the case once; the worker's
// graphql-ws subscription hears the event delivered and, after the
// simulator moves the case on and the hub syncs, its new stage. A template
// a department drafts is approved by one street and rejected by another:
// a community of the first files it, one of the second cannot.
func TestDailyWorkEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "gridhub")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	dir := filepath.Join(t.TempDir(), "data")
	t.Cleanup(func() {
		if target, err := filepath.EvalSymlinks(filepath.Join(dir, "postgres")); err == nil {
			os.RemoveAll(target)
		}
	})
	dev := startDevCmd(t, exec.Command(bin, "dev", "--data-dir", dir, "--port", "0", "--residents", "3000"),
		[]string{"GRIDHUB_SYNC_INTERVAL=2s"})
	defer dev.stop(t)
	const urban = "urban_management" // the department gridwork.yaml sends events to
	sim := dev.departments[urban]
	if sim == "" {
		t.Fatalf("dev printed no %s simulator:\n%s", urban, dev.log)
	}
	admin := &caller{t: t, url: dev.graphql, token: dev.token}
	token := func(args ...string) *caller {
		out, err := exec.Command(bin, append([]string{"token", "--data-dir", dir}, args...)...).Output()
		if err != nil {
			t.Fatalf("token %v: %v", args, err)
		}
		return &caller{t: t, url: dev.graphql, token: strings.TrimSpace(string(out))}
	}

	// Two residents of different streets: the worker's grid is the first's.
	var people struct {
		People struct {
			Nodes []struct {
				ID        string
				Grid      struct{ Code string }
				Household struct {
					ID       string
					Building struct{ Lon, Lat float64 }
				}
			}
		}
	}
	admin.must(`{ people(within: "340705", first: 100) { nodes { id grid { code } household { id building { lon lat } } } } }`, nil, &people)
	if len(people.People.Nodes) == 0 {
		t.Fatal("no residents")
	}
	subject := people.People.Nodes[0]
	// A resident of another street.
	var streets struct {
		Grids struct{ Nodes []struct{ Code string } }
	}
	admin.must(`{ grids(level: TOWNSHIP, within: "340705", first: 20) { nodes { code } } }`, nil, &streets)
	otherStreet := ""
	for _, g := range streets.Grids.Nodes {
		if g.Code != subject.Grid.Code[:9] {
			otherStreet = g.Code
		}
	}
	var others struct {
		People struct {
			Nodes []struct {
				ID   string
				Grid struct{ Code string }
			}
		}
	}
	admin.must(`query($s: ID!) { people(within: $s, first: 1) { nodes { id grid { code } } } }`, map[string]any{"s": otherStreet}, &others)
	if len(others.People.Nodes) == 0 {
		t.Fatalf("nobody lives in %s", otherStreet)
	}
	other := others.People.Nodes[0]
	grid := subject.Grid.Code
	worker := token("--role", "grid_worker", "--scope", grid, "--subject", "wgy-e2e")

	// The worker's subscription, over graphql-ws, before anything happens.
	events := startLiveClient(t, dev.graphql, worker.token,
		`subscription { gridEventChanges { change event { id status caseNumber stage { value } } } }`)
	waitForMetric(t, dev.graphql, "gridhub_live_subscriptions", 1)

	// A patrol and a diary entry.
	now := time.Now().UTC().Format(time.RFC3339)
	var patrol struct{ RecordPatrol struct{ ID string } }
	worker.must(`mutation($in: RecordPatrolInput!) { recordPatrol(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"grid": grid, "startedAt": now, "idempotencyKey": "e2e-patrol-1"}}, &patrol)
	var entry struct{ RecordDiaryEntry struct{ ID string } }
	worker.must(`mutation($in: RecordDiaryEntryInput!) { recordDiaryEntry(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"grid": grid, "patrol": patrol.RecordPatrol.ID, "visitedAt": now,
			"households": []string{subject.Household.ID}, "category": "SAFETY", "heard": "楼道堆放杂物，存在消防隐患",
			"idempotencyKey": "e2e-entry-1"}}, &entry)

	// An event with a photo, at the subject's building.
	b := subject.Household.Building
	photo := make([]byte, 3000)
	copy(photo, []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0})
	var reported struct{ ReportEvent struct{ ID string } }
	worker.multipart(`mutation($in: ReportEventInput!) { reportEvent(input: $in) { id } }`,
		map[string]any{"kind": "COMPONENT", "category": "井盖破损", "description": "人行道井盖松动", "lon": b.Lon, "lat": b.Lat,
			"diaryEntry": entry.RecordDiaryEntry.ID, "idempotencyKey": "e2e-event-1"}, photo, &reported)
	id := reported.ReportEvent.ID

	// Heard: reported, then delivered with the case number 城管 answered.
	caseNumber := ""
	for caseNumber == "" {
		c := events.next(t)
		if c.Event.ID != id {
			t.Fatalf("a change of %s, want %s", c.Event.ID, id)
		}
		if c.Event.Status == "DELIVERED" && c.Event.CaseNumber != nil {
			caseNumber = *c.Event.CaseNumber
		}
	}
	// The case is in 城管 once.
	var inbox struct{ Keys int }
	getJSON(t, sim+"/_deptsim/inbox", nil, &inbox)
	if inbox.Keys != 1 {
		t.Errorf("城管's inbox took %d reports, want 1", inbox.Keys)
	}

	// 城管 moves the case on; the hub's next sync brings the stage to the
	// worker's subscription.
	var advanced struct{ Stage string }
	req, _ := http.NewRequest("POST", sim+"/_deptsim/cases/advance?caseNo="+caseNumber, nil)
	req.Header.Set(deptsim.APIKeyHeader(urban), deptsim.DefaultAPIKey(urban))
	doJSON(t, req, &advanced)
	for {
		c := events.next(t)
		if c.Change != "CHANGED" || c.Event.ID != id {
			t.Fatalf("%+v, want a change of %s", c, id)
		}
		if c.Event.Stage != nil && c.Event.Stage.Value != "ACCEPTED" {
			break
		}
	}

	// 准入: drafted by 民政, approved by the subject's street, rejected by
	// another; filed in the first, refused in the second.
	officer := token("--role", "dept_officer", "--department", "civil_affairs", "--subject", "mz-e2e")
	streetA := token("--role", "street_admin", "--scope", grid[:9], "--subject", "jd-a")
	streetB := token("--role", "street_admin", "--scope", otherStreet, "--subject", "jd-b")
	officer.must(`mutation($in: DraftReportTemplateInput!) { draftReportTemplate(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"id": "e2e_visit", "title": "低保家庭走访核查", "streets": []string{grid[:9], otherStreet},
			"sections": []map[string]any{{"title": "走访情况", "fields": []map[string]any{
				{"field": "core.person.residence", "required": true}, {"field": "civil_affairs.visit.note"}}}}}}, nil)
	file := func(c *caller, subject, key string) []gqlErr {
		return c.query(`mutation($s: ID!, $k: String!) { submitReport(input: {template: "e2e_visit", version: 1, subject: $s, idempotencyKey: $k,
			values: [{field: "core.person.residence", value: "RESIDENT"}, {field: "civil_affairs.visit.note", value: "走访核实"}]}) { id } }`,
			map[string]any{"s": subject, "k": key}, nil)
	}
	community := token("--role", "community_admin", "--scope", grid[:12], "--subject", "sq-e2e")
	if errs := file(community, subject.ID, "e2e-report-0"); len(errs) == 0 {
		t.Error("a template still drafted was filed")
	}
	officer.must(`mutation { submitReportTemplate(template: "e2e_visit", version: 1) { id } }`, nil, nil)
	streetA.must(`mutation($s: ID!) { approveReportTemplate(template: "e2e_visit", version: 1, street: $s) { id } }`, map[string]any{"s": grid[:9]}, nil)
	streetB.must(`mutation($s: ID!) { rejectReportTemplate(template: "e2e_visit", version: 1, street: $s, reason: "与已有走访表重复") { id } }`,
		map[string]any{"s": otherStreet}, nil)
	if errs := file(community, subject.ID, "e2e-report-1"); len(errs) > 0 {
		t.Errorf("filing the approved template: %+v", errs)
	}
	rejected := token("--role", "community_admin", "--scope", other.Grid.Code[:12], "--subject", "sq-e2e-b")
	if errs := file(rejected, other.ID, "e2e-report-2"); len(errs) == 0 || errs[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("filing the template the street rejected: %+v, want BAD_USER_INPUT", errs)
	}
}

// caller speaks GraphQL to the dev hub with a token.
type caller struct {
	t     *testing.T
	url   string
	token string
}

type gqlErr struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

func (c *caller) query(q string, vars map[string]any, out any) []gqlErr {
	c.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	req, _ := http.NewRequest("POST", c.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return c.send(req, out)
}

func (c *caller) send(req *http.Request, out any) []gqlErr {
	c.t.Helper()
	req.Header.Set("Authorization", "Bearer "+c.token)
	var r struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlErr        `json:"errors"`
	}
	doJSON(c.t, req, &r)
	if out != nil && len(r.Errors) == 0 {
		if err := json.Unmarshal(r.Data, out); err != nil {
			c.t.Fatalf("decode %s: %v", r.Data, err)
		}
	}
	return r.Errors
}

func (c *caller) must(q string, vars map[string]any, out any) {
	c.t.Helper()
	if errs := c.query(q, vars, out); len(errs) > 0 {
		c.t.Fatalf("%s: %+v", strings.Fields(q)[1], errs)
	}
}

// multipart sends an operation with one photo as variables.in.photos.0.
func (c *caller) multipart(q string, in map[string]any, photo []byte, out any) {
	c.t.Helper()
	in["photos"] = []any{nil}
	ops, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"in": in}})
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("operations", string(ops))
	w.WriteField("map", `{"0": ["variables.in.photos.0"]}`)
	hdr := textproto.MIMEHeader{}
	hdr.Set("Content-Disposition", `form-data; name="0"; filename="a.jpg"`)
	hdr.Set("Content-Type", "image/jpeg")
	part, _ := w.CreatePart(hdr)
	part.Write(photo)
	w.Close()
	req, _ := http.NewRequest("POST", c.url, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	if errs := c.send(req, out); len(errs) > 0 {
		c.t.Fatalf("multipart: %+v", errs)
	}
}

func doJSON(t *testing.T, req *http.Request, out any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s %s: HTTP %d %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
}

func getJSON(t *testing.T, url string, header http.Header, out any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	doJSON(t, req, out)
}

// waitForMetric waits until the hub's /metrics shows name at value or more.
func waitForMetric(t *testing.T, graphqlURL, name string, value float64) {
	t.Helper()
	url := strings.TrimSuffix(graphqlURL, "/graphql") + "/metrics"
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %v", name, value)
		}
		resp, err := http.Get(url)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			var v float64
			if rest, ok := strings.CutPrefix(line, name+" "); ok {
				if _, err := fmt.Sscan(rest, &v); err == nil && v >= value {
					return
				}
			}
		}
	}
}

// eventChange is one gridEventChanges message.
type eventChange struct {
	Change string
	Event  struct {
		ID, Status string
		CaseNumber *string
		Stage      *struct{ Value string }
	}
}

// liveClient is scripts/live-client.sh subscribed over graphql-ws.
type liveClient struct{ lines chan string }

func startLiveClient(t *testing.T, url, token, query string) *liveClient {
	t.Helper()
	cmd := exec.Command("bash", "../../scripts/live-client.sh", "--transport", "ws", "--url", url, "--token", token, "--query", query)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	c := &liveClient{lines: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c
}

// next is the next change; the test fails on anything else, or nothing for
// two minutes.
func (c *liveClient) next(t *testing.T) eventChange {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			t.Fatal("the subscription client ended")
		}
		var m struct {
			Next *struct{ GridEventChanges eventChange }
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil || m.Next == nil {
			t.Fatalf("subscription: %s", line)
		}
		return m.Next.GridEventChanges
	case <-time.After(2 * time.Minute):
		t.Fatal("no change in two minutes")
	}
	return eventChange{}
}
