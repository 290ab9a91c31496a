package people

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// lookupsOut is how many queries by ID number may be out at once. While
// that many are out, the lookups of other requests wait together and go in
// one query when one comes back: under load a query carries several numbers
// (one statement for Postgres to parse, plan, run and answer, one round trip
// for the hub) and when idle each lookup goes at once. One query out served
// more requests a second than two, or than one query for every lookup
// (BENCHMARKS.md, "Lookups by ID number share a query").
const lookupsOut = 1

// lookupTimeout bounds a shared query: it runs for every request in it, so
// it does not stop when one of them is cancelled.
const lookupTimeout = 30 * time.Second

// lookups coalesces the person-by-ID-number reads of concurrent requests.
type lookups struct {
	slots chan struct{}
	mu    sync.Mutex
	// waiting holds, for each way of reading, the batch that is still
	// taking numbers until it gets a slot.
	waiting map[Read]*lookupBatch
}

// lookupBatch is one query by ID number: the blinded numbers asked for and,
// once done is closed, the persons found by blinded number, or err.
type lookupBatch struct {
	r     Read
	hmacs [][]byte
	done  chan struct{}
	found []keyedPerson
	err   error
}

type keyedPerson struct {
	hmac []byte
	p    *Person
}

func newLookups() *lookups {
	return &lookups{slots: make(chan struct{}, lookupsOut), waiting: map[Read]*lookupBatch{}}
}

// byNumber returns the person whose blinded ID number is hmac, read as r, or
// nil; the Person is the caller's own.
func (s *Service) byNumber(ctx context.Context, hmac []byte, r Read) (*Person, error) {
	l := s.lookups
	l.mu.Lock()
	b, joined := l.waiting[r]
	if !joined {
		b = &lookupBatch{r: r, done: make(chan struct{})}
		l.waiting[r] = b
	}
	b.hmacs = append(b.hmacs, hmac)
	l.mu.Unlock()

	if !joined {
		// The first number of a batch starts it on its way; once a slot is
		// free the batch takes no more numbers and goes, whatever becomes of
		// the requests in it.
		go s.send(context.WithoutCancel(ctx), b)
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if b.err != nil {
		return nil, b.err
	}
	for _, k := range b.found {
		if bytes.Equal(k.hmac, hmac) {
			return k.p.copy(), nil
		}
	}
	return nil, nil
}

// send sends b once a slot is free.
func (s *Service) send(ctx context.Context, b *lookupBatch) {
	l := s.lookups
	l.slots <- struct{}{}
	l.mu.Lock()
	delete(l.waiting, b.r)
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	b.found, b.err = s.readByNumbers(ctx, b.r, b.hmacs)
	cancel()
	<-l.slots
	close(b.done)
}

// readByNumbers reads, as r, the persons whose blinded ID numbers are among hmacs.
func (s *Service) readByNumbers(ctx context.Context, r Read, hmacs [][]byte) ([]keyedPerson, error) {
	rows, _ := s.pool.Query(ctx, `SELECT p.id_hmac, `+r.columns()+` FROM `+r.from()+` WHERE p.id_hmac = ANY($1)`, hmacs)
	found, err := pgx.CollectRows(rows, s.keyedScanner(r))
	if err != nil {
		return nil, fmt.Errorf("people: persons by ID number: %w", err)
	}
	return found, nil
}

// copy is a Person of its own, for a request to present as its caller may
// see it, from a row other requests share.
func (p *Person) copy() *Person {
	c := *p
	if p.Household != nil {
		h := *p.Household
		c.Household = &h
	}
	return &c
}
