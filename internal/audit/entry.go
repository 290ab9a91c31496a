// Package audit is the hub's tamper-evident access ledger: every read of a
// person's record, every report submission and every export appends one Entry
// (who, with which roles and purpose, which persons, which fields, which
// operation, which trace, when) to the append-only table audit_log.
//
// Entries are chained: each holds the hash of the one before it, and its own
// hash covers its content and that link (see Entry.ComputeHash for the exact
// encoding). The hash is an HMAC-SHA256 under the chain key, derived from the
// hub's master key (internal/secret), which the database does not hold: whoever
// edits an entry cannot recompute the hashes after it, database superusers
// included. Entries written before the key was introduced (migration 00007)
// keep their unkeyed SHA-256 hash (AlgV1); Verify accepts them only before the
// first keyed entry. The newest seq and hash are also kept in the one-row
// table audit_head, moved in the same transaction as the append. Verify walks
// the chain and names the first entry that was edited (hash mismatch), removed
// (gap in sequence), reordered (broken link), downgraded to the unkeyed hash
// (downgrade), or cut off or forged at the end (head mismatch).
//
// Three layers make the ledger append-only: the hub's database role
// (gridhub_app) is granted only SELECT and INSERT on audit_log; a trigger refuses
// UPDATE, DELETE and TRUNCATE even to the table's owner; and whoever gets past
// both (a superuser disabling the trigger) still cannot change history without
// breaking the chain. Two things the chain alone cannot show: the newest
// entries cut off together with the head moved back (what is left is a valid
// chain), and a rewrite by someone holding the chain key. Checkpoints catch
// both: a Checkpointer signs the head with a second key (Ed25519, also derived
// from the master key) at an interval and writes it outside the database
// (a Sink), and VerifyCheckpoints checks the ledger against them.
package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"time"
	"unicode/utf8"
)

// The actions an entry records.
const (
	// ActionRead is a read of one or more persons' records.
	ActionRead = "read"
	// ActionSubmit is a unified report submission.
	ActionSubmit = "submit"
	// ActionExport is an export (CSV or bulk).
	ActionExport = "export"
	// ActionLink is a reviewer's decision on a record-linkage candidate
	// (confirmLink, rejectLink).
	ActionLink = "link"
)

// HashSize is the length of Entry.Hash and Entry.PrevHash (SHA-256, and
// HMAC-SHA256).
const HashSize = sha256.Size

// The algorithms an entry's hash is taken with, as stored in audit_log.alg.
const (
	// AlgV1 is plain SHA-256 of the encoding tagged "gridhub.audit.v1": the
	// entries written before migration 00007. Anyone can recompute it, so it
	// is accepted only before the first AlgV2 entry.
	AlgV1 = 1
	// AlgV2 is HMAC-SHA256 under the chain key of the encoding tagged
	// "gridhub.audit.v2": what Append writes.
	AlgV2 = 2
)

// Genesis is the PrevHash of the first entry: there is nothing before it.
var Genesis = make([]byte, HashSize)

// Entry is one ledger record. The caller fills what happened; Append fills Seq,
// PrevHash and Hash (and At when it is zero).
type Entry struct {
	// Seq is the entry's position in the chain, from 1, without gaps.
	Seq int64
	// At is when it happened, in UTC at microsecond precision (what Postgres
	// keeps), so that the hash taken before storing matches the row read back.
	At time.Time
	// Actor is the authenticated subject (the token's sub).
	Actor string
	// Roles are the actor's roles at the time.
	Roles []string
	// Department is the actor's department, if any.
	Department string
	// Purpose is the stated purpose (X-Purpose), if any.
	Purpose string
	// Action is ActionRead, ActionSubmit, ActionExport or ActionLink.
	Action string
	// Persons are the person surrogate ids (persons.id in decimal) the action
	// touched. Never resident ID numbers: Append refuses anything longer than
	// 14 digits, so neither a 15- nor an 18-character ID number can get in.
	Persons []string
	// Fields are the schema paths returned, e.g. "Person.civilAffairs.dibao.amount".
	Fields []string
	// OperationHash is the hex SHA-256 of the operation (see OperationHash).
	OperationHash string
	// TraceID is the request's trace id, to find its logs and spans.
	TraceID string
	// PrevHash is the previous entry's Hash (Genesis for Seq 1).
	PrevHash []byte
	// Alg is how Hash is taken: AlgV2 for everything Append writes, AlgV1
	// for entries written before the chain was keyed.
	Alg int
	// Hash is ComputeHash of this entry.
	Hash []byte
}

// The domain tags that open the hashed encodings, so that an entry's hash can
// never be mistaken for a hash of some other structure, and so that an entry
// hashed under one algorithm can never pass for one under another.
const (
	hashDomainV1 = "gridhub.audit.v1"
	hashDomainV2 = "gridhub.audit.v2"
)

// ComputeHash returns the entry's hash under its algorithm Alg, or nil for
// an algorithm it does not know (so check Alg first). The hash is taken over
// this canonical encoding, where every string and byte string is its length
// (uint32, big-endian) then its bytes, and every list is its element count
// (uint32, big-endian) then its elements:
//
//	string  domain tag               "gridhub.audit.v1" or "gridhub.audit.v2"
//	int64   Seq                      8 bytes, big-endian, two's complement
//	int64   At as Unix microseconds  8 bytes, big-endian, two's complement
//	string  Actor
//	list    Roles
//	string  Department
//	string  Purpose
//	string  Action
//	list    Persons
//	list    Fields
//	string  OperationHash
//	string  TraceID
//	bytes   PrevHash
//
// AlgV1: SHA-256 of the encoding with the tag "gridhub.audit.v1"; key is
// not used. AlgV2: HMAC-SHA256 (RFC 2104) with key (the chain key,
// secret.Keys.AuditChainKey) of the encoding with the tag "gridhub.audit.v2".
// The tag is the only difference between the two encodings; it covers Alg, so
// relabelling an entry changes its hash.
//
// Length prefixes make it unambiguous (no two different entries encode alike,
// whatever bytes their strings hold), and fixed order and widths make it
// reproducible in any language. A nil and an empty list encode alike, as
// Postgres stores both as '{}'. Hash itself is not covered.
func (e *Entry) ComputeHash(key []byte) []byte {
	switch e.Alg {
	case AlgV1:
		h := sha256.New()
		e.encode(h, hashDomainV1)
		return h.Sum(nil)
	case AlgV2:
		h := hmac.New(sha256.New, key)
		e.encode(h, hashDomainV2)
		return h.Sum(nil)
	default:
		return nil
	}
}

// encode writes the canonical encoding documented at ComputeHash to h.
func (e *Entry) encode(h hash.Hash, domain string) {
	var buf [8]byte
	str := func(s string) {
		binary.BigEndian.PutUint32(buf[:4], uint32(len(s)))
		h.Write(buf[:4])
		h.Write([]byte(s))
	}
	list := func(ss []string) {
		binary.BigEndian.PutUint32(buf[:4], uint32(len(ss)))
		h.Write(buf[:4])
		for _, s := range ss {
			str(s)
		}
	}
	i64 := func(v int64) {
		binary.BigEndian.PutUint64(buf[:], uint64(v))
		h.Write(buf[:])
	}
	str(domain)
	i64(e.Seq)
	i64(e.At.UnixMicro())
	str(e.Actor)
	list(e.Roles)
	str(e.Department)
	str(e.Purpose)
	str(e.Action)
	list(e.Persons)
	list(e.Fields)
	str(e.OperationHash)
	str(e.TraceID)
	binary.BigEndian.PutUint32(buf[:4], uint32(len(e.PrevHash)))
	h.Write(buf[:4])
	h.Write(e.PrevHash)
}

// OperationHash is the value for Entry.OperationHash: the hex SHA-256 of the
// GraphQL document and operation name, length-prefixed as in ComputeHash so
// that the same document with another operation selected hashes differently.
// Auditors match it against the trusted-documents list or the APQ store.
func OperationHash(document, operationName string) string {
	h := sha256.New()
	var n [4]byte
	for _, s := range []string{document, operationName} {
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// maxPersonIDLen is one less than the shortest resident ID number (the old
// 15-digit form): a surrogate id can never be mistaken for one, or be one.
const maxPersonIDLen = 14

// validate checks what the caller filled, so that nothing reaches the ledger
// that Postgres would store differently from how it was hashed (text holds no
// NUL and only valid UTF-8) or that must never be logged (ID numbers).
func (e *Entry) validate() error {
	if e.Actor == "" {
		return errors.New("actor is empty")
	}
	switch e.Action {
	case ActionRead, ActionSubmit, ActionExport, ActionLink:
	default:
		return fmt.Errorf("unknown action %q", e.Action)
	}
	if e.OperationHash != "" {
		if b, err := hex.DecodeString(e.OperationHash); err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != e.OperationHash {
			return fmt.Errorf("operation hash %q is not a lowercase hex SHA-256", e.OperationHash)
		}
	}
	for _, p := range e.Persons {
		if !isPersonID(p) {
			// Not quoted in full: it may be the very ID number we keep out.
			return fmt.Errorf("person %q... is not a person surrogate id (decimal, at most %d digits)", clip(p, 4), maxPersonIDLen)
		}
	}
	for name, ss := range map[string][]string{"roles": e.Roles, "fields": e.Fields} {
		for _, s := range ss {
			if err := checkText(s); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	for name, s := range map[string]string{"actor": e.Actor, "department": e.Department, "purpose": e.Purpose, "trace id": e.TraceID} {
		if err := checkText(s); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func isPersonID(s string) bool {
	if len(s) == 0 || len(s) > maxPersonIDLen || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkText(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("not valid UTF-8")
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return errors.New("holds a NUL byte")
		}
	}
	return nil
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
