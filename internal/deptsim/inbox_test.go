package deptsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/devenv"
)

// deptDir copies a REST department's files from the shared test files into a
// directory of the test's own, so that what a test delivers stays its own.
func deptDir(t *testing.T, dept string) string {
	t.Helper()
	src := filepath.Join(files(t), dept)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, dept), 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == InboxFile {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dept, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func serveDir(t *testing.T, dept, dir string) (*Server, string) {
	t.Helper()
	s, err := NewServer(dept, dir, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return s, newHTTPServer(t, s)
}

// validBodies are deliveries each inbox takes, and ones it refuses.
var validBodies = map[string]map[string]any{
	Employment:      {"sfzh": "34070519800101123X", "djzt": "02", "djrq": "2026-03-01", "tbsj": "2026-06-01 09:00:00"},
	SocialSecurity:  {"aac002": "34070519800101123X", "pension": map[string]any{"aac008": "2"}, "aae036": "20260601090000"},
	UrbanManagement: {"partyIdNo": "34070519800101123X", "category": "占道经营", "location": map[string]any{"lng": 117.81, "lat": 30.94}},
}

var refusedBodies = map[string][]map[string]any{
	Employment:      {{"sfzh": "34070519800101123X", "djzt": "2"}, {"sfzh": "34070519800101123X", "djrq": "20260301"}, {"djzt": "02"}, {"sfzh": "34070519800101123X", "xm": "张三"}},
	SocialSecurity:  {{"aac002": "34070519800101123X", "pension": map[string]any{"aac008": "9"}}, {"aac002": "34070519800101123X"}, {"aac002": "34070519800101123X", "aae036": "2026-06-01"}},
	UrbanManagement: {{"partyIdNo": "34070519800101123X", "location": map[string]any{"lng": "117.81"}}, {"partyIdNo": "x", "category": "a"}, {"partyIdNo": "34070519800101123X", "category": []any{"a"}}},
}

func post(t *testing.T, u, dept, idem string, body any) (int, []byte, http.Header) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(APIKeyHeader(dept), testKey)
	if idem != "" {
		req.Header.Set(IdempotencyHeader, idem)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header
}

func TestServerInbox(t *testing.T) {
	for _, dept := range []string{Employment, SocialSecurity, UrbanManagement} {
		t.Run(dept, func(t *testing.T) {
			dir := deptDir(t, dept)
			s, base := serveDir(t, dept, dir)
			u := base + conventions[dept].prefix + "/inbox"
			body := validBodies[dept]

			status, first, h := post(t, u, dept, "sub-1", body)
			if status != http.StatusOK || h.Get(ReplayedHeader) != "" || !json.Valid(first) {
				t.Fatalf("first delivery: %d %s %v", status, first, h)
			}
			status, again, h := post(t, u, dept, "sub-1", body)
			if status != http.StatusOK || h.Get(ReplayedHeader) != "true" || string(again) != string(first) {
				t.Errorf("repeat: %d %s (replayed %q), want the first answer %s replayed", status, again, h.Get(ReplayedHeader), first)
			}
			other := map[string]any{}
			for k, v := range body {
				other[k] = v
			}
			other[map[string]string{Employment: "djzt", SocialSecurity: "aae036", UrbanManagement: "category"}[dept]] = map[string]any{Employment: "03", SocialSecurity: "20260602090000", UrbanManagement: "井盖破损"}[dept]
			if status, _, _ := post(t, u, dept, "sub-1", other); status != http.StatusConflict {
				t.Errorf("the key reused for another body: %d, want 409", status)
			}
			if status, _, _ := post(t, u, dept, "", body); status != http.StatusBadRequest {
				t.Errorf("no Idempotency-Key: %d, want 400", status)
			}
			for i, bad := range refusedBodies[dept] {
				if status, b, _ := post(t, u, dept, "bad-"+string(rune('a'+i)), bad); status != http.StatusUnprocessableEntity {
					t.Errorf("refused body %v: %d %s, want 422", bad, status, b)
				}
			}
			if status, _, _ := call(t, http.MethodPost, u, "", "", body); status != http.StatusUnauthorized {
				t.Errorf("no API key: %d", status)
			}
			want := InboxStats{Keys: 1, Requests: int64(4 + len(refusedBodies[dept])), Replayed: 1, Conflicts: 1, Refused: int64(1 + len(refusedBodies[dept]))}
			if got := s.InboxStats(); got != want {
				t.Errorf("InboxStats() = %+v, want %+v", got, want)
			}
			_, out, _ := call(t, http.MethodGet, base+"/_deptsim/inbox", "", "", nil)
			if out["keys"] == nil || out["replayed"] == nil {
				t.Errorf("GET /_deptsim/inbox = %v", out)
			}

			// A restarted simulator knows the delivery, and a process that
			// died while writing a line has not acknowledged it.
			log := filepath.Join(dir, dept, InboxFile)
			f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString(`{"idempotencyKey":"sub-2","body":{"sfz`)
			f.Close()
			s2, base2 := serveDir(t, dept, dir)
			if d, ok := s2.Delivered("sub-1"); !ok || string(d.Answer) != strings.TrimSpace(string(first)) {
				t.Fatalf("after a restart: %+v, %v; want the delivery with its answer", d, ok)
			}
			if _, ok := s2.Delivered("sub-2"); ok || s2.InboxStats().Keys != 1 {
				t.Errorf("a torn last line was taken for a delivery")
			}
			status, again, h = post(t, base2+conventions[dept].prefix+"/inbox", dept, "sub-1", body)
			if status != http.StatusOK || h.Get(ReplayedHeader) != "true" || string(again) != string(first) {
				t.Errorf("repeat after a restart: %d %s, want the first answer replayed", status, again)
			}
			if status, _, _ := post(t, base2+conventions[dept].prefix+"/inbox", dept, "sub-2", body); status != http.StatusOK {
				t.Errorf("sub-2 after a restart: %d", status)
			}
			if n := len(s2.Deliveries()); n != 2 {
				t.Errorf("%d deliveries, want 2", n)
			}
			b, _ := os.ReadFile(log)
			if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); len(lines) != 2 {
				t.Errorf("the log holds %d lines, want 2: %s", len(lines), b)
			}

			// A damaged line before the end is refused: the log would lie.
			os.WriteFile(log, append([]byte("garbage\n"), b...), 0o644)
			if _, err := NewServer(dept, dir, testKey); err == nil || !strings.Contains(err.Error(), "inbox.jsonl:1") {
				t.Errorf("NewServer with a damaged log: %v", err)
			}
		})
	}
}

func TestServerTouch(t *testing.T) {
	for _, dept := range []string{Employment, SocialSecurity, UrbanManagement} {
		t.Run(dept, func(t *testing.T) {
			s, base := serveDir(t, dept, files(t))
			prefix := conventions[dept].prefix
			list := func(since string, limit int) ([]map[string]any, string, bool) {
				t.Helper()
				status, out, _ := call(t, http.MethodGet, base+prefix+"/changes?limit="+strconv.Itoa(limit)+"&since="+url.QueryEscape(since), APIKeyHeader(dept), testKey, nil)
				if status != http.StatusOK {
					t.Fatalf("changes: %d %v", status, out)
				}
				if dept == Employment {
					out = out["data"].(map[string]any)
				}
				items := "items"
				if dept == Employment {
					items = "list"
				}
				var got []map[string]any
				for _, it := range out[items].([]any) {
					got = append(got, it.(map[string]any))
				}
				return got, out["next"].(string), out["more"].(bool)
			}
			since := ""
			for more := true; more; {
				_, since, more = list(since, 1000)
			}
			touched, at, err := s.Touch(5, 2, "")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for more := true; more; {
				var items []map[string]any
				items, since, more = list(since, 2)
				for _, it := range items {
					got = append(got, it["resource"].(string)+"/"+it["id"].(string)+" "+fmtBool(it["deleted"]))
					if ts, _ := time.Parse(time.RFC3339, it["updatedAt"].(string)); !ts.Equal(at) {
						t.Errorf("item updated at %v, want the touch's %v", it["updatedAt"], at)
					}
				}
			}
			var want []string
			for _, x := range touched {
				want = append(want, x.Resource+"/"+x.ID+" "+fmtBool(x.Deleted))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("changes after the touch, read two at a time:\n got %v\nwant %v", got, want)
			}
			if status, _, _ := call(t, http.MethodPost, base+"/_deptsim/touch?n=3", APIKeyHeader(dept), testKey, nil); status != http.StatusOK {
				t.Errorf("POST /_deptsim/touch: %d", status)
			}
			if items, _, _ := list(since, 1000); len(items) != 3 {
				t.Errorf("%d changes after POST /_deptsim/touch?n=3, want 3", len(items))
			}
		})
	}
}

func fmtBool(v any) string {
	if v == true {
		return "deleted"
	}
	return "changed"
}

// newHTTPServer serves s over HTTP for the test and returns its URL.
func newHTTPServer(t *testing.T, s *Server) string {
	t.Helper()
	hs := httptest.NewServer(s)
	t.Cleanup(hs.Close)
	return hs.URL
}

// TestUpgradeSQL adds the inbox to a database loaded before it existed.
func TestUpgradeSQL(t *testing.T) {
	_, ds := fixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, dept := range []string{CivilAffairs, Health} {
		u := devenv.NewDatabase(t)
		if err := ds.LoadSQL(ctx, dept, u); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP TABLE "+InboxTable(dept)); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := UpgradeSQL(ctx, dept, u); err != nil {
				t.Fatalf("%s: %v", dept, err)
			}
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+InboxTable(dept)).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: inbox after the upgrade: %d rows, %v", dept, n, err)
		}
	}
}
