package linkage

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/factsync"
)

// stageDDL holds one run's decisions before they are merged.
const stageDDL = `CREATE TEMP TABLE IF NOT EXISTS link_stage (
	set       text   NOT NULL,
	fact_id   text   NOT NULL,
	key_hmac  bytea  NOT NULL,
	person_id bigint,
	outcome   text   NOT NULL,
	method    text,
	score     double precision,
	evidence  jsonb  NOT NULL,
	grid_code text COLLATE "C"
) ON COMMIT DROP`

// store merges a run's decisions into links, drops the links of rows the
// department no longer has, and moves each row's fact to its person (or off
// the one it had), marking the grids whose counts change. It returns how many
// facts changed person or grid.
func (l *Linker) store(ctx context.Context, dept string, results []result) (int, error) {
	var changed int
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, int64(factsync.LockKey)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, stageDDL); err != nil {
			return err
		}
		rows := make([][]any, len(results))
		for i, res := range results {
			ev, err := json.Marshal(res.evidence)
			if err != nil {
				return err
			}
			if res.evidence == nil {
				ev = []byte("[]")
			}
			var person, method, grid any
			if res.person != 0 {
				person, grid = res.person, res.grid
			}
			if res.method != "" && res.outcome != Unlinked {
				method = res.method
			}
			rows[i] = []any{res.r.set, res.r.factID, res.r.keyHMAC, person, res.outcome, method, res.score, ev, grid}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"link_stage"},
			[]string{"set", "fact_id", "key_hmac", "person_id", "outcome", "method", "score", "evidence", "grid_code"},
			pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("stage links: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM links l WHERE department = $1
			AND NOT EXISTS (SELECT 1 FROM link_stage s WHERE s.set = l.set AND s.fact_id = l.fact_id)`, dept); err != nil {
			return fmt.Errorf("drop links of removed rows: %w", err)
		}
		// person_hmac is the linked person's blinded ID number, which the
		// linked rows of a page are found by (linkage.Rows).
		if _, err := tx.Exec(ctx, `INSERT INTO links AS l (department, set, fact_id, key_hmac, person_id, outcome, method, score, evidence, grid_code, person_hmac)
			SELECT $1, s.set, s.fact_id, s.key_hmac, s.person_id, s.outcome, s.method, s.score, s.evidence, s.grid_code, p.id_hmac
			FROM link_stage s LEFT JOIN persons p ON p.id = s.person_id
			ON CONFLICT (department, set, fact_id) DO UPDATE SET
				key_hmac = excluded.key_hmac, person_id = excluded.person_id, outcome = excluded.outcome, method = excluded.method,
				score = excluded.score, evidence = excluded.evidence, grid_code = excluded.grid_code, person_hmac = excluded.person_hmac, linked_at = now()
			WHERE (l.key_hmac, l.person_id, l.outcome, l.method, l.score, l.evidence, l.grid_code, l.person_hmac)
				IS DISTINCT FROM (excluded.key_hmac, excluded.person_id, excluded.outcome, excluded.method, excluded.score, excluded.evidence, excluded.grid_code, excluded.person_hmac)`,
			dept); err != nil {
			return fmt.Errorf("store links: %w", err)
		}
		// A fact with coordinates stays in the grid it is located in.
		tag, err := tx.Exec(ctx, `WITH want AS (
				SELECT f.ctid AS fid, f.grid_code AS old_grid, f.person_id AS old_person,
				       CASE WHEN s.outcome = 'LINKED' THEN s.person_id END AS person_id,
				       CASE WHEN f.record ? 'lon' THEN f.grid_code WHEN s.outcome = 'LINKED' THEN s.grid_code END AS grid_code
				FROM facts f JOIN link_stage s ON s.set = f.set AND s.fact_id = f.id
				WHERE f.department = $1 AND f.key_invalid
			), changed AS (
				SELECT * FROM want WHERE old_person IS DISTINCT FROM person_id OR old_grid IS DISTINCT FROM grid_code
			), dirty AS (
				INSERT INTO indicator_dirty (department, grid_code)
				SELECT DISTINCT $1::text, g FROM (SELECT old_grid AS g FROM changed UNION SELECT grid_code FROM changed) x
				WHERE g IS NOT NULL
				ON CONFLICT DO NOTHING
			)
			UPDATE facts f SET person_id = c.person_id, grid_code = c.grid_code
			FROM changed c WHERE f.department = $1 AND f.ctid = c.fid`, dept)
		if err != nil {
			return fmt.Errorf("move facts: %w", err)
		}
		changed = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("linkage %s: %w", dept, err)
	}
	return changed, nil
}
