package audit_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkAppend is one caller appending alone: the latency a request pays
// for its audit entry when nothing else is going on (a commit per entry).
func BenchmarkAppend(b *testing.B) {
	l, _ := newLedger(b)
	ctx := context.Background()
	e := sample(1)
	b.ResetTimer()
	for b.Loop() {
		if _, err := l.Append(ctx, e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkAppendParallel is many requests appending at once (GOMAXPROCS x
// -cpu goroutines; try -cpu 1,8,64): group commit writes them in shared
// transactions. Reports throughput and the latency each caller saw.
//
// The test cluster runs with fsync and synchronous_commit off, so this
// measures the ledger, not the disk; on a durable server group commit matters
// more, as every commit waits for a WAL flush.
func BenchmarkAppendParallel(b *testing.B) {
	l, _ := newLedger(b)
	ctx := context.Background()
	var (
		mu  sync.Mutex
		lat []time.Duration
	)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		e := sample(2)
		var mine []time.Duration
		for pb.Next() {
			start := time.Now()
			if _, err := l.Append(ctx, e); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		lat = append(lat, mine...)
		mu.Unlock()
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	if len(lat) > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
	if rep, err := l.Verify(ctx); err != nil || rep.Broken != nil {
		b.Fatalf("after the benchmark: %+v, %v", rep, err)
	}
}

// BenchmarkVerify is the walk's rate, over a ledger of 20,000 entries.
func BenchmarkVerify(b *testing.B) {
	l, _ := newLedger(b)
	ctx := context.Background()
	const n = 20000
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 64 {
				if _, err := l.Append(ctx, sample(i)); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ResetTimer()
	for b.Loop() {
		rep, err := l.Verify(ctx)
		if err != nil || rep.Broken != nil || rep.Entries != n {
			b.Fatalf("Verify = %+v, %v", rep, err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "entries/s")
}
