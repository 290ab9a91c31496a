package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/lestrrat-go/jwx/v3/jwk"
)

// with returns a copy of claimsFor with the given claims changed; a nil value
// deletes the claim.
func with(kv ...any) map[string]any {
	c := claimsFor()
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(c, k)
		} else {
			c[k] = kv[i+1]
		}
	}
	return c
}

func hs256(key []byte) func(string) []byte {
	return func(in string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(in))
		return m.Sum(nil)
	}
}

func prodVerifier(t *testing.T, mod func(*Config)) *Verifier {
	t.Helper()
	testKeys(t)
	cfg := Config{JWKSFile: writeJWKS(t, rsaA.public(t), ecA.public(t)), Now: fixedNow}
	if mod != nil {
		mod(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

var worker = &Principal{
	Subject:   "worker-7",
	Roles:     []Role{GridWorker},
	Scope:     []string{"340705001001001"},
	ExpiresAt: testNow.Add(time.Hour),
	TokenID:   "t-1",
}

func TestVerifyProduction(t *testing.T) {
	testKeys(t)
	v := prodVerifier(t, nil)
	// The PEM of the RSA public key: what an attacker signs HS256 tokens with
	// when a verifier lets the header pick the algorithm.
	var rsaPub any
	if err := jwk.Export(rsaA.public(t), &rsaPub); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(rsaPub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	officer := with("sub", "officer-1", "roles", []string{"dept_officer"}, "department", "health", "scope", nil)
	good := rsaA.sign(t, claimsFor(), nil)
	parts := strings.Split(good, ".")

	tests := []struct {
		name    string
		token   string
		want    *Principal
		wantErr *Error
	}{
		{name: "RS256", token: good, want: worker},
		{name: "ES256", token: ecA.sign(t, claimsFor(), nil), want: worker},
		{name: "dept officer, whole city", token: ecA.sign(t, officer, nil), want: &Principal{
			Subject: "officer-1", Roles: []Role{DeptOfficer}, Department: "health",
			ExpiresAt: testNow.Add(time.Hour), TokenID: "t-1",
		}},
		{name: "no kid, one key of that alg", token: rsaA.sign(t, claimsFor(), map[string]any{"kid": nil}), want: worker},
		{name: "expired within leeway", token: rsaA.sign(t, with("exp", testNow.Add(-10*time.Second).Unix()), nil),
			want: &Principal{Subject: "worker-7", Roles: []Role{GridWorker}, Scope: []string{"340705001001001"}, ExpiresAt: testNow.Add(-10 * time.Second), TokenID: "t-1"}},

		{name: "empty", token: "", wantErr: ErrMissingToken},
		{name: "garbage", token: "not a token", wantErr: ErrMalformedToken},
		{name: "two parts", token: parts[0] + "." + parts[1], wantErr: ErrMalformedToken},
		{name: "four parts", token: good + ".x", wantErr: ErrMalformedToken},
		{name: "empty signature", token: parts[0] + "." + parts[1] + ".", wantErr: ErrMalformedToken},
		{name: "padded base64", token: parts[0] + "." + parts[1] + "." + parts[2] + "==", wantErr: ErrMalformedToken},
		{name: "too long", token: strings.Repeat("a", MaxTokenLen+1), wantErr: ErrMalformedToken},
		{name: "header not JSON", token: "bm90IGpzb24." + parts[1] + "." + parts[2], wantErr: ErrMalformedToken},

		{name: "signed by another key with the same kid", token: rsaEvil.sign(t, claimsFor(), nil), wantErr: ErrBadSignature},
		{name: "tampered claims", token: parts[0] + "." + strings.Split(rsaEvil.sign(t, with("roles", []string{"admin"}, "scope", nil), nil), ".")[1] + "." + parts[2], wantErr: ErrBadSignature},
		{name: "unknown kid", token: rsaB.sign(t, claimsFor(), nil), wantErr: ErrUnknownKey},
		{name: "RS256 header, EC key's kid", token: rsaA.sign(t, claimsFor(), map[string]any{"kid": "ec-a"}), wantErr: ErrUnknownKey},
		{name: "HS256 keyed with the RSA public key", token: handmade(t, map[string]any{"alg": "HS256", "kid": "rsa-a", "typ": "JWT"}, claimsFor(), hs256(pubPEM)), wantErr: ErrUnsupportedAlg},
		{name: "HS256 with a valid signature under some key", token: handmade(t, map[string]any{"alg": "HS256"}, claimsFor(), hs256(devKey)), wantErr: ErrUnsupportedAlg},
		{name: "alg none", token: handmade(t, map[string]any{"alg": "none"}, claimsFor(), func(string) []byte { return []byte{0} }), wantErr: ErrUnsupportedAlg},
		{name: "alg None", token: handmade(t, map[string]any{"alg": "None", "kid": "rsa-a"}, claimsFor(), func(string) []byte { return []byte{0} }), wantErr: ErrUnsupportedAlg},
		{name: "alg PS256", token: handmade(t, map[string]any{"alg": "PS256", "kid": "rsa-a"}, claimsFor(), func(string) []byte { return []byte{0} }), wantErr: ErrUnsupportedAlg},
		{name: "no alg", token: handmade(t, map[string]any{"kid": "rsa-a"}, claimsFor(), func(string) []byte { return []byte{0} }), wantErr: ErrMalformedToken},
		{name: "crit header", token: rsaA.sign(t, claimsFor(), map[string]any{"crit": []string{"exp"}, "exp": 1}), wantErr: ErrMalformedToken},

		{name: "expired", token: rsaA.sign(t, with("exp", testNow.Add(-time.Minute).Unix()), nil), wantErr: ErrTokenExpired},
		{name: "no exp", token: rsaA.sign(t, with("exp", nil), nil), wantErr: ErrNoExpiry},
		{name: "not yet valid", token: rsaA.sign(t, with("nbf", testNow.Add(time.Minute).Unix()), nil), wantErr: ErrNotYetValid},
		{name: "issued in the future", token: rsaA.sign(t, with("iat", testNow.Add(time.Minute).Unix()), nil), wantErr: ErrIssuedInFuture},
		{name: "exp not a number", token: rsaA.sign(t, with("exp", "tomorrow"), nil), wantErr: ErrMalformedClaims},
		{name: "roles not an array", token: rsaA.sign(t, with("roles", "grid_worker"), nil), wantErr: ErrMalformedClaims},
		{name: "scope of numbers", token: rsaA.sign(t, with("scope", []int{340705001001001}), nil), wantErr: ErrMalformedClaims},

		{name: "unknown role", token: rsaA.sign(t, with("roles", []string{"king"}), nil), wantErr: &Error{Reason: `unknown role "king"`}},
		{name: "no roles", token: rsaA.sign(t, with("roles", nil), nil), wantErr: &Error{Reason: "no roles"}},
		{name: "no subject", token: rsaA.sign(t, with("sub", nil), nil), wantErr: &Error{Reason: "no subject"}},
		{name: "officer without department", token: rsaA.sign(t, with("roles", []string{"dept_officer"}, "scope", nil), nil), wantErr: &Error{Reason: "dept_officer needs a department"}},
		{name: "grid worker with a community code", token: rsaA.sign(t, with("scope", []string{"340705001001"}), nil), wantErr: &Error{Reason: `scope code "340705001001": 12 digits fit none of the roles grid_worker`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), tt.token)
			if tt.wantErr != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("Verify() error = %v, want *Error %q", err, tt.wantErr.Reason)
				}
				if e.Reason != tt.wantErr.Reason {
					t.Fatalf("Verify() error = %q, want %q (cause: %v)", e.Reason, tt.wantErr.Reason, e.Unwrap())
				}
				if got != nil {
					t.Errorf("Verify() returned a principal with an error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify() error = %v (cause: %v)", err, errors.Unwrap(err))
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateApproxTime(0)); diff != "" {
				t.Errorf("Verify() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestVerifyIssuerAudienceLeeway(t *testing.T) {
	testKeys(t)
	v := prodVerifier(t, func(c *Config) {
		c.Issuer = "https://idp.example"
		c.Audience = "gridhub"
		c.Leeway = -1 // none
	})
	tests := []struct {
		name   string
		claims map[string]any
		want   error
	}{
		{"matching", with("iss", "https://idp.example", "aud", []string{"gridhub", "other"}), nil},
		{"aud as a string", with("iss", "https://idp.example", "aud", "gridhub"), nil},
		{"no iss", with("aud", "gridhub"), ErrWrongIssuer},
		{"other iss", with("iss", "https://evil.example", "aud", "gridhub"), ErrWrongIssuer},
		{"other aud", with("iss", "https://idp.example", "aud", "billing"), ErrWrongAudience},
		{"no aud", with("iss", "https://idp.example"), ErrWrongAudience},
		{"expired a second ago, no leeway", with("iss", "https://idp.example", "aud", "gridhub", "exp", testNow.Add(-time.Second).Unix()), ErrTokenExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := v.Verify(context.Background(), rsaA.sign(t, tt.claims, nil))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify() error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyDev(t *testing.T) {
	testKeys(t)
	dev, err := NewVerifier(Config{Dev: true, DevKey: devKey})
	if err != nil {
		t.Fatal(err)
	}
	p := Principal{Subject: "dev-street_admin", Roles: []Role{StreetAdmin}, Scope: []string{"340705001"}}
	tok, err := DevToken(devKey, p, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dev.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("Verify(dev token) = %v", err)
	}
	if diff := cmp.Diff(&p, got, cmpopts.IgnoreFields(Principal{}, "ExpiresAt", "TokenID")); diff != "" {
		t.Errorf("dev round trip (-want +got):\n%s", diff)
	}
	if d := time.Until(got.ExpiresAt); d < 59*time.Minute || d > time.Hour {
		t.Errorf("ExpiresAt in %v, want about an hour", d)
	}
	if len(got.TokenID) != 32 {
		t.Errorf("TokenID = %q, want 32 hex digits", got.TokenID)
	}

	other := []byte("another-dev-key-another-dev-key!")
	forged, err := DevToken(other, Principal{Subject: "x", Roles: []Role{Admin}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Verify(context.Background(), forged); !errors.Is(err, ErrBadSignature) {
		t.Errorf("dev token under another key: %v, want bad signature", err)
	}
	if _, err := dev.Verify(context.Background(), rsaA.sign(t, claimsFor(), nil)); !errors.Is(err, ErrUnsupportedAlg) {
		t.Errorf("RS256 token with no JWKS configured: %v, want unsupported algorithm", err)
	}

	// Dev mode with a JWKS takes both.
	both, err := NewVerifier(Config{Dev: true, DevKey: devKey, JWKSFile: writeJWKS(t, rsaA.public(t)), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	live := with("exp", time.Now().Add(time.Hour).Unix(), "iat", time.Now().Unix())
	for name, tok := range map[string]string{"dev": tok, "RS256": rsaA.sign(t, live, nil)} {
		if _, err := both.Verify(context.Background(), tok); err != nil {
			t.Errorf("dev+JWKS verifier, %s token: %v", name, err)
		}
	}

	// A dev token is refused by a production verifier, however well signed.
	prod := prodVerifier(t, func(c *Config) { c.Now = time.Now })
	if _, err := prod.Verify(context.Background(), tok); !errors.Is(err, ErrUnsupportedAlg) {
		t.Errorf("production verifier, dev token: %v, want unsupported algorithm", err)
	}
}

func TestDevTokenRefusesInvalidPrincipals(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		p    Principal
		ttl  time.Duration
	}{
		{"officer without department", devKey, Principal{Subject: "a", Roles: []Role{DeptOfficer}}, time.Hour},
		{"no roles", devKey, Principal{Subject: "a"}, time.Hour},
		{"short key", devKey[:16], Principal{Subject: "a", Roles: []Role{Admin}}, time.Hour},
		{"no ttl", devKey, Principal{Subject: "a", Roles: []Role{Admin}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, err := DevToken(tt.key, tt.p, tt.ttl); err == nil {
				t.Errorf("DevToken() = %q, want an error", tok)
			}
		})
	}
}

func TestNewVerifierRefusesUnsafeConfig(t *testing.T) {
	testKeys(t)
	file := writeJWKS(t, rsaA.public(t))
	noAlg := rsaA.public(t)
	if err := noAlg.Remove(jwk.AlgorithmKey); err != nil {
		t.Fatal(err)
	}
	oct, err := jwk.Import(devKey)
	if err != nil {
		t.Fatal(err)
	}
	oct.Set(jwk.AlgorithmKey, "HS256")
	encKey := rsaA.public(t)
	encKey.Set(jwk.KeyUsageKey, "enc")
	smallRSA := mustRSA(t, 1024)
	smallFile := filepath.Join(t.TempDir(), "small.json")
	small := fmt.Sprintf(`{"keys":[{"kty":"RSA","alg":"RS256","kid":"small","n":%q,"e":"AQAB"}]}`,
		base64.RawURLEncoding.EncodeToString(smallRSA.N.Bytes()))
	if err := os.WriteFile(smallFile, []byte(small), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"dev key in production", Config{JWKSFile: file, DevKey: devKey}, "dev key is configured outside dev mode"},
		{"no keys in production", Config{}, "no keys"},
		{"file and URL", Config{JWKSFile: file, JWKSURL: "https://idp.example/jwks"}, "not both"},
		{"short dev key", Config{Dev: true, DevKey: devKey[:31]}, "dev key has 31 bytes"},
		{"dev without any key", Config{Dev: true}, "dev key has 0 bytes"},
		{"missing file", Config{JWKSFile: "/nonexistent/jwks.json"}, "read JWKS"},
		{"key without alg", Config{JWKSFile: writeJWKS(t, noAlg)}, `no "alg"`},
		{"private key", Config{JWKSFile: writeJWKS(t, rsaA.priv)}, "private or symmetric"},
		{"symmetric key", Config{JWKSFile: writeJWKS(t, oct)}, "private or symmetric"},
		{"encryption key", Config{JWKSFile: writeJWKS(t, encKey)}, `use "enc"`},
		{"1024-bit RSA", Config{JWKSFile: smallFile}, "1024 bits"},
		{"http URL in production", Config{JWKSURL: "http://idp.example/jwks"}, "must be https"},
		{"not a URL", Config{JWKSURL: "idp.example/jwks"}, "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.cfg)
			if err == nil {
				v.Close()
				t.Fatalf("NewVerifier() succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewVerifier() error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// jwksServer serves a JWKS that the test can change, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = body
}

func TestJWKSURLRotation(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, jwks(t, rsaA.public(t)))
	v, err := NewVerifier(Config{JWKSURL: srv.URL + "/jwks.json", Now: fixedNow, RefreshInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx := context.Background()
	tokA, tokB := rsaA.sign(t, claimsFor(), nil), rsaB.sign(t, claimsFor(), nil)

	if _, err := v.Verify(ctx, tokA); err != nil {
		t.Fatalf("key A before rotation: %v", err)
	}
	if _, err := v.Verify(ctx, tokB); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("key B before rotation: %v, want unknown signing key", err)
	}

	// The provider publishes B beside A, then drops A.
	srv.set(jwks(t, rsaA.public(t), rsaB.public(t)))
	waitFor(t, func() bool { _, err := v.Verify(ctx, tokB); return err == nil }, "key B to verify after it is published")
	srv.set(jwks(t, rsaB.public(t)))
	waitFor(t, func() bool { _, err := v.Verify(ctx, tokA); return errors.Is(err, ErrUnknownKey) }, "key A to stop verifying after it is withdrawn")
	if _, err := v.Verify(ctx, tokB); err != nil {
		t.Fatalf("key B after rotation: %v", err)
	}
}

func TestJWKSURLUnknownKidRefreshIsRateLimited(t *testing.T) {
	testKeys(t)
	srv := newJWKSServer(t, jwks(t, rsaA.public(t)))
	v, err := NewVerifier(Config{JWKSURL: srv.URL, Now: fixedNow, RefreshInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	start := srv.fetches.Load()
	for i := range 20 {
		claims := claimsFor()
		tok := rsaB.sign(t, claims, map[string]any{"kid": "made-up-" + string(rune('a'+i))})
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("made-up kid: %v, want unknown signing key", err)
		}
	}
	if n := srv.fetches.Load() - start; n > 1 {
		t.Errorf("20 tokens with unknown kids caused %d JWKS fetches, want at most 1", n)
	}
}

func TestJWKSURLBadSetAtStart(t *testing.T) {
	srv := newJWKSServer(t, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}]}`))
	if v, err := NewVerifier(Config{JWKSURL: srv.URL}); err == nil {
		v.Close()
		t.Fatal("NewVerifier() accepted a JWKS holding only a symmetric key")
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestErrorIsSafe(t *testing.T) {
	testKeys(t)
	v := prodVerifier(t, nil)
	tok := rsaEvil.sign(t, claimsFor(), nil)
	_, err := v.Verify(context.Background(), tok)
	for _, part := range strings.Split(tok, ".") {
		if strings.Contains(err.Error(), part) {
			t.Fatalf("error %q echoes the token", err)
		}
	}
	if got := err.(*Error).AppError().Code; got != "UNAUTHENTICATED" {
		t.Errorf("AppError().Code = %q", got)
	}
}

func TestConfigMasksDevKey(t *testing.T) {
	c := Config{Dev: true, DevKey: devKey}
	for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), c.LogValue().String()} {
		if strings.Contains(s, string(devKey)) || strings.Contains(s, "48 49 50") || !strings.Contains(s, "dev_key=(set)") {
			t.Errorf("config prints as %q", s)
		}
	}
}

// A token already verified is honoured from memory only while it is valid:
// past its expiry it is refused as a fresh one would be, and a department
// the configuration no longer has is refused at once.
func TestVerifiedTokensAreRememberedWithinTheirValidity(t *testing.T) {
	devKey := []byte("0123456789abcdef0123456789abcdef")
	now := time.Now()
	clock := func() time.Time { return now }
	depts := []string{"civil_affairs", "veterans"}
	v, err := NewVerifier(Config{Dev: true, DevKey: devKey, Now: clock, Leeway: -1, Departments: func() []string { return depts }})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	tok, err := DevToken(devKey, Principal{Subject: "o", Roles: []Role{DeptOfficer}, Department: "veterans"}, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if p, err := v.Verify(context.Background(), tok); err != nil || p.Department != "veterans" {
			t.Fatalf("Verify = %+v, %v", p, err)
		}
	}
	depts = []string{"civil_affairs"}
	if _, err := v.Verify(context.Background(), tok); err == nil || !strings.Contains(err.Error(), "unknown department") {
		t.Errorf("a removed department: %v, want unknown department", err)
	}
	depts = []string{"civil_affairs", "veterans"}
	now = now.Add(11 * time.Minute)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("after expiry: %v, want %v", err, ErrTokenExpired)
	}
}
