package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzSetup builds a production verifier (RS256/ES256 from a JWKS file), a dev
// verifier (HS256 and the same JWKS) and a few genuine tokens.
func fuzzSetup(f *testing.F) (prod, dev *Verifier, seeds []string) {
	f.Helper()
	testKeys(f)
	file := writeJWKS(f, rsaA.public(f), ecA.public(f))
	var err error
	if prod, err = NewVerifier(Config{JWKSFile: file, Now: fixedNow}); err != nil {
		f.Fatal(err)
	}
	if dev, err = NewVerifier(Config{JWKSFile: file, Dev: true, DevKey: devKey, Now: fixedNow}); err != nil {
		f.Fatal(err)
	}
	officer := with("sub", "officer", "roles", []string{"dept_officer", "bi_reader"}, "department", "civil_affairs", "scope", []string{"340705001"})
	devTok := handmade(f, map[string]any{"alg": "HS256", "typ": "JWT"}, claimsFor(), hs256(devKey))
	seeds = []string{
		rsaA.sign(f, claimsFor(), nil),
		ecA.sign(f, officer, nil),
		rsaA.sign(f, claimsFor(), map[string]any{"kid": nil}),
		devTok,
	}
	return prod, dev, seeds
}

// signingInput is what a signature covers: header and payload.
func signingInput(token string) string {
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return token
	}
	return token[:i]
}

// mutations are the seed corpus beside the genuine tokens: the edits an
// attacker tries first.
func mutations(tok string) []string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	flip := func(s string, i int) string {
		b := []byte(s)
		b[i%len(b)] ^= 1
		return string(b)
	}
	return []string{
		parts[0] + "." + parts[1] + ".",
		parts[0] + "." + parts[1],
		parts[0] + "." + flip(parts[1], 10) + "." + parts[2],
		parts[0] + "." + parts[1] + "." + flip(parts[2], 5),
		"eyJhbGciOiJub25lIn0." + parts[1] + ".",
		"eyJhbGciOiJIUzI1NiJ9." + parts[1] + "." + parts[2],
		strings.ToUpper(tok),
		tok + "=",
		" " + tok,
	}
}

func FuzzVerify(f *testing.F) {
	prod, dev, seeds := fuzzSetup(f)
	signed := map[string]bool{}
	for _, s := range seeds {
		signed[signingInput(s)] = true
		f.Add(s)
		for _, m := range mutations(s) {
			f.Add(m)
		}
	}
	f.Add("")
	f.Add("..")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		for name, v := range map[string]*Verifier{"prod": prod, "dev": dev} {
			p, err := v.Verify(context.Background(), token)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: error %v (%T) is not an *Error", name, err, err)
				}
				if p != nil {
					t.Fatalf("%s: principal returned with error %v", name, err)
				}
				if len(token) >= 16 && strings.Contains(e.Reason, token) {
					t.Fatalf("%s: error %q echoes the token", name, e.Reason)
				}
				continue
			}
			// Only what one of our keys signed may verify: a different
			// header or payload under an old signature is a forgery.
			if !signed[signingInput(token)] {
				t.Fatalf("%s: verified a token nobody signed: %q", name, token)
			}
			if name == "prod" && strings.HasPrefix(token, strings.Split(seeds[3], ".")[0]) {
				t.Fatalf("prod: accepted the HS256 dev token")
			}
			if err := p.Validate(); err != nil {
				t.Fatalf("%s: verified principal is invalid: %v", name, err)
			}
		}
	})
}

func FuzzMiddleware(f *testing.F) {
	prod, _, seeds := fuzzSetup(f)
	signed := map[string]bool{}
	for _, s := range seeds[:3] { // the HS256 seed must fail in production
		signed[signingInput(s)] = true
	}
	h := prod.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := FromContext(r.Context()); !ok {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, s := range seeds {
		f.Add("Bearer "+s, "", "application/json", []byte(`{"query":"{ __typename }"}`))
		for _, m := range mutations(s) {
			f.Add("Bearer "+m, "", "*/*", []byte{})
		}
	}
	f.Add("", "", "", []byte(nil))
	f.Add("Bearer", "", "application/graphql-response+json", []byte("x"))
	f.Add("bearer "+seeds[0], "Bearer "+seeds[0], "", []byte(nil))
	f.Add("Basic dXNlcjpwYXNz", "", "text/html;q=0.1,application/graphql-response+json;q=0", []byte(nil))
	f.Fuzz(func(t *testing.T, auth, auth2, accept string, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(body))
		if auth != "" {
			r.Header.Add("Authorization", auth)
		}
		if auth2 != "" {
			r.Header.Add("Authorization", auth2)
		}
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		scheme, token, _ := strings.Cut(strings.TrimSpace(auth), " ")
		token = strings.TrimSpace(token)
		if w.Code == http.StatusNoContent {
			if auth2 != "" || !strings.EqualFold(scheme, "bearer") || !signed[signingInput(token)] {
				t.Fatalf("let through Authorization %q, %q", auth, auth2)
			}
			return
		}
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", w.Code)
		}
		if ct := w.Header().Get("Content-Type"); ct != mediaJSON && ct != mediaGraphQLResponse {
			t.Fatalf("Content-Type %q", ct)
		}
		if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer ") {
			t.Fatalf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
		}
		var resp struct {
			Errors []struct {
				Message    string
				Extensions struct{ Code string }
			}
		}
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("body %q is not JSON: %v", w.Body, err)
		}
		if len(resp.Errors) != 1 || resp.Errors[0].Extensions.Code != "UNAUTHENTICATED" || resp.Errors[0].Message == "" {
			t.Fatalf("body %q is not one UNAUTHENTICATED error", w.Body)
		}
		if len(token) >= 16 && strings.Contains(w.Body.String(), token) {
			t.Fatalf("body %q echoes the token", w.Body)
		}
	})
}
