package federation

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridhub/gridhub/connectors"
)

// copies keeps departments' answers as recent copies, off the request's
// path: a read hands its answer over and returns; a writer goroutine encodes
// and stores it in the cache. Until it is stored, the answer waits in
// pending, where copyOf finds it too, so a department that fails right after
// an answer is still covered by it.
type copies struct {
	cache interface {
		SetMulti(ctx context.Context, items map[string][]byte, ttl time.Duration) error
		GetMulti(ctx context.Context, keys []string) (map[string][]byte, error)
	}

	mu      sync.Mutex
	pending map[string]copyEntry // cache key -> entry not yet stored
	order   []string             // pending keys, oldest first
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	dropped prometheus.Counter
}

// maxPendingCopies bounds what waits for the writer: past it new answers are
// not kept (a recent copy is a convenience, not a record).
const maxPendingCopies = 100_000

// copyBatch is how many entries the writer stores per cache call.
const copyBatch = 2000

func newCopies(c interface {
	SetMulti(ctx context.Context, items map[string][]byte, ttl time.Duration) error
	GetMulti(ctx context.Context, keys []string) (map[string][]byte, error)
}, reg prometheus.Registerer) *copies {
	k := &copies{
		cache:   c,
		pending: map[string]copyEntry{},
		wake:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gridhub_department_copies_dropped_total",
			Help: "Department answers not kept as recent copies because the writer was behind.",
		}),
	}
	if reg != nil {
		reg.MustRegister(k.dropped)
	}
	go k.run()
	return k
}

// keep hands entries over to the writer and returns the keys it dropped
// because the writer was behind.
func (k *copies) keep(entries map[string]copyEntry) (dropped []string) {
	k.mu.Lock()
	for key, e := range entries {
		if _, queued := k.pending[key]; !queued {
			if len(k.pending) >= maxPendingCopies {
				k.dropped.Inc()
				dropped = append(dropped, key)
				continue
			}
			k.order = append(k.order, key)
		}
		k.pending[key] = e
	}
	k.mu.Unlock()
	select {
	case k.wake <- struct{}{}:
	default:
	}
	return dropped
}

// get returns the entries of keys, pending or stored.
func (k *copies) get(ctx context.Context, keys []string) map[string]copyEntry {
	out := map[string]copyEntry{}
	var missing []string
	k.mu.Lock()
	for _, key := range keys {
		if e, ok := k.pending[key]; ok {
			out[key] = e
		} else {
			missing = append(missing, key)
		}
	}
	k.mu.Unlock()
	if len(missing) == 0 {
		return out
	}
	got, err := k.cache.GetMulti(ctx, missing)
	if err != nil {
		return out
	}
	for key, b := range got {
		var e copyEntry
		if json.Unmarshal(b, &e) == nil {
			out[key] = e
		}
	}
	return out
}

// run stores pending entries until close, then stores what is left.
func (k *copies) run() {
	defer close(k.done)
	for {
		select {
		case <-k.wake:
			k.flush()
		case <-k.stop:
			k.flush()
			return
		}
	}
}

// flush stores every pending entry, batch by batch.
func (k *copies) flush() {
	for {
		k.mu.Lock()
		n := min(len(k.order), copyBatch)
		if n == 0 {
			k.mu.Unlock()
			return
		}
		batch := make(map[string]copyEntry, n)
		for _, key := range k.order[:n] {
			batch[key] = k.pending[key]
		}
		k.order = k.order[n:]
		k.mu.Unlock()

		items := make(map[string][]byte, len(batch))
		for key, e := range batch {
			if b, err := json.Marshal(e); err == nil {
				items[key] = b
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := k.cache.SetMulti(ctx, items, CopyTTL); err != nil {
			slog.Warn("keep department copies", "entries", len(items), "err", err)
		}
		cancel()

		k.mu.Lock()
		for key, e := range batch {
			// A newer answer queued meanwhile stays pending, for the next
			// round.
			if cur, ok := k.pending[key]; ok {
				if cur.AsOf.Equal(e.AsOf) {
					delete(k.pending, key)
				} else {
					k.order = append(k.order, key)
				}
			}
		}
		k.mu.Unlock()
	}
}

// close stores what is pending and stops the writer.
func (k *copies) close() {
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
	<-k.done
}

// restore gives a record decoded from a stored copy the types a connector
// gives (a JSON round trip turns dates into strings and integers into
// float64), by the record set's field types.
func restore(rs *connectors.RecordSet, rec connectors.Record) connectors.Record {
	if rs == nil {
		return rec
	}
	for _, f := range rs.Fields {
		v, ok := rec[f.Name]
		if !ok {
			continue
		}
		switch f.Type {
		case connectors.TypeInt:
			if x, ok := v.(float64); ok {
				rec[f.Name] = int64(x)
			}
		case connectors.TypeDate:
			if s, ok := v.(string); ok {
				if t, err := time.Parse(time.RFC3339, s); err == nil {
					rec[f.Name] = t
				}
			}
		}
	}
	return rec
}
