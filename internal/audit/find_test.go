package audit_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/audit"
)

// TestFind answers the auditors' questions: by actor, by person ("who read
// this resident's record, when and why"), by time window, paged newest first.
func TestFind(t *testing.T) {
	l, _ := newLedger(t)
	ctx := context.Background()
	// 30 entries over three days: actors officer-0..2 in turn, person 7
	// read by every fifth entry, each entry three hours after the last.
	var all []audit.Entry
	for i := range 30 {
		e := sample(i)
		e.At = day(1, 0).Add(time.Duration(i) * 3 * time.Hour)
		if i%5 == 0 {
			e.Persons = append(e.Persons, "7")
		}
		got, err := l.Append(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got)
	}
	newestFirst := func(keep func(audit.Entry) bool) []int64 {
		var seqs []int64
		for i := len(all) - 1; i >= 0; i-- {
			if keep(all[i]) {
				seqs = append(seqs, all[i].Seq)
			}
		}
		return seqs
	}
	for _, tc := range []struct {
		name   string
		filter audit.Filter
		want   []int64
	}{
		{"everything", audit.Filter{}, newestFirst(func(audit.Entry) bool { return true })},
		{"by actor", audit.Filter{Actor: "officer-1"}, newestFirst(func(e audit.Entry) bool { return e.Actor == "officer-1" })},
		{"by person", audit.Filter{Person: "7"}, newestFirst(func(e audit.Entry) bool { return slices.Contains(e.Persons, "7") })},
		{"by another person", audit.Filter{Person: "1012"}, []int64{13}},
		{"by time window", audit.Filter{From: day(2, 0), To: day(3, 0)},
			newestFirst(func(e audit.Entry) bool { return !e.At.Before(day(2, 0)) && e.At.Before(day(3, 0)) })},
		{"from only", audit.Filter{From: day(4, 0)}, newestFirst(func(e audit.Entry) bool { return !e.At.Before(day(4, 0)) })},
		{"to only (exclusive)", audit.Filter{To: day(1, 6)}, []int64{2, 1}},
		{"person and actor", audit.Filter{Person: "7", Actor: "officer-0"},
			newestFirst(func(e audit.Entry) bool { return slices.Contains(e.Persons, "7") && e.Actor == "officer-0" })},
		{"person in a window", audit.Filter{Person: "7", From: day(2, 0), To: day(3, 12)},
			newestFirst(func(e audit.Entry) bool {
				return slices.Contains(e.Persons, "7") && !e.At.Before(day(2, 0)) && e.At.Before(day(3, 12))
			})},
		{"nobody", audit.Filter{Actor: "nobody"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.want) == 0 && tc.name != "nobody" {
				t.Fatal("the case selects nothing: it tests nothing")
			}
			// Page through three at a time.
			var got []int64
			f := tc.filter
			f.First = 3
			for pages := 0; ; pages++ {
				if pages > len(all) {
					t.Fatal("paging does not end")
				}
				page, err := l.Find(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page.Entries {
					got = append(got, e.Seq)
				}
				if !page.HasNext {
					if len(page.Entries) > 0 && page.EndCursor != audit.Cursor(page.Entries[len(page.Entries)-1].Seq) {
						t.Errorf("EndCursor %q is not the last entry's cursor", page.EndCursor)
					}
					break
				}
				if len(page.Entries) != 3 {
					t.Fatalf("a page with a next holds %d entries, want 3", len(page.Entries))
				}
				f.After = page.EndCursor
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("seqs (-want +got):\n%s", diff)
			}
			n, err := l.Count(ctx, tc.filter)
			if err != nil || n != int64(len(tc.want)) {
				t.Errorf("Count = %d (err %v), want %d", n, err, len(tc.want))
			}
		})
	}

	// Entries come back whole.
	page, err := l.Find(ctx, audit.Filter{Person: "1012"})
	if err != nil || len(page.Entries) != 1 {
		t.Fatalf("Find person 1012: %d entries, %v", len(page.Entries), err)
	}
	if diff := cmp.Diff(all[12], page.Entries[0]); diff != "" {
		t.Errorf("entry (-appended +found):\n%s", diff)
	}
	// The default page size, and a page size of exactly what is there.
	if page, err := l.Find(ctx, audit.Filter{}); err != nil || len(page.Entries) != 30 || page.HasNext {
		t.Errorf("default page: %d entries, next %t, %v", len(page.Entries), page.HasNext, err)
	}
	if page, err := l.Find(ctx, audit.Filter{First: 30}); err != nil || len(page.Entries) != 30 || page.HasNext {
		t.Errorf("First 30 of 30: %d entries, next %t, %v", len(page.Entries), page.HasNext, err)
	}
}

func TestFindRefusesBadInput(t *testing.T) {
	l, _ := newLedger(t)
	for name, f := range map[string]audit.Filter{
		"garbage cursor":      {After: "not-a-cursor"},
		"foreign cursor":      {After: "Z3JpZDox"},
		"negative first":      {First: -1},
		"first too large":     {First: audit.MaxPageSize + 1},
		"ID number as person": {Person: "34070519800101001X"},
		"empty window":        {From: day(2, 0), To: day(2, 0)},
		"inverted window":     {From: day(3, 0), To: day(2, 0)},
	} {
		_, err := l.Find(context.Background(), f)
		if e, ok := apperr.As(err); !ok || e.Code != apperr.BadUserInput {
			t.Errorf("%s: %v, want a BAD_USER_INPUT error", name, err)
		}
	}
}
