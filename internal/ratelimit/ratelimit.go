// Package ratelimit limits requests per client: in Redis when configured, so
// that every replica counts against the same budget, and in process otherwise.
package ratelimit

import (
	"context"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

// Limit is a sustained rate with a burst.
type Limit struct {
	PerSecond int
	Burst     int
}

// Limiter decides whether a client may make one more request now.
type Limiter interface {
	// Allow reports whether key may proceed; when not, retryAfter says when it may.
	Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration, err error)
}

// Redis is a limiter shared through Redis (GCRA, one round trip per request).
type Redis struct {
	limiter *redis_rate.Limiter
	limit   redis_rate.Limit
	prefix  string
}

// NewRedis returns a limiter in client.
func NewRedis(client redis.UniversalClient, l Limit, prefix string) *Redis {
	return &Redis{
		limiter: redis_rate.NewLimiter(client),
		limit:   redis_rate.Limit{Rate: l.PerSecond, Burst: l.Burst, Period: time.Second},
		prefix:  prefix,
	}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	res, err := r.limiter.Allow(ctx, r.prefix+key, r.limit)
	if err != nil {
		return false, 0, err
	}
	return res.Allowed > 0, res.RetryAfter, nil
}

// Memory is a limiter in this process: one token bucket per client, the least
// recently seen forgotten first so that many clients cannot exhaust memory.
type Memory struct {
	limit   Limit
	buckets *expirable.LRU[string, *rate.Limiter]
}

// NewMemory returns an in-process limiter remembering at most clients clients.
func NewMemory(l Limit, clients int) *Memory {
	return &Memory{limit: l, buckets: expirable.NewLRU[string, *rate.Limiter](clients, nil, 10*time.Minute)}
}

// Allow implements Limiter.
func (m *Memory) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	b, ok := m.buckets.Get(key)
	if !ok {
		b = rate.NewLimiter(rate.Limit(m.limit.PerSecond), m.limit.Burst)
		m.buckets.Add(key, b)
	}
	r := b.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return false, d, nil
	}
	return true, 0, nil
}
