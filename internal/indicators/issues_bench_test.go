package indicators_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/factsync/factsynctest"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
)

// BenchmarkGridIndicators (issue 6) times the table of every indicator of the
// catalogue for every grid of the benchmark city (indicators.Service.Table
// at level Grid, within the whole area), after every department has been
// synced in full from in-memory feeds of its simulated records.
//
// The city is factsynctest.LoadBenchCity's: 50,000 residents by default; the
// whole city of about 1.3 million residents with GRIDHUB_BENCH_SCALE=city
// GRIDHUB_BENCH_RESIDENTS=0. The full sync of all six departments
// (SyncAll, untimed by the sub-benchmarks) is logged with each department's
// elapsed time.
//
//   - Cold: one op is a fresh indicators.Service (no table in its cache, no
//     published snapshot) answering the table: every count read from the
//     synced cells, disclosure control applied, rates derived. The grid
//     registry stays warm (it is the hub's, shared and long-lived), and so
//     does Postgres's buffer cache.
//   - Cached: one op is the same table asked again of one service: the
//     data-version query and the in-process cache.
//
// Both report p50-ms and p99-ms of one call, and grids and indicators (the
// table's size).
func BenchmarkGridIndicators(b *testing.B) {
	ctx := context.Background()
	bc := factsynctest.LoadBenchCity(b)
	b.Logf("city: %d residents, loaded in %v; department records built in %v", len(bc.Fixture.City.Persons),
		bc.Load.Round(time.Millisecond), bc.Build.Round(time.Millisecond))
	feeds, _ := factsynctest.Feeds(bc.Dataset)
	fm := factsync.FeedMap{}
	for d, f := range feeds {
		fm[d] = f
	}
	pool := bc.Fixture.Store.Pool
	reg := grid.NewRegistry(bc.Fixture.Store, time.Hour)
	cat := indicators.Default()
	syncer := factsync.New(pool, bc.Fixture.Keys, fm, reg, indicators.NewAggregator(cat),
		factsync.Options{Now: func() time.Time { return factsynctest.Day }, Logger: quiet()})
	start := time.Now()
	res, err := syncer.SyncAll(ctx, true)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("full sync of all departments (2 at a time): %v", time.Since(start).Round(time.Millisecond))
	for d, r := range res {
		b.Logf("  %-16s %9d facts %6d grids %v", d, r.Stats.Facts, r.Stats.Grids, r.Stats.Elapsed.Round(time.Millisecond))
	}
	ix, err := reg.Index(ctx)
	if err != nil {
		b.Fatal(err)
	}
	grids := len(ix.Units(grid.Grid))

	check := func(b *testing.B, t *indicators.Table) {
		if len(t.Rows) != grids || len(t.Names) != len(cat.All()) {
			b.Fatalf("table of %d rows and %d indicators, want %d grids and %d", len(t.Rows), len(t.Names), grids, len(cat.All()))
		}
	}
	report := func(b *testing.B, lat []time.Duration) {
		slices.Sort(lat)
		pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(float64(grids), "grids")
		b.ReportMetric(float64(len(cat.All())), "indicators")
	}

	b.Run("Cold", func(b *testing.B) {
		var lat []time.Duration
		for b.Loop() {
			t0 := time.Now()
			svc := indicators.NewService(pool, cat, reg, indicators.Options{Logger: quiet()})
			t, err := svc.Table(ctx, grid.Grid, "", nil)
			lat = append(lat, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			if t.FromCache {
				b.Fatal("a fresh service answered from its cache")
			}
			check(b, t)
		}
		report(b, lat)
	})
	b.Run("Cached", func(b *testing.B) {
		svc := indicators.NewService(pool, cat, reg, indicators.Options{Logger: quiet()})
		if _, err := svc.Table(ctx, grid.Grid, "", nil); err != nil {
			b.Fatal(err)
		}
		var lat []time.Duration
		for b.Loop() {
			t0 := time.Now()
			t, err := svc.Table(ctx, grid.Grid, "", nil)
			lat = append(lat, time.Since(t0))
			if err != nil {
				b.Fatal(err)
			}
			if !t.FromCache {
				b.Fatal("the second ask was computed again")
			}
			check(b, t)
		}
		report(b, lat)
	})
}
