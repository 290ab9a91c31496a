// Package rest is the connector kind for departments that answer over an HTTP
// JSON API (就业, 社保, 城管).
//
// Each record set names a batch lookup: GET with the keys joined by commas in
// one query parameter, or POST with a JSON body {keys_param: [keys]}. Batches
// larger than max_batch are split; answers may be paged. Records are found by
// a dotted path in the answer and their fields by dotted paths in each record.
// A record set that is not many keeps a key's first record in the answer, so
// the department should answer newest first.
//
// Reads are retried (source.rest.retries, with exponential backoff and jitter)
// when the failure may heal: a 5xx, a dropped connection, a refused one. A 429
// or 503 with Retry-After is waited out when the wait fits in the caller's
// deadline, and returned as a RetryAfterError otherwise. An answer that is not
// what the mapping expects is a permanent error naming where it went wrong;
// nothing a department sends can make the hub panic or read more than 32 MiB.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/gridhub/gridhub/connectors"
)

// Kind is the connector kind name in department files.
const Kind = "rest"

func init() {
	connectors.Register(Kind, func(d *connectors.Department) (connectors.Connector, error) {
		s, err := Open(d)
		if err != nil {
			return nil, err
		}
		return s, nil
	})
}

const (
	// maxBody bounds an answer: a page of records is kilobytes, so more than
	// this is a broken or hostile source, not data.
	maxBody = 32 << 20
	// maxPages stops a source whose pages never end.
	maxPages = 1000

	defaultMaxBatch     = 100
	defaultRetries      = 2
	defaultBackoff      = 100 * time.Millisecond
	defaultAPIKeyHeader = "X-Api-Key"
)

// Source is a department HTTP JSON API.
type Source struct {
	dept    *connectors.Department
	base    *url.URL
	apiKey  string
	header  string
	retries int
	backoff time.Duration
	client  *http.Client
	skipped atomic.Int64
	// factsSkipped counts change items the fact feed left out.
	factsSkipped atomic.Int64
}

var (
	_ connectors.Connector     = (*Source)(nil)
	_ connectors.HealthChecker = (*Source)(nil)
	_ connectors.Closer        = (*Source)(nil)
)

// Open makes the client of a rest department. It does not call the
// department: one that is down must not stop the hub from starting.
func Open(dept *connectors.Department) (*Source, error) {
	cfg := dept.Source.REST
	if cfg == nil {
		return nil, fmt.Errorf("rest %s: no source.rest block", dept.Code)
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("rest %s: source.rest.base_url %q is not an http(s) URL", dept.Code, cfg.BaseURL)
	}
	s := &Source{
		dept:    dept,
		base:    base,
		apiKey:  cfg.APIKey,
		header:  cfg.APIKeyHeader,
		retries: cfg.Retries,
		backoff: cfg.Backoff.Std(),
	}
	if s.header == "" {
		s.header = defaultAPIKeyHeader
	}
	switch {
	case s.retries == 0:
		s.retries = defaultRetries
	case s.retries < 0:
		s.retries = 0
	}
	if s.backoff <= 0 {
		s.backoff = defaultBackoff
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = 16
	s.client = &http.Client{
		Transport: transport,
		// The caller bounds each read with the department's timeout on ctx;
		// this is the backstop for a caller that forgot.
		Timeout: dept.Timeout.Std(),
		// An API has no reason to redirect, and following one would send the
		// API key to wherever it points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s, nil
}

// Describe says what the connector serves.
func (s *Source) Describe() connectors.Description {
	return connectors.Description{Code: s.dept.Code, Name: s.dept.Name, Kind: s.dept.Kind, Sets: s.dept.Records}
}

// Read fetches each record set asked for, one request per max_batch keys (and
// per page). Records whose key does not normalise or whose fields do not
// convert are skipped; they are an error only when none of a set's records
// could be used, since that means the mapping, not the data, is wrong.
func (s *Source) Read(ctx context.Context, req connectors.ReadRequest) (connectors.Result, error) {
	sets, err := s.dept.SetsFor(req)
	if err != nil {
		return nil, fmt.Errorf("rest %s: %w", s.dept.Code, err)
	}
	res := connectors.Result{}
	if len(req.Keys) == 0 || len(sets) == 0 {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("rest %s: read: %w", s.dept.Code, err)
	}
	want := make(map[string]bool, len(req.Keys))
	for _, k := range req.Keys {
		want[k] = true
	}
	for _, rs := range sets {
		if err := s.readSet(ctx, rs, req.Keys, want, res); err != nil {
			return nil, fmt.Errorf("rest %s: fetch %s: %w", s.dept.Code, rs.Name, err)
		}
	}
	return res, nil
}

// Skipped is how many records reads have skipped because their key did not
// normalise or a field did not convert.
func (s *Source) Skipped() int64 { return s.skipped.Load() }

func (s *Source) readSet(ctx context.Context, rs *connectors.RecordSet, keys []string, want map[string]bool, res connectors.Result) error {
	r := rs.Request
	batch := r.MaxBatch
	if batch <= 0 {
		batch = defaultMaxBatch
	}
	var good, bad int
	var firstBad error
	for start := 0; start < len(keys); start += batch {
		chunk := keys[start:min(start+batch, len(keys))]
		seen := 0
		for page := 1; ; page++ {
			if page > maxPages {
				return connectors.Permanentf("%s %s: more than %d pages", r.Method, r.Path, maxPages)
			}
			doc, err := s.call(ctx, r, chunk, page)
			if err != nil {
				return err
			}
			items, err := itemsOf(doc, r.Items)
			if err != nil {
				return connectors.Permanentf("%s %s: %w", r.Method, r.Path, err)
			}
			for i, item := range items {
				obj, ok := item.(map[string]any)
				if !ok {
					return connectors.Permanentf("%s %s: %s[%d] is %s, not an object", r.Method, r.Path, itemsName(r.Items), i, kindOf(item))
				}
				get := func(from string) (any, bool) { return field(obj, from) }
				key, err := rs.KeyOf(get)
				if err == nil && !want[key] {
					continue // the department answered more than was asked
				}
				var rec connectors.Record
				if err == nil {
					rec, err = rs.MapRecord(get)
				}
				if err != nil {
					bad++
					if firstBad == nil {
						firstBad = err
					}
					continue
				}
				good++
				rs.AddTo(res, key, rec)
			}
			if r.PageParam == "" || len(items) == 0 {
				break
			}
			seen += len(items)
			if r.Total != "" {
				total, err := totalOf(doc, r.Total)
				if err != nil {
					return connectors.Permanentf("%s %s: %w", r.Method, r.Path, err)
				}
				if seen >= total {
					break
				}
			} else if r.PageSize > 0 && len(items) < r.PageSize {
				break // a short page is the last one
			}
		}
	}
	s.skipped.Add(int64(bad))
	if bad > 0 && good == 0 {
		return connectors.Permanentf("%s %s: none of %d records could be mapped; the first: %w", r.Method, r.Path, bad, firstBad)
	}
	return nil
}

// call makes one request, retrying failures that may heal.
func (s *Source) call(ctx context.Context, r *connectors.Request, keys []string, page int) (any, error) {
	return s.retry(ctx, func() (any, error) { return s.once(ctx, r, keys, page) })
}

// retry runs attempt until it succeeds or fails in a way a retry does not
// heal, at most 1+retries times, waiting between attempts with backoff (or
// as long as a Retry-After asks) when the wait fits in the deadline. A write
// is retried the same way: each attempt sends the same body with the same
// idempotency key.
func (s *Source) retry(ctx context.Context, attempt func() (any, error)) (any, error) {
	for n := 0; ; n++ {
		doc, err := attempt()
		if err == nil {
			return doc, nil
		}
		if ctx.Err() != nil || !connectors.Retryable(err) || n >= s.retries {
			return nil, err
		}
		wait := s.backoffFor(n)
		var ra *connectors.RetryAfterError
		if errors.As(err, &ra) {
			wait = max(wait, ra.Wait)
		}
		if !s.fits(ctx, wait) {
			return nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w (waiting to retry after: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}

// backoffFor is the wait before retry attempt+1: exponential, with jitter so
// that the hub's replicas do not retry in step.
func (s *Source) backoffFor(attempt int) time.Duration {
	d := s.backoff << min(attempt, 10)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// fits tells whether waiting d leaves time for another try: within the
// caller's deadline, or within the department's timeout when there is none.
func (s *Source) fits(ctx context.Context, d time.Duration) bool {
	if deadline, ok := ctx.Deadline(); ok {
		return time.Until(deadline) > d
	}
	return d <= s.dept.Timeout.Std()
}

// once makes one request and decodes its answer. Errors name the method and
// the path, never the URL: its query holds the keys, identity numbers.
func (s *Source) once(ctx context.Context, r *connectors.Request, keys []string, page int) (any, error) {
	u := s.endpoint(r.Path)
	q := u.Query()
	var body io.Reader
	if r.Method == http.MethodPost {
		b, err := json.Marshal(map[string][]string{r.KeysParam: keys})
		if err != nil {
			return nil, connectors.Permanent(err)
		}
		body = bytes.NewReader(b)
	} else {
		q.Set(r.KeysParam, strings.Join(keys, ","))
	}
	if r.PageParam != "" {
		q.Set(r.PageParam, strconv.Itoa(page))
		if r.SizeParam != "" && r.PageSize > 0 {
			q.Set(r.SizeParam, strconv.Itoa(r.PageSize))
		}
	}
	u.RawQuery = q.Encode()
	op := r.Method + " " + r.Path
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return nil, connectors.Permanentf("%s: %w", op, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	b, err := s.do(ctx, req, op)
	if err != nil {
		return nil, err
	}
	return decode(b, op)
}

// endpoint is the base URL with path appended.
func (s *Source) endpoint(path string) *url.URL {
	u := *s.base
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + strings.TrimPrefix(path, "/")
	u.RawPath = ""
	return &u
}

// do sends req and returns the body of a 2xx answer, sorting every failure
// into the connectors error taxonomy.
func (s *Source) do(ctx context.Context, req *http.Request, op string) ([]byte, error) {
	rep, err := s.exchange(ctx, req, op)
	if err != nil {
		return nil, err
	}
	if rep.status >= 200 && rep.status < 300 {
		return rep.body, nil
	}
	return nil, s.statusError(rep, op)
}

// reply is an answer's status, headers and, for a 2xx, body.
type reply struct {
	status   int
	header   http.Header
	body     []byte
	redirect string // where a 3xx points
}

// exchange sends req with the API key and reads the answer: the body of a
// 2xx within maxBody; of any other answer nothing, since error pages are not
// data. Only a failure to get an answer is an error.
func (s *Source) exchange(ctx context.Context, req *http.Request, op string) (reply, error) {
	req.Header.Set("Accept", "application/json")
	if s.apiKey != "" {
		req.Header.Set(s.header, s.apiKey)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return reply{}, transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	rep := reply{status: resp.StatusCode, header: resp.Header}
	if code := resp.StatusCode; code >= 200 && code < 300 {
		// At most maxBody+1 bytes, so a hostile body can hold neither the
		// connection nor the memory.
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		if err != nil {
			return reply{}, transportError(ctx, op, err)
		}
		if len(b) > maxBody {
			return reply{}, connectors.Permanentf("%s: the answer is larger than %d MiB", op, maxBody>>20)
		}
		rep.body = b
		return rep, nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		rep.redirect = redirectHost(resp)
	}
	// An error page is not read, only drained a little so that the
	// connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return rep, nil
}

// statusError sorts an answer that is not a 2xx into the connectors error
// taxonomy.
func (s *Source) statusError(rep reply, op string) error {
	status := fmt.Errorf("%s: HTTP %d", op, rep.status)
	switch code := rep.status; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return connectors.Permanentf("%w: the department rejected the API key (source.rest.api_key, sent in header %s)", status, s.header)
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		if wait, ok := retryAfter(rep.header.Get("Retry-After")); ok {
			return &connectors.RetryAfterError{Wait: wait, Err: status}
		}
		return status
	case code >= 500:
		return status
	case code >= 300 && code < 400:
		return connectors.Permanentf("%w: the API redirects (to %s); set base_url to where it points", status, rep.redirect)
	default:
		return connectors.Permanent(status)
	}
}

func redirectHost(resp *http.Response) string {
	if u, err := resp.Location(); err == nil {
		return u.Host
	}
	return "nowhere"
}

// transportError says why a request got no answer. A refused or unresolvable
// address is ErrNotConnected; the caller's deadline or cancellation is
// returned as such; anything else (a reset, a timeout of the backstop) may
// heal on a retry.
func transportError(ctx context.Context, op string, err error) error {
	// Drop the *url.Error wrapper: its message is the full URL.
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", op, ctxErr)
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &opErr) && opErr.Op == "dial") {
		return fmt.Errorf("%s: %w: %w", op, connectors.ErrNotConnected, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(h string) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(h); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// decode parses a JSON answer; numbers stay json.Number, so that long
// integers (15-digit IDs, amounts in fen) lose nothing. Answers are decoded
// with go-json, which builds the same values as encoding/json in about 60 %
// of its time: decoding was a sixth of the hub's CPU on a page with
// department sections.
func decode(b []byte, op string) (any, error) {
	dec := gojson.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, connectors.Permanentf("%s: the answer is not valid JSON: %v", op, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, connectors.Permanentf("%s: the answer has data after its JSON value", op)
	}
	return doc, nil
}

// lookup follows a dotted path through JSON objects. A missing member is not
// found; a member that is not an object where the path goes on is an error.
func lookup(doc any, path string) (any, bool, error) {
	if path == "" {
		return doc, true, nil
	}
	parts := strings.Split(path, ".")
	cur := doc
	for i, p := range parts {
		obj, ok := cur.(map[string]any)
		if !ok {
			where := "the answer"
			if i > 0 {
				where = strings.Join(parts[:i], ".")
			}
			return nil, false, fmt.Errorf("%s is %s, not an object", where, kindOf(cur))
		}
		if cur, ok = obj[p]; !ok {
			return nil, false, nil
		}
	}
	return cur, true, nil
}

// itemsOf finds the record array of an answer. The array itself may be
// missing or null (encoders drop empty arrays), but the object holding it
// must be there, so that a wrong path is an error and not an empty result.
func itemsOf(doc any, path string) ([]any, error) {
	v, found, err := lookup(doc, path)
	if err != nil {
		return nil, err
	}
	if !found {
		if i := strings.LastIndexByte(path, '.'); i > 0 {
			if _, parent, err := lookup(doc, path[:i]); err != nil || !parent {
				return nil, fmt.Errorf("the answer has no %s", path[:i])
			}
		}
		return nil, nil
	}
	if v == nil {
		return nil, nil
	}
	items, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%s is %s, not an array", itemsName(path), kindOf(v))
	}
	return items, nil
}

func itemsName(path string) string {
	if path == "" {
		return "the answer"
	}
	return path
}

// totalOf reads the total record count of a paged answer.
func totalOf(doc any, path string) (int, error) {
	v, found, err := lookup(doc, path)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("the answer has no %s", path)
	}
	var n int64
	switch t := v.(type) {
	case json.Number:
		n, err = t.Int64()
	case string:
		n, err = strconv.ParseInt(t, 10, 64)
	default:
		err = errors.New("not a number")
	}
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s is %s, not a count", path, kindOf(v))
	}
	return int(n), nil
}

// field reads a record field by dotted path; a member that is missing, null,
// or under something that is not an object is absent.
func field(obj map[string]any, path string) (any, bool) {
	v, found, err := lookup(obj, path)
	if err != nil || !found {
		return nil, false
	}
	return v, true
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a bool"
	}
	return fmt.Sprintf("a %T", v)
}

// Health asks the department's GET base_url/health; any 2xx is healthy.
func (s *Source) Health(ctx context.Context) error {
	op := "GET /health"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint("health").String(), nil)
	if err != nil {
		return fmt.Errorf("rest %s: health: %w", s.dept.Code, err)
	}
	if _, err := s.do(ctx, req, op); err != nil {
		return fmt.Errorf("rest %s: health: %w", s.dept.Code, err)
	}
	return nil
}

// Close drops the idle connections.
func (s *Source) Close() error {
	s.client.CloseIdleConnections()
	return nil
}
