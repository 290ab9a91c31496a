package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/policy"
	"github.com/gridhub/gridhub/internal/server"
)

// These tests pin what `make conformance` (the graphql-http audit) checks, and
// what our own middlewares answer, without Node and without a database: every
// request here is answered before a resolver runs, or only asks __typename.

const (
	ghttpJSON  = "application/json"
	ghttpGQL   = "application/graphql-response+json"
	ghttpDeep  = `{ grid(code: "340705") { children { nodes { children { nodes { children { nodes { children { nodes { children { nodes { children { nodes { children { nodes { children { nodes { code } } } } } } } } } } } } } } } } }`
	ghttpQuery = `{ __typename }`
)

// ghttpDenyAll is a rate limiter that refuses everyone.
type ghttpDenyAll struct{}

func (ghttpDenyAll) Allow(context.Context, string) (bool, time.Duration, error) {
	return false, 1500 * time.Millisecond, nil
}

// ghttpHub is a hub over no database, and an admin token for it.
type ghttpHub struct {
	t     *testing.T
	url   string
	token string
}

func newGHTTPHub(t *testing.T, edit func(*server.Options)) *ghttpHub {
	t.Helper()
	key := []byte(strings.Repeat("c", 32))
	v, err := auth.NewVerifier(auth.Config{Dev: true, DevKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load("", depts)
	if err != nil {
		t.Fatal(err)
	}
	opts := server.Options{Auth: v, Config: config.NewLive(&config.Config{Departments: depts, Policy: pol}), Version: "test"}
	if edit != nil {
		edit(&opts)
	}
	srv := httptest.NewServer(server.New(opts))
	t.Cleanup(srv.Close)
	tok, err := auth.DevToken(key, auth.Principal{Subject: "test-admin", Roles: []auth.Role{auth.Admin}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &ghttpHub{t: t, url: srv.URL + "/graphql", token: tok}
}

// ghttpReq describes one request: method, body (nil for none), headers.
type ghttpReq struct {
	method string
	query  url.Values // GET parameters
	body   io.Reader
	header map[string]string
	noAuth bool
}

type ghttpResp struct {
	status int
	header http.Header
	body   map[string]json.RawMessage
	raw    string
}

func (h *ghttpHub) do(rq ghttpReq) ghttpResp {
	h.t.Helper()
	u := h.url
	if rq.query != nil {
		u += "?" + rq.query.Encode()
	}
	req, err := http.NewRequest(rq.method, u, rq.body)
	if err != nil {
		h.t.Fatal(err)
	}
	if !rq.noAuth {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := ghttpResp{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			h.t.Errorf("%s %s: body is not a JSON object: %q", rq.method, u, raw)
		}
	}
	return out
}

// post sends body as application/json, accepting accept ("" for no Accept).
func (h *ghttpHub) post(accept, body string) ghttpResp {
	h.t.Helper()
	hdr := map[string]string{"Content-Type": ghttpJSON}
	if accept != "" {
		hdr["Accept"] = accept
	}
	return h.do(ghttpReq{method: "POST", body: strings.NewReader(body), header: hdr})
}

// check asserts the status and content type, and that an error answer is
// GraphQL-shaped: errors and no data entry.
func (r ghttpResp) check(t *testing.T, status int, contentType string, wantErrors bool) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (body %s)", r.status, status, r.raw)
	}
	if got := r.header.Get("Content-Type"); got != contentType {
		t.Errorf("Content-Type %q, want %q", got, contentType)
	}
	_, hasErrors := r.body["errors"]
	_, hasData := r.body["data"]
	switch {
	case wantErrors && !hasErrors:
		t.Errorf("no errors in %s", r.raw)
	case wantErrors && hasData:
		t.Errorf("a refused request has a data entry: %s", r.raw)
	case !wantErrors && (hasErrors || string(r.body["data"]) != `{"__typename":"Query"}`):
		t.Errorf("body %s, want data.__typename and no errors", r.raw)
	}
}

func postBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestGraphQLHTTPAcceptNegotiation: the response type follows Accept with its q
// values, application/json by default, and agrees with the auth middleware's 401.
func TestGraphQLHTTPAcceptNegotiation(t *testing.T) {
	h := newGHTTPHub(t, nil)
	body := postBody(t, map[string]any{"query": ghttpQuery})
	for _, c := range []struct{ accept, want string }{
		{"", ghttpJSON},
		{"*/*", ghttpJSON},
		{"application/json", ghttpJSON},
		{"application/json; charset=utf-8", ghttpJSON},
		{"application/graphql-response+json", ghttpGQL},
		{"application/graphql-response+json, application/json;q=0.9", ghttpGQL},
		{"application/graphql-response+json;q=0.5, application/json", ghttpJSON},
		{"application/json;q=0.9, application/graphql-response+json", ghttpGQL},
		{"text/html", ghttpJSON},
	} {
		t.Run(c.accept, func(t *testing.T) {
			h.post(c.accept, body).check(t, http.StatusOK, c.want, false)
			// The 401 of a request without a token is in the same type.
			hdr := map[string]string{"Content-Type": ghttpJSON}
			if c.accept != "" {
				hdr["Accept"] = c.accept
			}
			un := h.do(ghttpReq{method: "POST", body: strings.NewReader(body), header: hdr, noAuth: true})
			un.check(t, http.StatusUnauthorized, c.want, true)
		})
	}
}

// TestGraphQLHTTPRequestErrors: a well-formed request that fails before it runs
// is 200 in application/json and 400 in application/graphql-response+json, with
// errors and no data entry.
func TestGraphQLHTTPRequestErrors(t *testing.T) {
	h := newGHTTPHub(t, nil)
	cases := map[string]map[string]any{
		"parse":           {"query": "{"},
		"validation":      {"query": "{ 8f31403dfe404bccbb0e835f2629c6a7 }"},
		"unknown field":   {"query": "{ nope }"},
		"coercion":        {"query": "query Q($n: String!) { __type(name: $n) { name } }", "variables": map[string]any{"n": nil}},
		"unused variable": {"query": "query Q($id: ID!) { __typename }", "variables": map[string]any{"id": nil}},
		"no operation":    {"query": "query A { __typename }", "operationName": "B"},
		"too complex":     {"query": ghttpDeep},
		"unknown APQ":     {"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": strings.Repeat("0", 64)}}},
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			body := postBody(t, req)
			h.post(ghttpJSON, body).check(t, http.StatusOK, ghttpJSON, true)
			h.post(ghttpGQL, body).check(t, http.StatusBadRequest, ghttpGQL, true)
		})
	}
}

// TestGraphQLHTTPMalformedRequests: a request that is not well-formed GraphQL
// over HTTP is 400 whatever the client accepts, in the type it accepts.
func TestGraphQLHTTPMalformedRequests(t *testing.T) {
	h := newGHTTPHub(t, nil)
	for name, body := range map[string]string{
		"empty body":          ``,
		"not JSON":            `{ "not a JSON`,
		"JSON null":           `null`,
		"array (batch)":       `[{"query":"{ __typename }"}]`,
		"trailing data":       `{"query":"{ __typename }"} {}`,
		"missing query":       `{"notquery":"{ __typename }"}`,
		"empty query":         `{"query":""}`,
		"object query":        `{"query":{"obj":"ect"}}`,
		"number query":        `{"query":0}`,
		"string variables":    `{"query":"{ __typename }","variables":"string"}`,
		"array variables":     `{"query":"{ __typename }","variables":["array"]}`,
		"number operation":    `{"query":"{ __typename }","operationName":0}`,
		"boolean extensions":  `{"query":"{ __typename }","extensions":false}`,
		"array extensions":    `{"query":"{ __typename }","extensions":["array"]}`,
		"extensions no query": `{"extensions":{"some":"value"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			h.post(ghttpJSON, body).check(t, http.StatusBadRequest, ghttpJSON, true)
			h.post(ghttpGQL, body).check(t, http.StatusBadRequest, ghttpGQL, true)
		})
	}
	// What is allowed: null parameters, maps, a charset of UTF-8.
	for name, body := range map[string]string{
		"null variables":  `{"query":"{ __typename }","variables":null}`,
		"null operation":  `{"query":"{ __typename }","operationName":null}`,
		"null extensions": `{"query":"{ __typename }","extensions":null}`,
		"map extensions":  `{"query":"{ __typename }","extensions":{"some":"value"}}`,
		"operation name":  `{"query":"query Q { __typename }","operationName":"Q"}`,
	} {
		t.Run(name, func(t *testing.T) {
			h.post(ghttpGQL, body).check(t, http.StatusOK, ghttpGQL, false)
		})
	}
}

// TestGraphQLHTTPMediaTypes: a POST body must be application/json in UTF-8.
func TestGraphQLHTTPMediaTypes(t *testing.T) {
	h := newGHTTPHub(t, nil)
	body := postBody(t, map[string]any{"query": ghttpQuery})
	for ct, want := range map[string]int{
		"":                                  http.StatusUnsupportedMediaType,
		"text/plain":                        http.StatusUnsupportedMediaType,
		"application/graphql":               http.StatusUnsupportedMediaType,
		"application/x-www-form-urlencoded": http.StatusUnsupportedMediaType,
		"application/json; charset=latin1":  http.StatusUnsupportedMediaType,
		"application/json; charset=utf-8":   http.StatusOK,
		"application/json; charset=UTF-8":   http.StatusOK,
		"Application/JSON":                  http.StatusOK,
	} {
		t.Run(ct, func(t *testing.T) {
			hdr := map[string]string{"Accept": ghttpGQL}
			if ct != "" {
				hdr["Content-Type"] = ct
			}
			r := h.do(ghttpReq{method: "POST", body: strings.NewReader(body), header: hdr})
			r.check(t, want, ghttpGQL, want != http.StatusOK)
		})
	}
}

// TestGraphQLHTTPMethods: GET runs queries only (405 with Allow: POST for a
// mutation), other methods are 405 with Allow, OPTIONS lists the methods.
func TestGraphQLHTTPMethods(t *testing.T) {
	h := newGHTTPHub(t, nil)
	get := func(accept string, q url.Values) ghttpResp {
		return h.do(ghttpReq{method: "GET", query: q, header: map[string]string{"Accept": accept}})
	}
	get(ghttpJSON, url.Values{"query": {ghttpQuery}}).check(t, http.StatusOK, ghttpJSON, false)
	get(ghttpGQL, url.Values{"query": {"query Q($n: String!) { __typename n: __typename }"}, "variables": {`{"n":"x"}`}}).
		check(t, http.StatusBadRequest, ghttpGQL, true) // $n is unused
	get(ghttpGQL, url.Values{"query": {ghttpQuery}, "variables": {`{"n":"x"}`}, "extensions": {`{}`}}).
		check(t, http.StatusOK, ghttpGQL, false)
	get(ghttpGQL, url.Values{"query": {ghttpQuery}, "variables": {`["x"]`}}).check(t, http.StatusBadRequest, ghttpGQL, true)
	get(ghttpGQL, url.Values{"query": {ghttpQuery}, "extensions": {`"x"`}}).check(t, http.StatusBadRequest, ghttpGQL, true)
	get(ghttpGQL, nil).check(t, http.StatusBadRequest, ghttpGQL, true)

	for _, q := range []url.Values{
		{"query": {"mutation { __typename }"}},
		{"query": {"query A { __typename } mutation B { __typename }"}, "operationName": {"B"}},
		{"query": {"subscription { __typename }"}},
	} {
		for _, accept := range []string{ghttpJSON, ghttpGQL} {
			r := get(accept, q)
			r.check(t, http.StatusMethodNotAllowed, accept, true)
			if got := r.header.Get("Allow"); got != "POST" {
				t.Errorf("GET %s: Allow %q, want POST", q.Encode(), got)
			}
		}
	}

	for _, m := range []string{"PUT", "DELETE", "PATCH", "HEAD"} {
		r := h.do(ghttpReq{method: m, body: strings.NewReader(postBody(t, map[string]any{"query": ghttpQuery})),
			header: map[string]string{"Content-Type": ghttpJSON}})
		if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "OPTIONS, GET, POST" {
			t.Errorf("%s: status %d Allow %q, want 405 and OPTIONS, GET, POST", m, r.status, r.header.Get("Allow"))
		}
	}
	r := h.do(ghttpReq{method: "OPTIONS"})
	if r.status != http.StatusOK || r.header.Get("Allow") != "OPTIONS, GET, POST" {
		t.Errorf("OPTIONS: status %d Allow %q", r.status, r.header.Get("Allow"))
	}
}

// TestGraphQLHTTPMiddlewareRefusals: the refusals made before the GraphQL
// server (body limit, rate limit, purpose) are GraphQL-shaped, in the
// negotiated type.
func TestGraphQLHTTPMiddlewareRefusals(t *testing.T) {
	h := newGHTTPHub(t, nil)
	big := `{"query":"{ __typename }","variables":{"pad":"` + strings.Repeat("x", server.MaxBodyBytes) + `"}}`
	for _, accept := range []string{ghttpJSON, ghttpGQL} {
		h.post(accept, big).check(t, http.StatusRequestEntityTooLarge, accept, true)
		// Without Content-Length the body is cut at the limit, and still 413.
		chunked := h.do(ghttpReq{method: "POST", body: io.MultiReader(strings.NewReader(big)),
			header: map[string]string{"Content-Type": ghttpJSON, "Accept": accept}})
		chunked.check(t, http.StatusRequestEntityTooLarge, accept, true)

		r := h.do(ghttpReq{method: "POST", body: strings.NewReader(postBody(t, map[string]any{"query": ghttpQuery})),
			header: map[string]string{"Content-Type": ghttpJSON, "Accept": accept, "X-Purpose": "no-such-purpose"}})
		r.check(t, http.StatusBadRequest, accept, true)
	}

	limited := newGHTTPHub(t, func(o *server.Options) { o.Limiter = ghttpDenyAll{} })
	for _, accept := range []string{ghttpJSON, ghttpGQL} {
		r := limited.post(accept, postBody(t, map[string]any{"query": ghttpQuery}))
		r.check(t, http.StatusTooManyRequests, accept, true)
		if r.header.Get("Retry-After") != "2" {
			t.Errorf("Retry-After %q, want 2", r.header.Get("Retry-After"))
		}
	}
}
