package connectortest

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/connectors"
)

// Instance is a connector under test, opened on a source holding the fixture.
type Instance struct {
	Conn connectors.Connector
	// Dept is the department the connector was opened with, as loaded from
	// its mapping file.
	Dept *connectors.Department
	// RoundTrips, when set, counts the source round trips made so far
	// (queries, first pages of HTTP requests); the suite checks with it that a
	// read makes one per record set, and none for an empty batch. Kinds that
	// answer from memory leave it nil.
	RoundTrips func() int
}

// Run runs the conformance suite. open builds a source holding fx in the
// kind's own form and returns the connector opened on it; it is called once.
func Run(t *testing.T, open func(t *testing.T, fx Fixture) Instance) {
	t.Helper()
	fx := NewFixture()
	in := open(t, fx)
	c := in.Conn
	all := append(slices.Clone(fx.Persons), fx.Unknown...)

	read := func(t *testing.T, req connectors.ReadRequest) connectors.Result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := c.Read(ctx, req)
		if err != nil {
			t.Fatalf("Read(%d keys, sets %v): %v", len(req.Keys), req.Sets, err)
		}
		return res
	}
	check := func(t *testing.T, keys, sets []string) {
		t.Helper()
		got := read(t, connectors.ReadRequest{Entity: connectors.Person, Keys: keys, Sets: sets})
		if diff := cmp.Diff(fx.Expected(keys, sets), got); diff != "" {
			t.Errorf("Read(%d keys, sets %v) mismatch (-want +got):\n%s", len(keys), sets, diff)
		}
	}

	t.Run("Describe", func(t *testing.T) {
		want := connectors.Description{Code: in.Dept.Code, Name: in.Dept.Name, Kind: in.Dept.Kind, Sets: in.Dept.Records}
		if diff := cmp.Diff(want, c.Describe()); diff != "" {
			t.Errorf("Describe() does not match the department file (-want +got):\n%s", diff)
		}
		checkShape(t, in.Dept)
	})

	t.Run("ReadAll", func(t *testing.T) {
		check(t, all, nil)
	})

	t.Run("ReadSubset", func(t *testing.T) {
		// The special persons and a few ordinary ones, in no particular order.
		check(t, []string{fx.Persons[padded], fx.Persons[noRecords], fx.Unknown[0], fx.Persons[duplicated],
			fx.Persons[firstGen], fx.Persons[lowerX], fx.Persons[17], fx.Persons[40]}, nil)
	})

	t.Run("SpecialKeys", func(t *testing.T) {
		got := read(t, connectors.ReadRequest{Entity: connectors.Person, Keys: all})
		for _, i := range []int{lowerX, firstGen, padded} {
			if _, ok := got[fx.Persons[i]]; !ok {
				t.Errorf("person %d (source key written %s) not found under its normalised key", i, describeKey(i))
			}
		}
		if _, ok := got[fx.Persons[noRecords]]; ok {
			t.Errorf("person %d has no records but is in the result", noRecords)
		}
		if n := len(got[fx.Persons[duplicated]][Assistance]); n != 1 {
			t.Errorf("person %d: %d assistance records, want 1 (the first in source order)", duplicated, n)
		}
	})

	t.Run("SetsFilter", func(t *testing.T) {
		check(t, all, []string{Visits})
		check(t, all, []string{Assistance})
		check(t, all, []string{Assistance, Visits})
	})

	t.Run("UnknownSet", func(t *testing.T) {
		_, err := c.Read(context.Background(), connectors.ReadRequest{Entity: connectors.Person, Keys: all, Sets: []string{"nope"}})
		var perm *connectors.PermanentError
		if !errors.As(err, &perm) {
			t.Errorf("Read with an unknown set: err = %v, want a permanent error", err)
		}
	})

	t.Run("OtherEntity", func(t *testing.T) {
		got := read(t, connectors.ReadRequest{Entity: connectors.Organization, Keys: []string{"91340700MA2N0B0X1P"}})
		if len(got) != 0 {
			t.Errorf("Read of organizations from a person-only department = %v, want empty", got)
		}
	})

	t.Run("EmptyKeys", func(t *testing.T) {
		before := roundTrips(in)
		got := read(t, connectors.ReadRequest{Entity: connectors.Person})
		if len(got) != 0 {
			t.Errorf("Read with no keys = %v, want empty", got)
		}
		if after := roundTrips(in); after != before {
			t.Errorf("Read with no keys made %d source round trips, want 0", after-before)
		}
	})

	t.Run("RoundTrips", func(t *testing.T) {
		if in.RoundTrips == nil {
			t.Skip("the kind reads from memory")
		}
		for _, sets := range [][]string{nil, {Visits}} {
			before := in.RoundTrips()
			read(t, connectors.ReadRequest{Entity: connectors.Person, Keys: all, Sets: sets})
			want := len(Sets)
			if sets != nil {
				want = len(sets)
			}
			if got := in.RoundTrips() - before; got != want {
				t.Errorf("Read of %d keys, sets %v: %d source round trips, want %d (one per record set)", len(all), sets, got, want)
			}
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		_, err := c.Read(ctx, connectors.ReadRequest{Entity: connectors.Person, Keys: all})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Read with a cancelled context: err = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Read with a cancelled context took %s", d)
		}
	})

	t.Run("ResultIsACopy", func(t *testing.T) {
		keys := []string{fx.Persons[duplicated]}
		got := read(t, connectors.ReadRequest{Entity: connectors.Person, Keys: keys})
		for _, recs := range got[keys[0]] {
			for _, r := range recs {
				r["amount"] = -1.0
				delete(r, "visitedOn")
			}
		}
		check(t, keys, nil)
	})

	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), 7))
				for range 5 {
					keys := slices.Clone(all)
					rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
					keys = keys[:1+rng.IntN(len(keys))]
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					got, err := c.Read(ctx, connectors.ReadRequest{Entity: connectors.Person, Keys: keys})
					cancel()
					if err != nil {
						t.Errorf("concurrent Read: %v", err)
						return
					}
					if diff := cmp.Diff(fx.Expected(keys, nil), got); diff != "" {
						t.Errorf("concurrent Read mismatch (-want +got):\n%s", diff)
						return
					}
				}
			})
		}
		wg.Wait()
	})
}

func describeKey(i int) string {
	switch i {
	case lowerX:
		return "with a lower-case x"
	case firstGen:
		return "as 15 digits"
	case padded:
		return "padded with spaces"
	}
	return ""
}

func roundTrips(in Instance) int {
	if in.RoundTrips == nil {
		return 0
	}
	return in.RoundTrips()
}

// checkShape fails t when the department does not define the fixture's sets.
func checkShape(t *testing.T, d *connectors.Department) {
	t.Helper()
	for _, want := range Sets {
		got, ok := d.Set(want.Name)
		if !ok {
			t.Errorf("department %s has no record set %s", d.Code, want.Name)
			continue
		}
		if got.Entity != want.Entity || got.Many != want.Many {
			t.Errorf("record set %s: entity %s, many %t; want %s, %t", want.Name, got.Entity, got.Many, want.Entity, want.Many)
		}
		type shape struct{ Name, Type string }
		var g, w []shape
		for _, f := range got.Fields {
			g = append(g, shape{f.Name, f.Type})
		}
		for _, f := range want.Fields {
			w = append(w, shape{f.Name, f.Type})
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("record set %s fields (-want +got):\n%s", want.Name, diff)
		}
	}
}
