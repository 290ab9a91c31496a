// Package secret keeps resident ID numbers out of the database in clear: a keyed
// HMAC (blind index) for lookups and joins, and AES-GCM for display.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
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

// Keys blinds and seals identifiers with keys derived from one master key.
type Keys struct {
	mac  []byte
	aead cipher.AEAD
}

// New derives the blinding and sealing keys from a 32-byte master key, so that one
// secret configures both and neither key is used for two purposes.
func New(master []byte) (*Keys, error) {
	if len(master) != KeySize {
		return nil, fmt.Errorf("secret: master key has %d bytes, want %d", len(master), KeySize)
	}
	mac, err := hkdf.Key(sha256.New, master, nil, "gridhub blind index v1", 32)
	if err != nil {
		return nil, err
	}
	enc, err := hkdf.Key(sha256.New, master, nil, "gridhub seal v1", 32)
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
	return &Keys{mac: mac, aead: aead}, nil
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
