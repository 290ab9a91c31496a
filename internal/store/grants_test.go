package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/store"
	"github.com/gridhub/gridhub/internal/testcity"
)

// The hub's role may do what store/grants.sql says and nothing else: it owns
// no table, cannot change or remove the ledger nor turn its triggers off,
// cannot create tables, and reaches the master index read-only but for the
// columns a report corrects.
func TestTheHubsRoleIsLeastPrivileged(t *testing.T) {
	ctx := context.Background()
	fx := testcity.Load(t)
	app := fx.App.Pool

	var super, owns bool
	if err := app.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		t.Fatal(err)
	}
	if err := app.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_tables WHERE schemaname = 'public' AND tableowner = current_user)`).Scan(&owns); err != nil {
		t.Fatal(err)
	}
	if super || owns {
		t.Fatalf("the hub's role: superuser %t, owns tables %t", super, owns)
	}

	// Every table of the schema (but partitions, reached through their
	// parent) has a decision in grants.sql: some privilege for the role.
	rows, _ := fx.Store.Pool.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND NOT (has_table_privilege($1, c.oid, 'SELECT') OR has_table_privilege($1, c.oid, 'INSERT'))`, store.AppRole)
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Errorf("tables with no grant for %s (add them to grants.sql): %v", store.AppRole, missing)
	}

	// What the hub does day to day works.
	for _, q := range []string{
		`SELECT count(*) FROM persons`,
		`UPDATE persons SET phone = phone WHERE id = 1`,
		`UPDATE households SET resident_count = resident_count WHERE id = 1`,
		`SELECT gridhub_fact_partition('facts_grants_test', 'grants_test')`,
		`INSERT INTO facts (department, set, key_hmac, id, entity, record) VALUES ('grants_test', 's', '\x00', '1', 'person', '{}')`,
		`DELETE FROM facts WHERE department = 'grants_test'`,
		`SELECT gridhub_analyze_fact_partition('facts_grants_test')`,
		`SELECT count(*) FROM audit_log`,
		`SELECT gridhub_audit_clean_pending()`,
		`SELECT count(*) FROM river_job`,
	} {
		if _, err := app.Exec(ctx, q); err != nil {
			t.Errorf("the hub's role cannot %s: %v", q, err)
		}
	}
	// What it must never do is refused.
	for _, q := range []string{
		`UPDATE audit_log SET actor = 'x'`,
		`DELETE FROM audit_log`,
		`TRUNCATE audit_log`,
		`ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only`,
		`SET session_replication_role = replica`,
		`DELETE FROM audit_head`,
		`UPDATE persons SET name = 'x' WHERE id = 1`,
		`UPDATE persons SET grid_code = grid_code WHERE id = 1`,
		`DELETE FROM persons WHERE id = 1`,
		`INSERT INTO seeds DEFAULT VALUES`,
		`TRUNCATE facts`,
		`CREATE TABLE mine (x int)`,
		`DROP TABLE report_submissions`,
		`SELECT gridhub_fact_partition('audit_log', 'x')`,
		`SELECT gridhub_analyze_fact_partition('persons')`,
	} {
		_, err := app.Exec(ctx, q)
		if err == nil {
			t.Errorf("LEAK the hub's role may %s", q)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "permission denied") && !strings.Contains(msg, "must be owner") &&
			!strings.Contains(msg, "not a partition") && !strings.Contains(msg, "append-only") && !strings.Contains(msg, "not allowed") {
			t.Errorf("%s: refused for another reason than privilege: %v", q, err)
		}
	}
}
