package federation_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/federation/fedtest"
)

func dept(code string) *connectors.Department {
	return &connectors.Department{
		Code: code, Name: "测试", Kind: fedtest.Kind, Timeout: connectors.Duration(200 * time.Millisecond),
		Records: []connectors.RecordSet{{
			Name: "status", Entity: connectors.Person, Key: "sfzh",
			Fields: []connectors.Field{{Name: "state", From: "zt", Type: connectors.TypeString, Sharing: connectors.Unconditional}},
		}},
	}
}

func newFed(t *testing.T, code string, opts federation.Options) (*federation.Federation, *fedtest.Source) {
	fedtest.Register()
	depts := fedtest.AsMemory([]*connectors.Department{dept(code)})
	f, err := federation.New(depts, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f, fedtest.SourceFor(code)
}

var keys = []string{"340705199001011234", "34070519851231002X"}

func TestReadIsOneCallAndKeepsACopy(t *testing.T) {
	ctx := context.Background()
	f, src := newFed(t, "dept_copy", federation.Options{})
	ans, err := f.Read(ctx, "dept_copy", connectors.ReadRequest{Entity: connectors.Person, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	if src.Calls() != 1 || src.Keys() != 2 {
		t.Fatalf("calls = %d, keys = %d; want one call for both keys", src.Calls(), src.Keys())
	}
	if ans.Stale || len(ans.Result[keys[0]]["status"]) != 1 || ans.AsOf[keys[1]].IsZero() {
		t.Fatalf("live answer = %+v", ans)
	}
	readAt := ans.AsOf[keys[0]]

	src.Set(fedtest.Down)
	ans, err = f.Read(ctx, "dept_copy", connectors.ReadRequest{Entity: connectors.Person, Keys: append(keys, "110105194912310021")})
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.DepartmentUnavailable || e.Department != "dept_copy" {
		t.Fatalf("err = %v, want DEPARTMENT_UNAVAILABLE naming the department", err)
	}
	if ans == nil || !ans.Stale {
		t.Fatalf("no stale copy served: %+v", ans)
	}
	if got := ans.Result[keys[0]]["status"]; len(got) != 1 || got[0]["state"] == nil {
		t.Errorf("copy lost the record: %+v", got)
	}
	if !ans.AsOf[keys[0]].Equal(readAt) {
		t.Errorf("copy asOf = %v, want the time of the live read %v", ans.AsOf[keys[0]], readAt)
	}
	if _, held := ans.AsOf["110105194912310021"]; held {
		t.Error("a key never read has a copy")
	}
}

func TestBreakerOpensAndStatusShowsIt(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	f, src := newFed(t, "dept_breaker", federation.Options{Metrics: reg, BreakerTimeout: time.Hour})
	src.Set(fedtest.Down)
	for i := 0; i < 5; i++ {
		f.Read(ctx, "dept_breaker", connectors.ReadRequest{Entity: connectors.Person, Keys: keys})
	}
	if src.Calls() != 5 {
		t.Fatalf("calls = %d, want 5", src.Calls())
	}
	_, err := f.Read(ctx, "dept_breaker", connectors.ReadRequest{Entity: connectors.Person, Keys: keys})
	if e, ok := apperr.As(err); !ok || e.Code != apperr.DepartmentUnavailable {
		t.Fatalf("err with open breaker = %v", err)
	}
	if src.Calls() != 5 {
		t.Errorf("an open breaker let a call through (%d calls)", src.Calls())
	}
	d, _ := f.Dept("dept_breaker")
	st := d.Status(ctx, true)
	if st.Healthy || st.Breaker != "open" || st.LastError == "" {
		t.Errorf("status = %+v, want unhealthy, open, with the last error", st)
	}
	if got := breakerGauge(t, reg, "dept_breaker"); got != 2 {
		t.Errorf("breaker gauge = %v, want 2 (open)", got)
	}
}

// breakerGauge reads the breaker state series of dept from reg.
func breakerGauge(t *testing.T, reg *prometheus.Registry, dept string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gridhub_connector_breaker_state" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "department" && l.GetValue() == dept {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no breaker gauge for %s", dept)
	return 0
}

func TestTimeoutAndGarbageAreUnavailable(t *testing.T) {
	ctx := context.Background()
	f, src := newFed(t, "dept_slow", federation.Options{})
	for _, mode := range []fedtest.Mode{fedtest.Hang, fedtest.Garbage} {
		src.Set(mode)
		_, err := f.Read(ctx, "dept_slow", connectors.ReadRequest{Entity: connectors.Person, Keys: keys})
		e, ok := apperr.As(err)
		if !ok || e.Code != apperr.DepartmentUnavailable {
			t.Errorf("mode %d: err = %v, want DEPARTMENT_UNAVAILABLE", mode, err)
		}
	}
	d, _ := f.Dept("dept_slow")
	if st := d.Status(ctx, false); st.Healthy {
		t.Errorf("status healthy after failures: %+v", st)
	}
	src.Set(fedtest.Up)
	if _, err := f.Read(ctx, "dept_slow", connectors.ReadRequest{Entity: connectors.Person, Keys: keys}); err != nil {
		t.Fatal(err)
	}
	if st := d.Status(ctx, false); !st.Healthy || st.LastSuccess.IsZero() || st.Latency <= 0 {
		t.Errorf("status after recovery = %+v", st)
	}
}

func TestUnknownDepartment(t *testing.T) {
	f, _ := newFed(t, "dept_known", federation.Options{})
	if _, err := f.Read(context.Background(), "nope", connectors.ReadRequest{Entity: connectors.Person}); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// A key's copy is renewed at most every CopyRefresh: a second read soon
// after the first keeps the first read's copy (negative: every read renews;
// a department reconfigured in between is read afresh, so it renews too).
func TestCopyRenewedAtMostEveryRefresh(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name        string
		refresh     time.Duration
		reconfigure bool
		renewed     bool
	}{
		{"dept_copy_default", 0, false, false},
		{"dept_copy_always", -1, false, true},
		{"dept_copy_reconfigured", 0, true, true},
	} {
		f, src := newFed(t, c.name, federation.Options{CopyRefresh: c.refresh})
		req := connectors.ReadRequest{Entity: connectors.Person, Keys: keys}
		first, err := f.Read(ctx, c.name, req)
		if err != nil {
			t.Fatal(err)
		}
		if c.reconfigure {
			d, _ := f.Dept(c.name)
			changed := *d.Config
			changed.Raw = append([]byte("# changed\n"), changed.Raw...)
			if err := f.Reconfigure([]*connectors.Department{&changed}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Millisecond) // a later read time
		second, err := f.Read(ctx, c.name, req)
		if err != nil {
			t.Fatal(err)
		}
		src.Set(fedtest.Down)
		stale, _ := f.Read(ctx, c.name, req)
		if stale == nil || !stale.Stale {
			t.Fatalf("%s: no copy served: %+v", c.name, stale)
		}
		want := first.AsOf[keys[0]]
		if c.renewed {
			want = second.AsOf[keys[0]]
		}
		if got := stale.AsOf[keys[0]]; !got.Equal(want) {
			t.Errorf("%s: copy as of %v, want %v (first read %v, second %v)", c.name, got, want, first.AsOf[keys[0]], second.AsOf[keys[0]])
		}
	}
}

// countingLinked answers every key with one linked row in each department
// and counts its calls.
type countingLinked struct {
	depts []string
	calls atomic.Int64
}

func (c *countingLinked) LinkedRows(_ context.Context, keys []string) (map[string]map[string][]federation.LinkedRow, error) {
	c.calls.Add(1)
	out := map[string]map[string][]federation.LinkedRow{}
	for _, d := range c.depts {
		out[d] = map[string][]federation.LinkedRow{}
		for _, k := range keys {
			out[d][k] = []federation.LinkedRow{{Set: "status", Record: connectors.Record{"state": "linked-" + d}, Method: federation.LinkedByMatch}}
		}
	}
	return out, nil
}

// TestOneLinkedReadPerRequest: the department reads of one request share one
// read of the linked rows, and each department still gets its own.
func TestOneLinkedReadPerRequest(t *testing.T) {
	fedtest.Register()
	codes := []string{"dept_memo_a", "dept_memo_b", "dept_memo_c"}
	var ds []*connectors.Department
	for _, c := range codes {
		ds = append(ds, dept(c))
	}
	linked := &countingLinked{depts: codes}
	f, err := federation.New(fedtest.AsMemory(ds), federation.Options{Linked: linked})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	read := func(ctx context.Context) {
		t.Helper()
		var wg sync.WaitGroup
		for _, c := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ans, err := f.Read(ctx, c, connectors.ReadRequest{Entity: connectors.Person, Keys: keys})
				if err != nil {
					t.Error(err)
					return
				}
				got := ans.Result[keys[0]]["status"]
				if len(got) != 2 || got[1]["state"] != "linked-"+c || ans.LinkedBy[keys[0]] != federation.LinkedByMatch {
					t.Errorf("%s: %+v, linked by %q; want its own record and its linked row", c, got, ans.LinkedBy[keys[0]])
				}
			}()
		}
		wg.Wait()
	}
	read(federation.WithLinkedMemo(context.Background()))
	if n := linked.calls.Load(); n != 1 {
		t.Errorf("%d reads of linked rows for three departments in one request, want 1", n)
	}
	read(context.Background())
	if n := linked.calls.Load(); n != 4 {
		t.Errorf("%d reads of linked rows after three reads outside a request, want 4", n)
	}
}

// TestCopyHoldsTheDepartmentsAnswerOnly: a key's recent copy is what the
// department answered; the rows linkage placed, added to the answer after
// the copy was handed over, are added again (once) when the copy serves.
func TestCopyHoldsTheDepartmentsAnswerOnly(t *testing.T) {
	fedtest.Register()
	const code = "dept_copy_linked"
	linked := &countingLinked{depts: []string{code}}
	f, err := federation.New(fedtest.AsMemory([]*connectors.Department{dept(code)}), federation.Options{Linked: linked})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	ctx := context.Background()
	req := connectors.ReadRequest{Entity: connectors.Person, Keys: keys}
	if _, err := f.Read(ctx, code, req); err != nil {
		t.Fatal(err)
	}
	f.Close() // the copies are written
	fedtest.SourceFor(code).Set(fedtest.Down)
	ans, err := f.Read(ctx, code, req)
	if ans == nil || !ans.Stale {
		t.Fatalf("no copy served: %+v, %v", ans, err)
	}
	if got := ans.Result[keys[0]]["status"]; len(got) != 2 || got[1]["state"] != "linked-"+code {
		t.Errorf("served from the copy: %+v; want the department's record and one linked row", got)
	}
}
