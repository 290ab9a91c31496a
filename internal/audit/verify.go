package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// BreakKind says what is wrong with a broken entry.
type BreakKind string

// The ways the chain breaks, and the tampering each one reveals.
const (
	// HashMismatch: the entry's content does not hash to its stored hash, so
	// a column was edited (or the hash itself was).
	HashMismatch BreakKind = "hash mismatch"
	// BrokenLink: the entry's prev_hash is not the hash of the entry before
	// it, so entries were reordered, replaced or inserted.
	BrokenLink BreakKind = "broken link"
	// SequenceGap: an entry is missing from the run 1, 2, 3...: it was deleted
	// (or the rows were renumbered).
	SequenceGap BreakKind = "gap in sequence"
	// HeadMismatch: the chain does not end where audit_head says it does, so
	// the newest entries were deleted, or entries were forged after them.
	HeadMismatch BreakKind = "head mismatch"
)

// Break is the first broken entry Verify found.
type Break struct {
	// Seq is the entry's seq: the one that fails its check, or, for a
	// missing entry, the seq it should have.
	Seq  int64
	Kind BreakKind
	// Reason says what is wrong in words, starting with Kind.
	Reason string
}

// String is the break as verify-audit reports it: the entry, then the reason.
func (b *Break) String() string { return fmt.Sprintf("entry %d: %s", b.Seq, b.Reason) }

// Report is the outcome of Verify.
type Report struct {
	// Entries is how many entries the walk found intact: all of them when
	// Broken is nil, else those before the break.
	Entries int64
	// HeadSeq and HeadHash are the head audit_head records. Kept outside the
	// database (printed, published), they let a later Verify catch even a
	// rewrite of the whole chain after them.
	HeadSeq  int64
	HeadHash []byte
	// Broken is the first break, or nil when the chain is intact.
	Broken *Break
}

// verifyBatch is how many rows Verify reads per query: memory stays flat
// however long the ledger grows.
const verifyBatch = 10000

// Verify walks the whole chain in seq order and reports the first broken
// entry, if any. It reads in one REPEATABLE READ snapshot, so entries appended
// meanwhile (and the head they move) are neither seen nor mistaken for
// tampering. An error means the walk could not be done, not that the chain is
// broken.
func (l *Ledger) Verify(ctx context.Context) (Report, error) {
	var rep Report
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		rep = Report{}
		headMissing := false
		err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id`).Scan(&rep.HeadSeq, &rep.HeadHash)
		if errors.Is(err, pgx.ErrNoRows) {
			headMissing = true
		} else if err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		w := walker{prev: Genesis, next: 1, headSeq: rep.HeadSeq, headHash: rep.HeadHash, headMissing: headMissing}
		after := int64(math.MinInt64) // not 0: rows renumbered below 1 must be seen too
		for w.broken == nil {
			rows, err := tx.Query(ctx, `SELECT `+columns+` FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`, after, verifyBatch)
			if err != nil {
				return fmt.Errorf("read entries after %d: %w", after, err)
			}
			n := 0
			for rows.Next() && w.broken == nil {
				var r rawRow
				if err := rows.Scan(r.dest()...); err != nil {
					rows.Close()
					return fmt.Errorf("read entry after %d: %w", after, err)
				}
				w.check(&r)
				after = r.seq
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("read entries after %d: %w", after, err)
			}
			if n < verifyBatch {
				break
			}
		}
		if w.broken == nil {
			w.finish()
		}
		rep.Entries, rep.Broken = w.intact, w.broken
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("audit: verify: %w", err)
	}
	return rep, nil
}

// walker checks one entry after another against the chain so far.
type walker struct {
	prev        []byte // hash of the last intact entry
	next        int64  // the seq the next entry must have
	intact      int64
	headSeq     int64
	headHash    []byte
	headMissing bool
	broken      *Break
}

func (w *walker) fail(seq int64, kind BreakKind, format string, args ...any) {
	w.broken = &Break{Seq: seq, Kind: kind, Reason: string(kind) + ": " + fmt.Sprintf(format, args...)}
}

func (w *walker) check(r *rawRow) {
	switch {
	case r.seq > w.next:
		if w.next == 1 {
			w.fail(w.next, SequenceGap, "entry %d is missing: the ledger starts at %d (deleted)", w.next, r.seq)
		} else {
			w.fail(w.next, SequenceGap, "entry %d is missing: %d is followed by %d (deleted)", w.next, w.next-1, r.seq)
		}
		return
	case r.seq < w.next:
		w.fail(r.seq, SequenceGap, "entry %d is out of sequence: expected %d (renumbered)", r.seq, w.next)
		return
	}
	if !bytes.Equal(r.prevHash, w.prev) {
		if r.seq == 1 {
			w.fail(r.seq, BrokenLink, "prev_hash of entry 1 is not the genesis hash (replaced or reordered)")
		} else {
			w.fail(r.seq, BrokenLink, "prev_hash of entry %d is not the hash of entry %d (entries reordered or inserted, or entry %d rewritten)", r.seq, r.seq-1, r.seq-1)
		}
		return
	}
	e, null := r.entry()
	if null != "" {
		w.fail(r.seq, HashMismatch, "column %s of entry %d is NULL or out of range (edited)", null, r.seq)
		return
	}
	if !bytes.Equal(e.ComputeHash(), r.hash) {
		w.fail(r.seq, HashMismatch, "entry %d does not match its hash (edited)", r.seq)
		return
	}
	if r.seq > w.headSeq && !w.headMissing {
		w.fail(r.seq, HeadMismatch, "entry %d is past the recorded head %d (forged, or the head was rolled back)", r.seq, w.headSeq)
		return
	}
	if r.seq == w.headSeq && !bytes.Equal(r.hash, w.headHash) {
		w.fail(r.seq, HeadMismatch, "the recorded head hash is not the hash of entry %d", r.seq)
		return
	}
	w.prev, w.next = r.hash, r.seq+1
	w.intact++
}

// finish checks, after the last entry, that the chain ends at the head.
func (w *walker) finish() {
	last := w.next - 1
	switch {
	case w.headMissing:
		w.fail(last, HeadMismatch, "the head row is missing (deleted): the end of the ledger cannot be checked")
	case last < w.headSeq:
		if last+1 == w.headSeq {
			w.fail(last+1, HeadMismatch, "the ledger ends at %d but the head records %d: entry %d is missing (deleted)", last, w.headSeq, w.headSeq)
		} else {
			w.fail(last+1, HeadMismatch, "the ledger ends at %d but the head records %d: entries %d to %d are missing (deleted)", last, w.headSeq, last+1, w.headSeq)
		}
	case last == 0 && !bytes.Equal(w.headHash, Genesis):
		w.fail(0, HeadMismatch, "the ledger is empty but the head hash is not the genesis hash")
	}
}

// columns are audit_log's columns in the order rawRow.dest scans them.
const columns = `seq, at, actor, roles, department, purpose, action, persons, fields, operation_hash, trace_id, prev_hash, hash`

// rawRow is a row as stored, NULLs and all: a tampered row must be reported,
// not fail the scan.
type rawRow struct {
	seq                                                 int64
	at                                                  pgtype.Timestamptz
	actor, department, purpose, action, opHash, traceID pgtype.Text
	roles, persons, fields                              pgtype.Array[pgtype.Text]
	prevHash, hash                                      []byte
}

func (r *rawRow) dest() []any {
	return []any{&r.seq, &r.at, &r.actor, &r.roles, &r.department, &r.purpose, &r.action,
		&r.persons, &r.fields, &r.opHash, &r.traceID, &r.prevHash, &r.hash}
}

// entry converts the row, naming the first column that holds a value Append
// never writes (a NULL, an infinite time); such a column is read as empty.
func (r *rawRow) entry() (e Entry, null string) {
	note := func(ok bool, col string) {
		if !ok && null == "" {
			null = col
		}
	}
	text := func(t pgtype.Text, col string) string {
		note(t.Valid, col)
		return t.String
	}
	list := func(a pgtype.Array[pgtype.Text], col string) []string {
		// One dimension from 1, as Append writes: '{{1,2}}' or '[0:1]={1,2}'
		// would flatten to the same elements yet be a different value.
		note(a.Valid && (len(a.Dims) == 0 || len(a.Dims) == 1 && a.Dims[0].LowerBound == 1), col)
		out := make([]string, len(a.Elements))
		for i, t := range a.Elements {
			out[i] = text(t, col)
		}
		return out
	}
	e.Seq = r.seq
	note(r.at.Valid && r.at.InfinityModifier == pgtype.Finite, "at")
	e.At = r.at.Time.UTC()
	e.Actor = text(r.actor, "actor")
	e.Roles = list(r.roles, "roles")
	e.Department = text(r.department, "department")
	e.Purpose = text(r.purpose, "purpose")
	e.Action = text(r.action, "action")
	e.Persons = list(r.persons, "persons")
	e.Fields = list(r.fields, "fields")
	e.OperationHash = text(r.opHash, "operation_hash")
	e.TraceID = text(r.traceID, "trace_id")
	note(r.prevHash != nil, "prev_hash")
	note(r.hash != nil, "hash")
	e.PrevHash, e.Hash = r.prevHash, r.hash
	return e, null
}
