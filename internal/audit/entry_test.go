package audit

import (
	"bytes"
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
	}
}

// TestComputeHashFollowsTheDocumentedEncoding rebuilds the encoding from its
// documentation, independently of ComputeHash, and pins the result: a change
// to the encoding would orphan every ledger already written.
func TestComputeHashFollowsTheDocumentedEncoding(t *testing.T) {
	e := fixedEntry()
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
	str("gridhub.audit.v1")
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
	want := sha256.Sum256(b.Bytes())
	if got := e.ComputeHash(); !bytes.Equal(got, want[:]) {
		t.Fatalf("ComputeHash = %x, the documented encoding gives %x", got, want)
	}
	const pinned = "d52fcc23d472c2473265a153144465029dae832e054f8a94d32d8e2cac11a0cd"
	if got := hex.EncodeToString(e.ComputeHash()); got != pinned {
		t.Errorf("ComputeHash of the fixed entry = %s, pinned %s", got, pinned)
	}
}

// TestComputeHashCoversEveryField changes one field at a time and, for the
// lists and strings, moves bytes across a boundary: each must change the hash.
func TestComputeHashCoversEveryField(t *testing.T) {
	base := fixedEntry()
	baseHash := base.ComputeHash()
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
		if bytes.Equal(e.ComputeHash(), baseHash) {
			t.Errorf("%s: the hash did not change", name)
		}
	}
	// Hash is not covered, and nil and empty lists are the same value.
	e := fixedEntry()
	e.Hash = []byte("anything")
	if !bytes.Equal(e.ComputeHash(), baseHash) {
		t.Error("Hash is part of its own hash")
	}
	a, b := fixedEntry(), fixedEntry()
	a.Roles, b.Roles = nil, []string{}
	if !bytes.Equal(a.ComputeHash(), b.ComputeHash()) {
		t.Error("nil and empty roles hash differently, but Postgres stores both as '{}'")
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
