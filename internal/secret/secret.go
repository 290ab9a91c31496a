// Package secret keeps resident ID numbers out of the database in clear: a keyed
// HMAC (blind index) for lookups and joins, and AES-GCM for display. It also
// derives the audit ledger's keys (see AuditChainKey and AuditCheckpointKey),
// so that the one master key, which the database never holds, configures them
// all.
//
// Every key is derived from the master key with HKDF-SHA256 (RFC 5869, no
// salt) under its own info label:
//
//	"gridhub blind index v1"           blind index (HMAC-SHA256 key)
//	"gridhub seal v1"                  sealing (AES-256-GCM key)
//	"gridhub audit chain key v1"       audit chain (HMAC-SHA256 key)
//	"gridhub audit checkpoint key v1"  audit checkpoints (Ed25519 seed, RFC 8032)
//	"gridhub session token key v1"     staff sign-in's hub tokens (Ed25519 seed)
//	"gridhub sign-in cookie key v1"    staff sign-in's cookies (AES-256-GCM key)
//
// Distinct labels make the keys independent: knowing one reveals nothing of
// another or of the master key.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the size of a master key in bytes.
const KeySize = 32

// Keys blinds and seals identifiers with keys derived from one master key, and
// holds the audit ledger's keys derived from the same master key.
type Keys struct {
	mac  []byte
	aead cipher.AEAD
	// auditChain keys the audit ledger's hash chain; checkpoint signs its
	// checkpoints. Two keys, so that whoever holds the chain key (a process
	// that appends) still cannot forge a checkpoint.
	auditChain []byte
	checkpoint ed25519.PrivateKey
	// session signs the short-lived tokens staff get after signing in;
	// cookie seals the sign-in's cookies. Derived alike on every replica, so
	// any of them verifies what another issued.
	session ed25519.PrivateKey
	cookie  []byte
}

// The HKDF info labels of the derived keys (see the package documentation).
// Changing one orphans everything made with the key: blind indexes, sealed
// values, audit chains or checkpoints.
const (
	labelBlind      = "gridhub blind index v1"
	labelSeal       = "gridhub seal v1"
	labelAuditChain = "gridhub audit chain key v1"
	labelCheckpoint = "gridhub audit checkpoint key v1"
	labelSession    = "gridhub session token key v1"
	labelCookie     = "gridhub sign-in cookie key v1"
)

// New derives the blinding and sealing keys from a 32-byte master key, so that one
// secret configures both and neither key is used for two purposes.
func New(master []byte) (*Keys, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("secret: master key has %d bytes, want %d", len(master), KeySize)
	}
	mac, err := hkdf.Key(sha256.New, master, nil, labelBlind, 32)
	if err != nil {
		return nil, err
	}
	enc, err := hkdf.Key(sha256.New, master, nil, labelSeal, 32)
	if err != nil {
		return nil, err
	}
	chain, err := hkdf.Key(sha256.New, master, nil, labelAuditChain, 32)
	if err != nil {
		return nil, err
	}
	seed, err := hkdf.Key(sha256.New, master, nil, labelCheckpoint, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	sessionSeed, err := hkdf.Key(sha256.New, master, nil, labelSession, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	cookie, err := hkdf.Key(sha256.New, master, nil, labelCookie, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(enc)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keys{mac: mac, aead: aead, auditChain: chain, checkpoint: ed25519.NewKeyFromSeed(seed),
		session: ed25519.NewKeyFromSeed(sessionSeed), cookie: cookie}, nil
}

// SessionTokenKey is the Ed25519 key that signs the short-lived tokens staff
// are given after signing in through the identity provider (package
// signin); the verifier checks them against its public half. The caller
// gets its own copy.
func (k *Keys) SessionTokenKey() ed25519.PrivateKey {
	return append(ed25519.PrivateKey(nil), k.session...)
}

// SignInCookieKey is the AES-256-GCM key that seals the sign-in's cookies
// (the state of a sign-in under way, the signed-in session). The caller gets
// its own copy.
func (k *Keys) SignInCookieKey() []byte {
	return append([]byte(nil), k.cookie...)
}

// AuditChainKey is the HMAC-SHA256 key that chains the audit ledger
// (audit.New): without it nobody can recompute the chain after editing an
// entry, database superusers included. The caller gets its own copy.
func (k *Keys) AuditChainKey() []byte {
	return append([]byte(nil), k.auditChain...)
}

// AuditCheckpointKey is the Ed25519 key that signs the audit ledger's
// checkpoints (audit.NewCheckpointer); its public half is what verify-audit
// checks them against and what an outside auditor pins. The caller gets its
// own copy.
func (k *Keys) AuditCheckpointKey() ed25519.PrivateKey {
	return append(ed25519.PrivateKey(nil), k.checkpoint...)
}

// Parse reads a master key written as base64 (standard or URL alphabet).
func Parse(s string) (*Keys, error) {
	s = strings.TrimSpace(s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.URLEncoding.DecodeString(s); err != nil {
			return nil, errors.New("secret: master key is not base64")
		}
	}
	return New(b)
}

// LoadOrCreate reads the master key file at path, creating it with a fresh random
// key (mode 0600) when it does not exist: how a dev data dir gets its key.
func LoadOrCreate(path string) (*Keys, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		enc := base64.StdEncoding.EncodeToString(key) + "\n"
		if err := os.WriteFile(path, []byte(enc), 0o600); err != nil {
			return nil, err
		}
		return New(key)
	}
	if err != nil {
		return nil, err
	}
	return Parse(string(b))
}

// Blind is the keyed HMAC of a normalised identifier: equal inputs give equal
// outputs, and without the key the output reveals nothing.
func (k *Keys) Blind(id string) []byte {
	h := hmac.New(sha256.New, k.mac)
	h.Write([]byte(id))
	return h.Sum(nil)
}

// Seal encrypts an identifier for storage; the nonce is prepended.
func (k *Keys) Seal(id string) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(id)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return k.aead.Seal(nonce, nonce, []byte(id), nil)
}

// Open decrypts what Seal produced.
func (k *Keys) Open(sealed []byte) (string, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return "", errors.New("secret: sealed value too short")
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return "", errors.New("secret: sealed value does not open with this key")
	}
	return string(plain), nil
}
