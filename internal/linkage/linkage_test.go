package linkage_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/linkage"
	"github.com/gridhub/gridhub/internal/linkage/linkagetest"
)

// The done-when of record linkage, on the small test city through the real
// connectors: precision at least 99.9% and recall at least 99.5% over every
// person row the departments hold, and every row with a mistyped number
// linked to its true person.
func TestLinkageMeetsThresholdsAgainstTruth(t *testing.T) {
	c, ctx := synced(t)
	rep, err := linkage.Evaluate(ctx, c.Fixture.Store.Pool, linkagetest.Truth(c.Dataset), c.Fixture.Keys.Blind(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rows %d, links %d, correct %d: precision %.5f recall %.5f; by method %v", rep.Rows, rep.Links, rep.Correct,
		rep.Precision(), rep.Recall(), rep.ByMethod)
	for _, k := range rep.Kinds {
		t.Logf("%-16s rows %4d absent %3d correct %4d wrong %2d review %2d unlinked %2d", k.Kind, k.Rows, k.Absent, k.Correct, k.Wrong, k.Review, k.Unlinked)
	}
	if p := rep.Precision(); p < 0.999 {
		t.Errorf("precision %.5f, want >= 0.999", p)
	}
	if r := rep.Recall(); r < 0.995 {
		t.Errorf("recall %.5f, want >= 0.995", r)
	}
	for _, k := range rep.Kinds {
		if k.Wrong > 0 {
			t.Errorf("%s: %d rows linked to the wrong person", k.Kind, k.Wrong)
		}
	}

	// Bad input: one department unreachable, another answering garbage.
	// The sync reports both by name, the others sync and link, and no link
	// is lost.
	links := func() int {
		var n int
		if err := c.Fixture.Store.Pool.QueryRow(ctx, `SELECT count(*) FROM links WHERE outcome = 'LINKED'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := links()
	if before == 0 {
		t.Fatal("no links to keep")
	}
	c.Servers[deptsim.SocialSecurity].Close()
	c.Control(t, deptsim.Employment, "/_deptsim/fault?mode=garbage")
	res, err := c.Syncer(nil).SyncAll(ctx, true)
	if err == nil || !strings.Contains(err.Error(), deptsim.SocialSecurity) || !strings.Contains(err.Error(), deptsim.Employment) {
		t.Errorf("a sync with two departments failing: %v, want both named", err)
	}
	for _, d := range []string{deptsim.CivilAffairs, deptsim.Health, deptsim.PartyBuilding} {
		if res[d].Err != nil {
			t.Errorf("%s failed with the others: %v", d, res[d].Err)
		}
	}
	if after := links(); after != before {
		t.Errorf("links after the failed sync: %d, before %d", after, before)
	}
	again, err := linkage.Evaluate(ctx, c.Fixture.Store.Pool, linkagetest.Truth(c.Dataset), c.Fixture.Keys.Blind(""))
	if err != nil {
		t.Fatal(err)
	}
	if again.Correct != rep.Correct {
		t.Errorf("correct links after the failed sync: %d, before %d", again.Correct, rep.Correct)
	}
}

// synced starts the test city's six department systems and syncs every
// department once; ctx bounds the test (three minutes).
func synced(t *testing.T) (*linkagetest.City, context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the six department simulators")
	}
	c := linkagetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	if _, err := c.Syncer(nil).SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	return c, ctx
}
