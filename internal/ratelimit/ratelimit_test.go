package ratelimit_test

import (
	"context"
	"os"
	"testing"

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

func TestRedisIsSharedAcrossLimiters(t *testing.T) {
	opt, err := redis.ParseURL(devenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	defer client.Close()
	limit := ratelimit.Limit{PerSecond: 1, Burst: 5}
	exercise(t, ratelimit.NewRedis(client, limit, "rl:"))
	// A second replica sees the budget the first one spent.
	other := ratelimit.NewRedis(client, limit, "rl:")
	if ok, _, _ := other.Allow(context.Background(), "alice"); ok {
		t.Error("a second limiter on the same Redis does not share the budget")
	}
}
