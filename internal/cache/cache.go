// Package cache is the hub's shared byte cache: Redis when configured, so that
// every replica sees the same copies, and an in-process LRU otherwise.
package cache

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/redis/go-redis/v9"
)

// Cache stores byte values under string keys with a time to live.
type Cache interface {
	// GetMulti returns the values found; a missing key is absent from the map.
	GetMulti(ctx context.Context, keys []string) (map[string][]byte, error)
	// SetMulti stores every item with the same time to live.
	SetMulti(ctx context.Context, items map[string][]byte, ttl time.Duration) error
}

// Memory is an in-process cache bounded by entry count. Each entry keeps its own
// expiry, so one cache serves items of different lifetimes.
type Memory struct {
	lru *expirable.LRU[string, memEntry]
}

type memEntry struct {
	value   []byte
	expires time.Time
}

// NewMemory returns an in-process cache holding at most size entries.
func NewMemory(size int) *Memory {
	return &Memory{lru: expirable.NewLRU[string, memEntry](size, nil, 0)}
}

// GetMulti implements Cache.
func (m *Memory) GetMulti(_ context.Context, keys []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(keys))
	now := time.Now()
	for _, k := range keys {
		if e, ok := m.lru.Get(k); ok {
			if now.Before(e.expires) {
				out[k] = e.value
			} else {
				m.lru.Remove(k)
			}
		}
	}
	return out, nil
}

// SetMulti implements Cache.
func (m *Memory) SetMulti(_ context.Context, items map[string][]byte, ttl time.Duration) error {
	expires := time.Now().Add(ttl)
	for k, v := range items {
		m.lru.Add(k, memEntry{value: v, expires: expires})
	}
	return nil
}

// Redis is a cache in Redis under a key prefix.
type Redis struct {
	client redis.UniversalClient
	prefix string
}

// NewRedis returns a cache in client whose keys all start with prefix.
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix}
}

// GetMulti implements Cache with one MGET.
func (r *Redis) GetMulti(ctx context.Context, keys []string) (map[string][]byte, error) {
	if len(keys) == 0 {
		return map[string][]byte{}, nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	vals, err := r.client.MGet(ctx, full...).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make(map[string][]byte, len(keys))
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[keys[i]] = []byte(s)
		}
	}
	return out, nil
}

// SetMulti implements Cache with one pipelined round trip.
func (r *Redis) SetMulti(ctx context.Context, items map[string][]byte, ttl time.Duration) error {
	if len(items) == 0 {
		return nil
	}
	_, err := r.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for k, v := range items {
			p.Set(ctx, r.prefix+k, v, ttl)
		}
		return nil
	})
	return err
}
