package indicators

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Aggregator keeps indicator_cells, the per-grid counts of the catalogue's
// count indicators, up to date. It implements factsync.Aggregator: the syncer
// calls it in the transaction that publishes a sync.
type Aggregator struct {
	cur atomic.Pointer[queries]
}

// queries are the prepared recomputations of one catalogue.
type queries struct {
	byDept      map[string]*deptQuery
	core        []*Indicator
	findings    []*Indicator // counts of open findings
	names       []string     // every count indicator
	fingerprint string
}

// deptQuery recomputes the counts over one department's facts in one pass:
// one aggregate per indicator, each with its FILTER.
type deptQuery struct {
	names []string
	sql   string
	args  []any // from $3 on
}

// NewAggregator prepares the queries of cat's count indicators.
func NewAggregator(cat *Catalogue) *Aggregator {
	a := &Aggregator{}
	a.Reconfigure(cat)
	return a
}

// Reconfigure prepares the queries of another catalogue (a configuration
// reload). The counts of indicators it adds or changes are recomputed by the
// syncer when it sees the new Fingerprint.
func (a *Aggregator) Reconfigure(cat *Catalogue) {
	q := &queries{byDept: map[string]*deptQuery{}, fingerprint: cat.countsFingerprint()}
	byDept := map[string][]*Indicator{}
	var order []string
	for _, in := range cat.list {
		if in.Count == nil {
			continue
		}
		q.names = append(q.names, in.Name)
		if in.Department == Core {
			q.core = append(q.core, in)
			continue
		}
		if in.Count.Of == OfFindings {
			q.findings = append(q.findings, in)
			continue
		}
		if byDept[in.Department] == nil {
			order = append(order, in.Department)
		}
		byDept[in.Department] = append(byDept[in.Department], in)
	}
	for _, d := range order {
		q.byDept[d] = factsQuery(byDept[d])
	}
	a.cur.Store(q)
}

// Fingerprint identifies what the counts are: it changes when a count
// indicator is added, removed or defined otherwise.
func (a *Aggregator) Fingerprint() string { return a.cur.Load().fingerprint }

// Names are the count indicators whose cells the aggregator keeps.
func (a *Aggregator) Names() []string { return a.cur.Load().names }

// factsQuery builds the recomputation of a department's indicators. $1 is the
// department, $2 the grids (NULL for all); field names, sets and values are
// parameters too, never spliced into the text.
//
// The cost is in reading fields out of the records' JSON, so each field an
// indicator tests is read once per fact (not once per indicator testing it),
// and only facts of the sets some indicator counts are read at all.
func factsQuery(ins []*Indicator) *deptQuery {
	q := &deptQuery{}
	param := func(v any) string {
		q.args = append(q.args, v)
		return "$" + strconv.Itoa(len(q.args)+2)
	}
	fields := map[string]string{} // field name -> column of the inner select
	var cols, sets []string
	column := func(field string) string {
		if c, ok := fields[field]; ok {
			return c
		}
		c := "f" + strconv.Itoa(len(fields))
		fields[field] = c
		cols = append(cols, "f.record->>"+param(field)+"::text AS "+c)
		return c
	}
	var aggs, values []string
	households := false
	for i, in := range ins {
		c := in.Count
		for _, set := range c.Sets {
			if !slices.Contains(sets, set) {
				sets = append(sets, set)
			}
		}
		conds := []string{"set = ANY(" + param(c.Sets) + "::text[])"}
		for _, w := range c.Where {
			col := column(w.Field)
			if len(w.In) > 0 {
				conds = append(conds, col+" = ANY("+param(w.In)+"::text[])")
			} else {
				conds = append(conds, "coalesce("+col+", '') <> ALL("+param(w.NotIn)+"::text[])")
			}
		}
		filter := " FILTER (WHERE " + strings.Join(conds, " AND ") + ")"
		v := "v" + strconv.Itoa(i)
		switch c.Distinct {
		case DistinctPerson:
			aggs = append(aggs, "count(DISTINCT pid)"+filter+" AS "+v)
		case DistinctHousehold:
			households = true
			aggs = append(aggs, "count(DISTINCT hid)"+filter+" AS "+v)
		default:
			aggs = append(aggs, "count(*)"+filter+" AS "+v)
		}
		values = append(values, "("+param(in.Name)+"::text, c."+v+")")
		q.names = append(q.names, in.Name)
	}
	hid, join := "NULL::bigint", ""
	if households {
		hid, join = "p.household_id", " LEFT JOIN persons p ON p.id = f.person_id"
	}
	cols = append([]string{"f.grid_code AS g", "f.person_id AS pid", hid + " AS hid", "f.set"}, cols...)
	q.sql = `INSERT INTO indicator_cells (name, grid_code, value)
SELECT x.name, c.g, x.v FROM (
	SELECT g, ` + strings.Join(aggs, ",\n\t\t") + `
	FROM (
		SELECT ` + strings.Join(cols, ", ") + `
		FROM facts f` + join + `
		WHERE f.department = $1 AND f.set = ANY(` + param(sets) + `::text[]) AND f.grid_code IS NOT NULL
		  AND ($2::text[] IS NULL OR f.grid_code = ANY($2::text[]))
	) f
	GROUP BY g
) c CROSS JOIN LATERAL (VALUES ` + strings.Join(values, ", ") + `) AS x(name, v)
WHERE x.v > 0`
	return q
}

// Recompute implements factsync.Aggregator: it replaces the counts of dept's
// indicators in grids (every grid when grids is nil). A department without
// indicators is a no-op.
func (a *Aggregator) Recompute(ctx context.Context, tx pgx.Tx, dept string, grids []string) error {
	if dept == Findings {
		return a.recomputeFindings(ctx, tx)
	}
	q := a.cur.Load().byDept[dept]
	if q == nil {
		return nil
	}
	var g any
	if grids != nil {
		g = grids
	}
	if _, err := tx.Exec(ctx, `DELETE FROM indicator_cells WHERE name = ANY($1) AND ($2::text[] IS NULL OR grid_code = ANY($2::text[]))`,
		q.names, g); err != nil {
		return fmt.Errorf("indicators %s: clear counts: %w", dept, err)
	}
	args := append([]any{dept, g}, q.args...)
	if _, err := tx.Exec(ctx, q.sql, args...); err != nil {
		return fmt.Errorf("indicators %s: count: %w", dept, err)
	}
	return nil
}

// recomputeFindings replaces the counts of open findings (internal/findings
// calls it in the transaction that changes them), each finding in its grid.
func (a *Aggregator) recomputeFindings(ctx context.Context, tx pgx.Tx) error {
	ins := a.cur.Load().findings
	if len(ins) == 0 {
		return nil
	}
	names := make([]string, len(ins))
	kinds := make([]string, len(ins)) // each indicator's kinds, comma-joined
	for i, in := range ins {
		names[i], kinds[i] = in.Name, strings.Join(in.Count.Kinds, ",")
	}
	if _, err := tx.Exec(ctx, `DELETE FROM indicator_cells WHERE name = ANY($1)`, names); err != nil {
		return fmt.Errorf("indicators findings: clear counts: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO indicator_cells (name, grid_code, value)
		SELECT i.name, f.grid_code, count(*)
		FROM unnest($1::text[], $2::text[]) AS i(name, kinds)
		JOIN findings f ON f.closed_at IS NULL AND f.grid_code IS NOT NULL
			AND (i.kinds = '' OR f.kind = ANY(string_to_array(i.kinds, ',')))
		GROUP BY i.name, f.grid_code`, names, kinds); err != nil {
		return fmt.Errorf("indicators findings: count: %w", err)
	}
	return nil
}

// RecomputeCore implements factsync.Aggregator: it replaces the counts over
// the master index, ages taken on day (a person is n years old from the n-th
// anniversary of their birth date).
func (a *Aggregator) RecomputeCore(ctx context.Context, tx pgx.Tx, day time.Time) error {
	core := a.cur.Load().core
	if len(core) == 0 {
		return nil
	}
	names := make([]string, len(core))
	for i, in := range core {
		names[i] = in.Name
	}
	if _, err := tx.Exec(ctx, `DELETE FROM indicator_cells WHERE name = ANY($1)`, names); err != nil {
		return fmt.Errorf("indicators core: clear counts: %w", err)
	}
	for _, of := range []string{OfPersons, OfHouseholds} {
		var aggs, values []string
		var args []any
		param := func(v any) string {
			args = append(args, v)
			return "$" + strconv.Itoa(len(args))
		}
		for i, in := range core {
			c := in.Count
			if c.Of != of {
				continue
			}
			var conds []string
			if c.MinAge != nil {
				conds = append(conds, "birth_date <= "+param(AgeCutoff(day, *c.MinAge))+"::date")
			}
			if c.MaxAge != nil {
				conds = append(conds, "birth_date > "+param(AgeCutoff(day, *c.MaxAge+1))+"::date")
			}
			agg := "count(*)"
			if len(conds) > 0 {
				agg += " FILTER (WHERE " + strings.Join(conds, " AND ") + ")"
			}
			aggs = append(aggs, agg+" AS v"+strconv.Itoa(i))
			values = append(values, "("+param(in.Name)+"::text, c.v"+strconv.Itoa(i)+")")
		}
		if len(aggs) == 0 {
			continue
		}
		sql := `INSERT INTO indicator_cells (name, grid_code, value)
SELECT x.name, c.g, x.v FROM (
	SELECT grid_code AS g, ` + strings.Join(aggs, ", ") + ` FROM ` + of + ` GROUP BY grid_code
) c CROSS JOIN LATERAL (VALUES ` + strings.Join(values, ", ") + `) AS x(name, v)
WHERE x.v > 0`
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			return fmt.Errorf("indicators core: count %s: %w", of, err)
		}
	}
	return nil
}

// AgeCutoff is the latest birth date of a person aged at least years on day.
// On 29 February of a leap year, years back may not be a leap year: the
// cutoff is then 28 February, not the 1 March time.AddDate would give.
func AgeCutoff(day time.Time, years int) time.Time {
	y, m, d := day.Date()
	c := time.Date(y-years, m, d, 0, 0, 0, 0, time.UTC)
	if c.Month() != m {
		c = time.Date(y-years, m+1, 0, 0, 0, 0, 0, time.UTC) // last day of m
	}
	return c
}
