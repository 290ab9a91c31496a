package audit_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/internal/audit"
)

// TestVerifyCatchesTampering tampers with a ledger of ten entries the way an
// attacker with database access would (as superuser, triggers disabled) and
// expects Verify to name the first broken entry and what is wrong with it.
func TestVerifyCatchesTampering(t *testing.T) {
	const n = 10
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, pool *pgxpool.Pool, entries []audit.Entry)
		seq    int64
		kind   audit.BreakKind
	}{
		{"edit actor", sql(`UPDATE audit_log SET actor = 'someone-else' WHERE seq = 5`), 5, audit.HashMismatch},
		{"edit persons", sql(`UPDATE audit_log SET persons = '{1005}' WHERE seq = 5`), 5, audit.HashMismatch},
		{"add a person", sql(`UPDATE audit_log SET persons = persons || '{99}'::text[] WHERE seq = 3`), 3, audit.HashMismatch},
		{"edit fields", sql(`UPDATE audit_log SET fields = '{}' WHERE seq = 2`), 2, audit.HashMismatch},
		{"edit purpose", sql(`UPDATE audit_log SET purpose = 'other' WHERE seq = 9`), 9, audit.HashMismatch},
		{"edit time by 1µs", sql(`UPDATE audit_log SET at = at + interval '1 microsecond' WHERE seq = 4`), 4, audit.HashMismatch},
		{"edit the hash itself", sql(`UPDATE audit_log SET hash = sha256('x') WHERE seq = 5`), 5, audit.HashMismatch},
		{"NULL a column", sql(`ALTER TABLE audit_log ALTER COLUMN trace_id DROP NOT NULL; UPDATE audit_log SET trace_id = NULL WHERE seq = 6`), 6, audit.HashMismatch},
		{"NULL in a list", sql(`UPDATE audit_log SET roles = '{NULL}' WHERE seq = 6`), 6, audit.HashMismatch},
		{"reshape a list", sql(`UPDATE audit_log SET persons = ARRAY[persons] WHERE seq = 6`), 6, audit.HashMismatch},
		{"edit prev_hash", sql(`UPDATE audit_log SET prev_hash = sha256('x') WHERE seq = 7`), 7, audit.BrokenLink},
		{"delete a middle entry", sql(`DELETE FROM audit_log WHERE seq = 5`), 5, audit.SequenceGap},
		{"delete the first entry", sql(`DELETE FROM audit_log WHERE seq = 1`), 1, audit.SequenceGap},
		{"delete the last entry", sql(`DELETE FROM audit_log WHERE seq = 10`), 10, audit.HeadMismatch},
		{"delete the last three", sql(`DELETE FROM audit_log WHERE seq > 7`), 8, audit.HeadMismatch},
		{"truncate", sql(`TRUNCATE audit_log`), 1, audit.HeadMismatch},
		{"delete and close the gap", sql(`DELETE FROM audit_log WHERE seq = 5; UPDATE audit_log SET seq = seq - 1 WHERE seq > 5`), 5, audit.BrokenLink},
		{"swap two entries' contents", sql(`
			UPDATE audit_log a SET at = b.at, actor = b.actor, roles = b.roles, department = b.department,
				purpose = b.purpose, action = b.action, persons = b.persons, fields = b.fields,
				operation_hash = b.operation_hash, trace_id = b.trace_id, prev_hash = b.prev_hash, hash = b.hash
			FROM audit_log b WHERE (a.seq, b.seq) IN ((3, 4), (4, 3))`), 3, audit.BrokenLink},
		{"swap two entries' seqs", sql(`UPDATE audit_log SET seq = seq + 1000 WHERE seq IN (3, 4); UPDATE audit_log SET seq = CASE seq WHEN 1003 THEN 4 ELSE 3 END WHERE seq > 1000`), 3, audit.BrokenLink},
		{"renumber below 1", sql(`ALTER TABLE audit_log DROP CONSTRAINT audit_log_seq_check; UPDATE audit_log SET seq = 0 WHERE seq = 1`), 0, audit.SequenceGap},
		{"forge an entry with a bad hash", sql(`INSERT INTO audit_log SELECT 11, at, actor, roles, department, purpose, action, '{77}', fields, operation_hash, trace_id, hash, sha256('forged'), alg FROM audit_log WHERE seq = 10`), 11, audit.HashMismatch},
		{"forge a well-chained entry", forge(11, audit.AlgV2, chainKey), 11, audit.HeadMismatch},
		{"forge an entry without the key", forge(11, audit.AlgV2, bytes.Repeat([]byte{1}, 32)), 11, audit.HashMismatch},
		{"forge an unkeyed entry", forge(11, audit.AlgV1, nil), 11, audit.Downgrade},
		{"relabel an entry unkeyed", sql(`UPDATE audit_log SET alg = 1 WHERE seq = 5`), 5, audit.Downgrade},
		{"relabel every entry unkeyed", sql(`UPDATE audit_log SET alg = 1`), 1, audit.HashMismatch},
		{"unknown algorithm", sql(`ALTER TABLE audit_log DROP CONSTRAINT audit_log_alg_check; UPDATE audit_log SET alg = 3 WHERE seq = 5`), 5, audit.HashMismatch},
		{"NULL the algorithm", sql(`ALTER TABLE audit_log ALTER COLUMN alg DROP NOT NULL; UPDATE audit_log SET alg = NULL WHERE seq = 5`), 5, audit.HashMismatch},
		{"replace an entry with a well-hashed one", func(t *testing.T, pool *pgxpool.Pool, entries []audit.Entry) {
			// The attacker (even one holding the key) recomputes the hash of
			// the edited entry; the next entry's link still points at the
			// original.
			e := entries[4]
			e.Purpose = "forged"
			e.Hash = e.ComputeHash(chainKey)
			asAttacker(t, pool, `UPDATE audit_log SET purpose = $1, hash = $2 WHERE seq = $3`, e.Purpose, e.Hash, e.Seq)
		}, 6, audit.BrokenLink},
		{"roll the head back", func(t *testing.T, pool *pgxpool.Pool, entries []audit.Entry) {
			asAttacker(t, pool, `UPDATE audit_head SET seq = 9, hash = $1`, entries[8].Hash)
		}, 10, audit.HeadMismatch},
		{"edit the head hash", sql(`UPDATE audit_head SET hash = sha256('x')`), 10, audit.HeadMismatch},
		{"delete the head", sql(`DELETE FROM audit_head`), 10, audit.HeadMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, pool := newLedger(t)
			entries := appendN(t, l, n)
			if rep := mustVerify(t, l); rep.Broken != nil {
				t.Fatalf("before tampering: %v", rep.Broken)
			}
			tc.tamper(t, pool, entries)
			rep := mustVerify(t, l)
			if rep.Broken == nil {
				t.Fatalf("not caught: Verify says %d entries intact", rep.Entries)
			}
			b := rep.Broken
			if b.Seq != tc.seq || b.Kind != tc.kind || !strings.HasPrefix(b.Reason, string(tc.kind)+": ") {
				t.Errorf("broken at %d (%s: %q), want %d (%s)", b.Seq, b.Kind, b.Reason, tc.seq, tc.kind)
			}
			if want := max(tc.seq-1, 0); rep.Entries != want && tc.kind != audit.HeadMismatch {
				t.Errorf("%d entries intact before the break at %d", rep.Entries, b.Seq)
			}
			t.Logf("caught: %s", b)
		})
	}
}

func sql(stmt string) func(*testing.T, *pgxpool.Pool, []audit.Entry) {
	return func(t *testing.T, pool *pgxpool.Pool, _ []audit.Entry) { asAttacker(t, pool, stmt) }
}

// forge appends a chained entry behind the hub's back, hashed with alg and
// key. With the chain key, only the head, moved in the same transaction as
// every real append, shows it; without it, its hash.
func forge(seq int64, alg int, key []byte) func(*testing.T, *pgxpool.Pool, []audit.Entry) {
	return func(t *testing.T, pool *pgxpool.Pool, entries []audit.Entry) {
		last := entries[len(entries)-1]
		e := sample(99)
		e.Seq, e.At, e.PrevHash, e.Alg = seq, last.At, last.Hash, alg
		e.Hash = e.ComputeHash(key)
		// A plain INSERT: the forger does not even need the triggers off.
		exec(t, pool, `INSERT INTO audit_log VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			e.Seq, e.At, e.Actor, e.Roles, e.Department, e.Purpose, e.Action, e.Persons, e.Fields, e.OperationHash, e.TraceID, e.PrevHash, e.Hash, e.Alg)
	}
}

// TestLedgerIsAppendOnly: with the triggers in place not even the owner (here
// a superuser) can change or remove entries, or move the head backwards.
func TestLedgerIsAppendOnly(t *testing.T) {
	l, pool := newLedger(t)
	appendN(t, l, 3)
	ctx := context.Background()
	for _, stmt := range []string{
		`UPDATE audit_log SET actor = 'x' WHERE seq = 2`,
		`UPDATE audit_log SET actor = actor WHERE false`,
		`DELETE FROM audit_log WHERE seq = 3`,
		`TRUNCATE audit_log`,
		`TRUNCATE audit_log CASCADE`,
		`DELETE FROM audit_head`,
		`TRUNCATE audit_head`,
		`UPDATE audit_head SET seq = 2`,
		`UPDATE audit_head SET seq = 3`,
	} {
		_, err := pool.Exec(ctx, stmt)
		if err == nil {
			t.Errorf("%s: allowed", stmt)
			continue
		}
		if !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("%s: %v, want the trigger's refusal", stmt, err)
		}
	}
	if rep := mustVerify(t, l); rep.Broken != nil || rep.Entries != 3 {
		t.Errorf("after refused tampering: %+v", rep)
	}
	// Appending still moves the head forward.
	if e, err := l.Append(ctx, sample(4)); err != nil || e.Seq != 4 {
		t.Errorf("append after refused tampering: seq %d, %v", e.Seq, err)
	}
}

// TestAppRoleMayOnlyReadAndAppend checks the grants of gridhub_app, then runs
// a Ledger as that role: appending, verifying and finding work, and changing
// an entry is refused by privilege, even with the triggers disabled.
func TestAppRoleMayOnlyReadAndAppend(t *testing.T) {
	st, url := migrated(t)
	ctx := context.Background()
	for _, tc := range []struct {
		table, privilege string
		want             bool
	}{
		{"audit_log", "SELECT", true},
		{"audit_log", "INSERT", true},
		{"audit_log", "UPDATE", false},
		{"audit_log", "DELETE", false},
		{"audit_log", "TRUNCATE", false},
		{"audit_log", "REFERENCES", false},
		{"audit_log", "TRIGGER", false},
		{"audit_head", "SELECT", true},
		{"audit_head", "UPDATE", true},
		{"audit_head", "INSERT", false},
		{"audit_head", "DELETE", false},
		{"audit_head", "TRUNCATE", false},
	} {
		var got bool
		if err := st.Pool.QueryRow(ctx, `SELECT has_table_privilege('gridhub_app', $1, $2)`, tc.table, tc.privilege).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("gridhub_app %s on %s = %t, want %t", tc.privilege, tc.table, got, tc.want)
		}
	}
	var login bool
	if err := st.Pool.QueryRow(ctx, `SELECT rolcanlogin FROM pg_roles WHERE rolname = 'gridhub_app'`).Scan(&login); err != nil || login {
		t.Errorf("gridhub_app can log in = %t (err %v), want a NOLOGIN group role", login, err)
	}

	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, `SET ROLE gridhub_app`)
		return err
	}
	app, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	l := ledgerOn(t, app)
	appendN(t, l, 5)
	if rep := mustVerify(t, l); rep.Broken != nil || rep.Entries != 5 {
		t.Fatalf("as gridhub_app: Verify = %+v", rep)
	}
	if page, err := l.Find(ctx, audit.Filter{Actor: "officer-1"}); err != nil || len(page.Entries) != 2 {
		t.Fatalf("as gridhub_app: Find = %d entries, %v", len(page.Entries), err)
	}

	exec(t, st.Pool, `ALTER TABLE audit_log DISABLE TRIGGER USER`)
	for _, stmt := range []string{
		`UPDATE audit_log SET actor = 'x' WHERE seq = 2`,
		`DELETE FROM audit_log WHERE seq = 2`,
		`TRUNCATE audit_log`,
		`ALTER TABLE audit_log ENABLE TRIGGER USER`,
		`DELETE FROM audit_head`,
	} {
		_, err := app.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("as gridhub_app, %s: %v, want insufficient_privilege (42501)", stmt, err)
		}
	}
	exec(t, st.Pool, `ALTER TABLE audit_log ENABLE TRIGGER USER`)
	if rep := mustVerify(t, l); rep.Broken != nil || rep.Entries != 5 {
		t.Fatalf("after refused changes: Verify = %+v", rep)
	}
}
