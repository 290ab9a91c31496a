package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/store"
)

func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }

// testKeys hold the audit keys of a fixed master key, derived as the hub
// derives them; chainKey chains the tests' ledgers.
var (
	testKeys = func() *secret.Keys {
		k, err := secret.New(bytes.Repeat([]byte{7}, secret.KeySize))
		if err != nil {
			panic(err)
		}
		return k
	}()
	chainKey = testKeys.AuditChainKey()
)

// migrated returns a migrated store on a new, empty database, and its URL.
func migrated(tb testing.TB) (*store.Store, string) {
	tb.Helper()
	ctx := context.Background()
	url := devenv.NewDatabase(tb)
	st, err := store.Open(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(st.Close)
	if _, err := st.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return st, url
}

// newLedger returns a Ledger on a fresh database, closed when tb ends.
func newLedger(tb testing.TB) (*audit.Ledger, *pgxpool.Pool) {
	tb.Helper()
	st, _ := migrated(tb)
	return ledgerOn(tb, st.Pool), st.Pool
}

func ledgerOn(tb testing.TB, pool *pgxpool.Pool) *audit.Ledger {
	tb.Helper()
	l := audit.New(pool, chainKey)
	tb.Cleanup(func() {
		if err := l.Close(context.Background()); err != nil {
			tb.Error(err)
		}
	})
	return l
}

// sample is a plausible entry, different for each i.
func sample(i int) audit.Entry {
	return audit.Entry{
		Actor:         fmt.Sprintf("officer-%d", i%3),
		Roles:         []string{"dept_officer"},
		Department:    "civil_affairs",
		Purpose:       "dibao-review",
		Action:        audit.ActionRead,
		Persons:       []string{strconv.Itoa(1000 + i), strconv.Itoa(2000 + i)},
		Fields:        []string{"Person.name", "Person.civilAffairs.dibao.amount"},
		OperationHash: audit.OperationHash("query P($id: String!) { person(idNumber: $id) { name } }", "P"),
		TraceID:       fmt.Sprintf("%032x", i),
	}
}

// appendN appends n sample entries one after another and returns them as stored.
func appendN(tb testing.TB, l *audit.Ledger, n int) []audit.Entry {
	tb.Helper()
	out := make([]audit.Entry, n)
	for i := range n {
		e, err := l.Append(context.Background(), sample(i))
		if err != nil {
			tb.Fatalf("append %d: %v", i, err)
		}
		out[i] = e
	}
	return out
}

func mustVerify(tb testing.TB, l *audit.Ledger) audit.Report {
	tb.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	return rep
}

func exec(tb testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	tb.Helper()
	if _, err := pool.Exec(context.Background(), sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// asAttacker runs sql as someone with full database access would: as the
// superuser, with the append-only triggers disabled for the duration.
func asAttacker(tb testing.TB, pool *pgxpool.Pool, sql string, args ...any) {
	tb.Helper()
	exec(tb, pool, `ALTER TABLE audit_log DISABLE TRIGGER USER`)
	exec(tb, pool, `ALTER TABLE audit_head DISABLE TRIGGER USER`)
	exec(tb, pool, sql, args...)
	exec(tb, pool, `ALTER TABLE audit_log ENABLE TRIGGER USER`)
	exec(tb, pool, `ALTER TABLE audit_head ENABLE TRIGGER USER`)
}

func day(d int, hour int) time.Time {
	return time.Date(2025, 3, d, hour, 0, 0, 0, time.UTC)
}
