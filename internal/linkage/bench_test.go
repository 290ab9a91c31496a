package linkage_test

import (
	"context"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/factsync/factsynctest"
	"github.com/gridhub/gridhub/internal/linkage"
	"github.com/gridhub/gridhub/internal/linkage/linkagetest"
)

// TestLinkageBench measures record linkage on the benchmark city
// (factsynctest.LoadBenchCity: GRIDHUB_BENCH_SCALE, GRIDHUB_BENCH_RESIDENTS)
// through the real connectors: the sync with linkage, then a second linkage
// run of every department alone (time, and the heap it holds), and the
// precision and recall against the simulators' truth, per noise kind. It runs
// only with GRIDHUB_LINKAGE_BENCH=1 (scripts/bench-linkage.sh); it asserts the
// thresholds, never the times.
func TestLinkageBench(t *testing.T) {
	if os.Getenv("GRIDHUB_LINKAGE_BENCH") != "1" {
		t.Skip("set GRIDHUB_LINKAGE_BENCH=1 (scripts/bench-linkage.sh)")
	}
	bc := factsynctest.LoadBenchCity(t)
	t.Logf("city: %d residents; load %v, departments built in %v", len(bc.Fixture.City.Persons), bc.Load.Round(time.Millisecond), bc.Build.Round(time.Millisecond))
	c := linkagetest.StartWith(t, bc.Fixture, bc.Dataset)
	ctx := context.Background()
	start := time.Now()
	if _, err := c.Syncer(nil).SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("sync with linkage: %v", time.Since(start).Round(time.Millisecond))

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fresh := linkage.New(bc.Fixture.Store.Pool, linkage.Options{Logger: linkagetest.Quiet()})
	start = time.Now()
	rows := 0
	for _, d := range c.Depts {
		st, err := fresh.LinkDepartment(ctx, d.Code)
		if err != nil {
			t.Fatal(err)
		}
		rows += st.Rows
		t.Logf("  %-16s rows %5d corrected %4d matched %4d review %3d unlinked %3d  %v", d.Code, st.Rows, st.Corrected, st.Matched,
			st.ToReview, st.Unlinked, st.Elapsed.Round(time.Millisecond))
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	runtime.GC()
	var held runtime.MemStats
	runtime.ReadMemStats(&held)
	runtime.KeepAlive(fresh)
	t.Logf("linkage alone: %d rows in %v; allocated %d MiB, heap held after (the master index in memory) %d MiB",
		rows, elapsed.Round(time.Millisecond), (after.TotalAlloc-before.TotalAlloc)>>20, int64(held.HeapAlloc-before.HeapAlloc)>>20)

	rep, err := linkage.Evaluate(ctx, bc.Fixture.Store.Pool, linkagetest.Truth(bc.Dataset))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rows %d, links %d, correct %d: precision %.5f recall %.5f; by method (right, wrong) %v", rep.Rows, rep.Links, rep.Correct,
		rep.Precision(), rep.Recall(), rep.ByMethod)
	for _, k := range rep.Kinds {
		t.Logf("  %-16s rows %6d absent %4d correct %6d wrong %3d review %4d unlinked %4d", k.Kind, k.Rows, k.Absent, k.Correct, k.Wrong, k.Review, k.Unlinked)
	}
	if rep.Precision() < 0.999 || rep.Recall() < 0.995 {
		t.Errorf("precision %.5f recall %.5f, want >= 0.999 and >= 0.995", rep.Precision(), rep.Recall())
	}
}
