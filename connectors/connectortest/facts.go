package connectortest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/connectors"
)

// TouchedMembers is the members value Touch gives the records it changes.
const TouchedMembers = 99

// FactsInstance is a connector under the fact-feed test, opened on a source
// holding the fixture (with its rows' update times, where the kind keeps
// them).
type FactsInstance struct {
	// Conn implements connectors.FactFeed.
	Conn connectors.Connector
	Dept *connectors.Department
	// Snapshot says the feed lists every record again when anything
	// changed (a ledger file has no per-row update times), rather than the
	// changed records only.
	Snapshot bool
	// Touch changes the assistance record of each key: members becomes
	// TouchedMembers, and the department's update time of all of them moves
	// to one new instant, as a batch update does, so that a page boundary
	// falls between records updated at the same time.
	Touch func(t *testing.T, keys []string)
	// Delete removes the assistance record of key, or marks it deleted;
	// nil when the kind's source cannot show a deletion.
	Delete func(t *testing.T, key string)
}

// RunFacts runs the fact-feed conformance suite: the whole feed, read in small
// pages, lists every record exactly once; a caught-up watermark lists
// nothing; after changes it lists the changed records (exactly those unless
// Snapshot), also across equal update times; deletions come as Deleted
// facts; a damaged watermark is a permanent error. open is called once.
func RunFacts(t *testing.T, open func(t *testing.T, fx Fixture) FactsInstance) {
	t.Helper()
	fx := NewFixture()
	in := open(t, fx)
	feed, ok := in.Conn.(connectors.FactFeed)
	if !ok {
		t.Fatalf("%T does not implement connectors.FactFeed", in.Conn)
	}
	page := func(t *testing.T, since string, limit int) connectors.FactPage {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p, err := feed.Facts(ctx, since, limit)
		if err != nil {
			t.Fatalf("Facts(%.30q, %d): %v", since, limit, err)
		}
		if len(p.Facts) > limit {
			t.Errorf("Facts(limit %d) returned %d facts", limit, len(p.Facts))
		}
		return p
	}
	// drain reads pages from since until More is false.
	drain := func(t *testing.T, since string, limit int) ([]connectors.Fact, string) {
		t.Helper()
		var all []connectors.Fact
		for range 10000 {
			p := page(t, since, limit)
			all = append(all, p.Facts...)
			since = p.Watermark
			if !p.More {
				return all, since
			}
		}
		t.Fatal("the feed never ends")
		return nil, ""
	}

	var mark string
	t.Run("Sets", func(t *testing.T) {
		var names []string
		for _, rs := range in.Dept.FactSets() {
			names = append(names, rs.Name)
		}
		if !slices.Equal(names, []string{Assistance, Visits}) {
			t.Errorf("FactSets() = %v, want both conformance sets", names)
		}
	})
	t.Run("Full", func(t *testing.T) {
		facts, wm := drain(t, "", 3)
		mark = wm
		seen := map[string]bool{}
		for _, f := range facts {
			id := f.Set + "/" + f.ID
			if seen[id] {
				t.Errorf("record %s listed twice in one pass", id)
			}
			seen[id] = true
			if f.Deleted || f.Entity != connectors.Person || f.ID == "" {
				t.Errorf("fact %+v: want a person's record with an ID, not deleted", f)
			}
		}
		if diff := gocmp.Diff(sorted(fx.Expected(fx.Persons, nil)), sorted(apply(facts))); diff != "" {
			t.Errorf("the full feed, applied in order, differs from the fixture (-want +got):\n%s", diff)
		}
	})
	t.Run("CaughtUp", func(t *testing.T) {
		p := page(t, mark, 3)
		if len(p.Facts) != 0 || p.More {
			t.Errorf("Facts from the last watermark: %d facts, more %t; want none", len(p.Facts), p.More)
		}
		mark = p.Watermark
	})
	touched := []string{fx.Persons[10], fx.Persons[12], fx.Persons[14], fx.Persons[16], fx.Persons[18]}
	t.Run("Changes", func(t *testing.T) {
		in.Touch(t, touched)
		facts, wm := drain(t, mark, 2)
		mark = wm
		got := map[string]bool{}
		for _, f := range facts {
			if f.Set != Assistance || !slices.Contains(touched, f.Key) {
				if !in.Snapshot {
					t.Errorf("fact for %s %s, which did not change", f.Set, f.Key)
				}
				continue
			}
			got[f.Key] = true
			if f.Deleted || f.Record["members"] != int64(TouchedMembers) {
				t.Errorf("changed record of %s: %+v, want members %d", f.Key, f, TouchedMembers)
			}
		}
		for _, k := range touched {
			if !got[k] {
				t.Errorf("the change of %s's assistance record is not in the feed", k)
			}
		}
		if p := page(t, mark, 2); len(p.Facts) != 0 {
			t.Errorf("after the changes: %d more facts, want none", len(p.Facts))
		}
	})
	t.Run("Deleted", func(t *testing.T) {
		if in.Delete == nil {
			t.Skip("the kind's source cannot show a deletion")
		}
		gone := fx.Persons[20]
		in.Delete(t, gone)
		facts, wm := drain(t, mark, 2)
		mark = wm
		found := false
		for _, f := range facts {
			switch {
			case f.Set == Assistance && f.Key == gone:
				found = found || f.Deleted
				if !f.Deleted {
					t.Errorf("the deleted record of %s is listed as %+v", gone, f)
				}
			case f.Deleted:
				t.Errorf("fact %+v is deleted, want only %s's assistance", f, gone)
			case !in.Snapshot:
				t.Errorf("fact for %s %s, which did not change", f.Set, f.Key)
			}
		}
		if !found {
			t.Errorf("no Deleted fact for %s's assistance record", gone)
		}
	})
	t.Run("BadWatermark", func(t *testing.T) {
		_, err := feed.Facts(context.Background(), "not a watermark", 3)
		var perm *connectors.PermanentError
		if !errors.As(err, &perm) {
			t.Errorf("Facts with a damaged watermark: err = %v, want a permanent error", err)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := feed.Facts(ctx, "", 3); !errors.Is(err, context.Canceled) {
			t.Errorf("Facts with a cancelled context: err = %v, want context.Canceled", err)
		}
	})
}

// apply applies facts in order as a consumer does: the last fact of a (set,
// key) for a set that is not many; a record per (set, id) for a many set.
func apply(facts []connectors.Fact) connectors.Result {
	type slot struct{ set, key, id string }
	var order []slot
	recs := map[slot]connectors.Record{}
	for _, f := range facts {
		s := slot{f.Set, f.Key, f.ID}
		if !setShape(f.Set).Many {
			s.id = ""
		}
		if _, ok := recs[s]; !ok {
			order = append(order, s)
		}
		recs[s] = f.Record
		if f.Deleted {
			recs[s] = nil
		}
	}
	res := connectors.Result{}
	for _, s := range order {
		if r := recs[s]; r != nil {
			res.Add(s.key, s.set, r)
		}
	}
	return res
}

// sorted orders each key's records of a set, so that results compare without
// regard to the order a feed lists a many set's records in.
func sorted(res connectors.Result) connectors.Result {
	for _, sets := range res {
		for _, recs := range sets {
			slices.SortFunc(recs, func(a, b connectors.Record) int { return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		}
	}
	return res
}
