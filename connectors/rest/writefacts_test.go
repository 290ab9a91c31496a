package rest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/connectors/connectortest"
)

// feedDept is the conformance department's changes endpoint and inbox: rows
// with update times that Touch and Delete change, and deliveries by
// idempotency key.
type feedDept struct {
	dept *connectors.Department

	mu      sync.Mutex
	rows    []feedRow
	inbox   map[string][]byte // idempotency key -> body
	answers map[string][]byte // idempotency key -> the first answer
}

type feedRow struct {
	connectortest.Row
	seq     int
	deleted bool
}

func newFeedDept(d *connectors.Department, fx connectortest.Fixture) *feedDept {
	f := &feedDept{dept: d, inbox: map[string][]byte{}, answers: map[string][]byte{}}
	for i, r := range fx.Rows {
		r.Record = maps.Clone(r.Record)
		f.rows = append(f.rows, feedRow{Row: r, seq: i})
	}
	f.sort()
	return f
}

// sort orders the rows as the changes endpoint lists them: by update time,
// then by sequence, the tie-breaker.
func (f *feedDept) sort() {
	slices.SortFunc(f.rows, func(a, b feedRow) int {
		return cmp.Or(a.Updated.Compare(b.Updated), cmp.Compare(a.seq, b.seq))
	})
}

func (f *feedDept) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Dept-Key") != apiKey {
		http.Error(w, `{"code":"401"}`, http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v2/changes":
		f.changes(w, r)
	case r.Method == http.MethodPost && r.URL.Path == "/api/v2/inbox":
		f.deliver(w, r)
	default:
		http.NotFound(w, r)
	}
}

// changes lists rows after since ("<unix nano>-<seq>"), oldest first.
func (f *feedDept) changes(w http.ResponseWriter, r *http.Request) {
	since := r.URL.Query().Get("since")
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit < 1 {
		http.Error(w, "bad limit", http.StatusBadRequest)
		return
	}
	after, seq := int64(-1<<63), -1
	if since != "" {
		a, b, ok := strings.Cut(since, "-")
		var errA, errB error
		after, errA = strconv.ParseInt(a, 10, 64)
		seq, errB = strconv.Atoi(b)
		if !ok || errA != nil || errB != nil {
			http.Error(w, `{"code":"400","msg":"bad since"}`, http.StatusBadRequest)
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rs, _ := f.dept.Set(connectortest.Assistance)
	items := []any{}
	next, more := since, false
	for i, row := range f.rows {
		at := row.Updated.UnixNano()
		if at < after || at == after && row.seq <= seq {
			continue
		}
		if len(items) == limit {
			more = true
			break
		}
		item := map[string]any{"id": strconv.Itoa(row.seq), "deleted": row.deleted}
		if row.Set == connectortest.Assistance {
			item["resource"], item["record"] = "dibao", assistanceItem(rs, row.Row, i)
		} else {
			item["resource"], item["record"] = "visits", visitItem(row.Row)
		}
		items = append(items, item)
		next = fmt.Sprintf("%d-%d", at, row.seq)
	}
	writeJSON(w, map[string]any{"code": "0000", "data": map[string]any{"items": items, "next": next, "more": more}})
}

// deliver stores a delivery once per idempotency key and answers a repeat
// with the first answer.
func (f *feedDept) deliver(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get(IdempotencyHeader)
	b, err := io.ReadAll(r.Body)
	if err != nil || key == "" || !json.Valid(b) {
		http.Error(w, "bad delivery", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if ans, ok := f.answers[key]; ok {
		w.Header().Set("Idempotent-Replayed", "true")
		w.Write(ans)
		return
	}
	f.inbox[key] = b
	f.answers[key] = []byte(fmt.Sprintf(`{"code":"0000","receipt":"R%d"}`, len(f.answers)+1))
	w.Write(f.answers[key])
}

func (f *feedDept) touch(keys []string, update func(*feedRow)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	at := f.rows[len(f.rows)-1].Updated.Add(time.Hour)
	for i := range f.rows {
		if f.rows[i].Set == connectortest.Assistance && slices.Contains(keys, f.rows[i].Key) {
			update(&f.rows[i])
			f.rows[i].Updated = at
		}
	}
	f.sort()
}

// entries reads the inbox back, each body flattened to dotted paths.
func (f *feedDept) entries(t *testing.T) []connectortest.InboxEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []connectortest.InboxEntry
	for key, b := range f.inbox {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var body map[string]any
		if err := dec.Decode(&body); err != nil {
			t.Fatal(err)
		}
		vals := map[string]any{}
		flatten("", body, vals)
		out = append(out, connectortest.InboxEntry{IdempotencyKey: key, Values: vals})
	}
	return out
}

func flatten(prefix string, obj map[string]any, out map[string]any) {
	for k, v := range obj {
		if m, ok := v.(map[string]any); ok {
			flatten(prefix+k+".", m, out)
			continue
		}
		out[prefix+k] = v
	}
}

func TestWriteConformance(t *testing.T) {
	connectortest.RunWriter(t, func(t *testing.T) connectortest.WriteInstance {
		d := loadDept(t, "http://set-below")
		fake := newFeedDept(d, connectortest.Fixture{})
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		d.Source.REST.BaseURL = srv.URL
		return connectortest.WriteInstance{Conn: openSource(t, d), Dept: d, Inbox: fake.entries}
	})
}

func TestFactsConformance(t *testing.T) {
	connectortest.RunFacts(t, func(t *testing.T, fx connectortest.Fixture) connectortest.FactsInstance {
		d := loadDept(t, "http://set-below")
		fake := newFeedDept(d, fx)
		srv := httptest.NewServer(fake)
		t.Cleanup(srv.Close)
		d.Source.REST.BaseURL = srv.URL
		return connectortest.FactsInstance{Conn: openSource(t, d), Dept: d,
			Touch: func(t *testing.T, keys []string) {
				fake.touch(keys, func(r *feedRow) { r.Record["members"] = int64(connectortest.TouchedMembers) })
			},
			Delete: func(t *testing.T, key string) {
				fake.touch([]string{key}, func(r *feedRow) { r.deleted = true })
			},
		}
	})
}

// captured is a request as a test server saw it.
type captured struct {
	key  string
	body string
}

// inboxServer answers the n-th inbox request (from 1) with status(n) and body.
func inboxServer(t *testing.T, status func(n int) int, body string) (*Source, func() []captured) {
	t.Helper()
	var mu sync.Mutex
	var seen []captured
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, captured{r.Header.Get(IdempotencyHeader), string(b)})
		n := len(seen)
		mu.Unlock()
		if r.URL.Path != "/api/v2/inbox" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(status(n))
		fmt.Fprint(w, body)
	})
	return s, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

func delivery(t *testing.T) connectors.Delivery {
	return connectors.Delivery{IdempotencyKey: "sub-1/conformance_rest", Entity: connectors.Person, Key: testID(t, 1),
		Fields: map[string]any{"assistance.since": time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), "assistance.members": int64(4)}}
}

func TestWriteRetriesWithTheSameKey(t *testing.T) {
	s, seen := inboxServer(t, func(n int) int { return []int{503, 502, 200}[min(n, 3)-1] }, `{"code":"0000"}`)
	if err := s.Write(context.Background(), delivery(t)); err != nil {
		t.Fatalf("Write after two failures: %v", err)
	}
	got := seen()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	for _, c := range got {
		if c != got[0] || c.key != "sub-1/conformance_rest" {
			t.Errorf("request %+v differs from the first %+v: a retry must send the same key and body", c, got[0])
		}
	}
	if want := `{"bzxx":{"ksrq":"20260305"},"rks":4,"sfzh":"` + testID(t, 1) + `"}`; got[0].body != want {
		t.Errorf("body %s, want %s", got[0].body, want)
	}
}

func TestWriteStatuses(t *testing.T) {
	cases := []struct {
		status   int
		body     string
		want     string // "ok", "permanent", "retry"
		requests int
	}{
		{200, `{"code":"0000"}`, "ok", 1},
		{201, ``, "ok", 1},
		{204, ``, "ok", 1},
		{409, `{"msg":"already applied"}`, "ok", 1},
		{200, `<html>502 Bad Gateway</html>`, "permanent", 1},
		{400, `{"msg":"bad"}`, "permanent", 1},
		{401, ``, "permanent", 1},
		{404, ``, "permanent", 1},
		{422, ``, "permanent", 1},
		{408, ``, "retry", 3},
		{429, ``, "retry", 3},
		{500, ``, "retry", 3},
	}
	for _, tc := range cases {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			s, seen := inboxServer(t, func(int) int { return tc.status }, tc.body)
			err := s.Write(context.Background(), delivery(t))
			switch tc.want {
			case "ok":
				if err != nil {
					t.Errorf("err = %v, want success", err)
				}
			case "permanent":
				if !isPermanent(err) {
					t.Errorf("err = %v, want a permanent error", err)
				}
			case "retry":
				if err == nil || !connectors.Retryable(err) {
					t.Errorf("err = %v, want a retryable error", err)
				}
			}
			if n := len(seen()); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
			if err != nil && strings.Contains(err.Error(), testID(t, 1)) {
				t.Errorf("error shows the ID number: %v", err)
			}
		})
	}
}

func TestWriteAndFactsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	s := openSource(t, loadDept(t, "http://"+addr))
	if err := s.Write(context.Background(), delivery(t)); !errors.Is(err, connectors.ErrNotConnected) || !connectors.Retryable(err) {
		t.Errorf("Write: err = %v, want a retryable ErrNotConnected", err)
	}
	if _, err := s.Facts(context.Background(), "", 10); !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Facts: err = %v, want ErrNotConnected", err)
	}
}

func TestFactsGarbage(t *testing.T) {
	key := testID(t, 1)
	cases := []struct{ name, body, want string }{
		{"not json", `<html>维护中</html>`, "not valid JSON"},
		{"items an object", `{"data":{"items":{},"next":"1-1","more":false}}`, "data.items is an object, not an array"},
		{"no next", `{"data":{"items":[{"resource":"dibao","record":{"sfzh":"` + key + `"}}],"more":false}}`, "the answer has no data.next"},
		{"more a string", `{"data":{"items":[],"next":"1-1","more":"maybe"}}`, "data.more is a string, not a bool"},
		{"item a number", `{"data":{"items":[7],"next":"1-1","more":false}}`, "data.items[0] is a number, not an object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, n := serve(t, answer(tc.body))
			_, err := s.Facts(context.Background(), "", 10)
			if !isPermanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want a permanent error containing %q", err, tc.want)
			}
			if n.Load() != 1 {
				t.Errorf("%d requests, want 1", n.Load())
			}
		})
	}
}

func TestFactsSkipBadItems(t *testing.T) {
	a := testID(t, 1)
	var calls atomic.Int64
	s, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Query().Get("since") != "w0" || r.URL.Query().Get("limit") != "10" {
			t.Errorf("query %s", r.URL.RawQuery)
		}
		answer(`{"data":{"items":[
			{"resource":"dibao","id":"1","record":{"sfzh":"`+a+`","rks":2}},
			{"resource":"dibao","id":"2","record":{"sfzh":"`+a[:17]+`"}},
			{"resource":"dibao","id":"3","record":{"sfzh":"`+a+`","rks":"两"}},
			{"resource":"dibao","id":"4","record":"gone"},
			{"resource":"elsewhere","id":"5","record":{"sfzh":"`+a+`"}},
			{"resource":"dibao","id":"6","deleted":true,"record":{"sfzh":"`+a+`"}}],
			"next":"w1","more":true}}`)(w, r)
	})
	p, err := s.Facts(context.Background(), "w0", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range p.Facts {
		got = append(got, fmt.Sprintf("%s %t %v", f.ID, f.Deleted, f.Record))
	}
	if want := []string{"1 false map[members:2]", "6 true map[]"}; !slices.Equal(got, want) {
		t.Errorf("facts %q, want %q", got, want)
	}
	if p.Watermark != "w1" || !p.More {
		t.Errorf("watermark %q, more %t", p.Watermark, p.More)
	}
	if s.FactsSkipped() != 3 {
		t.Errorf("FactsSkipped() = %d, want 3", s.FactsSkipped())
	}
}
