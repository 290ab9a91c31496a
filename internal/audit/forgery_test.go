package audit_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/gridhub/gridhub/internal/audit"
)

// rechain is what an attacker with full database access does to hide an
// entry: edit entries[from], recompute the hash of it and of every entry after
// it with alg and key, and move the head to the new last hash, all as
// superuser with the append-only triggers disabled. It returns the forged
// entries.
func rechain(tb testing.TB, pool *pgxpool.Pool, entries []audit.Entry, from int, edit func(*audit.Entry), alg int, key []byte) []audit.Entry {
	tb.Helper()
	forged := append([]audit.Entry(nil), entries...)
	edit(&forged[from])
	prev := audit.Genesis
	if from > 0 {
		prev = forged[from-1].Hash
	}
	for i := from; i < len(forged); i++ {
		e := &forged[i]
		e.PrevHash, e.Alg = prev, alg
		e.Hash = e.ComputeHash(key)
		prev = e.Hash
	}
	exec(tb, pool, `ALTER TABLE audit_log DISABLE TRIGGER USER`)
	exec(tb, pool, `ALTER TABLE audit_head DISABLE TRIGGER USER`)
	for _, e := range forged[from:] {
		exec(tb, pool, `UPDATE audit_log SET at = $1, actor = $2, roles = $3, department = $4, purpose = $5, action = $6,
			persons = $7, fields = $8, operation_hash = $9, trace_id = $10, prev_hash = $11, alg = $12, hash = $13 WHERE seq = $14`,
			e.At, e.Actor, e.Roles, e.Department, e.Purpose, e.Action, e.Persons, e.Fields, e.OperationHash, e.TraceID,
			e.PrevHash, e.Alg, e.Hash, e.Seq)
	}
	last := forged[len(forged)-1]
	exec(tb, pool, `UPDATE audit_head SET seq = $1, hash = $2`, last.Seq, last.Hash)
	exec(tb, pool, `ALTER TABLE audit_log ENABLE TRIGGER USER`)
	exec(tb, pool, `ALTER TABLE audit_head ENABLE TRIGGER USER`)
	return forged
}

// hideRead is the edit: entry 5 no longer says person 1004 was read.
func hideRead(e *audit.Entry) { e.Persons = []string{"2004"} }

// TestVerifyCatchesAForgedRechain: a superuser edits entry 5 (hides a read of
// person 1004), recomputes every later hash the only way there is without the
// chain key (plain SHA-256, the v1 computation) and moves the head. Verify
// must name entry 5. Before the chain was keyed, this forgery verified as
// intact.
func TestVerifyCatchesAForgedRechain(t *testing.T) {
	for _, tc := range []struct {
		name string
		alg  int // what the forger writes in the alg column
		key  []byte
		kind audit.BreakKind
	}{
		// The algorithm column left as it was: the v1 hash is not the MAC.
		{"v1 hashes, alg left at 2", audit.AlgV2, nil, audit.HashMismatch},
		// Labelled as the old algorithm, so they would check out as v1
		// entries: but they follow keyed ones.
		{"v1 hashes labelled v1 (downgrade)", audit.AlgV1, nil, audit.Downgrade},
		// The right algorithm tag, but the forger has no key: an empty one
		// and a guessed one.
		{"v2 with an empty key", audit.AlgV2, []byte{}, audit.HashMismatch},
		{"v2 with a guessed key", audit.AlgV2, bytes.Repeat([]byte{7}, 32), audit.HashMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n = 10
			l, pool := newLedger(t)
			entries := appendN(t, l, n)
			forged := rechain(t, pool, entries, 4, hideRead, tc.alg, tc.key)

			// The forgery is self-consistent: each link and the head check out,
			// and under the forger's computation every hash does too.
			for i := 4; i < n; i++ {
				if !bytes.Equal(forged[i].Hash, forged[i].ComputeHash(tc.key)) || i > 4 && !bytes.Equal(forged[i].PrevHash, forged[i-1].Hash) {
					t.Fatalf("the forgery is not self-consistent at entry %d", i+1)
				}
			}
			rep := mustVerify(t, l)
			if rep.Broken == nil {
				t.Fatalf("forgery not caught: Verify says %d entries intact, head %d %x", rep.Entries, rep.HeadSeq, rep.HeadHash)
			}
			if rep.Broken.Seq != 5 || rep.Broken.Kind != tc.kind || rep.Entries != 4 {
				t.Errorf("broken at %v (%d intact), want entry 5 (%s) with 4 intact", rep.Broken, rep.Entries, tc.kind)
			}
			t.Logf("caught: %s", rep.Broken)
		})
	}
}

// TestVerifyAcceptsUnkeyedEntriesBeforeKeyedOnes: a ledger written before
// migration 00007 (unkeyed v1 entries, as the old hub wrote them) verifies
// after the migration, keyed entries are appended after it, and Verify
// counts the unkeyed ones. An unkeyed entry after a keyed one is a downgrade.
func TestVerifyAcceptsUnkeyedEntriesBeforeKeyedOnes(t *testing.T) {
	st, _ := migrated(t)
	ctx := context.Background()
	db := stdlib.OpenDBFromPool(st.Pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, os.DirFS("../store/migrations"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 6); err != nil {
		t.Fatalf("down to 6: %v", err)
	}
	// The old hub's appends: v1 hashes, no alg column.
	const old = 4
	prev := audit.Genesis
	for i := range old {
		e := sample(i)
		e.Seq, e.At, e.PrevHash, e.Alg = int64(i+1), day(1, i), prev, audit.AlgV1
		e.Hash = e.ComputeHash(nil)
		exec(t, st.Pool, `INSERT INTO audit_log (seq, at, actor, roles, department, purpose, action, persons, fields, operation_hash, trace_id, prev_hash, hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			e.Seq, e.At, e.Actor, e.Roles, e.Department, e.Purpose, e.Action, e.Persons, e.Fields, e.OperationHash, e.TraceID, e.PrevHash, e.Hash)
		exec(t, st.Pool, `UPDATE audit_head SET seq = $1, hash = $2`, e.Seq, e.Hash)
		prev = e.Hash
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	l := ledgerOn(t, st.Pool)
	if rep := mustVerify(t, l); rep.Broken != nil || rep.Entries != old || rep.Unkeyed != old {
		t.Fatalf("old ledger after the migration: %+v (%v)", rep, rep.Broken)
	}
	var entries []audit.Entry
	for i := range 3 {
		e, err := l.Append(ctx, sample(old+i))
		if err != nil {
			t.Fatal(err)
		}
		if e.Alg != audit.AlgV2 {
			t.Fatalf("appended entry %d has alg %d", e.Seq, e.Alg)
		}
		entries = append(entries, e)
	}
	if !bytes.Equal(entries[0].PrevHash, prev) {
		t.Fatal("the first keyed entry does not link to the last unkeyed one")
	}
	rep := mustVerify(t, l)
	if rep.Broken != nil || rep.Entries != old+3 || rep.Unkeyed != old {
		t.Fatalf("mixed ledger: %+v (%v), want %d intact, %d of them unkeyed", rep, rep.Broken, old+3, old)
	}

	// An unkeyed entry after the keyed ones: appended by a forger (or an old
	// hub, had the migration not made the column mandatory).
	if _, err := st.Pool.Exec(ctx, `INSERT INTO audit_log (seq, at, actor, roles, department, purpose, action, persons, fields, operation_hash, trace_id, prev_hash, hash)
		SELECT 8, at, actor, roles, department, purpose, action, persons, fields, operation_hash, trace_id, hash, hash FROM audit_log WHERE seq = 7`); err == nil {
		t.Error("an insert that does not name the algorithm was accepted")
	}
	e := sample(99)
	e.Seq, e.At, e.PrevHash, e.Alg = 8, entries[2].At, entries[2].Hash, audit.AlgV1
	e.Hash = e.ComputeHash(nil)
	exec(t, st.Pool, `INSERT INTO audit_log VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		e.Seq, e.At, e.Actor, e.Roles, e.Department, e.Purpose, e.Action, e.Persons, e.Fields, e.OperationHash, e.TraceID, e.PrevHash, e.Hash, e.Alg)
	exec(t, st.Pool, `UPDATE audit_head SET seq = $1, hash = $2`, e.Seq, e.Hash)
	rep = mustVerify(t, l)
	if rep.Broken == nil || rep.Broken.Seq != 8 || rep.Broken.Kind != audit.Downgrade {
		t.Fatalf("v1 after v2: %+v (%v), want a downgrade at entry 8", rep, rep.Broken)
	}
	t.Logf("caught: %s", rep.Broken)
}
