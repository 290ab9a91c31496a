package factsync

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	gojson "github.com/goccy/go-json"
	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/ident"
)

// applied counts what one batch did.
type applied struct {
	facts, deleted, changed, unlinked int
}

// stageDDL is the per-session staging table a batch is copied into.
const stageDDL = `CREATE TEMP TABLE IF NOT EXISTS fact_stage (
	set       text  NOT NULL,
	key_hmac  bytea NOT NULL,
	id        text  NOT NULL,
	entity    text  NOT NULL,
	org_code  text,
	record    jsonb NOT NULL,
	grid_code text COLLATE "C", -- located from coordinates
	deleted   boolean NOT NULL,
	identity  jsonb,
	key_invalid boolean NOT NULL,
	corrections bytea[]
) ON COMMIT DELETE ROWS`

// matchDDL holds each staged fact linked and matched to its stored row.
const matchDDL = `CREATE TEMP TABLE IF NOT EXISTS fact_match (
	set       text  NOT NULL,
	key_hmac  bytea NOT NULL,
	id        text  NOT NULL,
	entity    text  NOT NULL,
	org_code  text,
	record    jsonb NOT NULL,
	grid_code text COLLATE "C",
	person_id bigint,
	deleted   boolean NOT NULL,
	identity  jsonb,
	key_invalid boolean NOT NULL,
	corrections bytea[],
	old_grid  text COLLATE "C",
	row_id    tid,
	changed   boolean NOT NULL
) ON COMMIT DELETE ROWS`

var stageColumns = []string{"set", "key_hmac", "id", "entity", "org_code", "record", "grid_code", "deleted", "identity", "key_invalid", "corrections"}

// apply stores one batch and its watermark in one transaction.
func (s *Syncer) apply(ctx context.Context, dept string, gen int64, full bool, b batch) (applied, error) {
	n := b.counts
	var rowsDelta int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1)`, int64(lockKey)); err != nil {
			return err
		}
		var wm string
		if err := tx.QueryRow(ctx, `SELECT watermark FROM sync_state WHERE department = $1 FOR UPDATE`, dept).Scan(&wm); err != nil {
			return fmt.Errorf("read watermark: %w", err)
		}
		if wm != b.since {
			return ErrConcurrentSync
		}
		// The batch's statements join tens of thousands of rows through
		// indexes; their cost estimates reach JIT's thresholds, and compiling
		// them took a third of the match's time for nothing in return.
		if _, err := tx.Exec(ctx, `SET LOCAL jit = off`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, stageDDL); err != nil {
			return fmt.Errorf("staging table: %w", err)
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"fact_stage"}, stageColumns, pgx.CopyFromRows(b.rows)); err != nil {
			return fmt.Errorf("copy facts: %w", err)
		}
		// One pass over the staged facts links each to the master index
		// (persons by blind index, organisations by credit code; a located
		// grid, set at staging, wins) and finds its stored row. Every lookup
		// is a LATERAL ... LIMIT 1 through a unique index, which keeps the
		// planner from any other join: during a department's first sync the
		// statistics of facts say it has no rows, and a plan built on that
		// is quadratic.
		if _, err := tx.Exec(ctx, matchDDL); err != nil {
			return fmt.Errorf("match table: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO fact_match
			SELECT x.*, f.grid_code, f.ctid,
			       f.ctid IS NULL OR f.record IS DISTINCT FROM x.record OR f.grid_code IS DISTINCT FROM x.grid_code
			       OR f.person_id IS DISTINCT FROM x.person_id OR f.identity IS DISTINCT FROM x.identity
			FROM (
				SELECT s.set, s.key_hmac, s.id, s.entity, s.org_code, s.record,
				       coalesce(s.grid_code, p.grid_code, o.grid_code) AS grid_code, p.id AS person_id, s.deleted,
				       s.identity, s.key_invalid, s.corrections
				FROM fact_stage s
				-- A valid ID number names its person; a broken one the person
				-- record linkage placed the row on (a link outlives re-syncs).
				LEFT JOIN LATERAL (SELECT id, grid_code FROM persons
					WHERE s.entity = 'person' AND NOT s.key_invalid AND id_hmac = s.key_hmac
					UNION ALL
					SELECT lp.id, lp.grid_code FROM links l JOIN persons lp ON lp.id = l.person_id
					WHERE s.key_invalid AND l.department = $1 AND l.set = s.set AND l.fact_id = s.id AND l.outcome = 'LINKED'
					LIMIT 1) p ON true
				LEFT JOIN LATERAL (SELECT grid_code FROM organizations
					WHERE s.entity = 'organization' AND credit_code = s.org_code LIMIT 1) o ON true
			) x
			LEFT JOIN LATERAL (SELECT ctid, record, grid_code, person_id, identity FROM facts
				WHERE department = $1 AND set = x.set AND key_hmac = x.key_hmac AND id = x.id LIMIT 1) f ON true`, dept); err != nil {
			return fmt.Errorf("match facts: %w", err)
		}
		// The grids whose counts change: where a changed or removed fact was,
		// and where a new or changed one goes.
		if _, err := tx.Exec(ctx, `INSERT INTO indicator_dirty (department, grid_code)
			SELECT DISTINCT $1::text, g FROM (
				SELECT old_grid AS g FROM fact_match WHERE row_id IS NOT NULL AND (deleted OR changed)
				UNION ALL
				SELECT grid_code FROM fact_match WHERE NOT deleted AND changed
			) x WHERE g IS NOT NULL
			ON CONFLICT DO NOTHING`, dept); err != nil {
			return fmt.Errorf("mark grids: %w", err)
		}
		// Rows of this department are written only under its watermark's
		// lock, held since the match: their ctids are still theirs. A ctid
		// names a place in one partition: every other department's
		// partition has a row at the same place.
		tag, err := tx.Exec(ctx, `DELETE FROM facts WHERE department = $1
			AND ctid = ANY(ARRAY(SELECT row_id FROM fact_match WHERE deleted AND row_id IS NOT NULL))`, dept)
		if err != nil {
			return fmt.Errorf("delete facts: %w", err)
		}
		removed := int(tag.RowsAffected())
		n.changed += removed
		var upserted, inserted, stored int
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE grid_code IS NULL), count(*) FILTER (WHERE changed),
			count(*) FILTER (WHERE row_id IS NULL), count(*) FILTER (WHERE row_id IS NOT NULL AND (changed OR $1))
			FROM fact_match WHERE NOT deleted`, full).Scan(&n.unlinked, &upserted, &inserted, &stored); err != nil {
			return err
		}
		// New rows are inserted; stored ones are rewritten where they
		// changed, and by a full sync, which stamps its generation on every
		// row it sees (Changed does not count those). No one else writes
		// this department's rows meanwhile (its watermark's lock), so a row
		// the match did not find is not there: a plain insert, not an
		// upsert's speculative one.
		if inserted > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO facts (department, set, key_hmac, id, entity, org_code, record, grid_code, person_id, gen, updated_at,
					identity, key_invalid, corrections)
				SELECT $1, set, key_hmac, id, entity, org_code, record, grid_code, person_id, $2, now(), identity, key_invalid, corrections FROM fact_match
				WHERE NOT deleted AND row_id IS NULL`, dept, gen); err != nil {
				return fmt.Errorf("insert facts: %w", err)
			}
		}
		if stored > 0 {
			if _, err := tx.Exec(ctx, `UPDATE facts AS f SET
					entity = m.entity, org_code = m.org_code, record = m.record, grid_code = m.grid_code,
					person_id = m.person_id, gen = $2, updated_at = now(),
					identity = m.identity, key_invalid = m.key_invalid, corrections = m.corrections
				FROM fact_match m
				WHERE f.department = $1 AND f.ctid = m.row_id AND NOT m.deleted AND (m.changed OR ($3 AND f.gen <> $2))`,
				dept, gen, full); err != nil {
				return fmt.Errorf("update facts: %w", err)
			}
		}
		n.changed += upserted
		rowsDelta = inserted - removed
		if _, err := tx.Exec(ctx, `UPDATE sync_state SET watermark = $2, rows = rows + $3 WHERE department = $1`, dept, b.until, rowsDelta); err != nil {
			return fmt.Errorf("store watermark: %w", err)
		}
		return nil
	})
	if err != nil {
		if err == ErrConcurrentSync {
			return n, fmt.Errorf("factsync %s: %w", dept, err)
		}
		return n, fmt.Errorf("factsync %s: apply batch after %q: %w", dept, b.since, err)
	}
	return n, nil
}

// factKey identifies a fact within a department.
type factKey struct{ set, key, id string }

// stagedRow is a staging row with the fields it is sorted by.
type stagedRow struct {
	set string
	key []byte
	id  string
	row []any
}

// stageRows turns a batch into staging rows: keys are normalised and blinded,
// the last fact of each record wins (a batch may carry a record's update and
// then its deletion, or one key written two ways), and records with
// coordinates are located.
func (s *Syncer) stageRows(ix *grid.Index, facts []connectors.Fact, n *applied) ([][]any, error) {
	keys := make([]string, len(facts))
	last := make(map[factKey]int, len(facts))
	for i, f := range facts {
		keys[i] = NormalizeKey(f.Entity, f.Key)
		last[factKey{f.Set, keys[i], f.ID}] = i
	}
	rows := make([]stagedRow, 0, len(last))
	for i, f := range facts {
		key := keys[i]
		if last[factKey{f.Set, key, f.ID}] != i {
			continue
		}
		if f.Set == "" {
			return nil, fmt.Errorf("fact with ID %q has no record set", f.ID)
		}
		var org any
		if f.Entity == connectors.Organization && key != "" {
			org = key
		}
		blind := s.blind.Blind(key)
		if f.Deleted {
			n.deleted++
			rows = append(rows, stagedRow{f.Set, blind, f.ID, []any{f.Set, blind, f.ID, f.Entity, org, []byte("{}"), nil, true, nil, f.KeyInvalid, nil}})
			continue
		}
		n.facts++
		// go-json writes the same JSON as encoding/json (Postgres keeps it as
		// jsonb, which neither order nor spacing reaches) in half the time.
		rec, err := gojson.Marshal(f.Record)
		if err != nil {
			return nil, fmt.Errorf("fact %s/%s: encode record: %w", f.Set, f.ID, err)
		}
		var located any
		if lon, lat, ok := coordinates(f.Record); ok {
			if u, ok := ix.Locate(lon, lat); ok && u.Level == grid.Grid {
				located = u.Code
			}
		}
		who, corrections, err := s.identityOf(f, key)
		if err != nil {
			return nil, err
		}
		rows = append(rows, stagedRow{f.Set, blind, f.ID, []any{f.Set, blind, f.ID, f.Entity, org, rec, located, false, who, f.KeyInvalid, corrections}})
	}
	// In key order, the batch's lookups and inserts walk the indexes of
	// persons and facts from one page to the next instead of at random: at
	// city scale that is most of a batch's time.
	slices.SortFunc(rows, func(a, b stagedRow) int {
		return cmp.Or(strings.Compare(a.set, b.set), bytes.Compare(a.key, b.key), strings.Compare(a.id, b.id))
	})
	out := make([][]any, len(rows))
	for i, r := range rows {
		out[i] = r.row
	}
	return out, nil
}

// identityOf encodes a fact's identity for the facts table, with, for a broken
// ID number, the birth date and sex it still embeds (idBirthDate, idSex) and
// the blind indexes of its one-character corrections: the number itself is
// never stored.
func (s *Syncer) identityOf(f connectors.Fact, key string) (who []byte, corrections [][]byte, err error) {
	if f.Identity == nil && !f.KeyInvalid {
		return nil, nil, nil
	}
	rec := connectors.Record{}
	for k, v := range f.Identity {
		rec[k] = v
	}
	if f.KeyInvalid && f.Entity == connectors.Person {
		if birth, sex, ok := ident.EmbeddedBirth(key); ok {
			rec["idBirthDate"] = birth.Format("2006-01-02")
			if sex != 0 {
				rec["idSex"] = sex.String()
			}
		}
		for _, c := range ident.ResidentIDCorrections(key) {
			corrections = append(corrections, s.blind.Blind(c))
		}
	}
	who, err = gojson.Marshal(rec)
	if err != nil {
		return nil, nil, fmt.Errorf("fact %s/%s: encode identity: %w", f.Set, f.ID, err)
	}
	return who, corrections, nil
}

// NormalizeKey is the form of a fact's key the hub blinds and joins on: for a
// person the 18-character ID number (trimmed, upper-case X, a 15-digit
// first-generation number converted), for an organisation the upper-case
// credit code. It does not validate: a number that is not a resident's simply
// links to no one.
func NormalizeKey(entity, key string) string {
	key = strings.TrimSpace(key)
	if entity == connectors.Person && len(key) == 15 {
		if s, err := ident.ConvertResidentID15(key); err == nil {
			return s
		}
	}
	return strings.ToUpper(key)
}

// coordinates reads a record's lon and lat fields.
func coordinates(r connectors.Record) (lon, lat float64, ok bool) {
	lon, ok1 := number(r["lon"])
	lat, ok2 := number(r["lat"])
	return lon, lat, ok1 && ok2 && (lon != 0 || lat != 0)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int64:
		return float64(x), true
	case int:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}
