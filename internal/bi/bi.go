// Package bi is the hub's SQL surface for BI tools: the schema bi in the
// hub's Postgres (migration 00031), which holds the published indicator
// tables by level, current and by period, under the disclosure control of
// the indicators query (a withheld cell is NULL with suppressed true, never
// the value), and the catalogue that labels them. A BI tool connects as a
// LOGIN role that is a member of gridhub_bi, which may read bi and nothing
// else; row-level security limits each login to the units under the code
// bi.access gives it (Grant).
//
// Publisher.Refresh rewrites the current tables from indicators.Service in
// one transaction, so a reader sees the tables of one sync or of the next,
// never half of each; the hub calls it after each fact sync. TakeDue takes
// the period snapshot a schedule asks for (the month just ended, by
// default), whose rows Refresh then adds to the *_indicator_series tables.
package bi

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
)

// Role is the role BI logins are members of: it may read the schema bi and
// nothing else.
const Role = "gridhub_bi"

// Levels are the levels of the bi tables, with the table name of each:
// <name>_indicators and <name>_indicator_series.
var Levels = []struct {
	Level grid.Level
	Name  string
}{
	{grid.District, "district"},
	{grid.Township, "street"},
	{grid.Community, "community"},
	{grid.Grid, "grid"},
}

// refreshLock serialises refreshes across replicas.
const refreshLock = 0x6772_6964_6269_7231 // "gridbir1"

// Publisher writes the bi tables. It is safe for concurrent use.
type Publisher struct {
	pool    *pgxpool.Pool
	figures *indicators.Service
	log     *slog.Logger
}

// NewPublisher returns a Publisher writing through pool (the hub's role may:
// migration 00031 grants gridhub_app the bi tables) what figures publishes.
func NewPublisher(pool *pgxpool.Pool, figures *indicators.Service, log *slog.Logger) *Publisher {
	if log == nil {
		log = slog.Default()
	}
	return &Publisher{pool: pool, figures: figures, log: log}
}

// Refresh rewrites the bi tables in one transaction: the current tables of
// every level and the catalogue when the data or the catalogue changed since
// the last refresh, and the series' rows of every period they lack (all
// periods when the catalogue changed, since labels and rates follow it). It
// reports whether it wrote anything.
func (p *Publisher) Refresh(ctx context.Context) (bool, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("bi: refresh: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(refreshLock)); err != nil {
		return false, fmt.Errorf("bi: refresh: %w", err)
	}
	cat := p.figures.Catalogue()
	var (
		version      int64
		lastVersion  *int64
		lastCatalog  *string
		periodsShown []string
	)
	if err := tx.QueryRow(ctx, `SELECT data_version, (SELECT data_version FROM bi.refresh), (SELECT catalogue FROM bi.refresh),
		(SELECT coalesce(array_agg(period ORDER BY position), '{}') FROM bi.periods) FROM fact_meta`).
		Scan(&version, &lastVersion, &lastCatalog, &periodsShown); err != nil {
		return false, fmt.Errorf("bi: refresh: read versions: %w", err)
	}
	periods, err := p.figures.Periods(ctx)
	if err != nil {
		return false, err
	}
	labels := make([]string, len(periods))
	for i, pr := range periods {
		labels[i] = pr.Label
	}
	recatalogued := lastCatalog == nil || *lastCatalog != cat.Fingerprint()
	current := recatalogued || lastVersion == nil || *lastVersion != version
	if !current && slices.Equal(labels, periodsShown) {
		return false, nil
	}
	start := time.Now()
	if current {
		if err := p.writeCurrent(ctx, tx, cat, version); err != nil {
			return false, err
		}
	}
	// The series: every period when the catalogue changed, else the new ones.
	var add []indicators.Period
	for _, pr := range periods {
		if recatalogued || !slices.Contains(periodsShown, pr.Label) {
			add = append(add, pr)
		}
	}
	if recatalogued || len(add) > 0 || !slices.Equal(labels, periodsShown) {
		if err := p.writeSeries(ctx, tx, periods, add, recatalogued); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("bi: refresh: commit: %w", err)
	}
	p.log.Info("bi: tables refreshed", "data_version", version, "current", current, "periods_added", len(add),
		"elapsed", time.Since(start).Round(time.Millisecond))
	return true, nil
}

// writeCurrent rewrites the catalogue, the as-of times and the current
// tables of every level.
func (p *Publisher) writeCurrent(ctx context.Context, tx pgx.Tx, cat *indicators.Catalogue, version int64) error {
	for _, q := range []string{`DELETE FROM bi.indicators`, `DELETE FROM bi.as_of`, `DELETE FROM bi.refresh`} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("bi: refresh: %w", err)
		}
	}
	var dict [][]any
	for i, in := range cat.All() {
		kind := "count"
		var num, den *string
		if in.Rate != nil {
			kind, num, den = "rate", &in.Rate.Numerator, &in.Rate.Denominator
		}
		dict = append(dict, []any{in.Name, in.Label, in.Unit, in.Definition, in.Department, kind, num, den, i + 1})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bi", "indicators"},
		[]string{"indicator", "label", "unit", "definition", "department", "kind", "numerator", "denominator", "position"},
		pgx.CopyFromRows(dict)); err != nil {
		return fmt.Errorf("bi: refresh: catalogue: %w", err)
	}
	var asOf []indicators.AsOf
	for _, l := range Levels {
		t, err := p.figures.Table(ctx, l.Level, "", nil)
		if err != nil {
			return err
		}
		asOf = t.AsOf
		table := l.Name + "_indicators"
		if _, err := tx.Exec(ctx, `DELETE FROM bi.`+table); err != nil {
			return fmt.Errorf("bi: refresh %s: %w", table, err)
		}
		rows := tableRows(cat, t, nil)
		if err := insertRows(ctx, tx, table, columns[2:], rows); err != nil {
			return fmt.Errorf("bi: refresh %s: %w", table, err)
		}
	}
	for _, a := range asOf {
		if _, err := tx.Exec(ctx, `INSERT INTO bi.as_of (department, as_of) VALUES ($1, $2)`, a.Department, a.At); err != nil {
			return fmt.Errorf("bi: refresh as-of: %w", err)
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO bi.refresh (refreshed_at, data_version, catalogue) VALUES (now(), $1, $2)`, version, cat.Fingerprint())
	return err
}

// writeSeries rewrites bi.periods and adds the rows of the periods add to
// the series tables (after clearing them when all is set).
func (p *Publisher) writeSeries(ctx context.Context, tx pgx.Tx, periods, add []indicators.Period, all bool) error {
	if _, err := tx.Exec(ctx, `DELETE FROM bi.periods`); err != nil {
		return fmt.Errorf("bi: refresh periods: %w", err)
	}
	for i, pr := range periods {
		if _, err := tx.Exec(ctx, `INSERT INTO bi.periods (period, kind, taken_at, position) VALUES ($1, $2, $3, $4)`,
			pr.Label, pr.Kind, pr.TakenAt, i+1); err != nil {
			return fmt.Errorf("bi: refresh periods: %w", err)
		}
	}
	cat := p.figures.Catalogue()
	for _, l := range Levels {
		table := l.Name + "_indicator_series"
		if all {
			if _, err := tx.Exec(ctx, `DELETE FROM bi.`+table); err != nil {
				return fmt.Errorf("bi: refresh %s: %w", table, err)
			}
		}
		for _, pr := range add {
			series, err := p.figures.Series(ctx, l.Level, "", nil, pr.Label, pr.Label)
			if err != nil {
				return err
			}
			for _, t := range series {
				if err := insertRows(ctx, tx, table, columns, tableRows(cat, t, t.Period)); err != nil {
					return fmt.Errorf("bi: refresh %s: %w", table, err)
				}
			}
		}
	}
	return nil
}

// insertRows inserts rows into the bi table, in statements of up to
// Postgres's 65535 parameters. (COPY would be quicker, but Postgres refuses
// it on a table with row-level security, which the indicator tables have.)
func insertRows(ctx context.Context, tx pgx.Tx, table string, cols []string, rows [][]any) error {
	per := 65535 / len(cols)
	for len(rows) > 0 {
		n := min(per, len(rows))
		var q strings.Builder
		q.WriteString("INSERT INTO " + pgx.Identifier{"bi", table}.Sanitize() + " (" + strings.Join(cols, ", ") + ") VALUES ")
		args := make([]any, 0, n*len(cols))
		for i, r := range rows[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(")
			for j, v := range r {
				if j > 0 {
					q.WriteString(", ")
				}
				args = append(args, v)
				fmt.Fprintf(&q, "$%d", len(args))
			}
			q.WriteString(")")
		}
		if _, err := tx.Exec(ctx, q.String(), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// columns are the columns of a series table; a current table has them
// without the first two.
var columns = []string{"period", "taken_at", "code", "name", "parent_code", "street_code", "indicator", "label", "unit", "value", "suppressed"}

// tableRows are a table's rows in the bi tables: one per unit and
// indicator, with the period's two columns first when period is set.
func tableRows(cat *indicators.Catalogue, t *indicators.Table, period *indicators.Period) [][]any {
	out := make([][]any, 0, len(t.Rows)*len(t.Names))
	for _, r := range t.Rows {
		var parent, street *string
		if pc := parentOf(r.Unit.Code); pc != "" {
			parent = &pc
		}
		if len(r.Unit.Code) >= grid.Township.CodeLen() {
			sc := r.Unit.Code[:grid.Township.CodeLen()]
			street = &sc
		}
		for _, c := range r.Values {
			in, _ := cat.Lookup(c.Name)
			row := []any{r.Unit.Code, r.Unit.Name, parent, street, c.Name, in.Label, in.Unit, c.Value, c.Suppressed}
			if period != nil {
				row = append([]any{period.Label, period.TakenAt}, row...)
			}
			out = append(out, row)
		}
	}
	return out
}

// parentOf is the code of a unit's parent ("" for a district).
func parentOf(code string) string {
	if len(code) <= grid.District.CodeLen() {
		return ""
	}
	return code[:len(code)-3]
}

// Schedule says which period snapshots are taken by themselves: one per
// month (the default), week or day, or none.
type Schedule string

// Schedules.
const (
	Monthly Schedule = indicators.PeriodMonth
	Weekly  Schedule = indicators.PeriodWeek
	Daily   Schedule = indicators.PeriodDay
	Off     Schedule = "off"
)

// ParseSchedule reads GRIDHUB_SNAPSHOT_PERIOD: month (also ""), week, day or
// off.
func ParseSchedule(s string) (Schedule, error) {
	switch s {
	case "", "month", "monthly":
		return Monthly, nil
	case "week", "weekly":
		return Weekly, nil
	case "day", "daily":
		return Daily, nil
	case "off":
		return Off, nil
	}
	return "", fmt.Errorf("snapshot period %q: want month, week, day or off", s)
}

// cst is China Standard Time: periods begin at midnight there.
var cst = time.FixedZone("CST", 8*60*60)

// periodStart is the start of the period of sched that holds t.
func periodStart(sched Schedule, t time.Time) time.Time {
	t = t.In(cst)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, cst)
	switch sched {
	case Monthly:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, cst)
	case Weekly:
		return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7)) // back to Monday
	}
	return day
}

// TakeDue takes the snapshot of the period of sched that ended last before
// now (May's at the first call in June), unless it is taken already or the
// master index was loaded after that period ended (the hub's data would not
// be that period's). It returns the period taken, or nil.
func (p *Publisher) TakeDue(ctx context.Context, sched Schedule, now time.Time) (*indicators.Period, error) {
	if sched == Off {
		return nil, nil
	}
	end := periodStart(sched, now)
	label := indicators.PeriodLabel(string(sched), end.Add(-time.Nanosecond))
	var loaded *time.Time
	var taken bool
	if err := p.pool.QueryRow(ctx, `SELECT (SELECT min(loaded_at) FROM seeds), EXISTS (SELECT FROM indicator_periods WHERE period = $1)`, label).
		Scan(&loaded, &taken); err != nil {
		return nil, fmt.Errorf("bi: scheduled snapshot: %w", err)
	}
	if taken || loaded == nil || !loaded.Before(end) {
		return nil, nil
	}
	pr, err := p.figures.TakeSnapshot(ctx, label, string(sched))
	if e, ok := apperr.As(err); ok && e.Rule == indicators.ErrPeriodTaken {
		return nil, nil // another replica took it meanwhile
	}
	if err != nil {
		return nil, err
	}
	return &pr, nil
}

// AfterSync is what the hub does after each round of fact syncs: the
// scheduled snapshot when one is due, then a refresh of the bi tables.
// Failures are logged: the next round tries again.
func (p *Publisher) AfterSync(ctx context.Context, sched Schedule, now time.Time) {
	if pr, err := p.TakeDue(ctx, sched, now); err != nil {
		p.log.Error("bi: scheduled snapshot", "err", err)
	} else if pr != nil {
		p.log.Info("bi: scheduled snapshot taken", "period", pr.Label)
	}
	if _, err := p.Refresh(ctx); err != nil && ctx.Err() == nil {
		p.log.Error("bi: refresh", "err", err)
	}
}
