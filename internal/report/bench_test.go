package report

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkSubmit measures accepted submissions per second: each a home visit
// changing every department and the master index, validated against a fresh
// draft (an instant fake reader) and committed with its six deliveries and
// six River jobs in one transaction. Parallel, each submission about another
// person.
func BenchmarkSubmit(b *testing.B) {
	f := newFixture(b, Options{})
	subjects := make([]string, 2000)
	for i := range subjects {
		subjects[i] = f.person(b, i)
	}
	var n atomic.Int64
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			values := with(allChanged, FieldValue{"core.person.phone", fmt.Sprintf("139%08d", i)})
			_, err := f.svc.Submit(context.Background(), SubmitInput{Template: "home_visit", Version: 1,
				Subject: subjects[int(i)%len(subjects)], IdempotencyKey: fmt.Sprintf("bench-%d-%d", start.UnixNano(), i), Values: values},
				Actor{Subject: "bench"})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "submissions/s")
}

// BenchmarkDeliveryLatency measures the time from Submit to DELIVERED in all
// six departments, one submission at a time, with departments that accept
// at once. The time is the newest delivered_at (the worker's transaction that
// marks it) minus the moment Submit was called.
func BenchmarkDeliveryLatency(b *testing.B) {
	f := newFixture(b, Options{})
	client := f.newClient(b, ClientConfig{FetchCooldown: time.Millisecond, FetchPollInterval: 100 * time.Millisecond})
	if err := client.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = client.Stop(ctx)
	}()
	subjects := make([]string, 1000)
	for i := range subjects {
		subjects[i] = f.person(b, i)
	}
	ctx := context.Background()
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		sub, err := f.svc.Submit(ctx, SubmitInput{Template: "home_visit", Version: 1, Subject: subjects[i%len(subjects)],
			IdempotencyKey: fmt.Sprintf("latency-%d-%d", t0.UnixNano(), i), Values: allChanged}, Actor{Subject: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		// Poll (every 5ms) rather than wait for River's completion
		// events, which trail the commit by the completer's batching.
		var last *time.Time
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			var delivered int
			if err := f.Store.Pool.QueryRow(ctx, `SELECT count(*), max(delivered_at) FROM report_deliveries
				WHERE submission_id = $1 AND status = 'DELIVERED'`, sub.ID).Scan(&delivered, &last); err != nil {
				b.Fatal(err)
			}
			if delivered == len(sub.Deliveries) {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("submission %s not delivered", sub.ID)
			}
		}
		latencies = append(latencies, last.Sub(t0))
	}
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
