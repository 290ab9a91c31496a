package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func fixedEntry() Entry {
	return Entry{
		Seq:           7,
		At:            time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC),
		Actor:         "officer-1",
		Roles:         []string{"dept_officer", "auditor"},
		Department:    "civil_affairs",
		Purpose:       "dibao-review",
		Action:        ActionRead,
		Persons:       []string{"42", "4711"},
		Fields:        []string{"Person.name", "Person.civilAffairs.dibao.amount"},
		OperationHash: OperationHash("{ person(idNumber: \"x\") { name } }", ""),
		TraceID:       "4bf92f3577b34da6a3ce929d0e0e4736",
		PrevHash:      bytes.Repeat([]byte{0xab}, HashSize),
		Alg:           AlgV2,
	}
}

// fixedKey is a chain key for the pinned hashes.
var fixedKey = bytes.Repeat([]byte{0xcd}, 32)

// TestComputeHashFollowsTheDocumentedEncoding rebuilds the encoding from its
// documentation, independently of ComputeHash, and pins the results of both
// algorithms: a change to the encoding would orphan every ledger already
// written.
func TestComputeHashFollowsTheDocumentedEncoding(t *testing.T) {
	e := fixedEntry()
	encoding := func(domain string) []byte {
		var b bytes.Buffer
		str := func(s string) {
			binary.Write(&b, binary.BigEndian, uint32(len(s)))
			b.WriteString(s)
		}
		list := func(ss []string) {
			binary.Write(&b, binary.BigEndian, uint32(len(ss)))
			for _, s := range ss {
				str(s)
			}
		}
		str(domain)
		binary.Write(&b, binary.BigEndian, e.Seq)
		binary.Write(&b, binary.BigEndian, e.At.UnixMicro())
		str(e.Actor)
		list(e.Roles)
		str(e.Department)
		str(e.Purpose)
		str(e.Action)
		list(e.Persons)
		list(e.Fields)
		str(e.OperationHash)
		str(e.TraceID)
		str(string(e.PrevHash))
		return b.Bytes()
	}

	// v1: plain SHA-256, the key ignored (the entries written before 00007).
	e.Alg = AlgV1
	want := sha256.Sum256(encoding("gridhub.audit.v1"))
	if got := e.ComputeHash(fixedKey); !bytes.Equal(got, want[:]) {
		t.Fatalf("v1 ComputeHash = %x, the documented encoding gives %x", got, want)
	}
	if !bytes.Equal(e.ComputeHash(nil), want[:]) {
		t.Error("v1 ComputeHash depends on the key")
	}
	const pinnedV1 = "d52fcc23d472c2473265a153144465029dae832e054f8a94d32d8e2cac11a0cd"
	if got := hex.EncodeToString(e.ComputeHash(nil)); got != pinnedV1 {
		t.Errorf("v1 ComputeHash of the fixed entry = %s, pinned %s", got, pinnedV1)
	}

	// v2: HMAC-SHA256 under the chain key, tag gridhub.audit.v2.
	e.Alg = AlgV2
	mac := hmac.New(sha256.New, fixedKey)
	mac.Write(encoding("gridhub.audit.v2"))
	if got, want := e.ComputeHash(fixedKey), mac.Sum(nil); !bytes.Equal(got, want) {
		t.Fatalf("v2 ComputeHash = %x, the documented encoding gives %x", got, want)
	}
	const pinnedV2 = "6b914960045aa009fcfcef24005a4d1567d4f59b2d76301284a49465fef4f897"
	if got := hex.EncodeToString(e.ComputeHash(fixedKey)); got != pinnedV2 {
		t.Errorf("v2 ComputeHash of the fixed entry = %s, pinned %s", got, pinnedV2)
	}
	if e.Alg = 3; e.ComputeHash(fixedKey) != nil {
		t.Error("ComputeHash of an unknown algorithm is not nil")
	}
}

// TestComputeHashDependsOnTheKey: without the chain key, nobody computes a v2
// hash, and relabelling an entry's algorithm changes its hash.
func TestComputeHashDependsOnTheKey(t *testing.T) {
	e := fixedEntry()
	h := e.ComputeHash(fixedKey)
	if bytes.Equal(h, e.ComputeHash(bytes.Repeat([]byte{0xce}, 32))) || bytes.Equal(h, e.ComputeHash(nil)) {
		t.Error("the v2 hash does not depend on the key")
	}
	v1 := fixedEntry()
	v1.Alg = AlgV1
	if bytes.Equal(h, v1.ComputeHash(fixedKey)) {
		t.Error("v1 and v2 hash alike")
	}
}

// TestComputeHashCoversEveryField changes one field at a time and, for the
// lists and strings, moves bytes across a boundary: each must change the
// hash, under both algorithms.
func TestComputeHashCoversEveryField(t *testing.T) {
	for _, alg := range []int{AlgV1, AlgV2} {
		coversEveryField(t, alg)
	}
}

func coversEveryField(t *testing.T, alg int) {
	fixedEntry := func() Entry {
		e := fixedEntry()
		e.Alg = alg
		return e
	}
	base := fixedEntry()
	baseHash := base.ComputeHash(fixedKey)
	edits := map[string]func(e *Entry){
		"seq":              func(e *Entry) { e.Seq++ },
		"at (1µs)":         func(e *Entry) { e.At = e.At.Add(time.Microsecond) },
		"actor":            func(e *Entry) { e.Actor += "x" },
		"roles":            func(e *Entry) { e.Roles = e.Roles[:1] },
		"roles split":      func(e *Entry) { e.Roles = []string{"dept_officerauditor"} },
		"department":       func(e *Entry) { e.Department = "health" },
		"purpose":          func(e *Entry) { e.Purpose = "" },
		"action":           func(e *Entry) { e.Action = ActionExport },
		"persons":          func(e *Entry) { e.Persons = []string{"42", "4712"} },
		"persons order":    func(e *Entry) { e.Persons = []string{"4711", "42"} },
		"persons joined":   func(e *Entry) { e.Persons = []string{"424711"} },
		"fields":           func(e *Entry) { e.Fields = e.Fields[1:] },
		"operation hash":   func(e *Entry) { e.OperationHash = OperationHash("{ x }", "") },
		"trace id":         func(e *Entry) { e.TraceID = "" },
		"prev hash":        func(e *Entry) { e.PrevHash = Genesis },
		"actor into dept":  func(e *Entry) { e.Actor, e.Department = "officer-1c", "ivil_affairs" },
		"list into string": func(e *Entry) { e.Fields, e.OperationHash = e.Fields[:1], e.Fields[1]+e.OperationHash },
	}
	for name, edit := range edits {
		e := fixedEntry()
		edit(&e)
		if bytes.Equal(e.ComputeHash(fixedKey), baseHash) {
			t.Errorf("v%d, %s: the hash did not change", alg, name)
		}
	}
	// Hash is not covered, and nil and empty lists are the same value.
	e := fixedEntry()
	e.Hash = []byte("anything")
	if !bytes.Equal(e.ComputeHash(fixedKey), baseHash) {
		t.Errorf("v%d: Hash is part of its own hash", alg)
	}
	a, b := fixedEntry(), fixedEntry()
	a.Roles, b.Roles = nil, []string{}
	if !bytes.Equal(a.ComputeHash(fixedKey), b.ComputeHash(fixedKey)) {
		t.Errorf("v%d: nil and empty roles hash differently, but Postgres stores both as '{}'", alg)
	}
}

func TestOperationHashSeparatesDocumentAndName(t *testing.T) {
	if OperationHash("ab", "c") == OperationHash("a", "bc") {
		t.Error("document and operation name run together")
	}
	if h := OperationHash("{ a }", ""); len(h) != 64 || strings.ToLower(h) != h {
		t.Errorf("OperationHash = %q, want 64 lowercase hex digits", h)
	}
}

func TestValidateRefusesWhatMustNotBeLogged(t *testing.T) {
	ok := fixedEntry()
	if err := ok.validate(); err != nil {
		t.Fatalf("valid entry refused: %v", err)
	}
	bad := map[string]func(e *Entry){
		"18-char ID number":     func(e *Entry) { e.Persons = []string{"34070519800101001X"} },
		"18-digit ID number":    func(e *Entry) { e.Persons = []string{"340705198001010015"} },
		"15-digit old ID":       func(e *Entry) { e.Persons = []string{"340705800101001"} },
		"signed id":             func(e *Entry) { e.Persons = []string{"+42"} },
		"zero":                  func(e *Entry) { e.Persons = []string{"0"} },
		"leading zero":          func(e *Entry) { e.Persons = []string{"042"} },
		"empty person":          func(e *Entry) { e.Persons = []string{""} },
		"no actor":              func(e *Entry) { e.Actor = "" },
		"unknown action":        func(e *Entry) { e.Action = "delete" },
		"uppercase op hash":     func(e *Entry) { e.OperationHash = strings.ToUpper(e.OperationHash) },
		"short op hash":         func(e *Entry) { e.OperationHash = "abcd" },
		"NUL in purpose":        func(e *Entry) { e.Purpose = "a\x00b" },
		"invalid UTF-8 in role": func(e *Entry) { e.Roles = []string{"\xff"} },
		"invalid UTF-8 field":   func(e *Entry) { e.Fields = []string{"Person.\xc3"} },
	}
	for name, edit := range bad {
		e := fixedEntry()
		edit(&e)
		err := e.validate()
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "340705") {
			t.Errorf("%s: the error quotes the ID number: %v", name, err)
		}
	}
}

func TestArrayLiteral(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, `{}`},
		{[]string{""}, `{""}`},
		{[]string{"a", "NULL"}, `{"a","NULL"}`},
		{[]string{`q"b\s`, "{,}"}, `{"q\"b\\s","{,}"}`},
	} {
		if got := arrayLiteral(tc.in); got != tc.want {
			t.Errorf("arrayLiteral(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
