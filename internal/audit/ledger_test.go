package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/internal/audit"
)

func TestEmptyLedgerIsIntact(t *testing.T) {
	l, _ := newLedger(t)
	rep := mustVerify(t, l)
	if rep.Broken != nil || rep.Entries != 0 || rep.HeadSeq != 0 || !bytes.Equal(rep.HeadHash, audit.Genesis) {
		t.Fatalf("empty ledger: %+v", rep)
	}
}

// TestAppendVerifyRoundTrip appends entries holding every awkward string and
// reads them back exactly: what was hashed is what is stored.
func TestAppendVerifyRoundTrip(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	awkward := []string{"", "NULL", `a"b`, `back\slash`, "{braces,comma}", " spaced ", "网格员", "tab\tnew\nline"}
	var stored []audit.Entry
	for i, s := range awkward {
		e := sample(i)
		e.Actor = "actor" + s
		e.Roles = []string{s, "grid_worker"}
		e.Purpose = s
		e.Fields = []string{s}
		if i == 0 {
			e.Roles, e.Fields, e.Persons = nil, nil, nil // stored as '{}'
		}
		if i == 1 {
			e.At = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.FixedZone("CST", 8*3600))
		}
		got, err := l.Append(ctx, e)
		if err != nil {
			t.Fatalf("append %q: %v", s, err)
		}
		stored = append(stored, got)
	}
	prev := audit.Genesis
	for i, e := range stored {
		if e.Seq != int64(i+1) || !bytes.Equal(e.PrevHash, prev) || e.Alg != audit.AlgV2 || !bytes.Equal(e.Hash, e.ComputeHash(chainKey)) {
			t.Fatalf("entry %d: seq %d, prev %x (want %x), alg %d, hash %x (computes %x)", i, e.Seq, e.PrevHash, prev, e.Alg, e.Hash, e.ComputeHash(chainKey))
		}
		if e.At.Location() != time.UTC || e.At.Nanosecond()%1000 != 0 {
			t.Errorf("entry %d: At %v is not UTC at microsecond precision", i, e.At)
		}
		prev = e.Hash
	}
	if want := time.Date(2025, 3, 14, 1, 26, 53, 589793000, time.UTC); !stored[1].At.Equal(want) {
		t.Errorf("At = %v, want %v", stored[1].At, want)
	}

	rep := mustVerify(t, l)
	if rep.Broken != nil || rep.Entries != int64(len(awkward)) || rep.HeadSeq != int64(len(awkward)) || !bytes.Equal(rep.HeadHash, prev) {
		t.Fatalf("Verify = %+v, want %d intact entries ending at %x", rep, len(awkward), prev)
	}

	page, err := l.Find(ctx, audit.Filter{First: 100})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(page.Entries)
	// nil and empty lists are the same entry.
	empty := cmp.Transformer("emptyNil", func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return s
	})
	if diff := cmp.Diff(stored, page.Entries, empty); diff != "" {
		t.Errorf("entries read back differ from those appended (-appended +read):\n%s", diff)
	}
}

func TestAppendRefusesInvalidEntries(t *testing.T) {
	l, pool := newLedger(t)
	e := sample(1)
	e.Persons = []string{"34070519800101001X"}
	if _, err := l.Append(context.Background(), e); err == nil {
		t.Fatal("an ID number was accepted as a person")
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("audit_log holds %d rows (err %v), want none", n, err)
	}
}

// TestConcurrentAppendsFormOneChain appends from many goroutines through two
// Ledgers on two pools, as two hub processes would: one chain, seqs 1..N each
// handed out once, each caller told its own entry.
//
// It runs again with the database's default isolation SERIALIZABLE, where a
// head moved under a writer is a serialization failure, not a re-check.
func TestConcurrentAppendsFormOneChain(t *testing.T) {
	for _, isolation := range []string{"read committed", "serializable"} {
		t.Run(isolation, func(t *testing.T) {
			t.Parallel()
			_, url := migrated(t)
			var ledgers []*audit.Ledger
			for range 2 {
				cfg, err := pgxpool.ParseConfig(url)
				if err != nil {
					t.Fatal(err)
				}
				cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = isolation
				pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(pool.Close)
				ledgers = append(ledgers, ledgerOn(t, pool))
			}
			appendConcurrently(t, ledgers)
		})
	}
}

func appendConcurrently(t *testing.T, ledgers []*audit.Ledger) {

	const goroutines, each = 32, 50
	var (
		mu  sync.Mutex
		got = map[int64]audit.Entry{}
		wg  sync.WaitGroup
	)
	errs := make(chan error, goroutines*each)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := ledgers[g%len(ledgers)]
			for i := range each {
				want := sample(g*each + i)
				want.TraceID = fmt.Sprintf("g%d-i%d", g, i)
				e, err := l.Append(context.Background(), want)
				if err != nil {
					errs <- err
					return
				}
				if e.TraceID != want.TraceID || !slices.Equal(e.Persons, want.Persons) {
					errs <- fmt.Errorf("append %s answered with entry %d of %s", want.TraceID, e.Seq, e.TraceID)
					return
				}
				mu.Lock()
				if dup, ok := got[e.Seq]; ok {
					errs <- fmt.Errorf("seq %d handed to both %s and %s", e.Seq, dup.TraceID, e.TraceID)
				}
				got[e.Seq] = e
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	const n = goroutines * each
	if len(got) != n {
		t.Fatalf("%d distinct seqs, want %d", len(got), n)
	}
	for seq := int64(1); seq <= n; seq++ {
		e, ok := got[seq]
		if !ok {
			t.Fatalf("seq %d never handed out", seq)
		}
		if seq > 1 && !bytes.Equal(e.PrevHash, got[seq-1].Hash) {
			t.Fatalf("entry %d does not link to entry %d", seq, seq-1)
		}
	}
	for i, l := range ledgers {
		rep := mustVerify(t, l)
		if rep.Broken != nil || rep.Entries != n || rep.HeadSeq != n || !bytes.Equal(rep.HeadHash, got[n].Hash) {
			t.Errorf("ledger %d: Verify = %+v (broken %v), want %d intact entries", i, rep, rep.Broken, n)
		}
	}
}

// TestVerifyDuringAppends: a walk reads one snapshot, so entries committed
// meanwhile are not taken for a forged tail.
func TestVerifyDuringAppends(t *testing.T) {
	l, _ := newLedger(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				if _, err := l.Append(ctx, sample(g*100000+i)); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 20 {
		rep := mustVerify(t, l)
		if rep.Broken != nil {
			t.Fatalf("Verify during appends: %v after %d entries", rep.Broken, rep.Entries)
		}
	}
	cancel()
	wg.Wait()
}

func TestCloseDrainsTheQueue(t *testing.T) {
	st, _ := migrated(t)
	l := audit.New(st.Pool, chainKey)
	const n = 500
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		ok     int
		closed int
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Append(context.Background(), sample(i))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, audit.ErrClosed):
				closed++
			default:
				t.Error(err)
			}
		}()
	}
	time.Sleep(time.Millisecond)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if ok+closed != n {
		t.Fatalf("%d appended + %d refused, want %d", ok, closed, n)
	}
	if _, err := l.Append(context.Background(), sample(0)); !errors.Is(err, audit.ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Every entry that was acknowledged is in the ledger, and nothing else.
	v := audit.New(st.Pool, chainKey)
	defer v.Close(context.Background())
	rep := mustVerify(t, v)
	if rep.Broken != nil || rep.Entries != int64(ok) {
		t.Errorf("after Close: %+v, want %d intact entries", rep, ok)
	}
}

func TestAppendHonoursContext(t *testing.T) {
	l, _ := newLedger(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Append(ctx, sample(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context: %v", err)
	}
}

// The ledger moves its persons index's pending list into the index itself,
// off the requests' path (migration 00034): what it wrote is soon out of the
// list, not left for the insert that finds the list full to move while the
// requests waiting on it wait longer.
func TestLedgerMovesThePendingListItself(t *testing.T) {
	st, _ := migrated(t)
	ctx := context.Background()
	if _, err := st.Pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pgstattuple`); err != nil {
		t.Fatal(err)
	}
	pending := func() int64 {
		var n int64
		if err := st.Pool.QueryRow(ctx, `SELECT pending_tuples FROM pgstatginindex('audit_log_persons_idx')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	l := ledgerOn(t, st.Pool)
	for i := range 50 {
		if _, err := l.Append(ctx, sample(i)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		n := pending()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the persons index's pending list still holds %d tuples 30 s after the appends", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
