package indicators

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/disclosure"
	"github.com/gridhub/gridhub/internal/grid"
)

// Period is a snapshot of the published tables: the trends are read from
// them. Its label is unique; periods are ordered by Seq.
type Period struct {
	Seq     int64
	Label   string
	Kind    string // PeriodMonth, PeriodWeek, PeriodDay or PeriodOnDemand
	TakenAt time.Time
}

// Kinds of period.
const (
	PeriodMonth    = "month"
	PeriodWeek     = "week"
	PeriodDay      = "day"
	PeriodOnDemand = "on_demand"
)

// ErrPeriodTaken is the code (extensions.code rule) of a snapshot asked for
// a period that has one already: a period is published once.
const ErrPeriodTaken = "period_taken"

// snapshotLock serialises snapshots across replicas: each is decided
// against all the periods before it.
const snapshotLock = 0x6772_6964_7065_7231 // "gridper1"

// PeriodLabel is the label of the period of kind that ends at the time t
// (the day, the ISO week, the month), in China Standard Time: 2025-05-14,
// 2025-W20, 2025-05. It is "" for PeriodOnDemand.
func PeriodLabel(kind string, t time.Time) string {
	t = t.In(cst)
	switch kind {
	case PeriodMonth:
		return t.Format("2006-01")
	case PeriodWeek:
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	case PeriodDay:
		return t.Format(time.DateOnly)
	}
	return ""
}

// cst is China Standard Time, the calendar periods are cut in.
var cst = time.FixedZone("CST", 8*60*60)

// Periods lists the periods taken, oldest first.
func (s *Service) Periods(ctx context.Context) ([]Period, error) {
	rows, _ := s.pool.Query(ctx, `SELECT seq, period, kind, taken_at FROM indicator_periods ORDER BY seq`)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Period, error) {
		var p Period
		err := r.Scan(&p.Seq, &p.Label, &p.Kind, &p.TakenAt)
		p.TakenAt = p.TakenAt.UTC()
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("indicators: read periods: %w", err)
	}
	return out, nil
}

// TakeSnapshot keeps the tables published now as the period label of kind:
// every count indicator at every unit, with the cells withheld now. It is
// what indicators(period:) and the series read from then on, and every later
// publication is decided against it. A label already taken is refused with
// BAD_USER_INPUT (rule period_taken): a period is published once.
func (s *Service) TakeSnapshot(ctx context.Context, label, kind string) (Period, error) {
	if label == "" || len(label) > 64 {
		return Period{}, apperr.BadInput("period", "period_label", "a period label of 1 to 64 characters")
	}
	if !slices.Contains([]string{PeriodMonth, PeriodWeek, PeriodDay, PeriodOnDemand}, kind) {
		return Period{}, apperr.BadInput("kind", "period_kind", "unknown period kind %q", kind)
	}
	var out Period
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(snapshotLock)); err != nil {
			return err
		}
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM indicator_periods WHERE period = $1)`, label).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return apperr.BadInput("period", ErrPeriodTaken, "period %s has a snapshot already", label)
		}
		var v versions
		if err := tx.QueryRow(ctx, versionsSQL).Scan(&v.data, &v.cells, &v.registry, &v.periods); err != nil {
			return err
		}
		cat := s.Catalogue()
		var counts []string
		for _, in := range cat.All() {
			if in.Count != nil {
				counts = append(counts, in.Name)
			}
		}
		sn, err := s.published(ctx, v, counts)
		if err != nil {
			return err
		}
		asOf, err := s.asOf(ctx, cat.Names())
		if err != nil {
			return err
		}
		at := map[string]*time.Time{}
		for _, a := range asOf {
			at[a.Department] = a.At
		}
		asOfJSON, _ := json.Marshal(at)
		if err := tx.QueryRow(ctx, `INSERT INTO indicator_periods (period, kind, as_of, counts) VALUES ($1, $2, $3, $4)
			RETURNING seq, period, kind, taken_at`, label, kind, asOfJSON, counts).Scan(&out.Seq, &out.Label, &out.Kind, &out.TakenAt); err != nil {
			return err
		}
		out.TakenAt = out.TakenAt.UTC()
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"indicator_period_units"}, []string{"period_seq", "code", "name", "level"},
			pgx.CopyFromSlice(len(sn.units), func(i int) ([]any, error) {
				u := sn.units[i]
				return []any{out.Seq, u.Code, u.Name, int16(u.Level)}, nil
			})); err != nil {
			return fmt.Errorf("store units: %w", err)
		}
		// A published 0 is the missing row.
		var cells [][]any
		for _, name := range counts {
			p := sn.counts[name]
			for i, u := range sn.units {
				if p.value[i] != 0 || p.sup[i] {
					cells = append(cells, []any{out.Seq, name, u.Code, p.value[i], p.sup[i]})
				}
			}
			if p.total != 0 || p.totalSup {
				cells = append(cells, []any{out.Seq, name, disclosure.GrandTotal, p.total, p.totalSup})
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"indicator_period_cells"}, []string{"period_seq", "name", "code", "value", "suppressed"},
			pgx.CopyFromRows(cells)); err != nil {
			return fmt.Errorf("store cells: %w", err)
		}
		return nil
	})
	if err != nil {
		if e, ok := apperr.As(err); ok {
			return Period{}, e
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return Period{}, apperr.BadInput("period", ErrPeriodTaken, "period %s has a snapshot already", label)
		}
		return Period{}, fmt.Errorf("indicators: snapshot %s: %w", label, err)
	}
	s.opts.Logger.Info("indicators: snapshot taken", "period", out.Label, "kind", out.Kind)
	return out, nil
}

// periodCells is a period's counts, as stored.
type periodCells struct {
	Period
	units  []grid.Unit // in the order of a snapshot: by level, then code
	counts []string    // the count indicators it holds
	// cells by count name, then code: the value and whether it was withheld
	cells map[string]map[string]storedCell
}

type storedCell struct {
	value      int64
	suppressed bool
}

// loadPeriods reads the periods whose seq is in seqs (all when nil), with
// their units, and the cells of the counts names (all when nil).
func (s *Service) loadPeriods(ctx context.Context, seqs []int64, names []string) ([]*periodCells, error) {
	rows, _ := s.pool.Query(ctx, `SELECT seq, period, kind, taken_at, counts FROM indicator_periods
		WHERE $1::bigint[] IS NULL OR seq = ANY($1) ORDER BY seq`, seqs)
	var out []*periodCells
	bySeq := map[int64]*periodCells{}
	var pc periodCells
	if _, err := pgx.ForEachRow(rows, []any{&pc.Seq, &pc.Label, &pc.Kind, &pc.TakenAt, &pc.counts}, func() error {
		p := &periodCells{Period: pc.Period, counts: slices.Clone(pc.counts), cells: map[string]map[string]storedCell{}}
		p.TakenAt = p.TakenAt.UTC()
		out = append(out, p)
		bySeq[p.Seq] = p
		return nil
	}); err != nil {
		return nil, fmt.Errorf("indicators: read periods: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	all := make([]int64, len(out))
	for i, p := range out {
		all[i] = p.Seq
	}
	rows, _ = s.pool.Query(ctx, `SELECT period_seq, code, name, level FROM indicator_period_units
		WHERE period_seq = ANY($1) ORDER BY period_seq, level, code`, all)
	var (
		seq   int64
		u     grid.Unit
		level int16
	)
	if _, err := pgx.ForEachRow(rows, []any{&seq, &u.Code, &u.Name, &level}, func() error {
		u.Level = grid.Level(level)
		u.Parent = parentCode(u.Code)
		bySeq[seq].units = append(bySeq[seq].units, u)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("indicators: read period units: %w", err)
	}
	var nameArg any
	if names != nil {
		nameArg = names
	}
	rows, _ = s.pool.Query(ctx, `SELECT period_seq, name, code, value, suppressed FROM indicator_period_cells
		WHERE period_seq = ANY($1) AND ($2::text[] IS NULL OR name = ANY($2))`, all, nameArg)
	var (
		name, code string
		c          storedCell
	)
	if _, err := pgx.ForEachRow(rows, []any{&seq, &name, &code, &c.value, &c.suppressed}, func() error {
		p := bySeq[seq]
		if p.cells[name] == nil {
			p.cells[name] = map[string]storedCell{}
		}
		p.cells[name][code] = c
		return nil
	}); err != nil {
		return nil, fmt.Errorf("indicators: read period cells: %w", err)
	}
	return out, nil
}

// parentCode is the code of a unit's parent: the code less its last level
// ("" for a district).
func parentCode(code string) string {
	if len(code) <= 6 {
		return ""
	}
	return code[:len(code)-3]
}

// earlier returns the latest periods (Options.History at most) on the units
// of sn that hold every count of the family fam, as disclosure.SuppressSeries
// takes them. Periods of another layout, or from before a count of the
// family was defined, are left out.
func (s *Service) earlier(ctx context.Context, sn *snapshot, fam []string) ([]disclosure.Earlier, error) {
	if sn.periods == 0 {
		return nil, nil
	}
	if sn.history == nil {
		var seqs []int64
		if err := s.pool.QueryRow(ctx, `SELECT coalesce(array_agg(seq ORDER BY seq), '{}') FROM
			(SELECT seq FROM indicator_periods WHERE seq <= $1 ORDER BY seq DESC LIMIT $2) p`, sn.periods, s.opts.History).Scan(&seqs); err != nil {
			return nil, fmt.Errorf("indicators: read periods: %w", err)
		}
		periods, err := s.loadPeriods(ctx, seqs, nil)
		if err != nil {
			return nil, err
		}
		sn.history = []*periodCells{}
		for _, p := range periods {
			if sameUnits(p.units, sn.units) {
				sn.history = append(sn.history, p)
			}
		}
	}
	var out []disclosure.Earlier
	for _, p := range sn.history {
		if slices.ContainsFunc(fam, func(n string) bool { return !slices.Contains(p.counts, n) }) {
			continue
		}
		e := disclosure.Earlier{Suppressed: map[string]map[string]bool{}}
		for _, name := range fam {
			cells := p.cells[name]
			nodes := make([]disclosure.Node, len(sn.units))
			sup := map[string]bool{}
			for i, u := range sn.units {
				nodes[i] = disclosure.Node{Code: u.Code, Parent: u.Parent, Value: cells[u.Code].value}
				if sn.parent[i] < 0 {
					nodes[i].Parent = disclosure.GrandTotal
				}
				if cells[u.Code].suppressed {
					sup[u.Code] = true
				}
			}
			if cells[disclosure.GrandTotal].suppressed {
				sup[disclosure.GrandTotal] = true
			}
			in, _ := s.Catalogue().Lookup(name)
			e.Counts = append(e.Counts, disclosure.Count{Name: name, Nodes: nodes, Rule: s.rule(in)})
			e.Suppressed[name] = sup
		}
		out = append(out, e)
	}
	return out, nil
}

// sameUnits says whether a period's units are the units of a snapshot.
func sameUnits(a, b []grid.Unit) bool {
	return slices.EqualFunc(a, b, func(x, y grid.Unit) bool { return x.Code == y.Code })
}

// period returns the period labelled label, with every count's cells.
func (s *Service) period(ctx context.Context, label string) (*periodCells, error) {
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT seq FROM indicator_periods WHERE period = $1`, label).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &apperr.Error{Code: apperr.NotFound, Field: "period", Message: fmt.Sprintf("no period %s", label)}
	}
	if err != nil {
		return nil, fmt.Errorf("indicators: read period: %w", err)
	}
	key := fmt.Sprintf("period:%d", seq)
	if p, ok := s.periodCache.Get(key); ok {
		return p, nil
	}
	ps, err := s.loadPeriods(ctx, []int64{seq}, nil)
	if err != nil {
		return nil, err
	}
	s.periodCache.Add(key, ps[0])
	return ps[0], nil
}

// TableAt is Table as published in the period labelled period: the same
// rows, values and withheld cells as the current table showed when the
// snapshot was taken (names and rates as the catalogue defines them now).
// An indicator the period did not count is withheld in it. An unknown period
// is NOT_FOUND.
func (s *Service) TableAt(ctx context.Context, period string, level grid.Level, within string, names []string) (*Table, error) {
	if err := checkLevel(level, within); err != nil {
		return nil, err
	}
	names, err := s.resolveNames(names)
	if err != nil {
		return nil, err
	}
	p, err := s.period(ctx, period)
	if err != nil {
		return nil, err
	}
	return s.tableOf(ctx, p, level, within, names)
}

// tableOf cuts a table from a period's cells.
func (s *Service) tableOf(ctx context.Context, p *periodCells, level grid.Level, within string, names []string) (*Table, error) {
	byLevel := map[grid.Level][]grid.Unit{}
	for _, u := range p.units {
		byLevel[u.Level] = append(byLevel[u.Level], u)
	}
	sn := unitsSnapshot(func(l grid.Level) []grid.Unit { return byLevel[l] })
	for _, name := range countsOf(s.Catalogue(), names) {
		cells, held := p.cells[name], slices.Contains(p.counts, name)
		pub := &published{value: make([]int64, len(sn.units)), sup: make([]bool, len(sn.units))}
		for i, u := range sn.units {
			c := cells[u.Code]
			pub.value[i], pub.sup[i] = c.value, c.suppressed || !held
		}
		c := cells[disclosure.GrandTotal]
		pub.total, pub.totalSup = c.value, c.suppressed || !held
		sn.counts[name] = pub
	}
	t, err := s.cut(sn, level, within, names)
	if err != nil {
		return nil, err
	}
	period := p.Period
	t.Period = &period
	var at map[string]*time.Time
	if err := s.pool.QueryRow(ctx, `SELECT as_of FROM indicator_periods WHERE seq = $1`, p.Seq).Scan(&at); err != nil {
		return nil, fmt.Errorf("indicators: read period as-of: %w", err)
	}
	for _, d := range s.departmentsOf(names) {
		a := AsOf{Department: d}
		if v := at[d]; v != nil {
			u := v.UTC()
			a.At = &u
		}
		t.AsOf = append(t.AsOf, a)
	}
	return t, nil
}

// Series is the table of names at level under within in every period from
// the one labelled from to the one labelled to (both included; "" for the
// first, or the last), oldest first.
func (s *Service) Series(ctx context.Context, level grid.Level, within string, names []string, from, to string) ([]*Table, error) {
	if err := checkLevel(level, within); err != nil {
		return nil, err
	}
	names, err := s.resolveNames(names)
	if err != nil {
		return nil, err
	}
	periods, err := s.Periods(ctx)
	if err != nil {
		return nil, err
	}
	lo, hi := 0, len(periods)
	for _, b := range []struct {
		label, field string
		at           *int
		end          int
	}{{from, "from", &lo, 0}, {to, "to", &hi, 1}} {
		if b.label == "" {
			continue
		}
		i := slices.IndexFunc(periods, func(p Period) bool { return p.Label == b.label })
		if i < 0 {
			return nil, &apperr.Error{Code: apperr.NotFound, Field: b.field, Message: fmt.Sprintf("no period %s", b.label)}
		}
		*b.at = i + b.end
	}
	var out []*Table
	for _, p := range periods[lo:max(lo, hi)] {
		pc, err := s.period(ctx, p.Label)
		if err != nil {
			return nil, err
		}
		t, err := s.tableOf(ctx, pc, level, within, names)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
