package gridwork_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/gridwork"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/synth"
	"github.com/gridhub/gridhub/internal/testcity"
)

func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }

var cst = time.FixedZone("CST", 8*60*60)

// expected computes the assessment figures of the units under prefix
// straight from the generated history: the truth the hub's figures are
// checked against.
func expected(city *synth.City, h *gridwork.History, closedFindings []closedFinding, prefix string, from time.Time, days int, today time.Time) map[string]float64 {
	to := from.AddDate(0, 0, days)
	in := func(grid string, at time.Time) bool {
		return strings.HasPrefix(grid, prefix) && !at.Before(from) && at.Before(to)
	}
	dayOf := func(at time.Time) int { return int(at.In(cst).Sub(from).Hours() / 24) }
	var grids, households int
	for _, u := range city.Units {
		if len(u.Code) == 15 && strings.HasPrefix(u.Code, prefix) {
			grids++
			households += u.Households
		}
	}
	patrolDays, patrolWeeks := map[string]bool{}, map[string]bool{}
	for _, p := range h.Patrols {
		if in(p.Grid, p.At) {
			patrolDays[fmt.Sprint(p.Grid, dayOf(p.At))] = true
			patrolWeeks[fmt.Sprint(p.Grid, dayOf(p.At)/7)] = true
		}
	}
	var entries, reported, closed, closureDays, overdue float64
	for _, e := range h.Entries {
		if in(e.Grid, e.At) {
			entries++
		}
	}
	for _, e := range h.Events {
		if !in(e.Grid, e.At) {
			continue
		}
		reported++
		reportedOn := time.Date(e.At.Year(), e.At.Month(), e.At.Day(), 0, 0, 0, 0, cst)
		if e.ClosedOn != nil {
			closed++
			closureDays += e.ClosedOn.Sub(reportedOn).Hours() / 24
			if e.ClosedOn.After(e.Deadline) {
				overdue++
			}
		} else if today.After(e.Deadline) {
			overdue++
		}
	}
	household := map[int64]int64{}
	for _, p := range city.Persons {
		household[p.ID] = p.HouseholdID
	}
	visited := map[int64]bool{}
	for _, v := range h.Visits {
		if in(v.Grid, v.At) {
			visited[household[v.PersonID]] = true
		}
	}
	var findingsClosed float64
	for _, f := range closedFindings {
		if f.grid != "" && f.closed != nil && in(f.grid, *f.closed) {
			findingsClosed++
		}
	}
	pct := func(a, b float64) float64 { return math.Round(1000*a/b) / 10 }
	weeks := float64((days + 6) / 7)
	return map[string]float64{
		"grids": float64(grids), "patrolDays": float64(len(patrolDays)),
		"patrolCoverage":       pct(float64(len(patrolDays)), float64(grids*days)),
		"weeklyPatrolCoverage": pct(float64(len(patrolWeeks)), float64(grids)*weeks),
		"diaryEntries":         entries, "reportsDue": float64(households), "reportsCompleted": float64(len(visited)),
		"reportCompletion": pct(float64(len(visited)), float64(households)),
		"eventsReported":   reported, "eventsClosed": closed, "overdueEvents": overdue,
		"meanClosureDays": math.Round(10*closureDays/closed) / 10,
		"findingsClosed":  findingsClosed,
	}
}

// closedFinding is a finding as the findings engine stores it: the grid it
// is counted in ("" for none) and when the departments' data stopped
// showing it (nil: still open).
type closedFinding struct {
	grid   string
	closed *time.Time
}

// plantFindings stores findings in some grids, opened before the period and
// closed before, inside and after it or not at all, plus some located in no
// grid, as the findings engine would have; it returns them.
func plantFindings(t *testing.T, ctx context.Context, fx *testcity.Fixture, from time.Time, days int) []closedFinding {
	t.Helper()
	var out []closedFinding
	var rows [][]any
	n := 0
	for i, u := range fx.City.Units {
		if len(u.Code) != 15 {
			continue
		}
		n++
		for k := range (i * 7) % 11 {
			f := closedFinding{grid: u.Code}
			if k%4 != 3 {
				// From three days before the period to three after it.
				at := from.Add(time.Duration((i*13+k*29)%((days+6)*24)-3*24) * time.Hour)
				f.closed = &at
			}
			out = append(out, f)
		}
	}
	for k := range 6 {
		at := from.Add(time.Duration(k) * 24 * time.Hour)
		out = append(out, closedFinding{closed: &at})
	}
	for i, f := range out {
		var g any
		if f.grid != "" {
			g = f.grid
		}
		rows = append(rows, []any{"duplicateRecord", fmt.Sprintf("planted-%d", i), g, from.AddDate(0, 0, -10), f.closed})
	}
	if _, err := fx.Store.Pool.CopyFrom(ctx, pgx.Identifier{"findings"}, []string{"kind", "key", "grid_code", "opened_at", "closed_at"}, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	if n == 0 || len(out) < 100 {
		t.Fatalf("planted %d findings over %d grids", len(out), n)
	}
	return out
}

// The 考核 figures of every street, community and grid of a small city
// match what the generated history says, over a period inside it.
func TestAssessmentMatchesTheHistory(t *testing.T) {
	ctx := context.Background()
	fx := testcity.Load(t)
	depts, err := builtin.Departments()
	if err != nil {
		t.Fatal(err)
	}
	conf := gridwork.Default(depts)
	svc, err := gridwork.NewService(fx.App.Pool, func() *gridwork.Config { return conf }, gridwork.Options{})
	if err != nil {
		t.Fatal(err)
	}
	today := time.Date(2026, 6, 30, 0, 0, 0, 0, cst)
	svc.SetClock(func() time.Time { return today.Add(15 * time.Hour) })
	h := gridwork.GenerateHistory(fx.City, conf, today, 35, 7)
	if len(h.Patrols) == 0 || len(h.Events) == 0 || len(h.Visits) == 0 {
		t.Fatalf("an empty history: %d patrols, %d events, %d visits", len(h.Patrols), len(h.Events), len(h.Visits))
	}
	if err := h.Load(ctx, fx.App.Pool, conf); err != nil {
		t.Fatal(err)
	}
	ix := grid.NewIndex(fx.City.Units)
	from := time.Date(2026, 6, 10, 0, 0, 0, 0, cst)
	const days = 17
	planted := plantFindings(t, ctx, fx, from, days)
	period := gridwork.Period{From: from, To: from.AddDate(0, 0, days-1)}
	district := fx.City.Area
	checked, suppressed := 0, 0
	published := map[string]int{} // cells published with a value above 0
	// The figures that count households or residents keep the disclosure
	// rule; the rest count the staff's work.
	countsResidents := map[string]bool{"reportsDue": true, "reportsCompleted": true, "reportCompletion": true, "findingsClosed": true}
	for _, level := range []grid.Level{grid.Township, grid.Community, grid.Grid} {
		table, err := svc.Assess(ctx, ix, level, district, period, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(table.Rows) == 0 {
			t.Fatalf("%v: no rows", level)
		}
		units := []unitCells{{district, table.Totals}}
		for _, r := range table.Rows {
			units = append(units, unitCells{r.Unit.Code, r.Values})
		}
		for _, row := range units {
			want := expected(fx.City, h, planted, row.code, from, days, today)
			for _, c := range row.cells {
				w, ok := want[c.Name]
				switch {
				case !ok:
					t.Fatalf("no truth for %s", c.Name)
				case c.Suppressed && !countsResidents[c.Name]:
					t.Errorf("%s %s: suppressed (a staff figure)", row.code, c.Name)
				case c.Suppressed && c.Value != nil:
					t.Errorf("%s %s: suppressed with a value", row.code, c.Name)
				case c.Suppressed:
					suppressed++
				case countsResidents[c.Name] && c.Name != "reportCompletion" && w > 0 && w < 5:
					t.Errorf("%s %s = %v published: below the disclosure threshold", row.code, c.Name, w)
				case c.Value == nil && !math.IsNaN(w) && !math.IsInf(w, 0):
					t.Errorf("%s %s: null, want %v", row.code, c.Name, w)
				case c.Value != nil && *c.Value != w:
					t.Errorf("%s %s = %v, want %v", row.code, c.Name, *c.Value, w)
				}
				checked++
				if !c.Suppressed && c.Value != nil && *c.Value > 0 {
					published[c.Name]++
				}
			}
		}
	}
	t.Logf("%d figures checked against the history, %d withheld by the disclosure rule", checked, suppressed)
	for _, name := range []string{"patrolDays", "reportsCompleted", "eventsClosed", "findingsClosed"} {
		if published[name] == 0 {
			t.Errorf("no unit published %s above 0: nothing was checked", name)
		}
	}

	// A period out of order, or too long, is refused.
	for _, p := range []gridwork.Period{{From: from, To: from.AddDate(0, 0, -1)}, {From: from, To: from.AddDate(2, 0, 0)}} {
		if _, err := svc.Assess(ctx, ix, grid.Grid, district, p, nil); err == nil {
			t.Errorf("period %v accepted", p)
		}
	}
}

// unitCells are one unit's figures.
type unitCells struct {
	code  string
	cells []indicators.Cell
}
