package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/leader"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/store"
)

// errAuditBroken is returned when the ledger's chain is broken or it disagrees
// with its checkpoints: main prints it and exits 1, which is what a scheduled
// check alarms on.
var errAuditBroken = errors.New("audit ledger verification failed")

// openAudit opens the access ledger, chained with the audit key derived from
// the master key. When cfg names a checkpoint directory it also returns the
// leader's duty of writing signed checkpoints of the ledger's head there (nil
// otherwise): one replica writes them, whichever leads. closeLedger drains
// the ledger; the shutdown closes it before the leader's duties stop, so that
// the leader's last checkpoint covers every entry it wrote.
func openAudit(cfg Config, st *store.Store, keys *secret.Keys) (ledger *audit.Ledger, checkpoints leader.Duty, closeLedger func(), err error) {
	ledger = audit.New(st.Pool, keys.AuditChainKey())
	closeLedger = func() { ledger.Close(context.Background()) }
	if cfg.AuditCheckpoints == "" {
		slog.Warn("audit checkpoints are off (set GRIDHUB_AUDIT_CHECKPOINTS): the newest ledger entries could be cut off unnoticed")
		return ledger, nil, closeLedger, nil
	}
	// Made now, so that a directory the hub cannot write stops every
	// replica at start, not only the one that comes to lead.
	sink, err := audit.NewDirSink(cfg.AuditCheckpoints)
	if err != nil {
		closeLedger()
		return nil, nil, nil, err
	}
	slog.Info("audit checkpoints", "dir", cfg.AuditCheckpoints, "interval", cfg.AuditCheckpointInterval)
	checkpoints = func(ctx context.Context) {
		cp, err := audit.NewCheckpointer(ctx, ledger, keys.AuditCheckpointKey(), sink, cfg.AuditCheckpointInterval)
		if err != nil {
			slog.Error("audit checkpoints: not written while this replica leads", "err", err)
			return
		}
		<-ctx.Done()
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := cp.Close(stopCtx); err != nil {
			slog.Error("last audit checkpoint", "err", err)
		}
	}
	return ledger, checkpoints, closeLedger, nil
}

// runVerifyAudit walks the audit ledger's hash chain and names the first broken
// entry, then checks the ledger against its signed checkpoints. The database is
// not migrated first: verifying must not change what it verifies.
func runVerifyAudit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("verify-audit", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	checkpoints := fs.String("checkpoints", "", "directory of signed checkpoints to check the ledger against (default: GRIDHUB_AUDIT_CHECKPOINTS, else with --data-dir its audit-checkpoints when present)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if *dir, err = databaseDir(fs, *dir, os.Getenv); err != nil {
		return err
	}
	t, err := openTarget(ctx, *dir)
	if err != nil {
		return err
	}
	defer t.stop()
	st, err := store.Open(ctx, t.url)
	if err != nil {
		return err
	}
	defer st.Close()
	return verifyAudit(ctx, st, t.keys, checkpointDir(*checkpoints, *dir), os.Stdout)
}

// checkpointDir is where verify-audit finds checkpoints: --checkpoints, else
// where the hub writes them (GRIDHUB_AUDIT_CHECKPOINTS, which overrides the
// data dir's under dev too), else the data dir's audit-checkpoints when there
// is one. Empty: none to check.
func checkpointDir(flagValue, dir string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv("GRIDHUB_AUDIT_CHECKPOINTS"); env != "" {
		return env
	}
	if dir != "" {
		d := dataDir(dir).auditCheckpoints()
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
	}
	return ""
}

// verifyAudit verifies the ledger on st, and against the checkpoints in
// checkpointDir when it is not empty, with the audit keys derived from keys,
// and writes the verdict to w.
func verifyAudit(ctx context.Context, st *store.Store, keys *secret.Keys, checkpointDir string, w io.Writer) error {
	l := audit.New(st.Pool, keys.AuditChainKey())
	defer l.Close(context.Background())
	// The checkpoints are read before the ledger: one a live hub writes
	// meanwhile then names an entry the ledger's snapshot already holds.
	var checkpoints []audit.StoredCheckpoint
	if checkpointDir != "" {
		var err error
		if checkpoints, err = audit.ReadCheckpointDir(checkpointDir); err != nil {
			return err
		}
	}
	rep, err := l.Verify(ctx)
	if err != nil {
		return err
	}
	var broken error
	if b := rep.Broken; b != nil {
		fmt.Fprintf(w, "audit ledger broken at entry %d: %s\n", b.Seq, b.Reason)
		broken = fmt.Errorf("%w: entry %d: %s", errAuditBroken, b.Seq, b.Kind)
	} else {
		fmt.Fprintf(w, "audit ledger: %d entries, chain intact\n", rep.Entries)
		// The head to record elsewhere: a later run that finds another hash at
		// this seq proves a rewrite the chain alone cannot show.
		fmt.Fprintf(w, "head: entry %d, hash %s\n", rep.HeadSeq, hex.EncodeToString(rep.HeadHash))
		if rep.Unkeyed > 0 {
			fmt.Fprintf(w, "unkeyed: entries 1 to %d were hashed before the chain was keyed; a checkpoint after them pins them\n", rep.Unkeyed)
		}
	}
	if checkpointDir == "" {
		fmt.Fprintln(w, "checkpoints: none checked (give --checkpoints DIR)")
		return broken
	}
	if err := verifyCheckpoints(ctx, l, keys, checkpointDir, checkpoints, w); err != nil && broken == nil {
		broken = err
	}
	return broken
}

// verifyCheckpoints checks the ledger against the checkpoints read from dir,
// with the checkpoint key derived from the master key (never the one stored
// beside them), and writes one line per problem, or the verdict.
func verifyCheckpoints(ctx context.Context, l *audit.Ledger, keys *secret.Keys, dir string, checkpoints []audit.StoredCheckpoint, w io.Writer) error {
	pub := keys.AuditCheckpointKey().Public().(ed25519.PublicKey)
	var failed error
	// checkpoint.pub is what outside auditors pin: one that is not this
	// hub's key was swapped, and misleads them.
	switch stored, err := audit.ReadPublicKeyFile(dir); {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		fmt.Fprintf(w, "audit checkpoint key in %s refused: %v\n", dir, err)
		failed = fmt.Errorf("%w: %s", errAuditBroken, audit.PublicKeyFile)
	case !stored.Equal(pub):
		fmt.Fprintf(w, "audit checkpoint key in %s refused: %s is not the key derived from the master key (replaced)\n", dir, audit.PublicKeyFile)
		failed = fmt.Errorf("%w: %s", errAuditBroken, audit.PublicKeyFile)
	}
	rep, err := l.VerifyCheckpoints(ctx, pub, checkpoints)
	if err != nil {
		return err
	}
	for _, r := range rep.Refused {
		fmt.Fprintf(w, "audit checkpoint %s refused: %s\n", r.Name, r.Reason)
	}
	if len(rep.Refused) > 0 && failed == nil {
		failed = fmt.Errorf("%w: %d checkpoints refused", errAuditBroken, len(rep.Refused))
	}
	if b := rep.Broken; b != nil {
		fmt.Fprintf(w, "audit ledger disagrees with its checkpoints at entry %d: %s\n", b.Seq, b.Reason)
		return fmt.Errorf("%w: entry %d: %s", errAuditBroken, b.Seq, b.Kind)
	}
	if rep.Checked == 0 {
		fmt.Fprintf(w, "checkpoints: none in %s\n", dir)
	} else {
		fmt.Fprintf(w, "checkpoints: %d in %s agree with the ledger; the newest pins entry %d (%s)\n",
			rep.Checked, dir, rep.Newest.Seq, rep.Newest.At.Format(time.RFC3339))
	}
	return failed
}
