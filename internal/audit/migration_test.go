package audit_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
)

// TestMigrationGoesDownAndUpAgain: the Down step removes the ledger cleanly
// (and leaves the cluster-wide role, which the Up step then finds and reuses).
func TestMigrationGoesDownAndUpAgain(t *testing.T) {
	st, _ := migrated(t)
	ctx := context.Background()
	db := stdlib.OpenDBFromPool(st.Pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, os.DirFS("../store/migrations"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 1); err != nil {
		t.Fatalf("down: %v", err)
	}
	var n int
	if err := st.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname LIKE 'audit%'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("after down: %d audit relations left (err %v)", n, err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	l := ledgerOn(t, st.Pool)
	appendN(t, l, 2)
	if rep := mustVerify(t, l); rep.Broken != nil || rep.Entries != 2 {
		t.Fatalf("after down and up: %+v", rep)
	}
}
