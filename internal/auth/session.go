package auth

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// SessionIssuer and SessionAudience are the "iss" and "aud" of the tokens
// the hub itself issues to staff who signed in through the city's identity
// provider (package signin): EdDSA tokens under the session key every
// replica derives from the master key (secret.Keys.SessionTokenKey). The
// verifier checks them whatever GRIDHUB_JWT_ISSUER and GRIDHUB_JWT_AUDIENCE
// say, since those name the identity provider's own tokens.
const (
	SessionIssuer   = "gridhub"
	SessionAudience = "gridhub-session"
)

// MaxSessionTokenTTL bounds a session token's life: it is a bearer token
// the page keeps, and staff sign in again rather than hold one long.
const MaxSessionTokenTTL = time.Hour

// SessionToken signs an EdDSA token for p valid for ttl (at most
// MaxSessionTokenTTL) with the session key. p is validated first, so a token
// the verifier would refuse is never issued.
func SessionToken(key ed25519.PrivateKey, p Principal, ttl time.Duration) (string, error) {
	if len(key) != ed25519.PrivateKeySize {
		return "", fmt.Errorf("auth: session key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	if ttl <= 0 || ttl > MaxSessionTokenTTL {
		return "", fmt.Errorf("auth: session token ttl %s is not in (0, %s]", ttl, MaxSessionTokenTTL)
	}
	tok, err := buildToken(SessionIssuer, SessionAudience, p, ttl)
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), key))
	if err != nil {
		return "", fmt.Errorf("auth: sign session token: %w", err)
	}
	return string(signed), nil
}

// errSessionKey is a session key of the wrong size in Config.
var errSessionKey = errors.New("auth: session key is not an Ed25519 public key")
