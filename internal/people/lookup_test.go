package people

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/testcity"
)

// waitQueued waits until the batch of lookups reading as r holds n numbers.
func waitQueued(t *testing.T, l *lookups, r Read, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l.mu.Lock()
		got := 0
		if b := l.waiting[r]; b != nil {
			got = len(b.hmacs)
		}
		l.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lookups reading %+v queued, want %d", got, r, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// unknownNumber is a well-formed resident ID number nobody in the city holds.
func unknownNumber(t *testing.T) string {
	body := "34070519000101999"
	c, err := ident.ResidentCheckChar(body)
	if err != nil {
		t.Fatal(err)
	}
	return body + string(c)
}

func TestLookupsWaitingForAQueryGoTogetherAndEachGetsItsOwnPerson(t *testing.T) {
	fx := testcity.Load(t)
	s := NewService(fx.App.Pool, fx.Keys)
	l := s.lookups
	city := fx.City.Persons

	// Every slot taken: lookups queue as they would while queries are out.
	for range lookupsOut {
		l.slots <- struct{}{}
	}
	type ask struct {
		number string
		want   int // index into city, -1 for nobody
		r      Read
		// cancel: the lookup's context is cancelled while it waits.
		cancel bool
	}
	var asks []ask
	for i := range 12 {
		asks = append(asks, ask{number: city[i*7].IDNumber, want: i * 7, r: ReadAll})
	}
	asks = append(asks,
		ask{number: city[0].IDNumber, want: 0, r: ReadAll},  // asked twice
		ask{number: unknownNumber(t), want: -1, r: ReadAll}, // nobody
		ask{number: city[3].IDNumber, want: 3, r: ReadAll, cancel: true},
		ask{number: city[5].IDNumber, want: 5, r: Read{Households: true}, cancel: true}, // the first of its batch
		ask{number: city[6].IDNumber, want: 6, r: Read{Households: true}},
		ask{number: city[0].IDNumber, want: 0, r: Read{}},
	)
	type answer struct {
		p   *Person
		err error
	}
	answers := make([]answer, len(asks))
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	queued := map[Read]int{}
	var gaveUp []chan struct{}
	for i, a := range asks {
		actx := context.Background()
		returned := make(chan struct{})
		if a.cancel {
			actx = ctx
			gaveUp = append(gaveUp, returned)
		}
		wg.Go(func() {
			defer close(returned)
			p, err := s.PersonByIDNumber(actx, a.number, a.r)
			answers[i] = answer{p, err}
		})
		// One at a time, so the first of each batch is the one sending it.
		queued[a.r]++
		waitQueued(t, l, a.r, queued[a.r])
	}
	if len(l.waiting) != 3 {
		t.Fatalf("%d batches waiting, want one for each of the 3 ways of reading", len(l.waiting))
	}
	// A cancelled lookup returns at once, though no query has gone yet:
	// the first of a batch too (its batch goes without it).
	cancel()
	for _, returned := range gaveUp {
		select {
		case <-returned:
		case <-time.After(30 * time.Second):
			t.Fatal("a cancelled lookup waits for its batch's query")
		}
	}
	for range lookupsOut {
		<-l.slots
	}
	wg.Wait()

	for i, a := range asks {
		got := answers[i]
		if a.cancel {
			if !errors.Is(got.err, context.Canceled) {
				t.Errorf("cancelled lookup: %v, want context.Canceled", got.err)
			}
			continue
		}
		if got.err != nil {
			t.Errorf("lookup %d: %v", i, got.err)
			continue
		}
		if a.want < 0 {
			if got.p != nil {
				t.Errorf("unknown number found person %s", got.p.ID)
			}
			continue
		}
		want := city[a.want]
		if got.p == nil || got.p.ID != strconv.FormatInt(want.ID, 10) || got.p.Name != want.Name || got.p.GridCode != want.GridCode {
			t.Errorf("lookup %d of person %d found %+v", i, want.ID, got.p)
			continue
		}
		if a.r.Identifiers && got.p.IDNumber != want.IDNumber {
			t.Errorf("person %d read with its identifiers has ID number %q", want.ID, got.p.IDNumber)
		}
		if !a.r.Identifiers && got.p.IDNumber != "" {
			t.Errorf("person %d read without identifiers has ID number %q", want.ID, got.p.IDNumber)
		}
		if a.r.Households && (got.p.Household == nil || got.p.Household.ID != strconv.FormatInt(want.HouseholdID, 10)) {
			t.Errorf("person %d read with households has household %+v, want %d", want.ID, got.p.Household, want.HouseholdID)
		}
	}
	// The person asked for twice in one batch is two Persons: each request
	// presents its own.
	if answers[0].p == answers[12].p {
		t.Error("two lookups of one person share one *Person")
	}
	if len(l.waiting) != 0 || len(l.slots) != 0 {
		t.Errorf("after the lookups: %d batches waiting, %d slots taken", len(l.waiting), len(l.slots))
	}
}

func TestALookupAloneGoesAtOnce(t *testing.T) {
	fx := testcity.Load(t)
	s := NewService(fx.App.Pool, fx.Keys)
	want := fx.City.Persons[42]
	p, err := s.PersonByIDNumber(context.Background(), want.IDNumber, ReadAll)
	if err != nil || p == nil || p.IDNumber != want.IDNumber {
		t.Fatalf("lookup = %+v, %v", p, err)
	}
	if _, err := s.PersonByIDNumber(context.Background(), "3407", ReadAll); err == nil {
		t.Error("a malformed number was looked up")
	}
}
