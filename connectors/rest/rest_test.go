package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/connectors/connectortest"
	"github.com/gridhub/gridhub/internal/ident"
)

const apiKey = "conformance-key"

func loadDept(t *testing.T, baseURL string) *connectors.Department {
	t.Helper()
	d, err := connectors.LoadDepartment(filepath.Join("testdata", "conformance.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	d.Source.REST.BaseURL = baseURL
	return d
}

func openSource(t *testing.T, d *connectors.Department) *Source {
	t.Helper()
	s, err := Open(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fakeDept serves the fixture in the conformance department's conventions.
type fakeDept struct {
	fx   connectortest.Fixture
	dept *connectors.Department
	// requests counts every request; batches only first pages.
	requests, batches atomic.Int64
}

func normalised(sourceKey string) string {
	id, err := ident.ParseResidentID(sourceKey)
	if err != nil {
		panic(err)
	}
	return id.Number
}

func (f *fakeDept) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if r.Header.Get("X-Dept-Key") != apiKey {
		http.Error(w, `{"code":"401","msg":"bad key"}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v2/dibao":
		f.assistance(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/visits/query":
		f.batches.Add(1)
		f.visits(w, r)
	case r.URL.Path == "/health":
		fmt.Fprint(w, "ok")
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeDept) assistance(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page, _ := strconv.Atoi(q.Get("pageNo"))
	size, _ := strconv.Atoi(q.Get("pageSize"))
	if page < 1 || size < 1 {
		http.Error(w, "bad paging", http.StatusBadRequest)
		return
	}
	if page == 1 {
		f.batches.Add(1)
	}
	keys := strings.Split(q.Get("sfzhs"), ",")
	rs, _ := f.dept.Set(connectortest.Assistance)
	var rows []any
	for i, row := range f.fx.RowsOf(connectortest.Assistance) {
		if slices.Contains(keys, normalised(row.SourceKey)) {
			rows = append(rows, assistanceItem(rs, row, i))
		}
	}
	total := len(rows)
	from, to := min((page-1)*size, total), min(page*size, total)
	writeJSON(w, map[string]any{"code": "0000", "msg": "成功", "data": map[string]any{"total": total, "rows": rows[from:to]}})
}

func (f *fakeDept) visits(w http.ResponseWriter, r *http.Request) {
	var body struct {
		IDList []string `json:"idList"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	result := []any{}
	for _, row := range f.fx.RowsOf(connectortest.Visits) {
		if slices.Contains(body.IDList, normalised(row.SourceKey)) {
			result = append(result, visitItem(row))
		}
	}
	writeJSON(w, map[string]any{"success": true, "result": result})
}

// assistanceItem is a 低保 row as the department's API writes it; i is its
// place, which decides whether an absent note is null or missing.
func assistanceItem(rs *connectors.RecordSet, row connectortest.Row, i int) map[string]any {
	rec := row.Record
	item := map[string]any{
		"sfzh": row.SourceKey,
		"bzxx": map[string]any{
			"lb":   connectortest.SourceText(rs.Fields[0], rec["level"]),
			"je":   rec["amount"],
			"ksrq": connectortest.SourceText(rs.Fields[2], rec["since"]),
		},
		"zt":  rec["active"],
		"rks": rec["members"],
	}
	if note, ok := rec["note"]; ok {
		item["bz"] = note
	} else if i%2 == 0 {
		item["bz"] = nil // some absent notes are null, others missing
	}
	return item
}

// visitItem is a visit as the department's API writes it.
func visitItem(row connectortest.Row) map[string]any {
	rec := row.Record
	item := map[string]any{
		"person":  map[string]any{"idNo": row.SourceKey, "name": "张三"},
		"date":    rec["visitedOn"].(time.Time).Format("2006-01-02"),
		"content": rec["topic"],
	}
	if m, ok := rec["minutes"]; ok {
		item["minutes"] = strconv.FormatInt(m.(int64), 10) // a number in a string
	}
	return item
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, func(t *testing.T, fx connectortest.Fixture) connectortest.Instance {
		fake := &fakeDept{fx: fx}
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		d := loadDept(t, srv.URL)
		fake.dept = d
		s := openSource(t, d)
		return connectortest.Instance{Conn: s, Dept: d, RoundTrips: func() int { return int(fake.batches.Load()) }}
	})
}

func TestSample(t *testing.T) {
	d, err := connectors.LoadDepartment("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != Kind {
		t.Errorf("sample kind = %q, want %q", d.Kind, Kind)
	}
	c, err := connectors.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	c.(connectors.Closer).Close()
}

func testID(t *testing.T, seq int) string {
	t.Helper()
	id, err := ident.NewResidentID("340702", time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC), seq)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// serve starts a department answering every request with h, and returns a
// source on it whose reads fetch the assistance set only.
func serve(t *testing.T, h http.HandlerFunc) (*Source, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return openSource(t, loadDept(t, srv.URL)), &n
}

func readAssistance(s *Source, keys ...string) (connectors.Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return readAssistanceCtx(ctx, s, keys...)
}

func readAssistanceCtx(ctx context.Context, s *Source, keys ...string) (connectors.Result, error) {
	return s.Read(ctx, connectors.ReadRequest{Entity: connectors.Person, Keys: keys, Sets: []string{connectortest.Assistance}})
}

func answer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}
}

func isPermanent(err error) bool {
	var p *connectors.PermanentError
	return errors.As(err, &p)
}

// checkNoKey fails when err shows an identity number asked for.
func checkNoKey(t *testing.T, err error, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if err != nil && strings.Contains(err.Error(), k) {
			t.Errorf("error shows a key: %v", err)
		}
	}
}

func TestGarbage(t *testing.T) {
	key := testID(t, 1)
	cases := []struct {
		name, body, want string
	}{
		{"truncated", `{"code":"0000","data":{"total":1,"rows":[{"sfzh":"` + key[:10], "not valid JSON"},
		{"empty", ``, "not valid JSON"},
		{"html", `<html><body>维护中</body></html>`, "not valid JSON"},
		{"trailing data", `{"data":{"rows":[]}} {"more":1}`, "data after its JSON value"},
		{"rows an object", `{"data":{"total":1,"rows":{"sfzh":"x"}}}`, "data.rows is an object, not an array"},
		{"rows a string", `{"data":{"total":1,"rows":"none"}}`, "data.rows is a string, not an array"},
		{"data an array", `{"data":[1,2]}`, "data is an array, not an object"},
		{"answer an array", `[{"sfzh":"x"}]`, "the answer is an array, not an object"},
		{"no data", `{"code":"9999","msg":"系统错误"}`, "the answer has no data"},
		{"record a number", `{"data":{"total":2,"rows":[{"sfzh":"` + key + `"},42]}}`, "data.rows[1] is a number, not an object"},
		{"record null", `{"data":{"total":1,"rows":[null]}}`, "data.rows[0] is null, not an object"},
		{"total a string", `{"data":{"total":"many","rows":[{"sfzh":"` + key + `","zt":true}]}}`, "data.total is a string, not a count"},
		{"no total", `{"data":{"rows":[{"sfzh":"` + key + `","zt":true}]}}`, "the answer has no data.total"},
		{"every record bad", `{"data":{"total":1,"rows":[{"sfzh":"` + key + `","zt":{"a":1}}]}}`, "field active: want bool, found an object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, n := serve(t, answer(tc.body))
			_, err := readAssistance(s, key)
			if !isPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a permanent error containing %q", err, tc.want)
			}
			for _, part := range []string{"conformance_rest", "fetch assistance", "GET /api/v2/dibao"} {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("err = %v, want it to name %q", err, part)
				}
			}
			if got := n.Load(); got != 1 {
				t.Errorf("%d requests, want 1: garbage is not retried", got)
			}
			checkNoKey(t, err, key)
		})
	}
}

func TestNullAndMissingRowsAreEmpty(t *testing.T) {
	for _, body := range []string{`{"data":{"total":0,"rows":null}}`, `{"data":{"total":0}}`, `{"data":{"total":0,"rows":[]}}`} {
		s, _ := serve(t, answer(body))
		res, err := readAssistance(s, testID(t, 1))
		if err != nil || len(res) != 0 {
			t.Errorf("answer %s: Read = %v, %v; want an empty result", body, res, err)
		}
	}
}

func TestBadRecordsAreSkipped(t *testing.T) {
	a, b := testID(t, 1), testID(t, 2)
	body := `{"data":{"total":4,"rows":[
		{"sfzh":"` + a + `","zt":true,"rks":3},
		{"sfzh":"` + b + `","zt":true,"rks":"三"},
		{"sfzh":"` + b[:17] + `","zt":true},
		{"sfzh":123,"zt":true}]}}`
	s, _ := serve(t, answer(body))
	res, err := readAssistance(s, a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := connectors.Result{a: {"assistance": {{"active": true, "members": int64(3)}}}}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	if got := s.Skipped(); got != 3 {
		t.Errorf("Skipped() = %d, want 3", got)
	}
}

func TestServerErrorIsRetried(t *testing.T) {
	s, n := serve(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	_, err := readAssistance(s, testID(t, 1))
	if err == nil || isPermanent(err) || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("err = %v, want a retryable HTTP 500 error", err)
	}
	if got := n.Load(); got != 3 {
		t.Errorf("%d requests, want 3 (one and two retries)", got)
	}
}

func TestServerErrorHeals(t *testing.T) {
	var calls atomic.Int64
	key := testID(t, 1)
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusBadGateway)
			return
		}
		answer(`{"data":{"total":1,"rows":[{"sfzh":"`+key+`","rks":2}]}}`)(w, r)
	})
	res, err := readAssistance(s, key)
	if err != nil || res[key]["assistance"][0]["members"] != int64(2) {
		t.Errorf("Read = %v, %v; want the record after one retry", res, err)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	var calls atomic.Int64
	key := testID(t, 1)
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		answer(`{"data":{"total":1,"rows":[{"sfzh":"`+key+`","rks":2}]}}`)(w, r)
	})
	start := time.Now()
	res, err := readAssistance(s, key)
	if err != nil || len(res) != 1 {
		t.Fatalf("Read = %v, %v; want the record after waiting", res, err)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("Read returned after %s, before the Retry-After of 1s", d)
	}
}

func TestRetryAfterPastTheDeadline(t *testing.T) {
	for _, status := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		s, n := serve(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(status)
		})
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		start := time.Now()
		_, err := readAssistanceCtx(ctx, s, testID(t, 1))
		cancel()
		var ra *connectors.RetryAfterError
		if !errors.As(err, &ra) || ra.Wait != 120*time.Second {
			t.Errorf("HTTP %d: err = %v, want a RetryAfterError of 2m", status, err)
		}
		if d := time.Since(start); d > 400*time.Millisecond {
			t.Errorf("HTTP %d: Read returned after %s; it cannot wait, so it should return at once", status, d)
		}
		if got := n.Load(); got != 1 {
			t.Errorf("HTTP %d: %d requests, want 1", status, got)
		}
	}
}

func TestRejectedKey(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		s, n := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Dept-Key") != apiKey {
				t.Errorf("API key header = %q", r.Header.Get("X-Dept-Key"))
			}
			w.WriteHeader(status)
		})
		_, err := readAssistance(s, testID(t, 1))
		if !isPermanent(err) || !strings.Contains(err.Error(), "API key") || !strings.Contains(err.Error(), "X-Dept-Key") {
			t.Errorf("HTTP %d: err = %v, want a permanent error about the API key", status, err)
		}
		if err != nil && strings.Contains(err.Error(), apiKey) {
			t.Errorf("HTTP %d: error shows the key itself: %v", status, err)
		}
		if got := n.Load(); got != 1 {
			t.Errorf("HTTP %d: %d requests, want 1", status, got)
		}
	}
}

func TestClientErrors(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusNotFound, http.StatusMovedPermanently} {
		s, n := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if status == http.StatusMovedPermanently {
				http.Redirect(w, r, "http://elsewhere.example/api", status)
				return
			}
			w.WriteHeader(status)
		})
		_, err := readAssistance(s, testID(t, 1))
		if !isPermanent(err) || !strings.Contains(err.Error(), "HTTP "+strconv.Itoa(status)) {
			t.Errorf("HTTP %d: err = %v, want a permanent error", status, err)
		}
		if got := n.Load(); got != 1 {
			t.Errorf("HTTP %d: %d requests, want 1", status, got)
		}
	}
}

func TestSlowAnswer(t *testing.T) {
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	key := testID(t, 1)
	_, err := readAssistanceCtx(ctx, s, key)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Read returned after %s, want about 200ms", d)
	}
	checkNoKey(t, err, key)
}

func TestSlowBody(t *testing.T) {
	// The server stops halfway through the body; the connector must give up at
	// its deadline and hang up, which the server sees as the client leaving.
	ended := make(chan string, 1)
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"data":{"total":1,"rows":[`)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			ended <- "client hung up"
		case <-time.After(10 * time.Second):
			ended <- "server gave up first"
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := readAssistanceCtx(ctx, s, testID(t, 1))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if how := <-ended; how != "client hung up" {
		t.Errorf("the slow answer ended with %q: the connector did not abandon it at its deadline", how)
	}
}

func TestHugeBody(t *testing.T) {
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"data":{"total":1,"rows":["`)
		chunk := []byte(strings.Repeat("a", 1<<16))
		for range (maxBody >> 16) + 64 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		fmt.Fprint(w, `"]}}`)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := readAssistanceCtx(ctx, s, testID(t, 1))
	if !isPermanent(err) || !strings.Contains(err.Error(), "larger than 32 MiB") {
		t.Errorf("err = %v, want a permanent error about the size", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := openSource(t, loadDept(t, "http://"+addr))
	key := testID(t, 1)
	_, err = readAssistance(s, key)
	if !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Read: err = %v, want ErrNotConnected", err)
	}
	checkNoKey(t, err, key)
	if err := s.Health(context.Background()); !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Health: err = %v, want ErrNotConnected", err)
	}
}

func TestUnresolvable(t *testing.T) {
	s := openSource(t, loadDept(t, "http://gridhub-no-such-host.invalid"))
	_, err := readAssistance(s, testID(t, 1))
	if !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Read: err = %v, want ErrNotConnected", err)
	}
}

func TestHealth(t *testing.T) {
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
		}
	})
	if err := s.Health(context.Background()); err != nil {
		t.Errorf("Health() = %v", err)
	}
	s, _ = serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	if err := s.Health(context.Background()); err == nil {
		t.Error("Health() = nil for a department answering 500")
	}
}

// TestBatching checks that a read makes one request per max_batch keys and
// record set, sends the keys as configured, and pages until the total.
func TestBatching(t *testing.T) {
	var keys []string
	for i := range 250 {
		keys = append(keys, testID(t, i))
	}
	var gets, posts, pages atomic.Int64
	var mu sync.Mutex
	var batchSizes []int
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			asked := strings.Split(r.URL.Query().Get("sfzhs"), ",")
			page, _ := strconv.Atoi(r.URL.Query().Get("pageNo"))
			pages.Add(1)
			if page == 1 {
				gets.Add(1)
				mu.Lock()
				batchSizes = append(batchSizes, len(asked))
				mu.Unlock()
			}
			// Three records a page for the first 10 keys of a batch.
			var rows []string
			for i := (page - 1) * 3; i < min(page*3, 10); i++ {
				rows = append(rows, `{"sfzh":"`+asked[i]+`","rks":`+strconv.Itoa(i)+`}`)
			}
			answer(`{"data":{"total":10,"rows":[`+strings.Join(rows, ",")+`]}}`)(w, r)
		case http.MethodPost:
			posts.Add(1)
			var body map[string][]string
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body["idList"]) == 0 || r.Header.Get("Content-Type") != "application/json" {
				t.Errorf("POST body %v (%v), content type %q", body, err, r.Header.Get("Content-Type"))
			}
			answer(`{"result":[]}`)(w, r)
		}
	})
	s.dept.Records[0].Request.MaxBatch = 100
	s.dept.Records[1].Request.MaxBatch = 120
	res, err := s.Read(context.Background(), connectors.ReadRequest{Entity: connectors.Person, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if gets.Load() != 3 || posts.Load() != 3 {
		t.Errorf("%d GET batches and %d POSTs for 250 keys, want 3 and 3", gets.Load(), posts.Load())
	}
	if !slices.Equal(batchSizes, []int{100, 100, 50}) {
		t.Errorf("GET batch sizes %v, want 100, 100, 50", batchSizes)
	}
	if pages.Load() != 12 {
		t.Errorf("%d pages, want 12: 4 a batch to read a total of 10 at 3 a page", pages.Load())
	}
	if len(res) != 30 {
		t.Errorf("%d keys found, want 30", len(res))
	}
}

func TestPagingStops(t *testing.T) {
	key := testID(t, 1)
	t.Run("empty page", func(t *testing.T) {
		s, n := serve(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("pageNo") == "1" {
				answer(`{"data":{"total":100,"rows":[{"sfzh":"`+key+`"}]}}`)(w, r)
				return
			}
			answer(`{"data":{"total":100,"rows":[]}}`)(w, r)
		})
		if _, err := readAssistance(s, key); err != nil {
			t.Fatal(err)
		}
		if n.Load() != 2 {
			t.Errorf("%d requests, want 2", n.Load())
		}
	})
	t.Run("short page without total", func(t *testing.T) {
		s, n := serve(t, answer(`{"data":{"rows":[{"sfzh":"`+key+`"}]}}`))
		s.dept.Records[0].Request.Total = ""
		if _, err := readAssistance(s, key); err != nil {
			t.Fatal(err)
		}
		if n.Load() != 1 {
			t.Errorf("%d requests, want 1", n.Load())
		}
	})
	t.Run("endless", func(t *testing.T) {
		rows := strings.Repeat(`{"sfzh":"`+key+`"},`, 6) + `{"sfzh":"` + key + `"}`
		s, n := serve(t, answer(`{"data":{"total":1000000,"rows":[`+rows+`]}}`))
		_, err := readAssistance(s, key)
		if !isPermanent(err) || !strings.Contains(err.Error(), "more than 1000 pages") {
			t.Errorf("err = %v, want a permanent error about the pages", err)
		}
		if n.Load() != maxPages {
			t.Errorf("%d requests, want %d", n.Load(), maxPages)
		}
	})
}

func TestNoRetryWhenDisabled(t *testing.T) {
	s, n := serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	s.retries = 0
	if _, err := readAssistance(s, testID(t, 1)); err == nil {
		t.Fatal("Read succeeded")
	}
	if n.Load() != 1 {
		t.Errorf("%d requests, want 1", n.Load())
	}
}

func TestRetriesStopAtTheDeadline(t *testing.T) {
	s, n := serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	s.backoff = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := readAssistanceCtx(ctx, s, testID(t, 1))
	if err == nil || !strings.Contains(err.Error(), "HTTP 502") {
		t.Errorf("err = %v, want the HTTP 502", err)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("Read returned after %s; a backoff past the deadline should not be waited", d)
	}
	if n.Load() != 1 {
		t.Errorf("%d requests, want 1", n.Load())
	}
}

func TestOpenRejectsBadBaseURL(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "not a url", "http://"} {
		if _, err := Open(loadDept(t, u)); err == nil {
			t.Errorf("Open with base_url %q succeeded", u)
		}
	}
}
