package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

func sessionKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// TestSessionTokens checks the hub's own tokens: accepted under the session
// key whatever issuer and audience the identity provider's tokens must carry,
// refused by a verifier without the key, under another key, from another
// issuer or to another audience, and never issued for long.
func TestSessionTokens(t *testing.T) {
	key := sessionKey(t)
	p := Principal{Subject: "wang.wu", Roles: []Role{GridWorker}, Scope: []string{"340705001001001"}}
	tok, err := SessionToken(key, p, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{SessionKey: key.Public().(ed25519.PublicKey), Issuer: "https://idp.example", Audience: "gridhub-web"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatalf("the hub's own token: %v", err)
	}
	if got.Subject != "wang.wu" || !got.Has(GridWorker) || len(got.Scope) != 1 || got.Scope[0] != p.Scope[0] {
		t.Errorf("principal = %+v, want %+v", got, p)
	}
	if left := time.Until(got.ExpiresAt); left <= 0 || left > 10*time.Minute {
		t.Errorf("expires in %s, want within 10m", left)
	}

	// No session key configured: EdDSA is not an algorithm it takes.
	devOnly, err := NewVerifier(Config{Dev: true, DevKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := devOnly.Verify(context.Background(), tok); !errors.Is(err, ErrUnsupportedAlg) {
		t.Errorf("a verifier without the session key: %v, want %v", err, ErrUnsupportedAlg)
	}
	// Another key: a forgery.
	other, _ := SessionToken(sessionKey(t), p, time.Minute)
	if _, err := v.Verify(context.Background(), other); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a token under another key: %v, want %v", err, ErrBadSignature)
	}
	// Under the session key but not from the hub, or not to a session.
	for name, c := range map[string]struct{ iss, aud string }{
		"issuer":   {"https://idp.example", SessionAudience},
		"audience": {SessionIssuer, "gridhub-web"},
	} {
		now := time.Now()
		raw, _ := jwt.NewBuilder().Issuer(c.iss).Audience([]string{c.aud}).Subject("x").IssuedAt(now).
			Expiration(now.Add(time.Minute)).Claim(ClaimRoles, []string{"admin"}).Build()
		signed, err := jwt.Sign(raw, jwt.WithKey(jwa.EdDSA(), key))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), string(signed)); err == nil {
			t.Errorf("a session-key token with the wrong %s was accepted", name)
		}
	}
	if _, err := SessionToken(key, p, 2*MaxSessionTokenTTL); err == nil || !strings.Contains(err.Error(), "ttl") {
		t.Errorf("a session token for twice the longest life: %v", err)
	}
	if _, err := SessionToken(key, Principal{Subject: "x", Roles: []Role{GridWorker}}, time.Minute); err == nil {
		t.Error("a session token for a grid worker without grids was issued")
	}
}
