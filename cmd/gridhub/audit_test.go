package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/secret"
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
	keys, err := secret.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(st.Pool, keys.AuditChainKey())
	for _, actor := range []string{"officer-a", "officer-b", "officer-c"} {
		if _, err := l.Append(ctx, audit.Entry{Actor: actor, Action: audit.ActionRead, Persons: []string{"42"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := verifyAudit(ctx, st, keys, "", &out); err != nil {
		t.Fatalf("intact ledger: %v\n%s", err, out.String())
	}
	if !regexp.MustCompile(`^audit ledger: 3 entries, chain intact\nhead: entry 3, hash [0-9a-f]{64}\ncheckpoints: none checked \(give --checkpoints DIR\)\n$`).MatchString(out.String()) {
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
	err = verifyAudit(ctx, st, keys, "", &out)
	if !errors.Is(err, errAuditBroken) {
		t.Errorf("edited ledger: error %v, want errAuditBroken", err)
	}
	if want := "audit ledger broken at entry 2: hash mismatch: entry 2 does not match its hash (edited)\ncheckpoints: none checked (give --checkpoints DIR)\n"; out.String() != want {
		t.Errorf("edited ledger: output %q, want %q", out.String(), want)
	}
	if err := runVerifyAudit(ctx, []string{}); !errors.Is(err, errAuditBroken) {
		t.Errorf("runVerifyAudit on an edited ledger: %v, want errAuditBroken", err)
	}
}

// TestVerifyAuditCheckpoints runs verify-audit --checkpoints on a ledger the
// way serve keeps it (checkpoints written to a directory), then with the
// directory and the ledger tampered with: a forged checkpoint file, a swapped
// checkpoint.pub, and a cut-off tail that the chain alone passes.
func TestVerifyAuditCheckpoints(t *testing.T) {
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
	master := bytes.Repeat([]byte{7}, 32)
	keys, err := secret.New(master)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "audit-checkpoints")
	// As serve does: openAudit with a checkpoint directory, and its duty run
	// as the leader runs it.
	ledger, checkpoints, closeLedger, err := openAudit(Config{AuditCheckpoints: dir, AuditCheckpointInterval: time.Hour}, st, keys)
	if err != nil {
		t.Fatal(err)
	}
	leading, stopLeading := context.WithCancel(ctx)
	dutyDone := make(chan struct{})
	go func() { checkpoints(leading); close(dutyDone) }()
	var entries []audit.Entry
	for i := range 8 {
		e, err := ledger.Append(ctx, audit.Entry{Actor: "officer-a", Action: audit.ActionRead, Persons: []string{strconv.Itoa(42 + i)}})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	// As serve stops: the ledger drains, then the leader's duty ends with
	// the last checkpoint, of entry 8.
	closeLedger()
	stopLeading()
	<-dutyDone

	var out bytes.Buffer
	if err := verifyAudit(ctx, st, keys, dir, &out); err != nil {
		t.Fatalf("intact: %v\n%s", err, out.String())
	}
	if !regexp.MustCompile(`^audit ledger: 8 entries, chain intact\nhead: entry 8, hash [0-9a-f]{64}\ncheckpoints: 1 in \S+ agree with the ledger; the newest pins entry 8 \(\S+\)\n$`).MatchString(out.String()) {
		t.Errorf("intact: output %q", out.String())
	}
	t.Setenv("GRIDHUB_DATABASE_URL", url)
	t.Setenv("GRIDHUB_SECRET_KEY", base64.StdEncoding.EncodeToString(master))
	if err := runVerifyAudit(ctx, []string{"--checkpoints", dir}); err != nil {
		t.Fatalf("runVerifyAudit --checkpoints on an intact ledger: %v", err)
	}
	if err := runVerifyAudit(ctx, []string{"--checkpoints", filepath.Join(dir, "missing")}); err == nil || errors.Is(err, errAuditBroken) {
		t.Errorf("a missing checkpoint directory: %v, want an error that is not a verdict", err)
	}
	// Another master key: nothing checks out.
	t.Setenv("GRIDHUB_SECRET_KEY", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32)))
	if err := runVerifyAudit(ctx, []string{"--checkpoints", dir}); !errors.Is(err, errAuditBroken) {
		t.Errorf("with another master key: %v, want errAuditBroken", err)
	}

	// A checkpoint file claiming another head, with the signature copied.
	cps, err := audit.ReadCheckpointDir(dir)
	if err != nil || len(cps) != 1 {
		t.Fatalf("%d checkpoints, %v", len(cps), err)
	}
	forged := cps[0].Checkpoint
	forged.Seq, forged.Hash = 7, entries[6].Hash
	forgedFile := filepath.Join(dir, "checkpoint-forged.json")
	if err := os.WriteFile(forgedFile, audit.MarshalCheckpoint(forged), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := verifyAudit(ctx, st, keys, dir, &out); !errors.Is(err, errAuditBroken) {
		t.Errorf("forged checkpoint: %v, want errAuditBroken", err)
	}
	if !strings.Contains(out.String(), "audit checkpoint checkpoint-forged.json refused: the signature is not the checkpoint key's (forged or altered)\n") {
		t.Errorf("forged checkpoint: output %q", out.String())
	}
	os.Remove(forgedFile)

	// checkpoint.pub swapped for another hub's: refused, and not used.
	pubFile := filepath.Join(dir, audit.PublicKeyFile)
	good, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := secret.New(bytes.Repeat([]byte{9}, 32))
	otherDir := t.TempDir()
	sink, err := audit.NewDirSink(otherDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.PublishKey(ctx, other.AuditCheckpointKey().Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	swapped, err := os.ReadFile(filepath.Join(otherDir, audit.PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubFile, swapped, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := verifyAudit(ctx, st, keys, dir, &out); !errors.Is(err, errAuditBroken) {
		t.Errorf("swapped public key: %v, want errAuditBroken", err)
	}
	if !strings.Contains(out.String(), "checkpoint.pub is not the key derived from the master key (replaced)") ||
		!strings.Contains(out.String(), "checkpoints: 1 in ") {
		t.Errorf("swapped public key: output %q", out.String())
	}
	if err := os.WriteFile(pubFile, good, 0o644); err != nil {
		t.Fatal(err)
	}

	// The newest two entries deleted and the head moved back: a valid
	// chain, which only the checkpoint shows to be cut.
	for _, stmt := range []string{
		`ALTER TABLE audit_log DISABLE TRIGGER USER`,
		`ALTER TABLE audit_head DISABLE TRIGGER USER`,
		`DELETE FROM audit_log WHERE seq > 6`,
		`UPDATE audit_head SET seq = 6, hash = '\x` + hex.EncodeToString(entries[5].Hash) + `'`,
		`ALTER TABLE audit_log ENABLE TRIGGER USER`,
		`ALTER TABLE audit_head ENABLE TRIGGER USER`,
	} {
		if _, err := st.Pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	out.Reset()
	err = verifyAudit(ctx, st, keys, dir, &out)
	if !errors.Is(err, errAuditBroken) {
		t.Errorf("cut tail: %v, want errAuditBroken", err)
	}
	if !regexp.MustCompile(`^audit ledger: 6 entries, chain intact\nhead: entry 6, hash [0-9a-f]{64}\n` +
		`audit ledger disagrees with its checkpoints at entry 8: cut tail: checkpoint \S+ \(\S+\) recorded the ledger at entry 8, but the head is at 6: entries 7 to 8 were cut off\n$`).MatchString(out.String()) {
		t.Errorf("cut tail: output %q", out.String())
	}
	t.Logf("verify-audit says:\n%s", out.String())
	t.Setenv("GRIDHUB_SECRET_KEY", base64.StdEncoding.EncodeToString(master))
	if err := runVerifyAudit(ctx, []string{"--checkpoints", dir}); !errors.Is(err, errAuditBroken) {
		t.Errorf("runVerifyAudit on a cut ledger: %v, want errAuditBroken", err)
	}
}

// TestVerifyAuditFindsTheCheckpoints: --checkpoints, else
// GRIDHUB_AUDIT_CHECKPOINTS, else the data dir's audit-checkpoints when it
// exists.
func TestVerifyAuditFindsTheCheckpoints(t *testing.T) {
	data := t.TempDir()
	t.Setenv("GRIDHUB_AUDIT_CHECKPOINTS", "")
	if got := checkpointDir("", data); got != "" {
		t.Errorf("data dir without checkpoints: %q", got)
	}
	if err := os.Mkdir(dataDir(data).auditCheckpoints(), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := checkpointDir("", data); got != filepath.Join(data, "audit-checkpoints") {
		t.Errorf("data dir with checkpoints: %q", got)
	}
	if got := checkpointDir("/x", data); got != "/x" {
		t.Errorf("--checkpoints: %q", got)
	}
	if got := checkpointDir("", ""); got != "" {
		t.Errorf("nothing: %q", got)
	}
	t.Setenv("GRIDHUB_AUDIT_CHECKPOINTS", "/y")
	if got := checkpointDir("", data); got != "/y" {
		t.Errorf("GRIDHUB_AUDIT_CHECKPOINTS: %q", got)
	}
}
