package bi_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/bi"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/factsync/factsynctest"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/testcity"
)

func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// syncedCity is the test city with every department synced from in-memory
// feeds, and the indicator service over it, both as the hub's own role.
func syncedCity(tb testing.TB) (*testcity.Fixture, *indicators.Service) {
	tb.Helper()
	fx := testcity.Load(tb)
	feeds, _ := factsynctest.Feeds(factsynctest.Dataset(tb))
	fm := factsync.FeedMap{}
	for d, f := range feeds {
		fm[d] = f
	}
	registry := grid.NewRegistry(fx.App, time.Hour)
	figures := indicators.NewService(fx.App.Pool, indicators.Default(), registry, indicators.Options{Logger: quiet})
	syncer := factsync.New(fx.App.Pool, fx.Keys, fm, registry, indicators.NewAggregator(indicators.Default()),
		factsync.Options{Now: func() time.Time { return factsynctest.Day }, Logger: quiet})
	if _, err := syncer.SyncAll(context.Background(), false); err != nil {
		tb.Fatal(err)
	}
	return fx, figures
}

// chinaTime is the zone periods are cut in.
var chinaTime = time.FixedZone("CST", 8*60*60)

// TestScheduledSnapshots takes the snapshots a schedule asks for: the month
// (or week, or day) that ended last, once; none while the master index is
// younger than that period, none when the schedule is off. The refresh after
// a snapshot adds the period to the bi series, and a refresh with nothing
// new writes nothing.
func TestScheduledSnapshots(t *testing.T) {
	ctx := context.Background()
	fx, figures := syncedCity(t)
	pub := bi.NewPublisher(fx.App.Pool, figures, quiet)

	june1 := time.Date(2025, 6, 1, 0, 30, 0, 0, chinaTime)
	// The city was loaded today: May's figures are not the hub's to publish.
	if pr, err := pub.TakeDue(ctx, bi.Monthly, june1); err != nil || pr != nil {
		t.Fatalf("master index loaded after May: took %v, %v; want none", pr, err)
	}
	if _, err := fx.Store.Pool.Exec(ctx, `UPDATE seeds SET loaded_at = '2025-04-20T00:00:00Z'`); err != nil {
		t.Fatal(err)
	}
	if pr, err := pub.TakeDue(ctx, bi.Off, june1); err != nil || pr != nil {
		t.Fatalf("schedule off: took %v, %v; want none", pr, err)
	}
	for _, tc := range []struct {
		sched bi.Schedule
		now   time.Time
		want  string
	}{
		{bi.Monthly, june1, "2025-05"},
		{bi.Monthly, june1.Add(20 * 24 * time.Hour), ""}, // May's is taken
		{bi.Weekly, time.Date(2025, 6, 4, 9, 0, 0, 0, chinaTime), "2025-W22"},
		{bi.Daily, time.Date(2025, 6, 4, 9, 0, 0, 0, chinaTime), "2025-06-03"},
		// Midnight of 1 July in China is still 30 June in UTC: June ended.
		{bi.Monthly, time.Date(2025, 6, 30, 16, 5, 0, 0, time.UTC), "2025-06"},
	} {
		pr, err := pub.TakeDue(ctx, tc.sched, tc.now)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if pr != nil {
			got = pr.Label
			if pr.Kind != string(tc.sched) {
				t.Errorf("%s at %s: kind %s", tc.sched, tc.now, pr.Kind)
			}
		}
		if got != tc.want {
			t.Errorf("%s at %s: took %q, want %q", tc.sched, tc.now, got, tc.want)
		}
	}

	wrote, err := pub.Refresh(ctx)
	if err != nil || !wrote {
		t.Fatalf("first refresh: wrote %t, %v", wrote, err)
	}
	var periods []string
	rows, _ := fx.Store.Pool.Query(ctx, `SELECT period FROM bi.periods ORDER BY position`)
	for rows.Next() {
		var p string
		rows.Scan(&p)
		periods = append(periods, p)
	}
	if want := []string{"2025-05", "2025-W22", "2025-06-03", "2025-06"}; !slices.Equal(periods, want) {
		t.Errorf("bi.periods %v, want %v", periods, want)
	}
	var seriesPeriods int
	if err := fx.Store.Pool.QueryRow(ctx, `SELECT count(DISTINCT period) FROM bi.grid_indicator_series`).Scan(&seriesPeriods); err != nil || seriesPeriods != 4 {
		t.Errorf("bi.grid_indicator_series holds %d periods (%v), want 4", seriesPeriods, err)
	}
	if wrote, err := pub.Refresh(ctx); err != nil || wrote {
		t.Errorf("refresh with nothing new: wrote %t, %v; want nothing", wrote, err)
	}
}

// TestGrantChecksItsArguments: a login name that is not a plain identifier,
// and a scope that is not a unit of the registry, are refused with a code.
func TestGrantChecksItsArguments(t *testing.T) {
	ctx := context.Background()
	fx := testcity.Load(t)
	for _, tc := range []struct{ login, within, rule string }{
		{"Robert'); DROP TABLE persons;--", "", "login_name"},
		{"bi_reader", "12345", "grid_code"},
		{"bi_reader", "999999999", "unknown_unit"},
	} {
		_, err := bi.Grant(ctx, fx.Store.Pool, tc.login, tc.within)
		e, ok := apperr.As(err)
		if !ok || e.Code != apperr.BadUserInput || e.Rule != tc.rule {
			t.Errorf("grant %q within %q: %v, want BAD_USER_INPUT %s", tc.login, tc.within, err, tc.rule)
		}
	}
}

// TestRefreshIsOneTransaction: a refresh that fails on its last table
// leaves every table as the previous refresh wrote it (the tables it had
// already rewritten included), and the next refresh writes them all.
func TestRefreshIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	fx, figures := syncedCity(t)
	pub := bi.NewPublisher(fx.App.Pool, figures, quiet)
	if _, err := pub.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	owner := fx.Store.Pool
	// Marks on what the first refresh wrote; then, as after a sync that
	// changed the data, a refresh that fails writing the grid table.
	for _, q := range []string{
		`UPDATE bi.district_indicators SET name = 'before'`,
		`UPDATE bi.refresh SET data_version = -1`,
		`CREATE FUNCTION bi_test_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'grid table refused'; END $$`,
		`CREATE TRIGGER bi_test_fail BEFORE INSERT ON bi.grid_indicators FOR EACH STATEMENT EXECUTE FUNCTION bi_test_fail()`,
	} {
		if _, err := owner.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pub.Refresh(ctx); err == nil {
		t.Fatal("refresh with the grid table refusing rows: no error")
	}
	var marked, grids int
	var version int64
	if err := owner.QueryRow(ctx, `SELECT (SELECT count(*) FROM bi.district_indicators WHERE name = 'before'),
		(SELECT count(*) FROM bi.grid_indicators), (SELECT data_version FROM bi.refresh)`).Scan(&marked, &grids, &version); err != nil {
		t.Fatal(err)
	}
	if marked == 0 || grids == 0 || version != -1 {
		t.Errorf("after a failed refresh: %d district rows as they were, %d grid rows, version %d; want the tables untouched", marked, grids, version)
	}
	if _, err := owner.Exec(ctx, `DROP TRIGGER bi_test_fail ON bi.grid_indicators`); err != nil {
		t.Fatal(err)
	}
	if wrote, err := pub.Refresh(ctx); err != nil || !wrote {
		t.Fatalf("refresh: wrote %t, %v", wrote, err)
	}
	if err := owner.QueryRow(ctx, `SELECT count(*) FROM bi.district_indicators WHERE name = 'before'`).Scan(&marked); err != nil || marked != 0 {
		t.Errorf("after the refresh: %d district rows still marked (%v)", marked, err)
	}
}
