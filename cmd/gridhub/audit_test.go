package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"regexp"
	"testing"

	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/store"
)

// TestMain stops the test PostgreSQL server that TestVerifyAudit starts (the
// one TestMain of this package: add further packages' needs here).
func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }

// TestVerifyAudit runs verify-audit on an intact ledger and on one edited
// behind the hub's back: the verdict line, and an error (exit status 1) naming
// the broken entry.
func TestVerifyAudit(t *testing.T) {
	ctx := context.Background()
	url := devenv.NewDatabase(t)
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	l := audit.New(st.Pool)
	for _, actor := range []string{"officer-a", "officer-b", "officer-c"} {
		if _, err := l.Append(ctx, audit.Entry{Actor: actor, Action: audit.ActionRead, Persons: []string{"42"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := verifyAudit(ctx, st, &out); err != nil {
		t.Fatalf("intact ledger: %v\n%s", err, out.String())
	}
	if !regexp.MustCompile(`^audit ledger: 3 entries, chain intact\nhead: entry 3, hash [0-9a-f]{64}\n$`).MatchString(out.String()) {
		t.Errorf("intact ledger: output %q", out.String())
	}
	// As an operator runs it: the database from the environment.
	t.Setenv("GRIDHUB_DATABASE_URL", url)
	t.Setenv("GRIDHUB_SECRET_KEY", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	if err := runVerifyAudit(ctx, nil); err != nil {
		t.Fatalf("runVerifyAudit on an intact ledger: %v", err)
	}

	for _, stmt := range []string{
		`ALTER TABLE audit_log DISABLE TRIGGER USER`,
		`UPDATE audit_log SET actor = 'officer-x' WHERE seq = 2`,
		`ALTER TABLE audit_log ENABLE TRIGGER USER`,
	} {
		if _, err := st.Pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	out.Reset()
	err = verifyAudit(ctx, st, &out)
	if !errors.Is(err, errAuditBroken) {
		t.Errorf("edited ledger: error %v, want errAuditBroken", err)
	}
	if want := "audit ledger broken at entry 2: hash mismatch: entry 2 does not match its hash (edited)\n"; out.String() != want {
		t.Errorf("edited ledger: output %q, want %q", out.String(), want)
	}
	if err := runVerifyAudit(ctx, []string{}); !errors.Is(err, errAuditBroken) {
		t.Errorf("runVerifyAudit on an edited ledger: %v, want errAuditBroken", err)
	}
}
