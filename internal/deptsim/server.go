package deptsim

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// API conventions of the three REST departments. README.md in
// connectors/departments/README.md documents them for the mapping files.
type convention struct {
	keyHeader string // the API key header
	prefix    string // path prefix of the data endpoints
	// resources maps a resource name to its lookup path under prefix.
	resources map[string]string
	post      bool   // POST {"<keysParam>": [...]} (social_security) instead of GET ?<keysParam>=a,b
	keysParam string // batch parameter or body field
	maxKeys   int
	pageParam string // "" when the API does not page
	sizeParam string
	pageSize  int // default page size
	maxSize   int
}

var conventions = map[string]convention{
	Employment: {
		keyHeader: "X-Api-Key", prefix: "/api/v1",
		resources: map[string]string{"unemployment": "/unemployment", "hardship": "/hardship", "certificates": "/certificates", "assistance": "/assistance"},
		keysParam: "sfzh", maxKeys: 100, pageParam: "pageNo", sizeParam: "pageSize", pageSize: 20, maxSize: 500,
	},
	SocialSecurity: {
		keyHeader: "X-Auth-Token", prefix: "/api/si/v1",
		resources: map[string]string{"pension": "/pension/query", "medical": "/medical/query"},
		post:      true, keysParam: "idList", maxKeys: 200,
	},
	UrbanManagement: {
		keyHeader: "X-App-Key", prefix: "/openapi/v2",
		resources: map[string]string{"cases": "/cases"},
		keysParam: "partyIdNo", maxKeys: 50, pageParam: "page", sizeParam: "size", pageSize: 50, maxSize: 200,
	},
}

// APIKeyHeader is the header a REST department's API reads its key from.
func APIKeyHeader(dept string) string { return conventions[dept].keyHeader }

// record is one loaded record.
type record struct {
	key     string // normalised: trimmed, upper case
	updated int64  // Unix milliseconds
	// seq is the record's place in the changes listing after updated: load
	// order at first, a new number each time Touch changes the record.
	seq int
	raw json.RawMessage
	// deleted is set by Touch: lookups no longer answer the record, and the
	// changes listing marks it deleted.
	deleted bool
}

type collection struct {
	name  string
	recs  []record
	byKey map[string][]int32
}

// changeRef points at a record from the changes listing.
type changeRef struct {
	coll *collection
	i    int32
}

// Fault makes a simulator misbehave, for tests of retries, timeouts and the
// circuit breaker.
type Fault struct {
	// Mode is "" (behave), "error" (500), "unavailable" (503 with Retry-After),
	// "ratelimit" (429 with Retry-After), "slow" (answer after Delay) or
	// "garbage" (200 with a body that is not JSON).
	Mode string `json:"mode"`
	// Rate is the share of requests affected, (0, 1]; 0 means all.
	Rate float64 `json:"rate"`
	// Delay is how long "slow" waits (default 3s).
	Delay time.Duration `json:"delay"`
}

var faultModes = []string{"", "none", "error", "unavailable", "ratelimit", "slow", "garbage"}

// Server is a REST department's simulated API over the files WriteFiles wrote.
// Every data endpoint needs the API key (401 otherwise); GET /health does not.
//
// Besides the department's own endpoints (see README.md in
// connectors/departments/README.md) every simulator has:
//
//   - GET <prefix>/changes?since=W&limit=N: records changed after watermark W
//     ("" for all; a "next" value of a previous page, or a timestamp such as
//     2026-06-01T00:00:00+08:00 or 20260601), oldest first, for the fact feed;
//     records updated in the same millisecond are ordered by a sequence
//     number the watermark carries, so paging skips none; each item has the
//     record's id and, for a record Touch deleted, "deleted": true;
//   - POST <prefix>/inbox: report deliveries (see inbox.go), with an
//     Idempotency-Key header; GET /_deptsim/inbox counts them;
//   - POST /_deptsim/touch?n=N&delete=D&resource=R: change N records' status
//     and delete D, all at one new update time (see Touch);
//   - POST /_deptsim/cases/advance?caseNo=X (城管): move a case its inbox
//     opened to its next stage (see AdvanceCase);
//   - GET|POST /_deptsim/fault?mode=M&rate=R&delay=D: read or set the fault
//     injected into every request (mode "" to stop); a single request can ask
//     for one with ?_fault=M or the X-Deptsim-Fault header;
//   - GET /_deptsim/stats: requests served and keys looked up, so tests can
//     check that the hub batches its reads.
type Server struct {
	dept   string
	apiKey string
	conv   convention
	mux    *http.ServeMux
	inbox  *inbox

	// mu guards the records, which Touch changes; lookups and listings
	// share it.
	mu      sync.RWMutex
	colls   map[string]*collection
	changes []changeRef
	nextSeq int // the seq Touch gives the next record it changes
	touches uint64
	// opened are the cases opened from the inbox (城管), by case number:
	// their place in the cases collection.
	opened map[string]int32

	faultMu sync.Mutex
	fault   Fault

	requests, lookups, keys atomic.Int64
}

var _ http.Handler = (*Server)(nil)

// NewServer loads dir/<dept>/ (written by WriteFiles) and returns the API of
// dept (employment, social_security or urban_management) accepting apiKey.
func NewServer(dept, dir, apiKey string) (*Server, error) {
	if err := checkDept(dept, KindREST); err != nil {
		return nil, err
	}
	if apiKey == "" {
		return nil, fmt.Errorf("deptsim %s: an API key is required", dept)
	}
	ddir := filepath.Join(dir, dept)
	raw, err := os.ReadFile(filepath.Join(ddir, manifestFile))
	if err != nil {
		return nil, fmt.Errorf("deptsim %s: no simulator data in %s (written by gridhub dev): %w", dept, ddir, err)
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("deptsim %s: %s: %w", dept, manifestFile, err)
	}
	s := &Server{dept: dept, apiKey: apiKey, conv: conventions[dept], colls: map[string]*collection{}}
	// Collections load in parallel (decompression dominates); seq numbers
	// follow the resources' order, so listings do not depend on timing.
	names := sortedKeys(s.conv.resources)
	colls := make([]*collection, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for k, name := range names {
		c := &collection{name: name, byKey: map[string][]int32{}, recs: make([]record, 0, m.Resources[name])}
		colls[k] = c
		wg.Go(func() {
			errs[k] = readLines(filepath.Join(ddir, name+".jsonl.gz"), func(l line) error {
				k := normKey(l.Key)
				if k != "" {
					c.byKey[k] = append(c.byKey[k], int32(len(c.recs)))
				}
				c.recs = append(c.recs, record{key: k, updated: l.Updated.UnixMilli(), raw: l.Record})
				return nil
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("deptsim %s: %w", dept, err)
	}
	seq := 0
	for _, c := range colls {
		s.colls[c.name] = c
		for i := range c.recs {
			c.recs[i].seq = seq
			seq++
			s.changes = append(s.changes, changeRef{c, int32(i)})
		}
	}
	slices.SortFunc(s.changes, func(a, b changeRef) int {
		ra, rb := &a.coll.recs[a.i], &b.coll.recs[b.i]
		return cmp.Or(cmp.Compare(ra.updated, rb.updated), cmp.Compare(ra.seq, rb.seq))
	})
	s.nextSeq = seq
	if s.inbox, err = openInbox(filepath.Join(ddir, InboxFile)); err != nil {
		return nil, fmt.Errorf("deptsim %s: %w", dept, err)
	}
	// The case system reopens the cases its inbox accepted, in order.
	s.opened = map[string]int32{}
	if dept == UrbanManagement {
		for _, d := range s.Deliveries() {
			if err := s.openCase(&d); err != nil {
				return nil, err
			}
		}
	}
	s.routes()
	return s, nil
}

func normKey(k string) string { return strings.ToUpper(strings.TrimSpace(k)) }

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "UP", "department": s.dept})
	})
	for _, name := range sortedKeys(s.conv.resources) {
		c := s.colls[name]
		method := "GET "
		if s.conv.post {
			method = "POST "
		}
		mux.HandleFunc(method+s.conv.prefix+s.conv.resources[name], s.auth(func(w http.ResponseWriter, r *http.Request) { s.lookup(w, r, c) }))
	}
	mux.HandleFunc("GET "+s.conv.prefix+"/changes", s.auth(s.listChanges))
	mux.HandleFunc("POST "+s.conv.prefix+"/inbox", s.auth(s.deliver))
	mux.HandleFunc("/_deptsim/fault", s.auth(s.faultEndpoint))
	mux.HandleFunc("POST /_deptsim/touch", s.auth(s.touchEndpoint))
	mux.HandleFunc("POST /_deptsim/cases/advance", s.auth(s.advanceEndpoint))
	mux.HandleFunc("GET /_deptsim/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /_deptsim/inbox", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.InboxStats())
	})
	s.mux = mux
}

// ServeHTTP serves the API, injecting the configured fault first.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/_deptsim/") {
		s.requests.Add(1)
		if s.injectFault(w, r) {
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// Stats counts what the simulator served.
type Stats struct {
	Requests int64 `json:"requests"` // API requests, /_deptsim/ excluded
	Lookups  int64 `json:"lookups"`  // batch lookups answered
	Keys     int64 `json:"keys"`     // keys asked for in those lookups
}

// Stats returns the counters since start.
func (s *Server) Stats() Stats {
	return Stats{Requests: s.requests.Load(), Lookups: s.lookups.Load(), Keys: s.keys.Load()}
}

// SetFault sets the fault injected into every request; the zero Fault stops it.
func (s *Server) SetFault(f Fault) error {
	if !slices.Contains(faultModes, f.Mode) {
		return fmt.Errorf("deptsim: unknown fault mode %q (want one of %s)", f.Mode, strings.Join(faultModes[2:], ", "))
	}
	if f.Rate < 0 || f.Rate > 1 {
		return fmt.Errorf("deptsim: fault rate %v is not in (0, 1]", f.Rate)
	}
	if f.Mode == "none" {
		f = Fault{}
	}
	s.faultMu.Lock()
	s.fault = f
	s.faultMu.Unlock()
	return nil
}

// ParseFault reads a fault as the --fault flag and /_deptsim/fault write it:
// "mode", "mode@rate" or "mode@rate/delay" (e.g. "error@0.3", "slow@1/5s").
func ParseFault(s string) (Fault, error) {
	var f Fault
	mode, rest, _ := strings.Cut(s, "@")
	f.Mode = mode
	if rest != "" {
		rate, delay, _ := strings.Cut(rest, "/")
		var err error
		if f.Rate, err = strconv.ParseFloat(rate, 64); err != nil {
			return Fault{}, fmt.Errorf("deptsim: fault rate %q: %w", rate, err)
		}
		if delay != "" {
			if f.Delay, err = time.ParseDuration(delay); err != nil {
				return Fault{}, fmt.Errorf("deptsim: fault delay %q: %w", delay, err)
			}
		}
	}
	if !slices.Contains(faultModes, f.Mode) {
		return Fault{}, fmt.Errorf("deptsim: unknown fault mode %q (want one of %s)", f.Mode, strings.Join(faultModes[2:], ", "))
	}
	return f, nil
}

func (s *Server) faultEndpoint(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		q := r.URL.Query()
		f := Fault{Mode: q.Get("mode")}
		var err error
		if v := q.Get("rate"); v != "" {
			if f.Rate, err = strconv.ParseFloat(v, 64); err != nil {
				s.fail(w, http.StatusBadRequest, "rate: "+err.Error())
				return
			}
		}
		if v := q.Get("delay"); v != "" {
			if f.Delay, err = time.ParseDuration(v); err != nil {
				s.fail(w, http.StatusBadRequest, "delay: "+err.Error())
				return
			}
		}
		if err := s.SetFault(f); err != nil {
			s.fail(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	s.faultMu.Lock()
	f := s.fault
	s.faultMu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"mode": f.Mode, "rate": f.Rate, "delay": f.Delay.String()})
}

// injectFault answers r with the fault asked for, if any; true when it did.
func (s *Server) injectFault(w http.ResponseWriter, r *http.Request) bool {
	s.faultMu.Lock()
	f := s.fault
	s.faultMu.Unlock()
	if m := cmp.Or(r.URL.Query().Get("_fault"), r.Header.Get("X-Deptsim-Fault")); m != "" {
		f = Fault{Mode: m}
	}
	if f.Mode == "" || f.Mode == "none" || f.Rate > 0 && rand.Float64() >= f.Rate {
		return false
	}
	switch f.Mode {
	case "error":
		s.fail(w, http.StatusInternalServerError, "internal error (injected)")
	case "unavailable":
		w.Header().Set("Retry-After", "1")
		s.fail(w, http.StatusServiceUnavailable, "service unavailable (injected)")
	case "ratelimit":
		w.Header().Set("Retry-After", "1")
		s.fail(w, http.StatusTooManyRequests, "too many requests (injected)")
	case "garbage":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"code":0,"data":{"list":[{"sfzh":"34070` + "\x00\xff" + `<html>502 Bad Gateway</html>`))
	case "slow":
		d := cmp.Or(f.Delay, 3*time.Second)
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return true
		}
		return false
	default:
		s.fail(w, http.StatusBadRequest, "unknown fault mode "+strconv.Quote(f.Mode))
	}
	return true
}

// auth checks the API key.
func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(s.conv.keyHeader) != s.apiKey {
			s.fail(w, http.StatusUnauthorized, "invalid or missing API key in "+s.conv.keyHeader)
			return
		}
		h(w, r)
	}
}

// empEnvelope is employment's answer: code 0 and data, or an error code
// (HTTP status × 100) and a message.
type empEnvelope struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
	Data any    `json:"data"`
}

type empPage struct {
	List     []json.RawMessage `json:"list"`
	Total    int               `json:"total"`
	PageNo   int               `json:"pageNo"`
	PageSize int               `json:"pageSize"`
}

// fail writes an error in the department's style.
func (s *Server) fail(w http.ResponseWriter, status int, msg string) {
	name := strings.ReplaceAll(http.StatusText(status), " ", "_")
	switch s.dept {
	case Employment:
		writeJSON(w, status, empEnvelope{Code: status * 100, Msg: msg})
	case SocialSecurity:
		writeJSON(w, status, struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}{strings.ToLower(name), msg})
	default:
		writeJSON(w, status, struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}{strings.ToUpper(name), msg})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// lookup answers a batch lookup (or, for paging APIs without keys, a listing).
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, c *collection) {
	var keys []string
	if s.conv.post {
		var body map[string]json.RawMessage
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil {
			s.fail(w, http.StatusBadRequest, "body must be a JSON object: "+err.Error())
			return
		}
		if err := json.Unmarshal(body[s.conv.keysParam], &keys); err != nil || len(keys) == 0 {
			s.fail(w, http.StatusBadRequest, s.conv.keysParam+" must be a non-empty array of ID numbers")
			return
		}
	} else if v := r.URL.Query().Get(s.conv.keysParam); v != "" {
		keys = strings.Split(v, ",")
	}
	seen := map[string]bool{}
	uniq := keys[:0]
	for _, k := range keys {
		if k = normKey(k); k != "" && !seen[k] {
			seen[k] = true
			uniq = append(uniq, k)
		}
	}
	keys = uniq
	if len(keys) > s.conv.maxKeys {
		s.fail(w, http.StatusBadRequest, fmt.Sprintf("at most %d keys a request, got %d", s.conv.maxKeys, len(keys)))
		return
	}
	page, size := 1, s.conv.pageSize
	if s.conv.pageParam != "" {
		var err error
		if page, err = intParam(r, s.conv.pageParam, 1, 1, 1<<30); err != nil {
			s.fail(w, http.StatusBadRequest, err.Error())
			return
		}
		if size, err = intParam(r, s.conv.sizeParam, s.conv.pageSize, 1, 1<<30); err != nil {
			s.fail(w, http.StatusBadRequest, err.Error())
			return
		}
		size = min(size, s.conv.maxSize)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var hits []int32
	if len(keys) == 0 {
		hits = make([]int32, 0, len(c.recs))
		for i := range c.recs {
			if !c.recs[i].deleted {
				hits = append(hits, int32(i))
			}
		}
	} else {
		s.lookups.Add(1)
		s.keys.Add(int64(len(keys)))
		for _, k := range keys {
			idx := slices.DeleteFunc(slices.Clone(c.byKey[k]), func(i int32) bool { return c.recs[i].deleted })
			// Newest first: a client keeping one record per key keeps the newest.
			slices.SortStableFunc(idx, func(a, b int32) int { return cmp.Compare(c.recs[b].updated, c.recs[a].updated) })
			hits = append(hits, idx...)
		}
	}
	total := len(hits)
	if s.conv.pageParam != "" {
		lo := min((page-1)*size, total)
		hits = hits[lo:min(lo+size, total)]
	}
	items := make([]json.RawMessage, len(hits))
	for i, h := range hits {
		items[i] = c.recs[h].raw
	}
	switch s.dept {
	case Employment:
		writeJSON(w, http.StatusOK, empEnvelope{Msg: "success", Data: empPage{List: items, Total: total, PageNo: page, PageSize: size}})
	case SocialSecurity:
		writeJSON(w, http.StatusOK, struct {
			Items []json.RawMessage `json:"items"`
		}{items})
	default:
		writeJSON(w, http.StatusOK, struct {
			Items []json.RawMessage `json:"items"`
			Total int               `json:"total"`
			Page  int               `json:"page"`
			Size  int               `json:"size"`
		}{items, total, page, size})
	}
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s must be an integer from %d", name, lo)
	}
	return n, nil
}

// change is one item of the changes listing.
type change struct {
	Resource string `json:"resource"`
	// ID identifies the record within its resource, across restarts (its
	// place in the resource's file).
	ID        string          `json:"id"`
	Key       string          `json:"key"`
	UpdatedAt time.Time       `json:"updatedAt"`
	Deleted   bool            `json:"deleted,omitempty"`
	Record    json.RawMessage `json:"record"`
}

// sinceLayouts are the timestamps the changes listing accepts as since, in CST
// unless they carry a zone.
var sinceLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02", "20060102150405", "20060102", "2006/01/02 15:04:05", "2006/01/02"}

// parseSince reads a watermark: "" (from the start), "<unix ms>-<seq>" (a next
// value), or a timestamp. It returns the position to list after.
func parseSince(v string) (t time.Time, seq int, err error) {
	if v == "" {
		return time.Time{}, -1, nil
	}
	if ms, sq, ok := strings.Cut(v, "-"); ok && !strings.Contains(sq, "-") {
		a, errA := strconv.ParseInt(ms, 10, 64)
		b, errB := strconv.Atoi(sq)
		if errA == nil && errB == nil {
			return time.UnixMilli(a), b, nil
		}
	}
	for _, l := range sinceLayouts {
		if t, err := time.ParseInLocation(l, v, cst); err == nil {
			return t, 1 << 62, nil
		}
	}
	return time.Time{}, 0, fmt.Errorf("since %q is neither a watermark from a previous page nor a timestamp", v)
}

// listChanges lists records changed after the since watermark, oldest first.
func (s *Server) listChanges(w http.ResponseWriter, r *http.Request) {
	since, seq, err := parseSince(r.URL.Query().Get("since"))
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	limit, err := intParam(r, "limit", 100, 1, 1<<30)
	if err != nil {
		s.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	limit = min(limit, 1000)
	s.mu.RLock()
	defer s.mu.RUnlock()
	// The records are sorted by (update time truncated to ms, seq); find the first after the watermark.
	start := 0
	if seq >= 0 {
		start, _ = slices.BinarySearchFunc(s.changes, struct{}{}, func(c changeRef, _ struct{}) int {
			rec := &c.coll.recs[c.i]
			if d := rec.updated - since.UnixMilli(); d != 0 {
				return int(max(-1, min(1, d)))
			}
			if seq >= 1<<62 {
				return -1 // a timestamp: everything at it is not after it
			}
			return cmp.Compare(rec.seq, seq+1)
		})
	}
	end := min(start+limit, len(s.changes))
	items := make([]change, 0, end-start)
	next := r.URL.Query().Get("since")
	for _, c := range s.changes[start:end] {
		rec := &c.coll.recs[c.i]
		items = append(items, change{Resource: c.coll.name, ID: strconv.Itoa(int(c.i)), Key: rec.key, UpdatedAt: time.UnixMilli(rec.updated).In(cst),
			Deleted: rec.deleted, Record: rec.raw})
		next = fmt.Sprintf("%d-%d", rec.updated, rec.seq)
	}
	more := end < len(s.changes)
	if s.dept == Employment {
		writeJSON(w, http.StatusOK, empEnvelope{Msg: "success", Data: struct {
			List []change `json:"list"`
			Next string   `json:"next"`
			More bool     `json:"more"`
		}{items, next, more}})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Items []change `json:"items"`
		Next  string   `json:"next"`
		More  bool     `json:"more"`
	}{items, next, more})
}

// ListenAndServe runs dept's simulator on addr (host:port; port 0 picks one)
// until ctx ends, calling ready with its base URL once it listens. fault, if
// not the zero Fault, is injected from the start.
func ListenAndServe(ctx context.Context, dept, dir, apiKey, addr string, fault Fault, ready func(url string)) error {
	s, err := NewServer(dept, dir, apiKey)
	if err != nil {
		return err
	}
	if err := s.SetFault(fault); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("deptsim %s: %w", dept, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if ready != nil {
		ready("http://" + ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
