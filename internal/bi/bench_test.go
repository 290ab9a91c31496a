package bi_test

import (
	"context"
	"testing"

	"github.com/gridhub/gridhub/internal/bi"
)

// BenchmarkRefresh measures what a fact sync adds for the bi schema on the
// test city with every department synced: Refresh rewriting the current
// tables of the four levels (Tables is the baseline: computing the same four
// tables, served from the indicator service's cache as Refresh gets them
// right after a sync's first request, so the difference is the write), and
// Refresh with nothing new (the check every idle sync makes).
func BenchmarkRefresh(b *testing.B) {
	ctx := context.Background()
	fx, figures := syncedCity(b)
	pub := bi.NewPublisher(fx.App.Pool, figures, quiet)
	if _, err := pub.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	var rows int
	if err := fx.Store.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM bi.district_indicators) + (SELECT count(*) FROM bi.street_indicators)
		+ (SELECT count(*) FROM bi.community_indicators) + (SELECT count(*) FROM bi.grid_indicators)`).Scan(&rows); err != nil {
		b.Fatal(err)
	}
	b.Run("Tables", func(b *testing.B) {
		for b.Loop() {
			for _, l := range bi.Levels {
				if _, err := figures.Table(ctx, l.Level, "", nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(rows), "rows")
	})
	b.Run("Rewrite", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			// As after a sync that changed the data.
			if _, err := fx.Store.Pool.Exec(ctx, `UPDATE bi.refresh SET data_version = -1`); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if wrote, err := pub.Refresh(ctx); err != nil || !wrote {
				b.Fatalf("refresh: wrote %t, %v", wrote, err)
			}
		}
		b.ReportMetric(float64(rows), "rows")
	})
	b.Run("Unchanged", func(b *testing.B) {
		for b.Loop() {
			if wrote, err := pub.Refresh(ctx); err != nil || wrote {
				b.Fatalf("refresh: wrote %t, %v", wrote, err)
			}
		}
	})
}
