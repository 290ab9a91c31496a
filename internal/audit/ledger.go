package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MaxBatch is the most entries one commit writes. Under load, Appends queue
// while a commit is in flight and the next commit takes them all, so the cost of
// a commit (round trips, WAL flush, the head row lock) is shared by up to
// MaxBatch requests.
const MaxBatch = 256

// queueLen is how many Appends may wait for the writer before Append blocks:
// enough for a few full batches, so a burst does not stall callers, while a
// database that stops answering pushes back instead of growing memory.
const queueLen = 4 * MaxBatch

// batchTimeout bounds one commit, so a stuck database fails the waiting callers
// instead of holding them forever.
const batchTimeout = 30 * time.Second

// tidyEvery is how often the ledger moves its persons index's pending list
// into the index (when it has written anything since): see tidy.
const tidyEvery = 500 * time.Millisecond

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: ledger closed")

// Ledger appends to, verifies and queries the audit ledger. It is safe for
// concurrent use, and any number of Ledgers, in any number of processes, may
// append to one database: the head row's lock orders them into one chain.
type Ledger struct {
	pool *pgxpool.Pool
	// key is the chain key: Append hashes with it, Verify checks with it.
	key  []byte
	reqs chan *request

	// mu guards closed; senders counts Appends between their closed check and
	// their send, so that Close closes reqs only after the last of them.
	mu        sync.RWMutex
	closed    bool
	senders   sync.WaitGroup
	closeOnce sync.Once

	// base is the writer's context: not any caller's, so that one caller
	// giving up does not fail the others' commit. Close cancels it when its
	// own deadline passes.
	base   context.Context
	cancel context.CancelFunc
	done   chan struct{}

	// head is the writer's belief about the chain head, touched only by the
	// writer goroutine; headOK is false until read and after any doubt (an
	// error, another process appending).
	head   chainHead
	headOK bool

	// untidied counts the persons of the entries written since the last
	// tidy; tidied is closed when the tidy goroutine has stopped.
	untidied atomic.Int64
	tidied   chan struct{}
}

type chainHead struct {
	seq  int64
	hash []byte
}

type request struct {
	e   Entry
	res chan result // buffered: the writer never waits for a caller that left
}

type result struct {
	e   Entry
	err error
}

// MinKeySize is the shortest chain key New takes: a shorter HMAC key would be
// the weak point of the chain.
const MinKeySize = 32

// New returns a Ledger on pool (migrated: the tables come from the store's
// migrations 00002_audit and 00007_audit_keyed) and starts its writer. Close it
// to flush what is queued.
//
// chainKey is the HMAC key the chain is computed with
// (secret.Keys.AuditChainKey): Append needs it to write, Verify to check. It
// must be the same for every process on one database, and at least
// MinKeySize bytes; New panics otherwise, as a shorter key is a programming
// error, not a condition to handle.
func New(pool *pgxpool.Pool, chainKey []byte) *Ledger {
	if len(chainKey) < MinKeySize {
		panic(fmt.Sprintf("audit: chain key has %d bytes, want at least %d", len(chainKey), MinKeySize))
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Ledger{
		pool:   pool,
		key:    slices.Clone(chainKey),
		reqs:   make(chan *request, queueLen),
		base:   ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		tidied: make(chan struct{}),
	}
	go l.tidy()
	go l.run()
	return l
}

// tidy moves the persons index's pending list into the index every
// tidyEvery while entries are written (migration 00034): otherwise the insert
// that finds the list full does it, holding the writer, and with it every
// request waiting for its entry, for tens of milliseconds. The work is the
// same; it is only moved off the requests' path. A failure is logged (once
// until the next success) and changes nothing else: the inserts then move
// the list themselves, as they would without tidy.
func (l *Ledger) tidy() {
	defer close(l.tidied)
	t := time.NewTicker(tidyEvery)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-l.base.Done():
			return
		case <-t.C:
		}
		if l.untidied.Swap(0) == 0 {
			continue
		}
		_, err := l.pool.Exec(l.base, `SELECT gridhub_audit_clean_pending()`)
		switch {
		case err != nil && l.base.Err() != nil:
			return
		case err != nil && !failing:
			slog.Warn("audit: moving the persons index's pending list", "err", err)
		case err == nil && failing:
			slog.Info("audit: moving the persons index's pending list works again")
		}
		failing = err != nil
	}
}

// Append adds e to the ledger and returns it as stored: with Seq, PrevHash and
// Hash filled, and At set to now when it was zero (in any case in UTC, at
// microsecond precision). It returns only once the entry is committed, so a
// caller that goes on to return data has its access on record.
//
// Concurrent Appends are written together, in one transaction, by the
// Ledger's single writer (group commit). When ctx ends first Append returns
// its error, but an entry already queued is still written.
func (l *Ledger) Append(ctx context.Context, e Entry) (Entry, error) {
	if err := e.validate(); err != nil {
		return Entry{}, fmt.Errorf("audit: append: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Entry{}, fmt.Errorf("audit: append: %w", err)
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	// Our own copies: the caller may reuse its slices as soon as we return.
	e.Roles, e.Persons, e.Fields = slices.Clone(e.Roles), slices.Clone(e.Persons), slices.Clone(e.Fields)
	e.Seq, e.PrevHash, e.Alg, e.Hash = 0, nil, AlgV2, nil
	r := &request{e: e, res: make(chan result, 1)}

	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return Entry{}, ErrClosed
	}
	l.senders.Add(1)
	l.mu.RUnlock()
	select {
	case l.reqs <- r:
		l.senders.Done()
	case <-ctx.Done():
		l.senders.Done()
		return Entry{}, fmt.Errorf("audit: append: %w", ctx.Err())
	}
	select {
	case res := <-r.res:
		return res.e, res.err
	case <-ctx.Done():
		return Entry{}, fmt.Errorf("audit: append: %w", ctx.Err())
	}
}

// Close stops taking entries, writes everything already queued and waits for
// the writer to finish. When ctx ends first, what is still queued fails with
// the context's error and Close returns it.
func (l *Ledger) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		go func() {
			l.senders.Wait()
			close(l.reqs)
		}()
	})
	select {
	case <-l.done:
		return nil
	case <-ctx.Done():
		l.cancel()
		return fmt.Errorf("audit: close: %w", ctx.Err())
	}
}

// run is the writer: it takes whatever is queued, up to MaxBatch, commits it
// and answers every caller, until Close closes the queue and it is empty.
func (l *Ledger) run() {
	defer func() {
		l.cancel()
		<-l.tidied
		close(l.done)
	}()
	batch := make([]*request, 0, MaxBatch)
	for r := range l.reqs {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < MaxBatch {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		entries, err := l.commit(batch)
		if err == nil {
			for _, e := range entries {
				l.untidied.Add(int64(len(e.Persons)))
			}
		}
		for i, r := range batch {
			if err != nil {
				r.res <- result{err: err}
			} else {
				r.res <- result{e: entries[i]}
			}
		}
		clear(batch) // drop references to answered requests
	}
}

// commit writes batch as the next entries of the chain. The fast path is one
// statement, one round trip: it moves the head from where this writer last
// left it and inserts the rows only if the head was still there (a
// compare-and-swap). When the head is unknown or another process moved it,
// commit locks the head row, reads it and writes the batch after it.
func (l *Ledger) commit(batch []*request) ([]Entry, error) {
	ctx, cancel := context.WithTimeout(l.base, batchTimeout)
	defer cancel()
	if l.headOK {
		entries := chain(l.key, l.head, batch)
		swapped, err := insert(ctx, l.pool, l.head, entries)
		switch {
		case err == nil && swapped:
			l.head = headOf(entries)
			return entries, nil
		case err != nil && !isSerializationFailure(err):
			// The commit may or may not have happened: read the head again.
			l.headOK = false
			return nil, fmt.Errorf("audit: append: %w", err)
		}
		// Another process moved the head (or, under a stricter default
		// isolation, the swap was refused rather than re-checked): lock it.
	}
	var entries []Entry
	// READ COMMITTED whatever the database's default: the lock wait must end
	// in reading the other writer's head, not in a serialization failure.
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		var h chainHead
		if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id FOR UPDATE`).Scan(&h.seq, &h.hash); err != nil {
			return fmt.Errorf("lock head: %w", err)
		}
		entries = chain(l.key, h, batch)
		swapped, err := insert(ctx, tx, h, entries)
		if err != nil {
			return err
		}
		if !swapped {
			return errors.New("head moved while locked")
		}
		return nil
	})
	if err != nil {
		l.headOK = false
		return nil, fmt.Errorf("audit: append: %w", err)
	}
	l.head, l.headOK = headOf(entries), true
	return entries, nil
}

// isSerializationFailure reports a transaction rollback (SQLSTATE class 40:
// serialization failure, deadlock): nothing was written, so trying again is safe.
func isSerializationFailure(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "40")
}

// chain numbers and hashes (AlgV2, under key) the batch's entries in queue
// order after h.
func chain(key []byte, h chainHead, batch []*request) []Entry {
	entries := make([]Entry, len(batch))
	prev := h.hash
	for i, r := range batch {
		e := r.e
		e.Seq = h.seq + int64(i) + 1
		e.PrevHash = prev
		e.Alg = AlgV2
		e.Hash = e.ComputeHash(key)
		prev = e.Hash
		entries[i] = e
	}
	return entries
}

func headOf(entries []Entry) chainHead {
	last := entries[len(entries)-1]
	return chainHead{seq: last.Seq, hash: last.Hash}
}

// insertSQL moves the head and inserts the rows in one statement, which
// Postgres runs atomically. The UPDATE takes the head row's lock; if another
// transaction moved the head meanwhile, READ COMMITTED re-checks the WHERE on
// the new row, it no longer matches, and no row is inserted. The list columns
// travel as Postgres array literals (one text per row) because unnest cannot
// take arrays of arrays of different lengths. Every row is AlgV2 ($18): the
// writer hashes nothing else.
const insertSQL = `
WITH head AS (
    UPDATE audit_head SET seq = $1, hash = $2
    WHERE id AND seq = $3 AND hash = $4
    RETURNING 1
)
INSERT INTO audit_log (seq, at, actor, roles, department, purpose, action, persons, fields, operation_hash, trace_id, prev_hash, alg, hash)
SELECT u.seq, u.at, u.actor, u.roles::text[], u.department, u.purpose, u.action, u.persons::text[], u.fields::text[],
       u.operation_hash, u.trace_id, u.prev_hash, $18::smallint, u.hash
FROM unnest($5::bigint[], $6::timestamptz[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
            $12::text[], $13::text[], $14::text[], $15::text[], $16::bytea[], $17::bytea[])
     AS u(seq, at, actor, roles, department, purpose, action, persons, fields, operation_hash, trace_id, prev_hash, hash)
WHERE EXISTS (SELECT FROM head)`

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// insert writes entries after from, reporting false when the head was no
// longer at from (nothing is then written).
func insert(ctx context.Context, db execer, from chainHead, entries []Entry) (bool, error) {
	n := len(entries)
	var (
		seqs                                    = make([]int64, n)
		ats                                     = make([]time.Time, n)
		actors, roles, depts, purposes, actions = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		persons, fields, opHashes, traceIDs     = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		prevHashes, hashes                      = make([][]byte, n), make([][]byte, n)
	)
	for i := range entries {
		e := &entries[i]
		seqs[i], ats[i] = e.Seq, e.At
		actors[i], roles[i], depts[i], purposes[i], actions[i] = e.Actor, arrayLiteral(e.Roles), e.Department, e.Purpose, e.Action
		persons[i], fields[i], opHashes[i], traceIDs[i] = arrayLiteral(e.Persons), arrayLiteral(e.Fields), e.OperationHash, e.TraceID
		prevHashes[i], hashes[i] = e.PrevHash, e.Hash
	}
	last := entries[n-1]
	tag, err := db.Exec(ctx, insertSQL, last.Seq, last.Hash, from.seq, from.hash,
		seqs, ats, actors, roles, depts, purposes, actions, persons, fields, opHashes, traceIDs, prevHashes, hashes, AlgV2)
	if err != nil {
		return false, fmt.Errorf("insert %d entries after %d: %w", n, from.seq, err)
	}
	switch tag.RowsAffected() {
	case int64(n):
		return true, nil
	case 0:
		return false, nil
	default:
		return false, fmt.Errorf("insert %d entries after %d: %d rows written", n, from.seq, tag.RowsAffected())
	}
}

// arrayLiteral writes ss as a Postgres array literal with every element
// quoted, so that no string (empty, "NULL", holding braces, commas, quotes or
// spaces) is read back differently from how it was hashed.
func arrayLiteral(ss []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(s); j++ {
			if c := s[j]; c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
