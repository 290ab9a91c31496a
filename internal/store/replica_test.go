package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/store"
)

// TestReaderFollowsTheReplicaWhileItKeepsUp reads through a Reader over a
// real primary and streaming replica: reads go to the replica while it keeps
// within MaxLag, to the primary while its replay is paused and the primary
// moves on, back to the replica once it catches up, and to the primary when
// the replica is gone.
func TestReaderFollowsTheReplicaWhileItKeepsUp(t *testing.T) {
	ctx := context.Background()
	db := devenv.StartReplicated(t, "hub")
	// The hub's own role, no superuser: the WAL positions are open to it.
	admin, err := pgx.Connect(ctx, db.Primary.URL("hub"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `CREATE ROLE hub_reader LOGIN`); err != nil {
		t.Fatal(err)
	}
	asHub := func(url string) string {
		u, err := store.AsUser(url, "hub_reader")
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	primary, err := pgxpool.New(ctx, asHub(db.Primary.URL("hub")))
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	r, err := store.OpenReader(ctx, primary, asHub(db.Replica.URL("hub")), store.ReaderOptions{
		MaxLag: 300 * time.Millisecond, CheckInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	// onStandby asks, through the Reader, whether the server answering is
	// the replica.
	onStandby := func() bool {
		var standby bool
		if err := r.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&standby); err != nil {
			t.Fatal(err)
		}
		return standby
	}
	waitFor := func(what string, replica bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for r.OnReplica() != replica || onStandby() != replica {
			if time.Now().After(deadline) {
				t.Fatalf("%s: reads on the replica = %t (lag %s), want %t", what, r.OnReplica(), r.Lag(), replica)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("a replica that keeps up", true)

	// Replay paused while the primary writes: the replica falls behind.
	replicaAdmin, err := pgx.Connect(ctx, db.Replica.URL("hub"))
	if err != nil {
		t.Fatal(err)
	}
	defer replicaAdmin.Close(ctx)
	if _, err := replicaAdmin.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, `CREATE TABLE moved (n int); INSERT INTO moved VALUES (1); GRANT SELECT ON moved TO hub_reader`); err != nil {
		t.Fatal(err)
	}
	waitFor("a replica whose replay is paused", false)
	if r.Lag() <= 300*time.Millisecond {
		t.Errorf("lag %s while reads left the replica, want more than MaxLag", r.Lag())
	}
	var n int
	if err := r.QueryRow(ctx, `SELECT count(*) FROM moved`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the primary's new row through the Reader: %d (%v)", n, err)
	}

	if _, err := replicaAdmin.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	waitFor("a replica that caught up", true)

	replicaAdmin.Close(ctx)
	if err := db.Replica.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor("a replica that is gone", false)
}
