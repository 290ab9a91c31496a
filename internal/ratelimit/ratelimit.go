// Package ratelimit limits requests per client: in Redis when configured, so
// that every replica counts against the same budget, and in process otherwise.
package ratelimit

import (
	"context"
	"sync"
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

// Redis is a limiter shared through Redis (GCRA). A busy client's tokens are
// taken from Redis a few at a time and spent in process (a lease), so that
// it does not cost a round trip and a script in Redis per request. The
// shared budget is never exceeded: a token is taken from Redis before it is
// spent. A lease grows while the client spends all of it within leaseHold
// (doubling, up to an eighth of the burst) and halves when tokens are still
// unspent after the hold; the unspent ones stay the client's, for its next
// requests (a client that pauses between bursts would otherwise lose part of
// its budget at every pause). A client at a few requests a second takes one
// token at a time, as without leases.
type Redis struct {
	limiter  *redis_rate.Limiter
	limit    redis_rate.Limit
	prefix   string
	maxChunk int
	leases   *expirable.LRU[string, *lease]
}

// leaseHold is how soon a client must spend the tokens a replica took for it
// for its next lease to be larger.
const leaseHold = 100 * time.Millisecond

// lease is the tokens of one client that this replica took and has not
// spent.
type lease struct {
	mu       sync.Mutex
	tokens   int
	until    time.Time
	chunk    int        // how many to take next time
	inflight int        // round trips to Redis under way
	landed   *sync.Cond // signalled as each one ends
}

func newLease() *lease {
	l := &lease{chunk: 1}
	l.landed = sync.NewCond(&l.mu)
	return l
}

// NewRedis returns a limiter in client.
func NewRedis(client redis.UniversalClient, l Limit, prefix string) *Redis {
	return &Redis{
		limiter:  redis_rate.NewLimiter(client),
		limit:    redis_rate.Limit{Rate: l.PerSecond, Burst: l.Burst, Period: time.Second},
		prefix:   prefix,
		maxChunk: max(1, l.Burst/8),
		leases:   expirable.NewLRU[string, *lease](100_000, nil, time.Minute),
	}
}

// Allow implements Limiter.
func (r *Redis) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	if r.maxChunk == 1 {
		res, err := r.limiter.Allow(ctx, r.prefix+key, r.limit)
		if err != nil {
			return false, 0, err
		}
		return res.Allowed > 0, res.RetryAfter, nil
	}
	l, ok := r.leases.Get(key)
	if !ok {
		l = newLease()
		r.leases.Add(key, l)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.tokens > 0 {
		if !now.Before(l.until) { // held past its hold: take fewer next time
			l.chunk = max(1, l.chunk/2)
			l.until = now.Add(leaseHold)
		}
		l.tokens--
		return true, 0, nil
	}
	if now.Before(l.until) { // spent within its hold
		l.chunk = min(r.maxChunk, 2*l.chunk)
	}
	l.until = time.Time{}
	n := l.chunk
	l.inflight++
	// Not under the lease's lock: the client's other requests meanwhile
	// take their own tokens rather than wait for this round trip.
	l.mu.Unlock()
	res, err := r.limiter.AllowAtMost(ctx, r.prefix+key, r.limit, n)
	l.mu.Lock()
	l.inflight--
	l.landed.Broadcast()
	if err != nil {
		return false, 0, err
	}
	if res.Allowed > 0 {
		l.tokens += res.Allowed - 1
		l.until = time.Now().Add(leaseHold)
		return true, 0, nil
	}
	// Redis has nothing left, but the client's concurrent requests may
	// have leased more than they spend: those tokens are its budget too.
	for l.tokens == 0 && l.inflight > 0 {
		l.landed.Wait()
	}
	if l.tokens > 0 {
		l.tokens--
		return true, 0, nil
	}
	return false, res.RetryAfter, nil
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
