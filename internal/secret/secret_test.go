package secret

import (
	"bytes"
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
