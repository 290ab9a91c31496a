package grid

import (
	"context"
	"sync"
	"time"
)

// Source is where a Registry loads units from (the hub's Postgres).
type Source interface {
	// RegistryVersion changes whenever the units change (a new seed).
	RegistryVersion(ctx context.Context) (int64, error)
	LoadUnits(ctx context.Context) ([]Unit, error)
}

// Registry serves the grid from memory and reloads it when the source's version
// changes, checking at most once per interval: the grid changes only with a new
// seed, while grid lookups happen in nearly every request.
type Registry struct {
	src      Source
	interval time.Duration

	mu      sync.Mutex
	index   *Index
	version int64
	checked time.Time
}

// NewRegistry returns a Registry over src that checks for a new version at most
// once per interval.
func NewRegistry(src Source, interval time.Duration) *Registry {
	return &Registry{src: src, interval: interval}
}

// Index returns the current in-memory index, loading or reloading it when due.
func (r *Registry) Index(ctx context.Context) (*Index, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.index != nil && time.Since(r.checked) < r.interval {
		return r.index, nil
	}
	v, err := r.src.RegistryVersion(ctx)
	if err != nil {
		if r.index != nil {
			return r.index, nil // serve the last good copy while the store hiccups
		}
		return nil, err
	}
	if r.index == nil || v != r.version {
		units, err := r.src.LoadUnits(ctx)
		if err != nil {
			if r.index != nil {
				return r.index, nil
			}
			return nil, err
		}
		r.index, r.version = NewIndex(units), v
	}
	r.checked = time.Now()
	return r.index, nil
}
