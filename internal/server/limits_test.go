package server_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/internal/ratelimit"
	"github.com/gridhub/gridhub/internal/server"
	"github.com/gridhub/gridhub/internal/testcity"
)

func sha(doc string) string {
	sum := sha256.Sum256([]byte(doc))
	return hex.EncodeToString(sum[:])
}

// send posts a raw GraphQL request body (with extensions) as the hub's caller.
func (h *hub) send(body map[string]any) (*http.Response, gqlResponse) {
	h.t.Helper()
	resp := h.postBody(body)
	defer resp.Body.Close()
	var r gqlResponse
	json.NewDecoder(resp.Body).Decode(&r)
	return resp, r
}

func TestAutomaticPersistedQueries(t *testing.T) {
	h := newHub(t)
	doc := `{ grids(level: DISTRICT) { totalCount } }`
	ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": sha(doc)}}
	_, r := h.send(map[string]any{"extensions": ext})
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "PERSISTED_QUERY_NOT_FOUND" {
		t.Fatalf("unknown hash: %+v, want PERSISTED_QUERY_NOT_FOUND", r.Errors)
	}
	if _, r = h.send(map[string]any{"query": doc, "extensions": ext}); len(r.Errors) > 0 {
		t.Fatalf("registering: %+v", r.Errors)
	}
	if _, r = h.send(map[string]any{"extensions": ext}); len(r.Errors) > 0 || string(r.Data) == "" {
		t.Fatalf("by hash after registering: %+v", r)
	}
}

func TestTrustedDocumentsRunOnlyRegisteredOperations(t *testing.T) {
	fx := testcity.Load(t)
	opts, ledger := hubOptions(t, fx)
	registered := `{ grids(level: DISTRICT) { totalCount } }`
	manifest := filepath.Join(t.TempDir(), "trusted.json")
	b, _ := json.Marshal(map[string]string{sha(registered): registered})
	if err := os.WriteFile(manifest, b, 0o600); err != nil {
		t.Fatal(err)
	}
	trusted, err := graph.LoadTrustedDocuments(manifest)
	if err != nil {
		t.Fatal(err)
	}
	opts.Trusted = trusted
	h := startHub(t, fx, opts, ledger)

	if errs := h.query(registered, nil, nil); len(errs) > 0 {
		t.Errorf("a registered document was refused: %+v", errs)
	}
	if _, r := h.send(map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": sha(registered)}}}); len(r.Errors) > 0 {
		t.Errorf("a registered hash was refused: %+v", r.Errors)
	}
	errs := h.query(`{ grids(level: TOWNSHIP) { totalCount } }`, nil, nil)
	if len(errs) != 1 || errs[0].Extensions["code"] != "PERSISTED_QUERY_NOT_FOUND" {
		t.Errorf("an ad-hoc document ran: %+v", errs)
	}
}

func TestRateLimitAnswers429(t *testing.T) {
	fx := testcity.Load(t)
	opts, ledger := hubOptions(t, fx)
	opts.Limiter = ratelimit.NewMemory(ratelimit.Limit{PerSecond: 1, Burst: 2}, 100)
	h := startHub(t, fx, opts, ledger)
	var last *http.Response
	for i := 0; i < 3; i++ {
		last = h.post(`{ version }`, nil)
		last.Body.Close()
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Fatalf("third request in a burst of 2: %d, Retry-After %q; want 429 with Retry-After", last.StatusCode, last.Header.Get("Retry-After"))
	}
	resp := h.post(`{ version }`, nil)
	defer resp.Body.Close()
	var r gqlResponse
	json.NewDecoder(resp.Body).Decode(&r)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "RATE_LIMITED" {
		t.Errorf("body = %+v, want RATE_LIMITED", r)
	}
}

func TestIntrospectionIsOffOutsideDev(t *testing.T) {
	h := newHub(t)
	for _, q := range []string{`{ __schema { types { name } } }`, `{ __type(name: "Person") { name } }`,
		`query { ...F } fragment F on Query { __schema { queryType { name } } }`} {
		errs := h.query(q, nil, nil)
		if len(errs) != 1 || errs[0].Extensions["code"] != "FORBIDDEN" || !strings.Contains(errs[0].Message, "introspection is turned off") {
			t.Errorf("%s: errors %+v, want one FORBIDDEN saying introspection is turned off", q, errs)
		}
	}
	// __typename is not introspection and keeps working.
	var out struct {
		Typename string `json:"__typename"`
	}
	h.mustQuery(`{ __typename }`, nil, &out)
	if out.Typename != "Query" {
		t.Errorf("__typename = %q", out.Typename)
	}
}

// A document that repeats a directive a thousand times gets a bounded list
// of errors, the last one counting the rest.
func TestErrorListIsCapped(t *testing.T) {
	h := newHub(t)
	q := "{ version" + strings.Repeat(" @skip(if: false)", 1000) + " }"
	resp := h.post(q, nil)
	defer resp.Body.Close()
	var r gqlResponse
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) != server.MaxErrors {
		t.Fatalf("%d errors, want %d", len(r.Errors), server.MaxErrors)
	}
	last := r.Errors[len(r.Errors)-1]
	if last.Extensions["code"] != "TOO_MANY_ERRORS" || !strings.Contains(last.Message, "more errors not shown") {
		t.Errorf("last error %+v, want the count of the rest", last)
	}
}

// The spec does not coerce an Int variable to String: it is refused, not
// read as text (an ID number sent as a JSON number has lost its digits).
func TestIntVariableIsNotAString(t *testing.T) {
	h := newHub(t)
	errs := h.query(`query($id: String!) { person(idNumber: $id) { name } }`, map[string]any{"id": 340705198001011233}, nil)
	if len(errs) != 1 || !strings.Contains(errs[0].Message, "String") {
		t.Errorf("an Int for String!: errors %+v, want one refusing it", errs)
	}
	for _, v := range []any{true, 12.5, map[string]any{"a": 1}} {
		if errs := h.query(`query($id: String!) { person(idNumber: $id) { name } }`, map[string]any{"id": v}, nil); len(errs) != 1 {
			t.Errorf("%v for String!: errors %+v, want one", v, errs)
		}
	}
}

func TestUnknownPurposeIsRefused(t *testing.T) {
	h := newHub(t).with("curiosity")
	resp := h.post(`{ version }`, nil)
	defer resp.Body.Close()
	var r gqlResponse
	json.NewDecoder(resp.Body).Decode(&r)
	if resp.StatusCode != http.StatusBadRequest || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "BAD_USER_INPUT" {
		t.Errorf("unknown purpose: HTTP %d %+v, want 400 BAD_USER_INPUT", resp.StatusCode, r)
	}
}

func TestNoTokenIs401(t *testing.T) {
	h := newHub(t)
	h.token = ""
	resp := h.post(`{ version }`, nil)
	defer resp.Body.Close()
	var r gqlResponse
	json.NewDecoder(resp.Body).Decode(&r)
	if resp.StatusCode != http.StatusUnauthorized || len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UNAUTHENTICATED" {
		t.Errorf("no token: HTTP %d %+v", resp.StatusCode, r)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(h.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s without a token = %d, want 200", path, resp.StatusCode)
		}
	}
}
