package findings_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/factsync/factsynctest"
	"github.com/gridhub/gridhub/internal/findings"
	"github.com/gridhub/gridhub/internal/linkage/linkagetest"
)

// TestFindingsBench measures the findings on the benchmark city
// (factsynctest.LoadBenchCity: GRIDHUB_BENCH_SCALE, GRIDHUB_BENCH_RESIDENTS)
// through the real connectors, record linkage and the fact sync: found,
// missed and false per kind against the generator's truth, and the time of
// one refresh of every kind. It runs only with GRIDHUB_FINDINGS_BENCH=1
// (scripts/bench-findings.sh); it asserts none missed and none false, never
// the times.
func TestFindingsBench(t *testing.T) {
	if os.Getenv("GRIDHUB_FINDINGS_BENCH") != "1" {
		t.Skip("set GRIDHUB_FINDINGS_BENCH=1 (scripts/bench-findings.sh)")
	}
	bc := factsynctest.LoadBenchCity(t)
	t.Logf("city: %d residents; load %v, departments built in %v", len(bc.Fixture.City.Persons), bc.Load.Round(time.Millisecond), bc.Build.Round(time.Millisecond))
	c := linkagetest.StartWith(t, bc.Fixture, bc.Dataset)
	start := time.Now()
	scores := measure(t, c)
	t.Logf("sync with linkage and findings, and the truth: %v", time.Since(start).Round(time.Millisecond))
	for _, s := range scores {
		t.Log(s)
		if s.Missed > 0 || s.False > 0 {
			t.Errorf("%s: missed %v, false %v", s.Kind, first(s.missed), first(s.false_))
		}
	}
	// One refresh of every kind over what is stored, three times: the median.
	ctx := context.Background()
	e := findings.NewEngine(c.Findings, nil)
	var times []time.Duration
	for range 3 {
		start := time.Now()
		if err := pgx.BeginFunc(ctx, c.Fixture.Store.Pool, func(tx pgx.Tx) error {
			_, err := e.Refresh(ctx, tx, "", true)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	t.Logf("refresh of every kind: %v, %v, %v", times[0].Round(time.Millisecond), times[1].Round(time.Millisecond), times[2].Round(time.Millisecond))
}
