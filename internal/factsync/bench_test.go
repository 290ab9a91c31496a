package factsync_test

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/factsync/factsynctest"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
)

// BenchmarkSync times the sync of each department from an in-memory feed of
// its simulated records (internal/deptsim) about the benchmark city
// (factsynctest.LoadBenchCity: GRIDHUB_BENCH_SCALE=city GRIDHUB_BENCH_RESIDENTS=0
// for the whole city of 1.3 million residents).
//
//   - Full/<dept>: one op is a full sync of the department into an empty copy
//     (its facts, state and dirty grids removed untimed): every fact copied,
//     merged, placed, and every grid's aggregates computed.
//   - Incremental/<dept>/<n>: one op is an incremental sync of n changed
//     records (100 and 1000, or GRIDHUB_BENCH_CHANGES), 1% of them
//     deletions, spread over the department's records at random; the grids
//     they touch are recomputed (all of the department's, when they are
//     most grids).
//
// The feed answers at once (pages of 5000, batches of 50000), so this is the
// hub's side: the department's own answer time adds to it. The database is
// devenv's test cluster (fsync off, shared_buffers 128MB).
func BenchmarkSync(b *testing.B) {
	ctx := context.Background()
	bc := factsynctest.LoadBenchCity(b)
	facts := factsynctest.DatasetFacts(bc.Dataset)
	b.Logf("city: %d residents, loaded in %v; department records built in %v", len(bc.Fixture.City.Persons),
		bc.Load.Round(time.Millisecond), bc.Build.Round(time.Millisecond))
	feeds := map[string]*factsynctest.Feed{}
	fm := factsync.FeedMap{}
	for d, fs := range facts {
		feeds[d] = factsynctest.NewFeed(fs)
		fm[d] = feeds[d]
	}
	pool := bc.Fixture.Store.Pool
	syncer := factsync.New(pool, bc.Fixture.Keys, fm, grid.NewRegistry(bc.Fixture.Store, time.Hour),
		indicators.NewAggregator(indicators.Default()),
		factsync.Options{Now: func() time.Time { return factsynctest.Day }, Logger: quiet()})
	start := time.Now()
	if err := syncer.Prepare(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("master-index aggregates: %v", time.Since(start).Round(time.Millisecond))
	depts := deptsim.Departments()

	for _, d := range depts {
		b.Run("Full/"+d, func(b *testing.B) {
			var st factsync.Stats
			var elapsed time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for _, q := range []string{`DELETE FROM facts WHERE department = $1`, `DELETE FROM sync_state WHERE department = $1`,
					`DELETE FROM indicator_dirty WHERE department = $1`} {
					if _, err := pool.Exec(ctx, q, d); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := pool.Exec(ctx, `VACUUM ANALYZE facts`); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				var err error
				t0 := time.Now()
				if st, err = syncer.SyncDepartment(ctx, d, true); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(t0)
			}
			b.ReportMetric(float64(st.Facts), "facts")
			b.ReportMetric(float64(st.Facts)*float64(b.N)/elapsed.Seconds(), "facts/s")
			b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/sync")
			b.ReportMetric(float64(st.Unlinked), "unlinked")
		})
	}

	sizes := []int{100, 1000}
	if v := os.Getenv("GRIDHUB_BENCH_CHANGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("GRIDHUB_BENCH_CHANGES=%q: want a number of changes", v)
		}
		sizes = []int{n}
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, d := range depts {
		for _, changes := range sizes {
			b.Run("Incremental/"+d+"/"+strconv.Itoa(changes), func(b *testing.B) {
				if _, err := syncer.SyncDepartment(ctx, d, false); err != nil { // level with the feed
					b.Fatal(err)
				}
				base := facts[d]
				var grids int
				var elapsed time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					batch := make([]connectors.Fact, 0, changes)
					for k := range changes {
						f := base[r.IntN(len(base))]
						if k%100 == 99 {
							f.Deleted, f.Record = true, nil
						} else {
							rec := make(connectors.Record, len(f.Record)+1)
							for key, v := range f.Record {
								rec[key] = v
							}
							rec["rev"] = r.Int64()
							f.Record = rec
						}
						batch = append(batch, f)
					}
					feeds[d].Append(batch...)
					b.StartTimer()
					t0 := time.Now()
					st, err := syncer.SyncDepartment(ctx, d, false)
					if err != nil {
						b.Fatal(err)
					}
					elapsed += time.Since(t0)
					grids += st.Grids
				}
				b.ReportMetric(float64(changes)*float64(b.N)/elapsed.Seconds(), "changes/s")
				b.ReportMetric(float64(elapsed.Milliseconds())/float64(b.N), "ms/sync")
				b.ReportMetric(float64(grids)/float64(b.N), "grids")
			})
		}
	}
	fr, err := syncer.Freshness(ctx)
	if err != nil {
		b.Fatal(err)
	}
	slices.SortFunc(fr, func(a, c factsync.Freshness) int { return int(c.Facts - a.Facts) })
	for _, f := range fr {
		b.Logf("%-16s %9d facts", f.Department, f.Facts)
	}
}
