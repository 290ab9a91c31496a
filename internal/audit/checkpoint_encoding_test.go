package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func fixedCheckpoint() Checkpoint {
	return Checkpoint{
		At:   time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC),
		Seq:  4711,
		Hash: bytes.Repeat([]byte{0xab}, HashSize),
	}
}

// TestCheckpointFollowsTheDocumentedEncoding rebuilds the signed encoding from
// its documentation, checks a signature over it with a plain Ed25519 call, as
// an outside auditor would, and pins it.
func TestCheckpointFollowsTheDocumentedEncoding(t *testing.T) {
	c := fixedCheckpoint()
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, uint32(len("gridhub.audit.checkpoint.v1")))
	b.WriteString("gridhub.audit.checkpoint.v1")
	binary.Write(&b, binary.BigEndian, c.At.UnixMicro())
	binary.Write(&b, binary.BigEndian, c.Seq)
	binary.Write(&b, binary.BigEndian, uint32(len(c.Hash)))
	b.Write(c.Hash)
	if !bytes.Equal(c.SignedBytes(), b.Bytes()) {
		t.Fatalf("SignedBytes = %x, the documented encoding is %x", c.SignedBytes(), b.Bytes())
	}
	const pinned = "0000001b677269646875622e61756469742e636865636b706f696e742e76310006304a09fd91210000000000001267" +
		"00000020abababababababababababababababababababababababababababababababab"
	if got := hex.EncodeToString(c.SignedBytes()); got != pinned {
		t.Errorf("SignedBytes of the fixed checkpoint = %s, pinned %s", got, pinned)
	}
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize))
	c.Sign(key)
	pub := key.Public().(ed25519.PublicKey)
	if !ed25519.Verify(pub, b.Bytes(), c.Signature) || !c.SignatureValid(pub) {
		t.Fatal("the signature does not verify over the documented encoding")
	}
	for name, edit := range map[string]func(c *Checkpoint){
		"at":   func(c *Checkpoint) { c.At = c.At.Add(time.Microsecond) },
		"seq":  func(c *Checkpoint) { c.Seq++ },
		"hash": func(c *Checkpoint) { c.Hash = Genesis },
	} {
		e := c
		edit(&e)
		if e.SignatureValid(pub) {
			t.Errorf("%s edited: the signature still verifies", name)
		}
	}
	if c.SignatureValid(nil) {
		t.Error("a nil public key verifies")
	}
}

func TestCheckpointFileRoundTrip(t *testing.T) {
	c := fixedCheckpoint()
	c.Sign(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, ed25519.SeedSize)))
	b := MarshalCheckpoint(c)
	if !strings.Contains(string(b), `"at":"2025-03-14T09:26:53.589793Z"`) || !strings.Contains(string(b), `"seq":4711`) {
		t.Errorf("file %s", b)
	}
	got, err := ParseCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	if !got.At.Equal(c.At) || got.Seq != c.Seq || !bytes.Equal(got.Hash, c.Hash) || !bytes.Equal(got.Signature, c.Signature) {
		t.Fatalf("read back %+v, wrote %+v", got, c)
	}
	for name, bad := range map[string]string{
		"other format": strings.Replace(string(b), "checkpoint.v1", "checkpoint.v9", 1),
		"short hash":   strings.Replace(string(b), `"hash":"abab`, `"hash":"`, 1),
		"hash not hex": strings.Replace(string(b), `"hash":"ab`, `"hash":"zz`, 1),
		"bad time":     strings.Replace(string(b), "2025-03-14T", "2025-03-14 ", 1),
		"no signature": strings.Replace(string(b), `"signature":"`, `"signature":"x`, 1),
		"empty":        "",
		"array":        "[]",
	} {
		if _, err := ParseCheckpoint([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
