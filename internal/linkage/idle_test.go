package linkage_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/linkage"
	"github.com/gridhub/gridhub/internal/linkage/linkagetest"
)

// runLog counts the linker's department runs from its log lines.
type runLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *runLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// runs are the departments linked since the last call, one per run.
func (l *runLog) runs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if strings.Contains(line, "msg=linkage ") {
			_, after, _ := strings.Cut(line, "department=")
			dept, _, _ := strings.Cut(after, " ")
			out = append(out, dept)
		}
	}
	l.buf.Reset()
	return out
}

// A sync that changes nothing does not link again (the stored links stand),
// so a quiet hub does not hold the master index in memory: it is released
// once unused for KeepIndex, and a department that changes is linked again,
// alone.
func TestQuietSyncsKeepTheLinksAndReleaseTheIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the six department simulators")
	}
	c := linkagetest.Start(t)
	log := &runLog{}
	pool := c.Fixture.Store.Pool
	if c.Fixture.App != nil {
		pool = c.Fixture.App.Pool
	}
	c.Linker = linkage.New(pool, linkage.Options{Logger: slog.New(slog.NewTextHandler(log, nil)), KeepIndex: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := c.Syncer(nil).SyncAll(ctx, true); err != nil {
		t.Fatal(err)
	}
	if runs := log.runs(); len(runs) != len(c.Feeds) {
		t.Fatalf("the full sync linked %v, want every department with a feed (%d)", runs, len(c.Feeds))
	}
	truth := linkagetest.Truth(c.Dataset)
	before, err := linkage.Evaluate(ctx, c.Fixture.Store.Pool, truth, c.Fixture.Keys.Blind(""))
	if err != nil {
		t.Fatal(err)
	}
	if before.Links == 0 {
		t.Fatal("no links")
	}
	for deadline := time.Now().Add(30 * time.Second); c.Linker.IndexVersion() != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the master index is still held half a minute after its last use")
		}
	}

	// Nothing changed: no department is linked, the index stays released.
	if _, err := c.Syncer(nil).SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	if runs := log.runs(); len(runs) != 0 {
		t.Errorf("a sync that changed nothing linked %v", runs)
	}
	if v := c.Linker.IndexVersion(); v != 0 {
		t.Errorf("the master index was loaded again (version %d) by a sync that changed nothing", v)
	}
	after, err := linkage.Evaluate(ctx, c.Fixture.Store.Pool, truth, c.Fixture.Keys.Blind(""))
	if err != nil {
		t.Fatal(err)
	}
	if after.Links != before.Links || after.Correct != before.Correct {
		t.Errorf("links after the quiet sync: %d (%d right), before %d (%d right)", after.Links, after.Correct, before.Links, before.Correct)
	}

	// One department changes: it alone is linked again.
	c.Control(t, deptsim.Employment, "/_deptsim/touch?n=5")
	if _, err := c.Syncer(nil).SyncAll(ctx, false); err != nil {
		t.Fatal(err)
	}
	if runs := log.runs(); len(runs) != 1 || runs[0] != deptsim.Employment {
		t.Errorf("after a change to employment the sync linked %v, want [%s]", runs, deptsim.Employment)
	}
}
