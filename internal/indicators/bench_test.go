package indicators_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gridhub/gridhub/internal/cache"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/factsync/factsynctest"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
)

// BenchmarkIndicators is indicators(level: GRID) over the whole benchmark
// city (factsynctest.LoadBenchCity; GRIDHUB_BENCH_SCALE=city
// GRIDHUB_BENCH_RESIDENTS=0 for the 1.3 million residents and 1,336 grids of
// 铜陵市) with every indicator of the catalogue, after all six departments
// are synced:
//
//   - Cold: a new Service each op, nothing cached: the versions, every grid's
//     counts from Postgres, the roll-up to every level, the suppression of
//     every count over the whole hierarchy, the table, the as-of times.
//   - Cached: the same query again, from the in-process cache (one query
//     for the data version remains).
//   - SharedCache: a new Service each op (another replica) that finds the
//     table in Redis and decodes it (skipped without redis-server).
//   - Recompute/<dept>: the recomputation of all of a department's per-grid
//     counts from its facts (rolled back), which a full sync ends with.
//
// p50-ms and p99-ms are per-op latencies.
func BenchmarkIndicators(b *testing.B) {
	ctx := context.Background()
	bc := factsynctest.LoadBenchCity(b)
	fx := bc.Fixture
	feeds, _ := factsynctest.Feeds(bc.Dataset)
	fm := factsync.FeedMap{}
	for d, f := range feeds {
		fm[d] = f
	}
	reg := grid.NewRegistry(fx.Store, time.Hour)
	syncer := factsync.New(fx.Store.Pool, fx.Keys, fm, reg, indicators.NewAggregator(indicators.Default()),
		factsync.Options{Now: func() time.Time { return factsynctest.Day }, Logger: quiet()})
	start := time.Now()
	res, err := syncer.SyncAll(ctx, false)
	if err != nil {
		b.Fatal(err)
	}
	facts := 0
	for _, r := range res {
		facts += r.Stats.Facts
	}
	b.Logf("city: %d residents (load %v, records %v); all six departments synced: %d facts in %v",
		len(fx.City.Persons), bc.Load.Round(time.Millisecond), bc.Build.Round(time.Millisecond), facts, time.Since(start).Round(time.Millisecond))
	if _, err := fx.Store.Pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		b.Fatal(err)
	}
	if _, err := reg.Index(ctx); err != nil {
		b.Fatal(err)
	}
	cat := indicators.Default()
	names := cat.Names()
	opts := indicators.Options{Logger: quiet()}

	check := func(b *testing.B, t *indicators.Table) {
		if len(t.Rows) == 0 || len(t.Names) != len(names) {
			b.Fatalf("table of %d rows, %d indicators", len(t.Rows), len(t.Names))
		}
	}
	report := func(b *testing.B, lat []time.Duration, t *indicators.Table) {
		slices.Sort(lat)
		b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
		b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
		b.ReportMetric(float64(len(t.Rows)), "rows")
		b.ReportMetric(float64(len(t.Names)), "indicators")
	}

	// The full recomputation of a department's aggregates: what a full sync
	// ends with, and an incremental one that touched most grids.
	agg := indicators.NewAggregator(cat)
	for _, d := range deptsim.Departments() {
		b.Run("Recompute/"+d, func(b *testing.B) {
			for b.Loop() {
				tx, err := fx.Store.Pool.Begin(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := agg.Recompute(ctx, tx, d, nil); err != nil {
					b.Fatal(err)
				}
				tx.Rollback(ctx)
			}
		})
	}

	b.Run("Cold", func(b *testing.B) {
		var lat []time.Duration
		var t *indicators.Table
		for b.Loop() {
			svc := indicators.NewService(fx.Store.Pool, cat, reg, opts)
			t0 := time.Now()
			var err error
			if t, err = svc.Table(ctx, grid.Grid, "", names); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if t.FromCache {
				b.Fatal("a cold query came from a cache")
			}
		}
		check(b, t)
		sup := 0
		for _, r := range t.Rows {
			for _, c := range r.Values {
				if c.Suppressed {
					sup++
				}
			}
		}
		b.ReportMetric(float64(sup)/float64(len(t.Rows)*len(t.Names)), "withheld/cell")
		report(b, lat, t)
	})

	b.Run("Cached", func(b *testing.B) {
		svc := indicators.NewService(fx.Store.Pool, cat, reg, opts)
		if _, err := svc.Table(ctx, grid.Grid, "", names); err != nil {
			b.Fatal(err)
		}
		var lat []time.Duration
		var t *indicators.Table
		for b.Loop() {
			t0 := time.Now()
			var err error
			if t, err = svc.Table(ctx, grid.Grid, "", names); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if !t.FromCache {
				b.Fatal("a repeated query missed the cache")
			}
		}
		check(b, t)
		report(b, lat, t)
	})

	b.Run("SharedCache", func(b *testing.B) {
		opt, err := redis.ParseURL(devenv.RedisURL(b)) // skips without redis-server
		if err != nil {
			b.Fatal(err)
		}
		client := redis.NewClient(opt)
		defer client.Close()
		o := opts
		o.Cache = cache.NewRedis(client, "bench:")
		if _, err := indicators.NewService(fx.Store.Pool, cat, reg, o).Table(ctx, grid.Grid, "", names); err != nil {
			b.Fatal(err)
		}
		var lat []time.Duration
		var t *indicators.Table
		for b.Loop() {
			svc := indicators.NewService(fx.Store.Pool, cat, reg, o)
			t0 := time.Now()
			var err error
			if t, err = svc.Table(ctx, grid.Grid, "", names); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if !t.FromCache {
				b.Fatal("a replica missed the shared cache")
			}
		}
		check(b, t)
		report(b, lat, t)
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
