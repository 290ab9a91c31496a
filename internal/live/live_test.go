package live_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/live"
)

func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }

// receive is the next change on ch; the test fails when none comes in a
// minute.
func receive(t *testing.T, ch <-chan live.Change) live.Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(time.Minute):
		t.Fatal("no change in a minute")
	}
	return live.Change{}
}

// A change notified by any connection reaches the subscribers whose filter
// takes it, and only them; when the listening connection is lost, the hub
// listens again and tells every subscriber to read again (Resync); a
// subscription ends with its context.
func TestHubFansOutAndResyncs(t *testing.T) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, devenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	h := live.New(pool, nil)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go h.Run(runCtx)
	<-h.Ready()

	subCtx, leave := context.WithCancel(ctx)
	events := h.Subscribe(subCtx, func(c live.Change) bool { return c.Kind == live.KindEvent && c.Grid == "340705001001001" })
	submissions := h.Subscribe(ctx, func(c live.Change) bool { return c.Kind == live.KindSubmission })
	if n := h.Subscribers(); n != 2 {
		t.Fatalf("%d subscribers, want 2", n)
	}
	notify := func(payload string) {
		t.Helper()
		if _, err := pool.Exec(ctx, `SELECT pg_notify($1, $2)`, live.Channel, payload); err != nil {
			t.Fatal(err)
		}
	}
	notify(`{"kind": "event", "id": "e1", "grid": "340705001001002"}`) // another grid
	notify(`{"kind": "event", "id": "e2", "grid": "340705001001001", "reporter": "wgy", "new": true}`)
	notify(`{"kind": "submission", "id": "s1"}`)
	if c := receive(t, events); c.ID != "e2" || !c.New || c.Reporter != "wgy" {
		t.Errorf("events got %+v, want e2, new, by wgy", c)
	}
	if c := receive(t, submissions); c.ID != "s1" {
		t.Errorf("submissions got %+v, want s1", c)
	}

	// The listening connection lost: every subscriber reads again.
	var killed bool
	if err := pool.QueryRow(ctx, `SELECT bool_or(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query = 'LISTEN '||$1`, live.Channel).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminate the listening connection: %v %v", killed, err)
	}
	for _, ch := range []<-chan live.Change{events, submissions} {
		if c := receive(t, ch); !c.Resync {
			t.Errorf("after the connection was lost: %+v, want a resync", c)
		}
	}
	notify(`{"kind": "submission", "id": "s2"}`)
	if c := receive(t, submissions); c.ID != "s2" {
		t.Errorf("after listening again: %+v, want s2", c)
	}

	leave()
	for range events {
	}
	if n := h.Subscribers(); n != 1 {
		t.Errorf("%d subscribers after one left, want 1", n)
	}
}
