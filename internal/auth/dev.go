package auth

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// DevIssuer is the "iss" of dev tokens; a dev Verifier configured with an
// Issuer accepts them only when the Issuer is DevIssuer.
const DevIssuer = "gridhub-dev"

// devKeyID is the "kid" of dev tokens, so they are easy to tell apart in a
// decoder; the verifier does not rely on it.
const devKeyID = "gridhub-dev"

// DevToken signs an HS256 token for p valid for ttl, for dev mode and tests.
// p is validated first, so a token that the verifier would refuse is never
// issued; p.ExpiresAt and p.TokenID are ignored (ttl decides, and every token
// gets a fresh random id).
func DevToken(key []byte, p Principal, ttl time.Duration) (string, error) {
	if len(key) < MinDevKeyLen {
		return "", fmt.Errorf("auth: dev key has %d bytes, want at least %d", len(key), MinDevKeyLen)
	}
	if ttl <= 0 {
		return "", errors.New("auth: dev token needs a positive ttl")
	}
	tok, err := buildToken(DevIssuer, "", p, ttl)
	if err != nil {
		return "", err
	}
	k, err := jwk.Import(key)
	if err != nil {
		return "", fmt.Errorf("auth: dev key: %w", err)
	}
	if err := k.Set(jwk.KeyIDKey, devKeyID); err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256(), k))
	if err != nil {
		return "", fmt.Errorf("auth: sign dev token: %w", err)
	}
	return string(signed), nil
}

// buildToken validates p and builds the claims of a token for it, from
// issuer (to audience, when not empty), valid for ttl from now, with a fresh
// random id.
func buildToken(issuer, audience string, p Principal, ttl time.Duration) (jwt.Token, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return nil, err
	}
	now := time.Now()
	roles := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		roles[i] = string(r)
	}
	b := jwt.NewBuilder().
		Issuer(issuer).
		Subject(p.Subject).
		IssuedAt(now).
		Expiration(now.Add(ttl)).
		JwtID(hex.EncodeToString(jti)).
		Claim(ClaimRoles, roles)
	if audience != "" {
		b = b.Audience([]string{audience})
	}
	if p.Department != "" {
		b = b.Claim(ClaimDepartment, p.Department)
	}
	if len(p.Scope) > 0 {
		b = b.Claim(ClaimScope, p.Scope)
	}
	tok, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("auth: build token: %w", err)
	}
	return tok, nil
}

// LoadOrCreateDevKey reads the dev signing key at path (base64 of 32 random
// bytes), creating it with mode 0600 when it does not exist. Creation is atomic
// (write a temporary file, then link it into place), so two commands racing
// on a fresh data dir end up with one key, not tokens signed by two.
func LoadOrCreateDevKey(path string) ([]byte, error) {
	if key, err := readDevKey(path); !errors.Is(err, os.ErrNotExist) {
		return key, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".dev-jwt-*.tmp")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: write dev key: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return readDevKey(path)
		}
		return nil, fmt.Errorf("auth: write dev key: %w", err)
	}
	return key, nil
}

func readDevKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("auth: dev key %s is not base64", path)
	}
	if len(key) < MinDevKeyLen {
		return nil, fmt.Errorf("auth: dev key %s has %d bytes, want at least %d", path, len(key), MinDevKeyLen)
	}
	return key, nil
}
