package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/bi"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/store"
)

// TestBICommand: `gridhub bi grant` makes a login a member of gridhub_bi
// with its scope, `bi list` shows it, `bi revoke` takes both away, and a bad
// login name is refused.
func TestBICommand(t *testing.T) {
	ctx := context.Background()
	url := devenv.NewDatabase(t)
	owner, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if _, err := owner.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GRIDHUB_DATABASE_URL", url)
	t.Setenv("GRIDHUB_SECRET_KEY", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	h := fnv.New32a()
	h.Write([]byte(url))
	login := fmt.Sprintf("bi_cmd_%08x", h.Sum32())
	t.Cleanup(func() { owner.Pool.Exec(context.Background(), `DROP ROLE IF EXISTS `+pgx.Identifier{login}.Sanitize()) })

	if err := run([]string{"bi", "grant", "--login", login}); err != nil {
		t.Fatal(err)
	}
	member := func() bool {
		var m bool
		if err := owner.Pool.QueryRow(ctx, `SELECT pg_has_role($1, 'gridhub_bi', 'MEMBER')`, login).Scan(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	all, err := bi.List(ctx, owner.Pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Login != login || all[0].Within != "" || !member() {
		t.Fatalf("after grant: access %+v, member %t", all, member())
	}
	if err := run([]string{"bi", "list"}); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"bi", "revoke", "--login", login}); err != nil {
		t.Fatal(err)
	}
	if all, _ := bi.List(ctx, owner.Pool); len(all) != 0 || member() {
		t.Errorf("after revoke: access %+v, member %t", all, member())
	}
	if err := run([]string{"bi", "grant", "--login", "Not A Name"}); err == nil {
		t.Error("grant to a bad login name: no error")
	}
}
