package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// testNow is the clock of every verifier in these tests, so token times are
// exact.
var testNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// signer is a private key as an identity provider holds it.
type signer struct {
	priv jwk.Key
	alg  jwa.SignatureAlgorithm
}

var (
	keysOnce sync.Once
	rsaA     signer // kid "rsa-a", in the test JWKS
	ecA      signer // kid "ec-a", in the test JWKS
	rsaB     signer // kid "rsa-b", not in the JWKS at first (rotation)
	rsaEvil  signer // kid "rsa-a" too: same name, another key
	devKey   = []byte("0123456789abcdef0123456789abcdef")
)

// testKeys generates the key pairs once per test binary: RSA generation is slow
// enough to matter in fuzzing.
func testKeys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		rsaA = newRSA(t, "rsa-a")
		ecA = newEC(t, "ec-a")
		rsaB = newRSA(t, "rsa-b")
		rsaEvil = newRSA(t, "rsa-a")
	})
}

func newRSA(t testing.TB, kid string) signer {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return toSigner(t, raw, kid, jwa.RS256())
}

func mustRSA(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	raw, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func newEC(t testing.TB, kid string) signer {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return toSigner(t, raw, kid, jwa.ES256())
}

func toSigner(t testing.TB, raw any, kid string, alg jwa.SignatureAlgorithm) signer {
	t.Helper()
	k, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	if err := k.Set(jwk.AlgorithmKey, alg); err != nil {
		t.Fatal(err)
	}
	return signer{priv: k, alg: alg}
}

// public returns the signer's public JWK as a JWKS would publish it.
func (s signer) public(t testing.TB) jwk.Key {
	t.Helper()
	pub, err := s.priv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// jwks serialises public keys as a JWKS document.
func jwks(t testing.TB, keys ...jwk.Key) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeJWKS writes a JWKS file and returns its path.
func writeJWKS(t testing.TB, keys ...jwk.Key) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwks(t, keys...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// claimsFor is a valid claim set at testNow for a grid worker; tests edit it.
func claimsFor() map[string]any {
	return map[string]any{
		"sub":   "worker-7",
		"roles": []string{"grid_worker"},
		"scope": []string{"340705001001001"},
		"iat":   testNow.Add(-time.Minute).Unix(),
		"exp":   testNow.Add(time.Hour).Unix(),
		"jti":   "t-1",
	}
}

// sign signs claims with s; the kid comes from the key unless hdr overrides it.
func (s signer) sign(t testing.TB, claims map[string]any, hdr map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	h := jws.NewHeaders()
	kid, _ := s.priv.KeyID()
	if err := h.Set(jws.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if v == nil {
			if err := h.Remove(k); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := h.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	var raw any
	if err := jwk.Export(s.priv, &raw); err != nil {
		t.Fatal(err)
	}
	out, err := jws.Sign(payload, jws.WithKey(s.alg, raw, jws.WithProtectedHeaders(h)))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// handmade builds a compact token from a header and claims with any signature
// bytes: for algorithms jwx will not sign with ("none") or signatures made
// by hand (HS256 keyed with a public key).
func handmade(t testing.TB, hdr map[string]any, claims map[string]any, sig func(signingInput string) []byte) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, err := json.Marshal(hdr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	return in + "." + enc.EncodeToString(sig(in))
}
