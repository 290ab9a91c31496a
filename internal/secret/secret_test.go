package secret

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
)

func TestBlindAndSeal(t *testing.T) {
	k, err := New(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	const id = "34070519900101123X"
	if !bytes.Equal(k.Blind(id), k.Blind(id)) {
		t.Fatal("blind index is not deterministic")
	}
	if bytes.Equal(k.Blind(id), k.Blind("340705199001011231")) {
		t.Fatal("different numbers blind to the same value")
	}
	sealed := k.Seal(id)
	if bytes.Contains(sealed, []byte(id)) {
		t.Fatal("sealed value holds the number in clear")
	}
	if bytes.Equal(sealed, k.Seal(id)) {
		t.Fatal("two seals of one value are equal: the nonce is not fresh")
	}
	got, err := k.Open(sealed)
	if err != nil || got != id {
		t.Fatalf("Open = %q, %v", got, err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(sealed); err == nil {
		t.Fatal("a value sealed with one key opens with another")
	}
	if bytes.Equal(other.Blind(id), k.Blind(id)) {
		t.Fatal("blind index does not depend on the key")
	}
}

func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "secret.key")
	a, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreate(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Blind("x"), b.Blind("x")) {
		t.Fatal("reloaded key differs from the created one")
	}
	if _, err := Parse("not base64!"); err == nil {
		t.Fatal("Parse accepted garbage")
	}
	if _, err := New([]byte("short")); err == nil {
		t.Fatal("New accepted a short key")
	}
}

// TestAuditKeys checks the audit keys' derivation (HKDF-SHA256 of the master
// key under their labels, documented in the package comment) and pins it: a
// change would make every keyed audit chain and every checkpoint already
// written fail to verify.
func TestAuditKeys(t *testing.T) {
	master := bytes.Repeat([]byte{7}, KeySize)
	k, err := New(master)
	if err != nil {
		t.Fatal(err)
	}
	wantChain, err := hkdf.Key(sha256.New, master, nil, "gridhub audit chain key v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.AuditChainKey(), wantChain) {
		t.Errorf("AuditChainKey = %x, want HKDF(master, \"gridhub audit chain key v1\") = %x", k.AuditChainKey(), wantChain)
	}
	seed, err := hkdf.Key(sha256.New, master, nil, "gridhub audit checkpoint key v1", ed25519.SeedSize)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.AuditCheckpointKey().Seed(), seed) {
		t.Errorf("AuditCheckpointKey seed = %x, want HKDF(master, \"gridhub audit checkpoint key v1\") = %x", k.AuditCheckpointKey().Seed(), seed)
	}
	const (
		pinnedChain = "7e2542fe4f334c67cd95e8e98b946371d8ff73da58281208e35e1d5208fbd2be"
		pinnedPub   = "df0ecd7f2c312b857cbf34d245d7fcb509393a6d49066894b7fa475657deb2c1"
	)
	if got := hex.EncodeToString(k.AuditChainKey()); got != pinnedChain {
		t.Errorf("AuditChainKey of the fixed master = %s, pinned %s", got, pinnedChain)
	}
	if got := hex.EncodeToString(k.AuditCheckpointKey().Public().(ed25519.PublicKey)); got != pinnedPub {
		t.Errorf("checkpoint public key of the fixed master = %s, pinned %s", got, pinnedPub)
	}

	// Independent of each other and of the other keys, dependent on the master.
	if bytes.Equal(k.AuditChainKey(), seed) || bytes.Equal(k.AuditChainKey(), k.mac) || bytes.Equal(seed, k.mac) {
		t.Error("two purposes share a key")
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if bytes.Equal(other.AuditChainKey(), k.AuditChainKey()) || bytes.Equal(other.AuditCheckpointKey(), k.AuditCheckpointKey()) {
		t.Error("the audit keys do not depend on the master key")
	}
	// Copies: a caller scribbling on its key does not change the next caller's.
	ck, sk := k.AuditChainKey(), k.AuditCheckpointKey()
	ck[0] ^= 0xff
	sk[0] ^= 0xff
	if bytes.Equal(ck, k.AuditChainKey()) || bytes.Equal(sk, k.AuditCheckpointKey()) {
		t.Error("the audit keys are handed out as the Keys' own slices")
	}
}

// TestSignInKeys checks the sign-in's keys: derived under their labels, apart
// from every other key, the same for every replica given the master key.
func TestSignInKeys(t *testing.T) {
	master := bytes.Repeat([]byte{7}, KeySize)
	k, err := New(master)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := hkdf.Key(sha256.New, master, nil, "gridhub session token key v1", ed25519.SeedSize)
	if err != nil {
		t.Fatal(err)
	}
	cookie, err := hkdf.Key(sha256.New, master, nil, "gridhub sign-in cookie key v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k.SessionTokenKey().Seed(), seed) || !bytes.Equal(k.SignInCookieKey(), cookie) {
		t.Error("the sign-in keys are not HKDF(master) under their labels")
	}
	for _, other := range [][]byte{k.mac, k.AuditChainKey(), k.AuditCheckpointKey().Seed(), cookie} {
		if bytes.Equal(other, seed) {
			t.Error("the session token key is shared with another purpose")
		}
	}
	again, _ := New(master)
	if !bytes.Equal(again.SessionTokenKey(), k.SessionTokenKey()) || !bytes.Equal(again.SignInCookieKey(), k.SignInCookieKey()) {
		t.Error("two replicas with one master key derive different sign-in keys")
	}
	sk := k.SessionTokenKey()
	sk[0] ^= 0xff
	if bytes.Equal(sk, k.SessionTokenKey()) {
		t.Error("the session token key is handed out as the Keys' own slice")
	}
}
