package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/store"
)

// TestMigrateWait: `gridhub migrate --wait` (the hub pod's init container)
// gives up on a database whose migrations are not applied, and passes, as the
// hub's own role, once the owner has applied them.
func TestMigrateWait(t *testing.T) {
	ctx := context.Background()
	url := devenv.NewDatabase(t)
	hubURL, err := store.AsUser(url, store.DevLogin)
	if err != nil {
		t.Fatal(err)
	}
	owner, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if _, err := owner.Pool.Exec(ctx, `DO $$ BEGIN CREATE ROLE gridhub_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`); err != nil {
		t.Fatal(err)
	}
	if err := owner.EnsureLogin(ctx, store.DevLogin); err != nil {
		t.Fatal(err)
	}

	err = waitMigrated(ctx, hubURL, 3*time.Second)
	if err == nil || !strings.Contains(err.Error(), "not migrated") {
		t.Fatalf("wait on an empty database: %v, want not migrated", err)
	}
	if _, err := owner.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := waitMigrated(ctx, hubURL, 30*time.Second); err != nil {
		t.Fatalf("wait after the migrations: %v", err)
	}
}
