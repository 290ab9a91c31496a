package indicators_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
)

// sameCells says whether two tables publish the same rows and cells (their
// CSV is the same).
func sameCells(t *testing.T, a, b *indicators.Table) bool {
	t.Helper()
	var x, y bytes.Buffer
	if err := indicators.WriteCSV(&x, a); err != nil {
		t.Fatal(err)
	}
	if err := indicators.WriteCSV(&y, b); err != nil {
		t.Fatal(err)
	}
	return x.String() == y.String()
}

// storedCell is a period's count at a unit, as kept.
type storedCell struct {
	value      int64
	suppressed bool
}

// periodCells reads a period's stored counts: name -> code -> cell.
func periodCells(t *testing.T, e *env, label string) map[string]map[string]storedCell {
	t.Helper()
	rows, _ := e.fx.Store.Pool.Query(context.Background(), `SELECT c.name, c.code, c.value, c.suppressed
		FROM indicator_period_cells c JOIN indicator_periods p ON p.seq = c.period_seq WHERE p.period = $1`, label)
	out := map[string]map[string]storedCell{}
	var (
		name, code string
		c          storedCell
	)
	if _, err := pgx.ForEachRow(rows, []any{&name, &code, &c.value, &c.suppressed}, func() error {
		if out[name] == nil {
			out[name] = map[string]storedCell{}
		}
		out[name][code] = c
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPeriods takes two monthly snapshots with a change in between: each
// period's tables are the tables published when it was taken, cell for
// cell; the series lists them in order; a period is taken once; and the
// second period withholds again every cell the first withheld that did not
// change (the start of disclosure.SuppressSeries, which the disclosure
// package's attack test checks in full).
func TestPeriods(t *testing.T) {
	e := newEnv(t, indicators.Options{})
	ctx := context.Background()
	levels := []grid.Level{grid.District, grid.Township, grid.Community, grid.Grid}

	live := map[grid.Level]*indicators.Table{}
	for _, l := range levels {
		tab, err := e.svc.Table(ctx, l, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		live[l] = tab
	}
	may, err := e.svc.TakeSnapshot(ctx, "2025-05", indicators.PeriodMonth)
	if err != nil {
		t.Fatal(err)
	}
	if may.Label != "2025-05" || may.Kind != indicators.PeriodMonth || may.TakenAt.IsZero() {
		t.Errorf("period %+v", may)
	}
	for _, l := range levels {
		at, err := e.svc.TableAt(ctx, "2025-05", l, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !sameCells(t, live[l], at) || at.Period == nil || at.Period.Label != "2025-05" {
			t.Errorf("%s: the period's table differs from the table published when it was taken", l)
		}
		if len(at.AsOf) != len(live[l].AsOf) {
			t.Errorf("%s: as-of %v, want %v", l, at.AsOf, live[l].AsOf)
		}
	}
	if _, err := e.svc.TakeSnapshot(ctx, "2025-05", indicators.PeriodMonth); !isBadInput(err, indicators.ErrPeriodTaken) {
		t.Errorf("a second snapshot of 2025-05: %v, want BAD_USER_INPUT period_taken", err)
	}
	if _, err := e.svc.TableAt(ctx, "1999-01", grid.Grid, "", nil); !isCode(err, apperr.NotFound) {
		t.Errorf("an unknown period: %v, want NOT_FOUND", err)
	}

	// June: new 特困 persons in a few grids.
	for i, p := range e.fx.City.Persons[:40] {
		if i%8 != 0 {
			continue
		}
		e.feeds[deptsim.CivilAffairs].Append(connectors.Fact{Entity: connectors.Person, Key: p.IDNumber, Set: "tekun", ID: p.IDNumber,
			Record: connectors.Record{"status": "ACTIVE", "category": "URBAN"}})
	}
	if _, err := e.syncer.SyncDepartment(ctx, deptsim.CivilAffairs, false); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	june, err := e.svc.Table(ctx, grid.Grid, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the current tables after a change, checked against one period: %v", time.Since(start).Round(time.Millisecond))
	if _, err := e.svc.TakeSnapshot(ctx, "2025-06", indicators.PeriodMonth); err != nil {
		t.Fatal(err)
	}
	at, err := e.svc.TableAt(ctx, "2025-06", grid.Grid, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sameCells(t, june, at) {
		t.Error("June's period differs from the table published when it was taken")
	}

	first, second := periodCells(t, e, "2025-05"), periodCells(t, e, "2025-06")
	changed, kept := 0, 0
	for name, cells := range first {
		for code, c := range cells {
			d := second[name][code]
			if d.value != c.value {
				changed++
				continue
			}
			if c.suppressed && !d.suppressed {
				t.Errorf("%s at %q: withheld in May, published in June at the same value", name, code)
			}
			if c.suppressed {
				kept++
			}
		}
	}
	if changed == 0 || kept == 0 {
		t.Errorf("%d cells changed, %d withheld cells kept: the test does not exercise the series", changed, kept)
	}

	series, err := e.svc.Series(ctx, grid.Community, "", []string{"tekunPersons"}, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(series) != 2 || series[0].Period.Label != "2025-05" || series[1].Period.Label != "2025-06" {
		t.Fatalf("series of %d tables", len(series))
	}
	only, err := e.svc.Series(ctx, grid.Community, "", []string{"tekunPersons"}, "2025-06", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(only) != 1 || !sameCells(t, only[0], series[1]) {
		t.Errorf("series from 2025-06: %d tables", len(only))
	}
	if _, err := e.svc.Series(ctx, grid.Community, "", nil, "1999-01", ""); !isCode(err, apperr.NotFound) {
		t.Errorf("a series from an unknown period: %v, want NOT_FOUND", err)
	}
}

func isCode(err error, code apperr.Code) bool {
	e, ok := apperr.As(err)
	return ok && e.Code == code
}

func isBadInput(err error, rule string) bool {
	e, ok := apperr.As(err)
	return ok && e.Code == apperr.BadUserInput && e.Rule == rule
}

func TestPeriodLabel(t *testing.T) {
	at := time.Date(2025, 5, 31, 18, 0, 0, 0, time.UTC) // 1 June in China
	for kind, want := range map[string]string{indicators.PeriodMonth: "2025-06", indicators.PeriodWeek: "2025-W22", indicators.PeriodDay: "2025-06-01"} {
		if got := indicators.PeriodLabel(kind, at); got != want {
			t.Errorf("PeriodLabel(%s) = %q, want %q", kind, got, want)
		}
	}
}
