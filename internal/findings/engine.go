package findings

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/linkage"
)

// Counter recomputes the per-grid counts of open findings
// (*indicators.Aggregator with department Department).
type Counter interface {
	Recompute(ctx context.Context, tx pgx.Tx, dept string, grids []string) error
}

// Department is the indicator department of the counts of findings
// (indicators.Findings; repeated here so that this package does not import
// the indicators).
const Department = "findings"

// Engine computes and stores the findings. It implements the fact sync's
// Findings hook (factsync.Options.Findings).
type Engine struct {
	cat   atomic.Pointer[Catalogue]
	count Counter
}

// NewEngine returns an engine over cat; count, when not nil, recomputes the
// counts of findings in the transaction that changes them.
func NewEngine(cat *Catalogue, count Counter) *Engine {
	e := &Engine{count: count}
	e.cat.Store(cat)
	return e
}

// Reconfigure replaces the catalogue (a configuration reload): kinds added
// or defined otherwise are recomputed at the next refresh, kinds gone are
// closed.
func (e *Engine) Reconfigure(cat *Catalogue) { e.cat.Store(cat) }

// Catalogue is the engine's current catalogue.
func (e *Engine) Catalogue() *Catalogue { return e.cat.Load() }

// found is one finding as a refresh computes it.
type found struct {
	Key        string
	Grid       *string
	Person     *int64
	Department *string
	Set        *string
	FactID     *string
	Detail     map[string]any
}

// Refresh recomputes, in tx, the kinds that read dept (every kind when dept
// is empty) when changed says dept's data changed, and in any case the kinds
// whose definition changed since they were last computed; kinds no longer in
// the catalogue are closed. The counts of findings are recomputed when any
// kind was. It returns how many findings were opened or closed.
func (e *Engine) Refresh(ctx context.Context, tx pgx.Tx, dept string, changed bool) (int, error) {
	cat := e.cat.Load()
	rows, _ := tx.Query(ctx, `SELECT kind, fingerprint FROM finding_kinds`)
	stored := map[string]string{}
	var k, fp string
	if _, err := pgx.ForEachRow(rows, []any{&k, &fp}, func() error { stored[k] = fp; return nil }); err != nil {
		return 0, fmt.Errorf("findings: read kinds: %w", err)
	}
	opened, recomputed := 0, false
	for kind := range stored {
		if _, ok := cat.Lookup(kind); ok {
			continue
		}
		tag, err := tx.Exec(ctx, `UPDATE findings SET closed_at = now() WHERE kind = $1 AND closed_at IS NULL`, kind)
		if err != nil {
			return 0, fmt.Errorf("findings: close %s: %w", kind, err)
		}
		opened, recomputed = opened+int(tag.RowsAffected()), true
		if _, err := tx.Exec(ctx, `DELETE FROM finding_kinds WHERE kind = $1`, kind); err != nil {
			return 0, err
		}
	}
	var ix *buildingIndex
	for _, kind := range cat.Kinds {
		want := cat.fingerprint(kind)
		reads := dept == "" || slices.Contains(kind.Departments(), dept)
		if stored[kind.Name] == want && !(changed && reads) {
			continue
		}
		if ix == nil && (kind.Address != nil || kind.Unindexed != nil) {
			var err error
			if ix, err = loadBuildings(ctx, tx); err != nil {
				return 0, err
			}
		}
		// A kind whose findings each belong to one record set is found
		// again only in dept's sets when only dept's data changed: the
		// others' findings stand (a city's duplicates, over millions of
		// records, are not searched again for a change to one
		// department).
		scope := ""
		if stored[kind.Name] == want && dept != "" && kind.perSet() {
			scope = dept
		}
		list, err := cat.compute(ctx, tx, kind, ix, scope)
		if err != nil {
			return 0, fmt.Errorf("findings: %s: %w", kind.Name, err)
		}
		n, err := store(ctx, tx, kind.Name, scope, list)
		if err != nil {
			return 0, fmt.Errorf("findings: store %s: %w", kind.Name, err)
		}
		opened, recomputed = opened+n, true
		if _, err := tx.Exec(ctx, `INSERT INTO finding_kinds (kind, fingerprint) VALUES ($1, $2)
			ON CONFLICT (kind) DO UPDATE SET fingerprint = excluded.fingerprint, refreshed_at = now()`, kind.Name, want); err != nil {
			return 0, err
		}
	}
	if e.count != nil && recomputed {
		if err := e.count.Recompute(ctx, tx, Department, nil); err != nil {
			return 0, fmt.Errorf("findings: counts: %w", err)
		}
	}
	return opened, nil
}

// store makes the open findings of kind (of the department scope, all when
// scope is "") exactly list: those no longer found are closed, new ones
// opened, the others brought up to date. It returns how many were opened or
// closed.
func store(ctx context.Context, tx pgx.Tx, kind, scope string, list []found) (int, error) {
	seen := map[string]bool{}
	list = slices.DeleteFunc(slices.Clone(list), func(f found) bool { // one finding per key
		dup := seen[f.Key]
		seen[f.Key] = true
		return dup
	})
	keys := make([]string, len(list))
	grids := make([]*string, len(list))
	persons := make([]*int64, len(list))
	depts := make([]*string, len(list))
	sets := make([]*string, len(list))
	facts := make([]*string, len(list))
	details := make([]string, len(list))
	for i, f := range list {
		keys[i], grids[i], persons[i], depts[i], sets[i], facts[i] = f.Key, f.Grid, f.Person, f.Department, f.Set, f.FactID
		if f.Detail == nil {
			f.Detail = map[string]any{}
		}
		b, err := json.Marshal(f.Detail)
		if err != nil {
			return 0, err
		}
		details[i] = string(b)
	}
	closed, err := tx.Exec(ctx, `UPDATE findings SET closed_at = now()
		WHERE kind = $1 AND closed_at IS NULL AND NOT (key = ANY($2::text[])) AND ($3 = '' OR department = $3)`, kind, keys, scope)
	if err != nil {
		return 0, err
	}
	var opened int
	err = tx.QueryRow(ctx, `WITH up AS (
		INSERT INTO findings (kind, key, grid_code, person_id, department, set, fact_id, detail)
		SELECT $1, x.key, x.grid, x.person, x.dept, x.set, x.fact, x.detail::jsonb
		FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[])
			AS x(key, grid, person, dept, set, fact, detail)
		ON CONFLICT (kind, key) WHERE closed_at IS NULL DO UPDATE SET
			grid_code = excluded.grid_code, person_id = excluded.person_id, department = excluded.department,
			set = excluded.set, fact_id = excluded.fact_id, detail = excluded.detail, seen_at = now()
		RETURNING (xmax = 0) AS inserted
	) SELECT count(*) FILTER (WHERE inserted) FROM up`,
		kind, keys, grids, persons, depts, sets, facts, details).Scan(&opened)
	if err != nil {
		return 0, err
	}
	return int(closed.RowsAffected()) + opened, nil
}

// compute finds the findings of one kind in the stored facts; of a kind
// whose findings each belong to one record set (perSet), only in the sets of
// the department scope when it is not "".
func (c *Catalogue) compute(ctx context.Context, tx pgx.Tx, k *Kind, ix *buildingIndex, scope string) ([]found, error) {
	sets := func(l *SetList) []string {
		if scope == "" {
			return l.Sets
		}
		return slices.DeleteFunc(slices.Clone(l.Sets), func(s string) bool { return !strings.HasPrefix(s, scope+".") })
	}
	switch {
	case k.Conflict != nil:
		return c.conflicts(ctx, tx, k.Conflict)
	case k.Duplicate != nil:
		return duplicates(ctx, tx, sets(k.Duplicate))
	case k.Address != nil:
		return addresses(ctx, tx, sets(k.Address), ix)
	case k.Unindexed != nil:
		return unindexed(ctx, tx, sets(k.Unindexed), ix)
	case k.Records != nil:
		return c.records(ctx, tx, k.Records)
	}
	return nil, fmt.Errorf("kind %s has no rule", k.Name)
}

// query is SQL text with its arguments, built without splicing any value
// into the text.
type query struct {
	args []any
}

func (q *query) param(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// selects is the WHERE clause of the facts a selector picks (facts aliased f).
func (c *Catalogue) selects(q *query, s *Selector) string {
	conds := []string{"f.department = " + q.param(s.Department), "f.set = ANY(" + q.param(s.Sets) + "::text[])"}
	for _, w := range s.Where {
		v := "(f.record->>" + q.param(w.Field) + ")"
		num := "(CASE WHEN " + v + ` ~ '^-?[0-9]+(\.[0-9]+)?$' THEN ` + v + "::numeric END)"
		switch {
		case len(w.In) > 0:
			conds = append(conds, v+" = ANY("+q.param(w.In)+"::text[])")
		case len(w.NotIn) > 0:
			conds = append(conds, "coalesce("+v+", '') <> ALL("+q.param(w.NotIn)+"::text[])")
		case w.Empty != nil && *w.Empty:
			conds = append(conds, "coalesce(btrim("+v+"), '') = ''")
		case w.Empty != nil:
			conds = append(conds, "coalesce(btrim("+v+"), '') <> ''")
		case w.Above != "":
			b, _ := c.bound(w.Above)
			conds = append(conds, num+" > "+q.param(b)+"::numeric")
		case w.Below != "":
			b, _ := c.bound(w.Below)
			conds = append(conds, num+" < "+q.param(b)+"::numeric")
		}
	}
	return strings.Join(conds, " AND ")
}

// conflicts finds the persons (or households) with a record of each selector.
func (c *Catalogue) conflicts(ctx context.Context, tx pgx.Tx, r *Conflict) ([]found, error) {
	q := &query{}
	subj, other := c.selects(q, &r.Subject), c.selects(q, &r.Other)
	var sql string
	if r.Per == PerHousehold {
		sql = `WITH s AS (SELECT p.household_id AS h, min(p.id) AS pid FROM facts f JOIN persons p ON p.id = f.person_id WHERE ` + subj + ` GROUP BY 1),
			o AS (SELECT p.household_id AS h, array_agg(DISTINCT p.id ORDER BY p.id) AS pids FROM facts f JOIN persons p ON p.id = f.person_id WHERE ` + other + ` GROUP BY 1)
			SELECT 'h' || s.h, hh.grid_code, s.pid, o.pids FROM s JOIN o ON o.h = s.h JOIN households hh ON hh.id = s.h ORDER BY s.h`
	} else {
		sql = `WITH s AS (SELECT DISTINCT f.person_id AS pid FROM facts f WHERE f.person_id IS NOT NULL AND ` + subj + `),
			o AS (SELECT DISTINCT f.person_id AS pid FROM facts f WHERE f.person_id IS NOT NULL AND ` + other + `)
			SELECT 'p' || s.pid, p.grid_code, s.pid, ARRAY[]::bigint[] FROM s JOIN o ON o.pid = s.pid JOIN persons p ON p.id = s.pid ORDER BY s.pid`
	}
	rows, _ := tx.Query(ctx, sql, q.args...)
	var out []found
	var f found
	var members []int64
	_, err := pgx.ForEachRow(rows, []any{&f.Key, &f.Grid, &f.Person, &members}, func() error {
		x := f
		if len(members) > 0 {
			x.Detail = map[string]any{"members": members}
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// splitSets turns "department.set" entries into parallel arrays.
func splitSets(sets []string) (depts, names []string) {
	for _, s := range sets {
		d, n, _ := strings.Cut(s, ".")
		depts = append(depts, d)
		names = append(names, n)
	}
	return depts, names
}

// duplicates finds the persons with two or more records in one set.
//
// Each set is grouped on its own, by a statement that reads one partition
// and joins nothing: at city scale a set holds over a million records and a
// few thousand such persons, and a plan that joins the groups back to the
// facts, made on the statistics of a partition still being filled, ran for
// 22 s on a set of 83,000. Parallel workers are off for it: every group is
// distinct, so the workers' partial groups are the rows again, and on two
// cores the parallel plan took twice as long. The grids are looked up for
// the persons found.
func duplicates(ctx context.Context, tx pgx.Tx, sets []string) ([]found, error) {
	if _, err := tx.Exec(ctx, `SET LOCAL max_parallel_workers_per_gather = 0`); err != nil {
		return nil, err
	}
	var out []found
	var person int64
	var ids []string
	for _, s := range sets {
		dept, name, _ := strings.Cut(s, ".")
		rows, _ := tx.Query(ctx, `SELECT person_id, array_agg(id) FROM facts
			WHERE department = $1 AND set = $2 AND person_id IS NOT NULL
			GROUP BY person_id HAVING count(*) > 1`, dept, name)
		_, err := pgx.ForEachRow(rows, []any{&person, &ids}, func() error {
			slices.Sort(ids)
			out = append(out, found{
				Key: dept + "." + name + "/p" + strconv.FormatInt(person, 10), Person: new(person), Department: &dept, Set: &name,
				Detail: map[string]any{"records": slices.Clone(ids)},
			})
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if _, err := tx.Exec(ctx, `SET LOCAL max_parallel_workers_per_gather TO DEFAULT`); err != nil {
		return nil, err
	}
	persons := make([]int64, len(out))
	for i, f := range out {
		persons[i] = *f.Person
	}
	rows, _ := tx.Query(ctx, `SELECT id, grid_code FROM persons WHERE id = ANY($1)`, persons)
	grids := map[int64]string{}
	var grid string
	if _, err := pgx.ForEachRow(rows, []any{&person, &grid}, func() error { grids[person] = grid; return nil }); err != nil {
		return nil, err
	}
	// A record whose person is gone from the master index is no one's
	// duplicate.
	kept := out[:0]
	for _, f := range out {
		if g, ok := grids[*f.Person]; ok {
			f.Grid = &g
			kept = append(kept, f)
		}
	}
	out = kept
	slices.SortFunc(out, func(a, b found) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// buildingIndex maps a building (linkage.BuildingKey of its address) to its
// grid.
type buildingIndex map[string]string

func loadBuildings(ctx context.Context, tx pgx.Tx) (*buildingIndex, error) {
	rows, _ := tx.Query(ctx, `SELECT address, grid_code FROM buildings`)
	ix := buildingIndex{}
	var addr, g string
	if _, err := pgx.ForEachRow(rows, []any{&addr, &g}, func() error { ix[linkage.BuildingKey(addr)] = g; return nil }); err != nil {
		return nil, fmt.Errorf("findings: read buildings: %w", err)
	}
	return &ix, nil
}

// addresses finds the persons whose record in a set gives an address in a
// building of another grid than the person's (once per person and set).
func addresses(ctx context.Context, tx pgx.Tx, sets []string, ix *buildingIndex) ([]found, error) {
	depts, names := splitSets(sets)
	rows, _ := tx.Query(ctx, `SELECT f.department, f.set, f.id, f.person_id, p.grid_code, f.identity->>'address'
		FROM facts f JOIN unnest($1::text[], $2::text[]) AS s(d, n) ON f.department = s.d AND f.set = s.n
		JOIN persons p ON p.id = f.person_id
		WHERE coalesce(f.identity->>'address', '') <> ''
		ORDER BY f.department, f.set, f.person_id, f.id`, depts, names)
	var out []found
	var dept, set, id, grid, addr string
	var pid int64
	_, err := pgx.ForEachRow(rows, []any{&dept, &set, &id, &pid, &grid, &addr}, func() error {
		g, ok := (*ix)[linkage.BuildingKey(addr)]
		if !ok || g == grid {
			return nil
		}
		key := dept + "." + set + "/p" + strconv.FormatInt(pid, 10)
		if n := len(out); n > 0 && out[n-1].Key == key {
			return nil
		}
		out = append(out, found{Key: key, Grid: ptr(grid), Person: ptr(pid), Department: ptr(dept), Set: ptr(set), FactID: ptr(id),
			Detail: map[string]any{"departmentGrid": g}})
		return nil
	})
	return out, err
}

// unindexed finds the person records whose valid ID number is no resident's,
// each in the grid of its address's building when that is known.
func unindexed(ctx context.Context, tx pgx.Tx, sets []string, ix *buildingIndex) ([]found, error) {
	depts, names := splitSets(sets)
	rows, _ := tx.Query(ctx, `SELECT f.department, f.set, f.id, coalesce(f.identity->>'address', '')
		FROM facts f JOIN unnest($1::text[], $2::text[]) AS s(d, n) ON f.department = s.d AND f.set = s.n
		WHERE f.person_id IS NULL AND NOT f.key_invalid AND f.entity = 'person'
		  AND NOT EXISTS (SELECT 1 FROM links l WHERE l.department = f.department AND l.set = f.set AND l.fact_id = f.id AND l.outcome = 'LINKED')
		ORDER BY 1, 2, 3`, depts, names)
	var out []found
	var dept, set, id, addr string
	_, err := pgx.ForEachRow(rows, []any{&dept, &set, &id, &addr}, func() error {
		f := found{Key: dept + "." + set + "/" + id, Department: ptr(dept), Set: ptr(set), FactID: ptr(id)}
		if g, ok := (*ix)[linkage.BuildingKey(addr)]; ok && addr != "" {
			f.Grid = ptr(g)
		}
		out = append(out, f)
		return nil
	})
	return out, err
}

// records finds every record a selector picks, in the grid the sync located
// it in.
func (c *Catalogue) records(ctx context.Context, tx pgx.Tx, s *Selector) ([]found, error) {
	q := &query{}
	where := c.selects(q, s)
	rows, _ := tx.Query(ctx, `SELECT f.department, f.set, f.id, f.grid_code, f.person_id FROM facts f WHERE `+where+` ORDER BY 1, 2, 3`, q.args...)
	var out []found
	var dept, set, id string
	var grid *string
	var pid *int64
	_, err := pgx.ForEachRow(rows, []any{&dept, &set, &id, &grid, &pid}, func() error {
		out = append(out, found{Key: dept + "." + set + "/" + id, Grid: grid, Person: pid, Department: ptr(dept), Set: ptr(set), FactID: ptr(id)})
		return nil
	})
	return out, err
}

func ptr[T any](v T) *T { return &v }
