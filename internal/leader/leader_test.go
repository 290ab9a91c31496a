package leader

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/devenv"
)

func TestMain(m *testing.M) { os.Exit(devenv.RunTests(m)) }

// replica is one campaigning Elector with a duty that counts its runs and
// notes whether it is running.
type replica struct {
	e       *Elector
	stop    context.CancelFunc
	done    chan struct{}
	runs    atomic.Int32
	running atomic.Bool
}

func start(t *testing.T, url string, active *atomic.Int32, overlap *atomic.Bool) *replica {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{e: New(cfg, Options{Interval: 50 * time.Millisecond}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() {
		defer close(r.done)
		r.e.Run(ctx, func(ctx context.Context) {
			r.runs.Add(1)
			r.running.Store(true)
			if active.Add(1) > 1 && overlap != nil {
				overlap.Store(true)
			}
			<-ctx.Done()
			active.Add(-1)
			r.running.Store(false)
		})
	}()
	t.Cleanup(func() { r.stop(); <-r.done })
	return r
}

func (r *replica) halt() { r.stop(); <-r.done }

// waitLeader waits until exactly one of rs runs its duty and returns it.
func waitLeader(t *testing.T, rs ...*replica) *replica {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		var leaders []*replica
		for _, r := range rs {
			if r.running.Load() {
				leaders = append(leaders, r)
			}
		}
		if len(leaders) == 1 && leaders[0].e.Leading() {
			return leaders[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no single leader within 30s")
	return nil
}

// TestOneLeaderAndTakeOver runs three electors on one database: one leads;
// stopped, it hands over to another, never both at once; its session killed
// under it, it stops its duty and another takes over.
func TestOneLeaderAndTakeOver(t *testing.T) {
	url := devenv.NewDatabase(t)
	var active atomic.Int32
	var overlap atomic.Bool
	rs := []*replica{start(t, url, &active, &overlap), start(t, url, &active, &overlap), start(t, url, &active, &overlap)}

	first := waitLeader(t, rs...)
	// A while of campaigning changes nothing: the others keep trying and
	// failing.
	time.Sleep(300 * time.Millisecond)
	if waitLeader(t, rs...) != first || first.runs.Load() != 1 {
		t.Fatalf("the lead moved without cause (runs of the first leader: %d)", first.runs.Load())
	}

	// Stopped (SIGTERM in the hub): the duty ends before the lead is given
	// up, so no two duties ever run together.
	first.halt()
	var rest []*replica
	for _, r := range rs {
		if r != first {
			rest = append(rest, r)
		}
	}
	second := waitLeader(t, rest...)
	if overlap.Load() {
		t.Error("two replicas ran the leader's duty at once after a clean hand-over")
	}

	// The leader's session ends under it (SIGKILL of a replica, a network
	// cut, an administrator's pg_terminate_backend): Postgres frees the
	// lock, the old leader stops its duty, another takes the lead.
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var killed int
	if err := conn.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid))::int FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND (classid::bigint << 32 | objid::bigint) = $1`, LockKey).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed != 1 {
		t.Fatalf("%d sessions held the leader's lock, want 1", killed)
	}
	deadline := time.Now().Add(30 * time.Second)
	for second.running.Load() || second.e.Leading() {
		if time.Now().After(deadline) {
			t.Fatal("the leader whose session was killed still runs its duty")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Either follower may take it, the old leader too once it reconnects.
	third := waitLeader(t, rest...)
	if third.runs.Load() < 1 {
		t.Fatal("the new leader never ran its duty")
	}
}
