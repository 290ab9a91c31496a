package ratelimit_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gridhub/gridhub/internal/devenv"
	"github.com/gridhub/gridhub/internal/ratelimit"
)

func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }

// exercise checks that a client gets its burst, then a refusal with a wait, and
// that another client is not affected.
func exercise(t *testing.T, l ratelimit.Limiter) {
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if ok, _, err := l.Allow(ctx, "alice"); err != nil || !ok {
			t.Fatalf("request %d within the burst refused (err %v)", i+1, err)
		}
	}
	ok, wait, err := l.Allow(ctx, "alice")
	if err != nil || ok || wait <= 0 {
		t.Fatalf("request past the burst: ok=%v wait=%v err=%v; want a refusal with a wait", ok, wait, err)
	}
	if ok, _, _ := l.Allow(ctx, "bob"); !ok {
		t.Error("another client was refused")
	}
}

func TestMemory(t *testing.T) {
	exercise(t, ratelimit.NewMemory(ratelimit.Limit{PerSecond: 1, Burst: 5}, 100))
}

// redisClient is a client of the test Redis, closed when the test ends.
func redisClient(t *testing.T) *redis.Client {
	opt, err := redis.ParseURL(devenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	t.Cleanup(func() { client.Close() })
	return client
}

func TestRedisIsSharedAcrossLimiters(t *testing.T) {
	client := redisClient(t)
	limit := ratelimit.Limit{PerSecond: 1, Burst: 5}
	exercise(t, ratelimit.NewRedis(client, limit, "rl:"))
	// A second replica sees the budget the first one spent.
	other := ratelimit.NewRedis(client, limit, "rl:")
	if ok, _, _ := other.Allow(context.Background(), "alice"); ok {
		t.Error("a second limiter on the same Redis does not share the budget")
	}
}

// calls counts the commands a Redis client sends.
type calls struct{ n atomic.Int64 }

func (c *calls) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *calls) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *calls) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A busy client's tokens are taken from Redis a few at a time: two replicas
// together never let it past its shared budget, a replica holds at most a
// few of its tokens unspent, and most of its requests cost no round trip.
// A client at a few requests at a time takes one token at a time.
func TestRedisLeasesTokens(t *testing.T) {
	client := redisClient(t)
	var c calls
	client.AddHook(&c)
	// Refilled at one token a second: over the test's few milliseconds the
	// budget is the burst.
	limit := ratelimit.Limit{PerSecond: 1, Burst: 64}
	one, two := ratelimit.NewRedis(client, limit, "lease:"), ratelimit.NewRedis(client, limit, "lease:")
	ctx := context.Background()
	allowed := 0
	for i := range 400 {
		l := one
		if i%2 == 1 {
			l = two
		}
		ok, wait, err := l.Allow(ctx, "dora")
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			allowed++
		} else if wait <= 0 {
			t.Fatalf("request %d refused without a wait", i)
		}
	}
	// At most the burst and what refills while the test runs (a token a
	// second); at least the burst less what each replica may hold unspent
	// (an eighth of the burst).
	if allowed > 64+3 || allowed < 64-2*8 {
		t.Errorf("two replicas allowed %d requests of a budget of 64", allowed)
	}

	before := c.n.Load()
	for range 40 {
		if ok, _, _ := one.Allow(ctx, "erin"); !ok {
			t.Fatal("a request within the budget was refused")
		}
	}
	if n := c.n.Load() - before; n > 10 {
		t.Errorf("40 requests within the budget cost %d Redis commands, want a few", n)
	}
}

// TestRedisPausingClientKeepsItsBudget: a client that sends its requests in
// bursts with pauses longer than a lease's hold gets its whole budget; the
// tokens a lease took and the client had not spent at a pause stay its own.
func TestRedisPausingClientKeepsItsBudget(t *testing.T) {
	client := redisClient(t)
	// Refilled at one token a second: over the test's second the budget is
	// the burst and one token.
	l := ratelimit.NewRedis(client, ratelimit.Limit{PerSecond: 1, Burst: 64}, "pause:")
	ctx := context.Background()
	refused := 0
	for burst := range 8 {
		if burst > 0 {
			time.Sleep(150 * time.Millisecond) // longer than a lease's hold
		}
		for range 8 {
			ok, _, err := l.Allow(ctx, "frank")
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				refused++
			}
		}
	}
	if refused > 0 {
		t.Errorf("%d of 64 requests refused within a budget of 64", refused)
	}
}

// TestRedisConcurrentRequestsShareTheirLeases: a client's concurrent
// requests each lease tokens; one that finds Redis empty spends what the
// others leased and did not spend, so all of a budget's requests pass.
func TestRedisConcurrentRequestsShareTheirLeases(t *testing.T) {
	client := redisClient(t)
	l := ratelimit.NewRedis(client, ratelimit.Limit{PerSecond: 1, Burst: 64}, "concurrent:")
	ctx := context.Background()
	for range 8 { // the lease grows to its largest
		if ok, _, err := l.Allow(ctx, "gina"); !ok || err != nil {
			t.Fatalf("a request within the budget: %v, %v", ok, err)
		}
	}
	var refused atomic.Int64
	var wg sync.WaitGroup
	for range 52 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, err := l.Allow(ctx, "gina")
			if err != nil {
				t.Error(err)
			}
			if !ok {
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := refused.Load(); n > 0 {
		t.Errorf("%d of 60 requests refused within a budget of 64", n)
	}
}
