package audit_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/secret"
)

// The checkpoint key of testKeys, and its public half: what verify-audit
// derives from the master key.
var (
	checkpointKey = testKeys.AuditCheckpointKey()
	checkpointPub = checkpointKey.Public().(ed25519.PublicKey)
)

// newSink is a DirSink on a new directory.
func newSink(tb testing.TB) (*audit.DirSink, string) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "audit-checkpoints")
	s, err := audit.NewDirSink(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return s, dir
}

// checkpointerOn starts a Checkpointer, closed when tb ends.
func checkpointerOn(tb testing.TB, l *audit.Ledger, sink audit.Sink, interval time.Duration) *audit.Checkpointer {
	tb.Helper()
	c, err := audit.NewCheckpointer(context.Background(), l, checkpointKey, sink, interval)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func stored(tb testing.TB, dir string) []audit.StoredCheckpoint {
	tb.Helper()
	cps, err := audit.ReadCheckpointDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	for _, sc := range cps {
		if sc.Err != nil {
			tb.Fatalf("%s: %v", sc.Name, sc.Err)
		}
	}
	return cps
}

func mustCheckpoint(tb testing.TB, c *audit.Checkpointer) audit.Checkpoint {
	tb.Helper()
	cp, written, err := c.Checkpoint(context.Background())
	if err != nil || !written {
		tb.Fatalf("Checkpoint: written %t, %v", written, err)
	}
	return cp
}

func verifyCheckpoints(tb testing.TB, l *audit.Ledger, dir string) audit.CheckpointReport {
	tb.Helper()
	cps, err := audit.ReadCheckpointDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	rep, err := l.VerifyCheckpoints(context.Background(), checkpointPub, cps)
	if err != nil {
		tb.Fatalf("VerifyCheckpoints: %v", err)
	}
	return rep
}

// waitFor polls cond until it holds, failing after a few seconds.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestCheckpointerWritesOnIntervalAndOnClose: a checkpoint each interval the
// head moved, none while it stands still or the ledger is empty, a last one
// on Close; the public key beside them; every one signed and agreeing.
func TestCheckpointerWritesOnIntervalAndOnClose(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	sink, dir := newSink(t)
	const interval = 20 * time.Millisecond
	c := checkpointerOn(t, l, sink, interval)

	pub, err := audit.ReadPublicKeyFile(dir)
	if err != nil || !pub.Equal(checkpointPub) {
		t.Fatalf("%s: %x, %v; want the derived key %x", audit.PublicKeyFile, pub, err, checkpointPub)
	}
	time.Sleep(5 * interval)
	if n := len(stored(t, dir)); n != 0 {
		t.Fatalf("%d checkpoints of an empty ledger", n)
	}

	// A tick may fall between two appends, so what is waited for is a
	// checkpoint of the newest entry, not a number of files.
	newest := func() audit.StoredCheckpoint {
		cps := stored(t, dir)
		if len(cps) == 0 {
			return audit.StoredCheckpoint{}
		}
		return cps[len(cps)-1]
	}
	entries := appendN(t, l, 3)
	waitFor(t, "a checkpoint of entry 3", func() bool { return newest().Seq == 3 })
	if cp := newest(); !bytes.Equal(cp.Hash, entries[2].Hash) {
		t.Fatalf("checkpoint of entry 3 records %x, the entry's hash is %x", cp.Hash, entries[2].Hash)
	}
	n := len(stored(t, dir))
	time.Sleep(10 * interval)
	if got := len(stored(t, dir)); got != n {
		t.Fatalf("%d checkpoints after ten intervals of a standing head, want still %d", got, n)
	}

	appendN(t, l, 2)
	waitFor(t, "a checkpoint of entry 5", func() bool { return newest().Seq == 5 })

	// Close writes the head the interval has not caught yet (or finds it
	// written already).
	appendN(t, l, 1)
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if cp := newest(); cp.Seq != 6 {
		t.Fatalf("after Close, the newest checkpoint is of entry %d, want 6", cp.Seq)
	}
	// With an interval that never comes, Close alone writes it.
	n = len(stored(t, dir))
	once := checkpointerOn(t, l, sink, time.Hour)
	appendN(t, l, 1)
	if err := once.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := once.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	cps := stored(t, dir)
	if len(cps) != n+1 || newest().Seq != 7 {
		t.Fatalf("after the second Checkpointer's Close: %d checkpoints (was %d), newest of entry %d; want one more, of entry 7", len(cps), n, newest().Seq)
	}

	for _, cp := range cps {
		if !cp.SignatureValid(checkpointPub) {
			t.Errorf("%s: the signature does not verify", cp.Name)
		}
	}
	rep := verifyCheckpoints(t, l, dir)
	if rep.Broken != nil || len(rep.Refused) != 0 || rep.Checked != len(cps) || rep.Newest.Seq != 7 {
		t.Fatalf("VerifyCheckpoints = %+v (%v)", rep, rep.Broken)
	}
	// Nothing half-written is left behind, and everything is readable.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(e.Name(), ".") || info.Mode().Perm() != 0o644 {
			t.Errorf("%s, mode %v, in the checkpoint directory", e.Name(), info.Mode())
		}
	}
}

// TestCheckpointSkippedWhenTheHeadDidNotMove calls Checkpoint directly.
func TestCheckpointSkippedWhenTheHeadDidNotMove(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	sink, dir := newSink(t)
	c := checkpointerOn(t, l, sink, time.Hour)
	if _, written, err := c.Checkpoint(ctx); err != nil || written {
		t.Fatalf("empty ledger: written %t, %v", written, err)
	}
	entries := appendN(t, l, 2)
	// The checkpoint carries when it was taken (to the microsecond), in UTC.
	before := time.Now().Truncate(time.Microsecond)
	cp := mustCheckpoint(t, c)
	after := time.Now()
	if cp.Seq != 2 || !bytes.Equal(cp.Hash, entries[1].Hash) || !cp.SignatureValid(checkpointPub) {
		t.Fatalf("checkpoint %+v, want entry 2 %x, signed", cp, entries[1].Hash)
	}
	if cp.At.Before(before) || cp.At.After(after) || cp.At.Location() != time.UTC {
		t.Errorf("checkpoint taken at %v, want in UTC between %v and %v", cp.At, before, after)
	}
	for range 3 {
		if _, written, err := c.Checkpoint(ctx); err != nil || written {
			t.Fatalf("standing head: written %t, %v", written, err)
		}
	}
	appendN(t, l, 1)
	if cp := mustCheckpoint(t, c); cp.Seq != 3 {
		t.Fatalf("checkpoint of entry %d, want 3", cp.Seq)
	}
	if n := len(stored(t, dir)); n != 2 {
		t.Fatalf("%d checkpoint files, want 2", n)
	}
}

// TestTamperedCheckpointsAreRefused: a checkpoint file edited, replaced,
// garbled, or signed with another key is refused, and does not count.
func TestTamperedCheckpointsAreRefused(t *testing.T) {
	l, _ := newLedger(t)
	entries := appendN(t, l, 5)
	sink, dir := newSink(t)
	c := checkpointerOn(t, l, sink, time.Hour)
	good := mustCheckpoint(t, c)

	other, err := secret.New(bytes.Repeat([]byte{8}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, "checkpoint-"+name+".json"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edited := good
	edited.Seq, edited.Hash = 4, entries[3].Hash // a true head, but not what was signed
	write("edited-seq", audit.MarshalCheckpoint(edited))
	later := good
	later.At = good.At.Add(time.Hour)
	write("edited-time", audit.MarshalCheckpoint(later))
	foreign := good
	foreign.Sign(other.AuditCheckpointKey())
	write("other-key", audit.MarshalCheckpoint(foreign))
	write("garbage", []byte("not a checkpoint\n"))
	write("extra-field", bytes.Replace(audit.MarshalCheckpoint(good), []byte(`{`), []byte(`{"note":"x",`), 1))
	write("two-objects", append(audit.MarshalCheckpoint(good), audit.MarshalCheckpoint(good)...))
	write("truncated", audit.MarshalCheckpoint(good)[:40])

	rep := verifyCheckpoints(t, l, dir)
	if rep.Broken != nil || rep.Checked != 1 || len(rep.Refused) != 7 {
		t.Fatalf("VerifyCheckpoints = %d checked, broken %v, refused %+v; want 1 checked and the 7 tampered files refused", rep.Checked, rep.Broken, rep.Refused)
	}
	for _, r := range rep.Refused {
		t.Logf("refused %s: %s", r.Name, r.Reason)
	}

	// Against the key a swapped checkpoint.pub would give, the hub's own
	// checkpoint is refused and the foreign one accepted: the key must come
	// from the master key, not from beside the checkpoints.
	cps, err := audit.ReadCheckpointDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = l.VerifyCheckpoints(context.Background(), other.AuditCheckpointKey().Public().(ed25519.PublicKey), cps)
	if err != nil || rep.Checked != 1 || !bytes.Equal(rep.Newest.Signature, foreign.Signature) ||
		!slices.ContainsFunc(rep.Refused, func(r audit.RefusedCheckpoint) bool { return strings.HasPrefix(r.Name, "checkpoint-0000") }) {
		t.Fatalf("with another public key: %d checked, refused %v, %v; want only the foreign checkpoint accepted", rep.Checked, rep.Refused, err)
	}
}

// TestCheckpointsCatchACutTail: deleting the newest entries and moving the
// head back leaves a valid chain that Verify accepts; a checkpoint taken
// before shows what is gone.
func TestCheckpointsCatchACutTail(t *testing.T) {
	l, pool := newLedger(t)
	entries := appendN(t, l, 10)
	sink, dir := newSink(t)
	c := checkpointerOn(t, l, sink, time.Hour)
	mustCheckpoint(t, c)

	asAttacker(t, pool, `DELETE FROM audit_log WHERE seq > 7`)
	asAttacker(t, pool, `UPDATE audit_head SET seq = 7, hash = $1`, entries[6].Hash)
	if rep := mustVerify(t, l); rep.Broken != nil || rep.Entries != 7 {
		t.Fatalf("the cut chain: Verify = %+v (%v); expected it to pass as intact, as only checkpoints can tell", rep, rep.Broken)
	}
	rep := verifyCheckpoints(t, l, dir)
	if b := rep.Broken; b == nil || b.Seq != 10 || b.Kind != audit.CutTail || !strings.Contains(b.Reason, "entries 8 to 10 were cut off") {
		t.Fatalf("cut tail: %+v (%v), want a cut tail at entry 10", rep, rep.Broken)
	}
	t.Logf("caught: %s", rep.Broken)
}

// TestCheckpointsCatchARewriteWithTheKey: someone holding the chain key (but
// not the checkpoint key) rewrites entry 6 and re-chains everything after it
// correctly. Verify cannot tell; the checkpoint of entry 10 can, and the one
// of entry 4 bounds where the rewrite began.
func TestCheckpointsCatchARewriteWithTheKey(t *testing.T) {
	l, pool := newLedger(t)
	sink, dir := newSink(t)
	c := checkpointerOn(t, l, sink, time.Hour)
	appendN(t, l, 4)
	mustCheckpoint(t, c)
	appendN(t, l, 6)
	mustCheckpoint(t, c)
	appendN(t, l, 2)
	entries, err := l.Find(context.Background(), audit.Filter{First: 100})
	if err != nil {
		t.Fatal(err)
	}
	chain := make([]audit.Entry, len(entries.Entries))
	for i, e := range entries.Entries {
		chain[len(chain)-1-i] = e
	}

	rechain(t, pool, chain, 5, hideRead, audit.AlgV2, chainKey)
	if rep := mustVerify(t, l); rep.Broken != nil || rep.Entries != 12 {
		t.Fatalf("rewrite with the key: Verify = %+v (%v); expected it to pass, as only checkpoints can tell", rep, rep.Broken)
	}
	rep := verifyCheckpoints(t, l, dir)
	b := rep.Broken
	if b == nil || b.Seq != 10 || b.Kind != audit.CheckpointMismatch || rep.Checked != 1 || !strings.Contains(b.Reason, "an entry after 4") {
		t.Fatalf("rewrite with the key: %+v (%v), want a checkpoint mismatch at entry 10 after the one of entry 4", rep, b)
	}
	t.Logf("caught: %s", b)

	// Nor will the Checkpointer vouch for a head someone without the key
	// forged: it refuses to sign.
	asAttacker(t, pool, `UPDATE audit_log SET purpose = 'forged' WHERE seq = 12`)
	n := len(stored(t, dir))
	if _, written, err := c.Checkpoint(context.Background()); err == nil || written {
		t.Fatalf("a forged head entry: written %t, %v; want a refusal", written, err)
	} else {
		t.Logf("refused: %v", err)
	}
	if len(stored(t, dir)) != n {
		t.Fatal("a checkpoint was written anyway")
	}
}

// TestReplicasCheckpointTogether: two hub processes (two Ledgers on two pools,
// two Checkpointers on one directory) append and checkpoint at the same time.
// Every checkpoint lands in its own file, and they all agree.
func TestReplicasCheckpointTogether(t *testing.T) {
	_, url := migrated(t)
	sink, dir := newSink(t)
	var (
		ledgers []*audit.Ledger
		cps     []*audit.Checkpointer
	)
	for range 2 {
		pool, err := pgxpool.New(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		l := ledgerOn(t, pool)
		ledgers = append(ledgers, l)
		// The same directory, the same key: publishing it again is fine.
		cps = append(cps, checkpointerOn(t, l, sink, time.Millisecond))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				if _, err := ledgers[g%2].Append(context.Background(), sample(g*100+i)); err != nil {
					t.Error(err)
					return
				}
				if i%5 == 0 {
					if _, _, err := cps[g%2].Checkpoint(context.Background()); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	// Both write the final head: two checkpoints of one seq, agreeing.
	for _, c := range cps {
		if err := c.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	files := stored(t, dir)
	names := map[string]bool{}
	bySeq := map[int64]int{}
	for _, f := range files {
		names[f.Name] = true
		bySeq[f.Seq]++
	}
	if len(names) != len(files) || len(files) < 2 {
		t.Fatalf("%d checkpoint files, %d names", len(files), len(names))
	}
	if bySeq[320] != 2 {
		t.Errorf("%d checkpoints of the final head 320, want one per replica", bySeq[320])
	}
	rep := verifyCheckpoints(t, ledgers[0], dir)
	if rep.Broken != nil || len(rep.Refused) != 0 || rep.Checked != len(files) || rep.Newest.Seq != 320 {
		t.Fatalf("VerifyCheckpoints = %d checked of %d, refused %v, broken %v, newest %d", rep.Checked, len(files), rep.Refused, rep.Broken, rep.Newest.Seq)
	}
	t.Logf("%d checkpoints from two replicas agree", len(files))
}

// TestDirSinkKeepsItsKey: a directory holding one hub's public key refuses
// another's, rather than mixing checkpoints an auditor cannot tell apart.
func TestDirSinkKeepsItsKey(t *testing.T) {
	sink, dir := newSink(t)
	ctx := context.Background()
	if err := sink.PublishKey(ctx, checkpointPub); err != nil {
		t.Fatal(err)
	}
	if err := sink.PublishKey(ctx, checkpointPub); err != nil {
		t.Fatalf("publishing the same key again: %v", err)
	}
	other, _ := secret.New(bytes.Repeat([]byte{9}, secret.KeySize))
	if err := sink.PublishKey(ctx, other.AuditCheckpointKey().Public().(ed25519.PublicKey)); err == nil {
		t.Fatal("another key replaced the published one")
	}
	if pub, err := audit.ReadPublicKeyFile(dir); err != nil || !pub.Equal(checkpointPub) {
		t.Fatalf("%s now holds %x (%v)", audit.PublicKeyFile, pub, err)
	}
	l, _ := newLedger(t)
	if _, err := audit.NewCheckpointer(ctx, l, other.AuditCheckpointKey(), sink, time.Hour); err == nil {
		t.Fatal("a Checkpointer with another key started on the directory")
	}
	if _, err := audit.ReadCheckpointDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("reading a missing directory succeeded")
	}
}
