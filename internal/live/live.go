// Package live tells the GraphQL subscriptions a replica serves what changed,
// whichever replica changed it. Triggers on the tables a subscription follows
// (migration 00023) announce each change on the Postgres channel
// gridhub_live when its transaction commits; every replica keeps one
// connection listening on it and hands each change to its subscribers whose
// filter takes it. A change names what changed (a submission, an event and
// its grid), never its content: a subscriber reads it again under its
// caller's scope and policy, as a query would.
//
// Notifications sent while a replica's listening connection is down are
// lost to it; when it listens again, every subscriber is told that anything
// may have changed (a Change with Resync set) and reads its state again.
package live

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Channel is the Postgres channel the triggers notify.
const Channel = "gridhub_live"

// The kinds of change.
const (
	// KindSubmission: a department's delivery of a submission was recorded
	// or changed (ID is the submission's).
	KindSubmission = "submission"
	// KindEvent: an event was reported (New), or its delivery or its case
	// changed (ID is the event's, Grid the grid it lies in).
	KindEvent = "event"
)

// Change is one announced change.
type Change struct {
	Kind     string `json:"kind"`
	ID       string `json:"id"`
	Grid     string `json:"grid,omitempty"`
	Reporter string `json:"reporter,omitempty"`
	New      bool   `json:"new,omitempty"`
	// Resync says that changes may have been missed (the replica listened
	// again after losing its connection): read everything again.
	Resync bool `json:"-"`
}

// buffer is how many changes a subscriber may fall behind by; beyond it,
// the changes it misses are replaced by one Resync.
const buffer = 64

// Hub listens on Channel and fans the changes out to its subscribers.
type Hub struct {
	pool   *pgxpool.Pool
	logger *slog.Logger

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	ready  chan struct{} // closed once the first LISTEN took
	listen sync.Once
}

type subscriber struct {
	match  func(Change) bool
	ch     chan Change
	missed bool // a change did not fit: send a Resync when there is room
}

// New returns a hub on the primary's pool; Run makes it listen.
func New(pool *pgxpool.Pool, logger *slog.Logger) *Hub {
	if logger == nil {
		logger = slog.Default()
	}
	return &Hub{pool: pool, logger: logger, subs: map[*subscriber]struct{}{}, ready: make(chan struct{})}
}

// Ready is closed once the hub listens (tests wait on it before changing
// what they expect to hear about).
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Run listens until ctx ends, on a connection of its own (not one of the
// pool's), connecting again a second after it is lost.
func (h *Hub) Run(ctx context.Context) {
	first := true
	for ctx.Err() == nil {
		err := h.listenOnce(ctx, !first)
		first = false
		if ctx.Err() != nil {
			return
		}
		h.logger.Warn("live updates: listening connection lost", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// listenOnce connects, listens and hands out notifications until the
// connection fails; after a reconnect (resync) every subscriber is told to
// read again.
func (h *Hub) listenOnce(ctx context.Context, resync bool) error {
	conn, err := pgx.ConnectConfig(ctx, h.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	h.listen.Do(func() { close(h.ready) })
	if resync {
		h.publish(Change{Resync: true})
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var c Change
		if err := json.Unmarshal([]byte(n.Payload), &c); err != nil {
			h.logger.Warn("live updates: a notification that does not read", "payload", n.Payload, "err", err)
			continue
		}
		h.publish(c)
	}
}

// publish hands c to every subscriber whose filter takes it (a Resync to
// all), never blocking: a subscriber whose buffer is full gets a Resync
// later instead.
func (h *Hub) publish(c Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.missed {
			select {
			case s.ch <- Change{Resync: true}:
				s.missed = false
			default:
				continue
			}
		}
		if !c.Resync && !s.match(c) {
			continue
		}
		select {
		case s.ch <- c:
		default:
			s.missed = true
		}
	}
}

// Subscribe returns the changes match takes (and every Resync) until ctx
// ends; the channel is closed then.
func (h *Hub) Subscribe(ctx context.Context, match func(Change) bool) <-chan Change {
	s := &subscriber{match: match, ch: make(chan Change, buffer)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	go func() {
		<-ctx.Done()
		h.mu.Lock()
		delete(h.subs, s)
		close(s.ch)
		h.mu.Unlock()
	}()
	return s.ch
}

// Subscribers is how many subscriptions the hub feeds.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
