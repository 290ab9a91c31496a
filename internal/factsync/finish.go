package factsync

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/grid"
)

// analyzeAfter is how many changed facts make a sync refresh the statistics
// of facts before recomputing aggregates.
const analyzeAfter = 10000

// cst is China Standard Time: the day ages are taken on begins at midnight there.
var cst = time.FixedZone("CST", 8*60*60)

// finish ends a sync in one transaction: a completed full sync removes the
// facts it did not see; the dirty grids' aggregates are recomputed (also after
// a failure, for the batches that were committed); a completed sync records
// its time and bumps the data version.
func (s *Syncer) finish(ctx context.Context, dept string, r run, ok bool, st *Stats) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Other departments' batches are applied meanwhile: what this
		// recomputes is this department's aggregates and the findings about
		// its record sets, which read the others' committed facts; a batch
		// committed later marks its own grids and is followed by its own
		// department's finish.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock_shared($1), pg_advisory_xact_lock($2)`,
			int64(lockKey), int64(finishLockKey)); err != nil {
			return err
		}
		if ok && r.full && r.sweep {
			if _, err := tx.Exec(ctx, `INSERT INTO indicator_dirty (department, grid_code)
				SELECT DISTINCT department, grid_code FROM facts
				WHERE department = $1 AND gen < $2 AND grid_code IS NOT NULL
				ON CONFLICT DO NOTHING`, dept, r.gen); err != nil {
				return fmt.Errorf("mark swept grids: %w", err)
			}
			tag, err := tx.Exec(ctx, `DELETE FROM facts WHERE department = $1 AND gen < $2`, dept, r.gen)
			if err != nil {
				return fmt.Errorf("sweep facts: %w", err)
			}
			st.Swept = int(tag.RowsAffected())
			st.Changed += st.Swept
		}
		// Statistics of facts from before a big change would mislead the
		// recomputation's plan (a first sync starts from none at all), and
		// the findings read every department's facts: another department
		// whose first sync is under way has grown by millions of rows since
		// its statistics were taken, and a join planned on "almost empty" is
		// quadratic.
		if _, err := tx.Exec(ctx, `SELECT gridhub_analyze_fact_partition(relname) FROM pg_stat_user_tables
			WHERE relid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'facts'::regclass)
			  AND (relname = $1 AND $2 OR n_mod_since_analyze >= $3 AND n_mod_since_analyze > n_live_tup / 5)`,
			PartitionName(dept), r.full || st.Changed >= analyzeAfter, analyzeAfter); err != nil {
			return fmt.Errorf("analyze facts: %w", err)
		}
		n, err := s.recompute(ctx, tx, dept)
		if err != nil {
			return err
		}
		st.Grids = n
		if s.opts.Findings != nil {
			// Facts changed, or linkage moved some (their grids are dirty).
			changed, err := s.opts.Findings.Refresh(ctx, tx, dept, st.Changed > 0 || r.full || n > 0)
			if err != nil {
				return fmt.Errorf("findings: %w", err)
			}
			if changed > 0 { // the counts of findings moved
				if _, err := tx.Exec(ctx, `UPDATE fact_meta SET data_version = data_version + 1, cells_version = cells_version + 1`); err != nil {
					return err
				}
			}
		}
		if !ok {
			if n > 0 {
				_, err = tx.Exec(ctx, `UPDATE fact_meta SET cells_version = cells_version + 1, data_version = data_version + 1`)
			}
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE sync_state SET
				last_sync_at = now(), last_error = NULL,
				-- batches keep rows up to date; a full sync recounts
				rows = CASE WHEN $3 THEN (SELECT count(*) FROM facts WHERE department = $1) ELSE rows END,
				last_change_at = CASE WHEN $2 THEN now() ELSE last_change_at END,
				last_full_at = CASE WHEN $3 THEN now() ELSE last_full_at END,
				full_pending = false
			WHERE department = $1`, dept, st.Changed > 0, r.full); err != nil {
			return err
		}
		// A sync that changed something moves the data version (cached
		// tables carry the departments' as-of times: when their data last
		// changed); one that found nothing new leaves every cached table
		// standing. The cells version moves only when counts may have.
		if st.Changed == 0 && !r.full {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE fact_meta SET data_version = data_version + 1,
			cells_version = cells_version + CASE WHEN $1 THEN 1 ELSE 0 END`, n > 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("factsync %s: finish: %w", dept, err)
	}
	return nil
}

// recompute drains dept's dirty grids and has the aggregator recompute them,
// all of them at once when most grids are dirty. It returns how many grids were
// dirty.
func (s *Syncer) recompute(ctx context.Context, tx pgx.Tx, dept string) (int, error) {
	rows, _ := tx.Query(ctx, `DELETE FROM indicator_dirty WHERE department = $1 RETURNING grid_code`, dept)
	grids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("drain dirty grids: %w", err)
	}
	if len(grids) == 0 {
		return 0, nil
	}
	var total int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM grid_units WHERE level = $1`, int(grid.Grid)).Scan(&total); err != nil {
		return 0, err
	}
	arg := grids
	if len(grids) >= total/2 {
		arg = nil // a full pass is cheaper than a long list
	}
	if err := s.agg.Recompute(ctx, tx, dept, arg); err != nil {
		return 0, fmt.Errorf("recompute aggregates: %w", err)
	}
	return len(grids), nil
}

// Prepare brings the facts and the aggregates in line with the master index,
// the day and the aggregator's definitions: after a reseed, it re-resolves
// every fact's grid and recomputes every department's aggregates; when the
// definitions changed (a reloaded indicator catalogue), it recomputes every
// aggregate and drops those no longer defined; after either or when the day
// changed, it recomputes the master-index aggregates. It is cheap when nothing
// changed, and every sync runs it first; `serve` calls it at start-up and
// after a reload, so that indicators are right before the next sync.
func (s *Syncer) Prepare(ctx context.Context) error {
	day := s.opts.Now().In(cst)
	day = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	var (
		registry, done int64
		coreDay        *time.Time
		fingerprint    string
	)
	want := s.agg.Fingerprint()
	// A cheap look without the lock first: the usual case is nothing to do.
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT coalesce(max(version), 0) FROM seeds), registry_version, core_date, catalogue_fingerprint FROM fact_meta`).
		Scan(&registry, &done, &coreDay, &fingerprint); err != nil {
		return fmt.Errorf("factsync: prepare: %w", err)
	}
	if registry == done && coreDay != nil && coreDay.Equal(day) && fingerprint == want {
		return nil
	}
	var ix *grid.Index
	if registry != done {
		var err error
		if ix, err = s.reg.Index(ctx); err != nil {
			return fmt.Errorf("factsync: prepare: grid index: %w", err)
		}
	}
	start := time.Now()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT (SELECT coalesce(max(version), 0) FROM seeds), registry_version, core_date, catalogue_fingerprint FROM fact_meta FOR UPDATE`).
			Scan(&registry, &done, &coreDay, &fingerprint); err != nil {
			return err
		}
		reseeded, redefined := registry != done, fingerprint != want
		if !reseeded && !redefined && coreDay != nil && coreDay.Equal(day) {
			return nil // another syncer did it meanwhile
		}
		if reseeded {
			if ix == nil {
				return fmt.Errorf("the master index changed while preparing: retry")
			}
			if err := s.reresolve(ctx, tx, ix); err != nil {
				return err
			}
		}
		if redefined {
			if _, err := tx.Exec(ctx, `DELETE FROM indicator_cells WHERE NOT (name = ANY($1))`, s.agg.Names()); err != nil {
				return fmt.Errorf("drop counts no longer defined: %w", err)
			}
		}
		if reseeded || redefined {
			rows, _ := tx.Query(ctx, `SELECT department FROM sync_state ORDER BY 1`)
			depts, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return err
			}
			for _, d := range depts {
				if err := s.agg.Recompute(ctx, tx, d, nil); err != nil {
					return fmt.Errorf("recompute %s: %w", d, err)
				}
			}
			if _, err := tx.Exec(ctx, `DELETE FROM indicator_dirty`); err != nil {
				return err
			}
		}
		if err := s.agg.RecomputeCore(ctx, tx, day); err != nil {
			return fmt.Errorf("recompute master-index aggregates: %w", err)
		}
		_, err := tx.Exec(ctx, `UPDATE fact_meta SET registry_version = $1, core_date = $2, core_at = now(), catalogue_fingerprint = $3,
			data_version = data_version + 1, cells_version = cells_version + 1`, registry, day, want)
		if err == nil {
			s.opts.Logger.Info("fact sync: master index aggregates", "registry_version", registry, "reseeded", reseeded, "redefined", redefined,
				"day", day.Format(time.DateOnly), "elapsed", time.Since(start).Round(time.Millisecond))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("factsync: prepare: %w", err)
	}
	return nil
}

// reresolve places every fact again after a reseed: persons and organisations
// may have moved or gone, and grids may have new polygons.
func (s *Syncer) reresolve(ctx context.Context, tx pgx.Tx, ix *grid.Index) error {
	steps := []struct{ what, sql string }{
		{"re-link persons", `UPDATE facts f SET person_id = p.id, grid_code = p.grid_code
			FROM persons p
			WHERE f.entity = 'person' AND p.id_hmac = f.key_hmac
			  AND (f.person_id IS DISTINCT FROM p.id OR f.grid_code IS DISTINCT FROM p.grid_code)`},
		{"unlink persons", `UPDATE facts f SET person_id = NULL, grid_code = NULL
			WHERE f.entity = 'person' AND (f.person_id IS NOT NULL OR f.grid_code IS NOT NULL)
			  AND NOT EXISTS (SELECT 1 FROM persons p WHERE p.id_hmac = f.key_hmac)`},
		{"re-link organizations", `UPDATE facts f SET grid_code = o.grid_code
			FROM organizations o
			WHERE f.entity = 'organization' AND o.credit_code = f.org_code AND f.grid_code IS DISTINCT FROM o.grid_code`},
		{"unlink organizations", `UPDATE facts f SET grid_code = NULL
			WHERE f.entity = 'organization' AND f.grid_code IS NOT NULL
			  AND NOT EXISTS (SELECT 1 FROM organizations o WHERE o.credit_code = f.org_code)`},
	}
	for _, st := range steps {
		if _, err := tx.Exec(ctx, st.sql); err != nil {
			return fmt.Errorf("%s: %w", st.what, err)
		}
	}
	return s.relocate(ctx, tx, ix)
}

// relocate places the facts that carry coordinates by the (new) grid polygons;
// one whose point is in no grid keeps the grid it is linked to, as at sync.
func (s *Syncer) relocate(ctx context.Context, tx pgx.Tx, ix *grid.Index) error {
	rows, _ := tx.Query(ctx, `SELECT department, set, key_hmac, id, (record->>'lon')::float8, (record->>'lat')::float8, grid_code
		FROM facts WHERE jsonb_typeof(record->'lon') = 'number' AND jsonb_typeof(record->'lat') = 'number'`)
	type moved struct {
		dept, set string
		key       []byte
		id        string
		grid      *string
	}
	var out []moved
	var (
		m        moved
		lon, lat float64
		old      *string
	)
	_, err := pgx.ForEachRow(rows, []any{&m.dept, &m.set, &m.key, &m.id, &lon, &lat, &old}, func() error {
		var g *string
		if u, ok := ix.Locate(lon, lat); ok && u.Level == grid.Grid {
			g = &u.Code
		}
		if g != nil && (old == nil || *g != *old) {
			mm := m
			mm.key = append([]byte(nil), m.key...)
			mm.grid = g
			out = append(out, mm)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read located facts: %w", err)
	}
	if len(out) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE fact_relocate (department text, set text, key_hmac bytea, id text, grid_code text COLLATE "C") ON COMMIT DROP`); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"fact_relocate"}, []string{"department", "set", "key_hmac", "id", "grid_code"},
		pgx.CopyFromSlice(len(out), func(i int) ([]any, error) {
			return []any{out[i].dept, out[i].set, out[i].key, out[i].id, out[i].grid}, nil
		})); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE facts f SET grid_code = r.grid_code FROM fact_relocate r
		WHERE f.department = r.department AND f.set = r.set AND f.key_hmac = r.key_hmac AND f.id = r.id`)
	return err
}
