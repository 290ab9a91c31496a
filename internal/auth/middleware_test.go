package auth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// echoPrincipal is the protected handler: it answers 200 with the subject it
// finds in the context, or 500 when the middleware let a request through
// without one.
var echoPrincipal = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	p, ok := FromContext(r.Context())
	if !ok {
		http.Error(w, "no principal", http.StatusInternalServerError)
		return
	}
	io.WriteString(w, "hello "+p.Subject)
})

func unauthBody(msg string) string {
	return `{"errors":[{"extensions":{"code":"UNAUTHENTICATED"},"message":"` + msg + `"}]}` + "\n"
}

func TestMiddleware(t *testing.T) {
	testKeys(t)
	v := prodVerifier(t, func(c *Config) { c.OpenPaths = HealthPaths })
	h := v.Middleware(echoPrincipal)
	good := rsaA.sign(t, claimsFor(), nil)

	type response struct {
		Status      int
		Body        string
		ContentType string
		Challenge   string
	}
	invalid := func(msg string) response {
		return response{401, unauthBody(msg), "application/json", `Bearer realm="gridhub", error="invalid_token"`}
	}
	tests := []struct {
		name   string
		path   string
		header http.Header
		want   response
	}{
		{name: "valid", header: http.Header{"Authorization": {"Bearer " + good}}, want: response{Status: 200, Body: "hello worker-7", ContentType: "text/plain; charset=utf-8"}},
		{name: "scheme in lower case, extra spaces", header: http.Header{"Authorization": {"  bearer   " + good + " "}}, want: response{Status: 200, Body: "hello worker-7", ContentType: "text/plain; charset=utf-8"}},
		{name: "no header", want: response{401, unauthBody("missing bearer token"), "application/json", `Bearer realm="gridhub"`}},
		{name: "empty header", header: http.Header{"Authorization": {""}}, want: response{401, unauthBody("missing bearer token"), "application/json", `Bearer realm="gridhub"`}},
		{name: "scheme alone", header: http.Header{"Authorization": {"Bearer"}}, want: response{401, unauthBody("missing bearer token"), "application/json", `Bearer realm="gridhub"`}},
		{name: "two headers", header: http.Header{"Authorization": {"Bearer " + good, "Bearer " + good}},
			want: response{401, unauthBody("more than one Authorization header"), "application/json", `Bearer realm="gridhub", error="invalid_request"`}},
		{name: "basic", header: http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}},
			want: response{401, unauthBody("authorization scheme is not Bearer"), "application/json", `Bearer realm="gridhub", error="invalid_request"`}},
		{name: "token without scheme", header: http.Header{"Authorization": {good}},
			want: response{401, unauthBody("authorization scheme is not Bearer"), "application/json", `Bearer realm="gridhub", error="invalid_request"`}},
		{name: "garbage", header: http.Header{"Authorization": {"Bearer x.y.z"}}, want: invalid("malformed token")},
		{name: "huge", header: http.Header{"Authorization": {"Bearer " + strings.Repeat("a", 100_000)}}, want: invalid("malformed token")},
		{name: "bad signature", header: http.Header{"Authorization": {"Bearer " + rsaEvil.sign(t, claimsFor(), nil)}}, want: invalid("bad signature")},
		{name: "expired", header: http.Header{"Authorization": {"Bearer " + rsaA.sign(t, with("exp", testNow.Add(-time.Hour).Unix()), nil)}}, want: invalid("token expired")},
		{name: "graphql-response+json preferred", header: http.Header{"Accept": {"application/graphql-response+json, application/json;q=0.9"}},
			want: response{401, unauthBody("missing bearer token"), "application/graphql-response+json", `Bearer realm="gridhub"`}},
		{name: "json preferred", header: http.Header{"Accept": {"application/graphql-response+json;q=0.5, application/json"}},
			want: response{401, unauthBody("missing bearer token"), "application/json", `Bearer realm="gridhub"`}},
		{name: "anything", header: http.Header{"Accept": {"*/*"}},
			want: response{401, unauthBody("missing bearer token"), "application/json", `Bearer realm="gridhub"`}},
		{name: "healthz is open", path: "/healthz", want: response{Status: 500, Body: "no principal\n", ContentType: "text/plain; charset=utf-8"}},
		{name: "a path through healthz is not", path: "/healthz/../graphql", want: response{401, unauthBody("missing bearer token"), "application/json", `Bearer realm="gridhub"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = "/graphql"
			}
			r := httptest.NewRequest(http.MethodPost, "http://hub"+path, strings.NewReader(`{"query":"{ departments { code } }"}`))
			r.URL.Path = path // httptest cleans nothing, but be explicit about what the middleware sees
			for k, vs := range tt.header {
				r.Header[k] = vs
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := response{w.Code, w.Body.String(), w.Header().Get("Content-Type"), w.Header().Get("WWW-Authenticate")}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			if w.Code == 401 && w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("401 without Cache-Control: no-store")
			}
		})
	}
}
