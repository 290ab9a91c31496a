package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/federation/fedtest"
	"github.com/gridhub/gridhub/internal/people"
	"github.com/gridhub/gridhub/internal/policy"
	"github.com/gridhub/gridhub/internal/server"
	"github.com/gridhub/gridhub/internal/testcity"
)

// fuzzCaller is a genuine token the fuzzer may send, and whose records it may
// see: any clear resident ID or phone in an answer must be of a person under
// one of scope ("" = every person), or be in the request itself.
type fuzzCaller struct {
	token string
	scope []string
}

// fuzzHandler builds the real handler once per fuzz process: the test city, the
// six department mappings answered in memory, dev tokens, the built-in purpose
// catalogue, a real audit ledger (hubOptions' setup, for a testing.TB).
func fuzzHandler(tb testing.TB) (http.Handler, *testcity.Fixture) {
	tb.Helper()
	fx := testcity.Load(tb)
	v, err := auth.NewVerifier(auth.Config{Dev: true, DevKey: testKey})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.Close() })
	depts, err := builtin.Departments()
	if err != nil {
		tb.Fatal(err)
	}
	pol, err := policy.Load("", depts)
	if err != nil {
		tb.Fatal(err)
	}
	fedtest.Register()
	fed, err := federation.New(fedtest.AsMemory(depts), federation.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(fed.Close)
	ledger := audit.New(fx.App.Pool, fx.Keys.AuditChainKey())
	tb.Cleanup(func() { ledger.Close(context.Background()) })
	return server.New(server.Options{
		Store: fx.App, People: people.NewService(fx.App.Pool, fx.Keys), Version: "test",
		Auth: v, Config: config.NewLive(&config.Config{Departments: depts, Policy: pol}), Ledger: ledger, Federation: fed,
	}), fx
}

// digitRun is a maximal run of digits (with an ID's check character): an
// 18-character run may be a resident ID, an 11-digit one a phone.
var digitRun = regexp.MustCompile(`[0-9]+[Xx]?`)

// FuzzGraphQLHTTP sends arbitrary requests to /graphql through the real
// handler. Whatever comes in: no panic, no 5xx, a JSON body with data or
// errors (OPTIONS excepted: gqlgen answers it with Allow and no body), 401 for
// every request without a genuine token, and no clear identifier of a person
// outside the caller's scope that the request did not itself name.
//
// tok picks the credentials: 0 none, 1.. a genuine token; headers are
// "Name: value" lines added as they are (an Authorization line among them
// makes a second header, or a forged one).
func FuzzGraphQLHTTP(f *testing.F) {
	h, fx := fuzzHandler(f)
	city := fx.City
	subject := city.Persons[len(city.Persons)/3]
	mint := func(p auth.Principal) string {
		tok, err := auth.DevToken(testKey, p, 24*time.Hour)
		if err != nil {
			f.Fatal(err)
		}
		return tok
	}
	callers := []fuzzCaller{
		{mint(auth.Principal{Subject: "fuzz-admin", Roles: []auth.Role{auth.Admin}}), []string{""}},
		{mint(auth.Principal{Subject: "fuzz-grid", Roles: []auth.Role{auth.GridWorker}, Scope: []string{subject.GridCode}}), []string{subject.GridCode}},
		{mint(auth.Principal{Subject: "fuzz-street", Roles: []auth.Role{auth.StreetAdmin}, Scope: []string{subject.GridCode[:9]}}), []string{subject.GridCode[:9]}},
		{mint(auth.Principal{Subject: "fuzz-officer", Roles: []auth.Role{auth.DeptOfficer}, Department: "health"}), []string{""}},
		{mint(auth.Principal{Subject: "fuzz-bi", Roles: []auth.Role{auth.BIReader}}), nil},
		{mint(auth.Principal{Subject: "fuzz-auditor", Roles: []auth.Role{auth.Auditor}}), nil},
	}
	gridOf := map[string]string{}
	for _, p := range city.Persons {
		gridOf[p.IDNumber] = p.GridCode
		if p.Phone != "" {
			gridOf[p.Phone] = p.GridCode
		}
	}

	// Seeds: real requests of every shape.
	const ctJSON = "Content-Type: application/json\n"
	personQ := `query($id: String!) { person(idNumber: $id) { name idNumber phone ` + allSections + ` } }`
	body := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	hash := func(q string) string { s := sha256.Sum256([]byte(q)); return hex.EncodeToString(s[:]) }
	apq := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash(`{ version }`)}}
	far := city.Persons[len(city.Persons)-1] // another township, most likely
	seeds := []struct {
		method, query, headers string
		tok                    uint8
		chunked                bool
		body                   []byte
	}{
		{"POST", "", ctJSON, 1, false, body(map[string]any{"query": personQ, "variables": map[string]any{"id": subject.IDNumber}})},
		{"POST", "", ctJSON + "X-Purpose: home_visit\n", 2, false, body(map[string]any{"query": personQ, "variables": map[string]any{"id": subject.IDNumber}})},
		{"POST", "", ctJSON + "X-Purpose: home_visit\n", 2, false, body(map[string]any{"query": `query($w: ID!) { people(within: $w, first: 100) { nodes { idNumber phone name } totalCount } }`, "variables": map[string]any{"w": "340705"}})},
		{"POST", "", ctJSON + "X-Purpose: home_visit\n", 2, false, body(map[string]any{"query": `{ household(id: "` + fmt.Sprint(subject.HouseholdID) + `") { address head { idNumber phone } members { idNumber phone name } } }`})},
		{"GET", "query=" + url.QueryEscape(`{ household(id: "1") { head { idNumber phone } members { idNumber phone } } }`), "X-Purpose: home_visit\n", 3, false, nil},
		{"POST", "", ctJSON + "X-Purpose: dibao_review\n", 3, false, body(map[string]any{"query": `{ a: person(idNumber: "` + far.IDNumber + `") { idNumber } }`})},
		{"POST", "", ctJSON, 5, false, body(map[string]any{"query": personQ, "variables": map[string]any{"id": subject.IDNumber}})},
		{"POST", "", ctJSON, 4, true, body(map[string]any{"query": `{ departments { code healthy } version }`, "operationName": nil})},
		{"POST", "", ctJSON, 1, false, body([]any{map[string]any{"query": "{ version }"}, map[string]any{"query": "{ departments { code } }"}})},
		{"GET", "query=" + url.QueryEscape(`{ grid(code: "340705") { code name children(first: 5) { nodes { code } } } }`), "", 1, false, nil},
		{"GET", "query=" + url.QueryEscape(personQ) + "&variables=" + url.QueryEscape(`{"id":"`+subject.IDNumber+`"}`), "X-Purpose: home_visit\n", 2, false, nil},
		{"GET", "query=" + url.QueryEscape(`mutation { redeliver(submission: "1", department: "health") { status } }`), "", 1, false, nil},
		{"GET", "extensions=" + url.QueryEscape(string(body(apq))), "", 1, false, nil},
		{"POST", "", ctJSON, 1, false, body(map[string]any{"query": "{ version }", "extensions": apq})},
		{"POST", "", ctJSON, 1, false, body(map[string]any{"extensions": apq})},
		{"POST", "", ctJSON, 1, false, body(map[string]any{"query": "{ version }", "variables": map[string]any{"pad": strings.Repeat("x", 300<<10), "n": []any{1, 2.5, nil, true, map[string]any{}}}})},
		{"POST", "", ctJSON, 1, true, append([]byte(`{"query":"{ version }","variables":{"pad":"`), bytes.Repeat([]byte("y"), 1<<20)...)},
		{"POST", "", ctJSON, 1, false, []byte(`{"query": "{ version }"`)},
		{"POST", "", ctJSON, 1, false, []byte("{\"query\": \"{ grid(code: \\\"34\xff\xfe0705\\\") { code } }\"}")},
		{"POST", "", "Content-Type: application/json; charset=latin1\n", 1, false, []byte(`{"query":"{ version }"}`)},
		{"POST", "", "Content-Type: text/plain\n", 1, false, []byte(`{"query":"{ version }"}`)},
		{"POST", "", ctJSON + "Accept: application/graphql-response+json\n", 1, false, []byte(`{"query":"{ nope }"}`)},
		{"POST", "", ctJSON + "X-Purpose: no_such_purpose\n", 1, false, []byte(`{"query":"{ version }"}`)},
		{"POST", "", ctJSON, 0, false, body(map[string]any{"query": personQ, "variables": map[string]any{"id": subject.IDNumber}})},
		{"POST", "", ctJSON + "Authorization: Bearer not.a.token\n", 0, false, []byte(`{"query":"{ version }"}`)},
		{"POST", "", ctJSON + "Authorization: Basic YWRtaW46YWRtaW4=\n", 0, false, []byte(`{"query":"{ version }"}`)},
		{"POST", "", ctJSON + "Authorization: Bearer x\n", 1, false, []byte(`{"query":"{ version }"}`)},
		{"GET", "", "", 0, false, nil},
		{"OPTIONS", "", "Origin: https://example.org\nAccess-Control-Request-Method: POST\n", 0, false, nil},
		{"OPTIONS", "", "", 1, false, nil},
		{"HEAD", "query=%7B+version+%7D", "", 1, false, nil},
		{"PUT", "", ctJSON, 1, false, []byte(`{"query":"{ version }"}`)},
		{"DELETE", "", "", 1, false, nil},
		{"POST", "", ctJSON, 1, false, body(map[string]any{"query": `{ people(within: "340705", first: 100) { nodes { household { members { household { members { name } } } } } } }`})},
		{"POST", "", ctJSON, 1, false, body(map[string]any{"query": `query A { version } query B { version }`, "operationName": "C"})},
		{"POST", "", ctJSON, 6, false, body(map[string]any{"query": `query($p: ID) { auditLog(person: $p, first: 20) { totalCount nodes { seq actor roles purpose action persons fields } } }`, "variables": map[string]any{"p": subject.IDNumber}})},
		{"GET", "query=%zz&variables=%7B", "", 1, false, nil},
	}
	for _, s := range seeds {
		f.Add(s.method, s.query, s.headers, s.tok, s.chunked, s.body)
	}

	f.Fuzz(func(t *testing.T, method, rawQuery, headers string, tok uint8, chunked bool, body []byte) {
		if method == "" {
			method = "GET"
		}
		target := "/graphql"
		if rawQuery != "" {
			target += "?" + rawQuery
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || strings.ContainsAny(rawQuery, " #") || u.Path != "/graphql" {
			return // no HTTP server would hand this request line to a handler
		}
		req, err := http.NewRequest(method, "http://hub.test"+target, bytes.NewReader(body))
		if err != nil {
			return // not a method token
		}
		if chunked {
			req.ContentLength = -1
		}
		var caller *fuzzCaller
		if tok > 0 {
			caller = &callers[int(tok-1)%len(callers)]
			req.Header.Set("Authorization", "Bearer "+caller.token)
		}
		for line := range strings.SplitSeq(headers, "\n") {
			name, value, ok := strings.Cut(line, ":")
			if !ok || !validHeaderName(name) || !validHeaderValue(value) {
				continue
			}
			switch http.CanonicalHeaderKey(name) {
			case "Content-Length", "Transfer-Encoding", "Host", "Connection":
				continue // framing: the server consumes these before a handler runs
			}
			req.Header.Add(name, strings.TrimSpace(value))
		}
		authed := caller != nil && len(req.Header.Values("Authorization")) == 1
		if !authed {
			caller = nil
		}
		forged := true // no Authorization value holds a genuine token
		for _, v := range req.Header.Values("Authorization") {
			for _, c := range callers {
				if strings.Contains(v, c.token) {
					forged = false
				}
			}
		}

		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		res := rec.Result()
		out := rec.Body.Bytes()

		if res.StatusCode >= 500 {
			t.Fatalf("%s %s: HTTP %d: %.500s", method, target, res.StatusCode, out)
		}
		if (!authed && forged || len(req.Header.Values("Authorization")) > 1) && res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s %s without a genuine token (Authorization %q): HTTP %d, want 401: %.500s",
				method, target, req.Header.Values("Authorization"), res.StatusCode, out)
		}
		if authed && res.StatusCode == http.StatusUnauthorized {
			t.Fatalf("%s %s with a genuine token: 401: %.500s", method, target, out)
		}
		if method == http.MethodOptions && res.StatusCode < 300 || method == http.MethodHead && len(out) == 0 {
			return
		}
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatalf("%s %s: HTTP %d, body is not a JSON object (%v): %.500q", method, target, res.StatusCode, err, out)
		}
		_, hasData := doc["data"]
		errs, hasErrors := doc["errors"]
		if !hasData && !hasErrors {
			t.Fatalf("%s %s: HTTP %d, neither data nor errors: %.500s", method, target, res.StatusCode, out)
		}
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/graphql-response+json") {
			t.Errorf("%s %s: Content-Type %q for a JSON body", method, target, ct)
		}
		if res.StatusCode == http.StatusUnauthorized && !bytes.Contains(errs, []byte(`"UNAUTHENTICATED"`)) {
			t.Errorf("401 without UNAUTHENTICATED: %.500s", out)
		}
		if res.StatusCode != http.StatusOK && hasData && string(doc["data"]) != "null" {
			t.Errorf("%s %s: HTTP %d with data: %.500s", method, target, res.StatusCode, out)
		}

		// No clear identifier outside the caller's scope, unless the request
		// named it itself (an error may quote what it was sent).
		sent := rawQuery + "\n" + string(body)
		if q, err := url.QueryUnescape(rawQuery); err == nil {
			sent += "\n" + q
		}
		var decoded any // as the server reads it: \u escapes resolved
		if json.Unmarshal(body, &decoded) == nil {
			sent += "\n" + fmt.Sprint(decoded)
		}
		for k, vs := range req.Header {
			sent += "\n" + k + ":" + strings.Join(vs, ",")
		}
		for _, m := range digitRun.FindAllString(string(out), -1) {
			m = strings.ToUpper(m)
			grid, ok := gridOf[m]
			if !ok || strings.Contains(strings.ToUpper(sent), m) || caller != nil && inFuzzScope(caller.scope, grid) {
				continue
			}
			t.Fatalf("LEAK: %s of a person in grid %s, outside the caller's scope %v: %.500s", m, grid, callerScope(caller), out)
		}
	})
}

func inFuzzScope(scope []string, grid string) bool {
	for _, s := range scope {
		if strings.HasPrefix(grid, s) {
			return true
		}
	}
	return false
}

func callerScope(c *fuzzCaller) []string {
	if c == nil {
		return nil
	}
	return c.scope
}

// validHeaderName is an RFC 9110 token, as net/http's server requires.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// validHeaderValue has no control characters but tab, as net/http's server
// requires.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
