package audit

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

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
	// Downgrade: an unkeyed (AlgV1) entry follows a keyed one. The hub never
	// writes one after the chain was keyed, so the entry was rewritten by
	// someone without the key, passing it off as an old entry.
	Downgrade BreakKind = "downgrade"
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
	// Unkeyed is how many of those are AlgV1 entries, written before the
	// chain was keyed: they come first, and their hashes are plain SHA-256
	// that anyone can recompute, so only a checkpoint taken after them
	// (VerifyCheckpoints) shows that they were not rewritten.
	Unkeyed int64
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

// Verify walks the whole chain in seq order, checking every hash with the
// Ledger's chain key, and reports the first broken entry, if any. It reads in
// one REPEATABLE READ snapshot, so entries appended meanwhile (and the head
// they move) are neither seen nor mistaken for tampering. An error means the
// walk could not be done, not that the chain is broken.
//
// What a valid chain cannot show, VerifyCheckpoints can: the newest entries
// cut off with the head moved back, and a rewrite by a holder of the key.
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
		w := walker{key: l.key, prev: Genesis, next: 1, headSeq: rep.HeadSeq, headHash: rep.HeadHash, headMissing: headMissing}
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
		rep.Entries, rep.Unkeyed, rep.Broken = w.intact, w.unkeyed, w.broken
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("audit: verify: %w", err)
	}
	return rep, nil
}

// walker checks one entry after another against the chain so far.
type walker struct {
	key         []byte // the chain key
	prev        []byte // hash of the last intact entry
	next        int64  // the seq the next entry must have
	keyedFrom   int64  // the seq of the first AlgV2 entry, 0 before it
	intact      int64
	unkeyed     int64
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
	switch e.Alg {
	case AlgV1:
		if w.keyedFrom != 0 {
			w.fail(r.seq, Downgrade, "entry %d is unkeyed (v1), but the chain is keyed from entry %d on (rewritten without the key)", r.seq, w.keyedFrom)
			return
		}
	case AlgV2:
	default:
		w.fail(r.seq, HashMismatch, "entry %d has unknown hash algorithm %d (edited)", r.seq, e.Alg)
		return
	}
	// hmac.Equal, not bytes.Equal: a forger probing a live verifier must
	// not learn from the timing how many bytes of a guessed MAC are right.
	if !hmac.Equal(e.ComputeHash(w.key), r.hash) {
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
	if e.Alg == AlgV1 {
		w.unkeyed++
	} else if w.keyedFrom == 0 {
		w.keyedFrom = r.seq
	}
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
const columns = `seq, at, actor, roles, department, purpose, action, persons, fields, operation_hash, trace_id, prev_hash, alg, hash`

// rawRow is a row as stored, NULLs and all: a tampered row must be reported,
// not fail the scan.
type rawRow struct {
	seq                                                 int64
	at                                                  pgtype.Timestamptz
	actor, department, purpose, action, opHash, traceID pgtype.Text
	roles, persons, fields                              pgtype.Array[pgtype.Text]
	alg                                                 pgtype.Int2
	prevHash, hash                                      []byte
}

func (r *rawRow) dest() []any {
	return []any{&r.seq, &r.at, &r.actor, &r.roles, &r.department, &r.purpose, &r.action,
		&r.persons, &r.fields, &r.opHash, &r.traceID, &r.prevHash, &r.alg, &r.hash}
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
	note(r.alg.Valid, "alg")
	note(r.hash != nil, "hash")
	e.PrevHash, e.Alg, e.Hash = r.prevHash, int(r.alg.Int16), r.hash
	return e, null
}

// The ways the ledger disagrees with a checkpoint.
const (
	// CheckpointMismatch: the entry at a checkpoint's seq does not have the
	// hash the checkpoint recorded, so it or an entry before it was
	// rewritten after the checkpoint was taken (by someone holding the chain
	// key, or the chain would be broken too), or the entry is gone.
	CheckpointMismatch BreakKind = "checkpoint mismatch"
	// CutTail: a checkpoint names an entry beyond the head, so the newest
	// entries were deleted and the head moved back.
	CutTail BreakKind = "cut tail"
)

// RefusedCheckpoint is a checkpoint file VerifyCheckpoints could not use: it
// does not parse, or its signature is not the checkpoint key's. Either way
// someone other than the hub wrote or changed it.
type RefusedCheckpoint struct {
	Name   string
	Reason string
}

// CheckpointReport is the outcome of VerifyCheckpoints.
type CheckpointReport struct {
	// Checked is how many checkpoints the ledger agrees with: all signed
	// ones when Broken is nil, else those below the break.
	Checked int
	// Newest is the agreeing checkpoint with the highest seq (zero when
	// none): the ledger is pinned up to its Seq.
	Newest Checkpoint
	// Refused are the files that are not valid checkpoints.
	Refused []RefusedCheckpoint
	// Broken is the first (lowest seq) entry that disagrees with a
	// checkpoint, or nil. Its Reason names the checkpoint.
	Broken *Break
}

// VerifyCheckpoints checks the ledger against checkpoints (see
// ReadCheckpointDir): each signature against pub, the key derived from the
// master key (never a key read from beside the checkpoints); and for each
// signed checkpoint, that the head has reached its seq and that the entry at
// its seq has its hash. It reads the ledger in one snapshot, so read the
// checkpoints first: then no checkpoint a live hub writes meanwhile is
// mistaken for one beyond the head.
//
// It does not walk the chain: run Verify too, which shows what happened
// between checkpoints and after the newest one.
func (l *Ledger) VerifyCheckpoints(ctx context.Context, pub ed25519.PublicKey, checkpoints []StoredCheckpoint) (CheckpointReport, error) {
	var rep CheckpointReport
	var signed []StoredCheckpoint
	for _, sc := range checkpoints {
		switch {
		case sc.Err != nil:
			rep.Refused = append(rep.Refused, RefusedCheckpoint{sc.Name, sc.Err.Error()})
		case !sc.SignatureValid(pub):
			rep.Refused = append(rep.Refused, RefusedCheckpoint{sc.Name, "the signature is not the checkpoint key's (forged or altered)"})
		case sc.Seq < 1:
			rep.Refused = append(rep.Refused, RefusedCheckpoint{sc.Name, fmt.Sprintf("seq %d names no entry", sc.Seq)})
		default:
			signed = append(signed, sc)
		}
	}
	if len(signed) == 0 {
		return rep, nil
	}
	slices.SortStableFunc(signed, func(a, b StoredCheckpoint) int { return cmp.Compare(a.Seq, b.Seq) })
	seqs := make([]int64, 0, len(signed))
	for _, sc := range signed {
		if len(seqs) == 0 || seqs[len(seqs)-1] != sc.Seq {
			seqs = append(seqs, sc.Seq)
		}
	}

	var headSeq int64
	hashes := make(map[int64][]byte, len(seqs))
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// Without a head row (deleted), the newest entry stands in: Verify
		// reports the missing head itself.
		err := tx.QueryRow(ctx, `SELECT COALESCE((SELECT seq FROM audit_head WHERE id), (SELECT max(seq) FROM audit_log), 0)`).Scan(&headSeq)
		if err != nil {
			return fmt.Errorf("read head: %w", err)
		}
		for batch := range slices.Chunk(seqs, verifyBatch) {
			rows, err := tx.Query(ctx, `SELECT seq, hash FROM audit_log WHERE seq = ANY($1)`, batch)
			if err != nil {
				return fmt.Errorf("read checkpointed entries: %w", err)
			}
			for rows.Next() {
				var seq int64
				var h []byte
				if err := rows.Scan(&seq, &h); err != nil {
					rows.Close()
					return fmt.Errorf("read checkpointed entries: %w", err)
				}
				hashes[seq] = h
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("read checkpointed entries: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return CheckpointReport{}, fmt.Errorf("audit: verify checkpoints: %w", err)
	}

	// pinned is the highest seq an agreeing checkpoint pins so far: a
	// rewrite that breaks a later checkpoint happened after it.
	var pinned int64
	for _, sc := range signed {
		h, ok := hashes[sc.Seq]
		fail := func(kind BreakKind, format string, args ...any) {
			rep.Broken = &Break{Seq: sc.Seq, Kind: kind, Reason: string(kind) + ": " + fmt.Sprintf(format, args...)}
		}
		switch {
		case sc.Seq > headSeq:
			gone := fmt.Sprintf("entries %d to %d were", headSeq+1, sc.Seq)
			if headSeq+1 == sc.Seq {
				gone = fmt.Sprintf("entry %d was", sc.Seq)
			}
			fail(CutTail, "checkpoint %s (%s) recorded the ledger at entry %d, but the head is at %d: %s cut off",
				sc.Name, sc.At.Format(time.RFC3339), sc.Seq, headSeq, gone)
		case !ok:
			fail(CheckpointMismatch, "entry %d is missing, but checkpoint %s (%s) recorded it (deleted)",
				sc.Seq, sc.Name, sc.At.Format(time.RFC3339))
		case !bytes.Equal(h, sc.Hash):
			fail(CheckpointMismatch, "entry %d does not have the hash checkpoint %s (%s) recorded: %s up to entry %d was rewritten",
				sc.Seq, sc.Name, sc.At.Format(time.RFC3339), rewrittenFrom(pinned), sc.Seq)
		}
		if rep.Broken != nil {
			return rep, nil
		}
		rep.Checked++
		rep.Newest, pinned = sc.Checkpoint, sc.Seq
	}
	return rep, nil
}

// rewrittenFrom says where a rewrite may have started, given the highest seq
// a checkpoint still pins.
func rewrittenFrom(pinned int64) string {
	if pinned == 0 {
		return "an entry from the first"
	}
	return fmt.Sprintf("an entry after %d (which a checkpoint still pins)", pinned)
}
