package cache_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gridhub/gridhub/internal/cache"
	"github.com/gridhub/gridhub/internal/devenv"
)

func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }

// exercise checks what every Cache must do.
func exercise(t *testing.T, c cache.Cache) {
	ctx := context.Background()
	if err := c.SetMulti(ctx, map[string][]byte{"a": []byte("1"), "b": []byte("2")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetMulti(ctx, []string{"a", "b", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if string(got["a"]) != "1" || string(got["b"]) != "2" || len(got) != 2 {
		t.Fatalf("GetMulti = %q", got)
	}
	if err := c.SetMulti(ctx, map[string][]byte{"short": []byte("x")}, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond)
	got, _ = c.GetMulti(ctx, []string{"short", "a"})
	if _, ok := got["short"]; ok {
		t.Error("an expired entry is still served")
	}
	if string(got["a"]) != "1" {
		t.Error("a live entry expired with a shorter one")
	}
	if got, err := c.GetMulti(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("GetMulti(nil) = %v, %v", got, err)
	}
}

func TestMemory(t *testing.T) {
	exercise(t, cache.NewMemory(100))
	small := cache.NewMemory(2)
	ctx := context.Background()
	small.SetMulti(ctx, map[string][]byte{"1": nil}, time.Minute)
	small.SetMulti(ctx, map[string][]byte{"2": nil}, time.Minute)
	small.SetMulti(ctx, map[string][]byte{"3": nil}, time.Minute)
	if got, _ := small.GetMulti(ctx, []string{"1", "2", "3"}); len(got) != 2 {
		t.Errorf("a 2-entry cache holds %d entries", len(got))
	}
}

func TestRedis(t *testing.T) {
	opt, err := redis.ParseURL(devenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opt)
	defer client.Close()
	exercise(t, cache.NewRedis(client, "test:"))
	if n, _ := client.Exists(context.Background(), "test:a").Result(); n != 1 {
		t.Error("keys are not stored under the prefix")
	}
}
