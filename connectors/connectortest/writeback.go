package connectortest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gridhub/gridhub/connectors"
)

// WriteFields are the unified fields a conformance department takes from the
// report, with their types: every assistance field, and a report-only visit
// note. Its writeback block lists them in this order, with its own targets,
// formats and codes; it names a submitted_at target.
var WriteFields = []string{
	"assistance.level enum", "assistance.amount decimal", "assistance.since date", "assistance.active bool",
	"assistance.members int", "assistance.note string", "visit.note string",
}

// WriteInstance is a connector under the write-back test, opened on an empty
// inbox.
type WriteInstance struct {
	// Conn implements connectors.Writer.
	Conn connectors.Connector
	Dept *connectors.Department
	// Inbox reads back what the department's inbox holds, in any order,
	// through the kind's own means (a query, the fake API's store, the
	// workbook).
	Inbox func(t *testing.T) []InboxEntry
}

// InboxEntry is one delivery as the department's inbox holds it.
type InboxEntry struct {
	IdempotencyKey string
	// Values are the department's fields as stored, by target (column,
	// dotted JSON path, header): text, JSON values or cell text. Fields the
	// delivery left out are absent or empty.
	Values map[string]any
}

// RunWriter runs the write-back conformance suite: a write lands once, a
// repeat with the same idempotency key lands nothing more (also when repeated
// concurrently), and a delivery the department cannot take fails
// permanently without landing. open is called once.
func RunWriter(t *testing.T, open func(t *testing.T) WriteInstance) {
	t.Helper()
	fx := NewFixture()
	in := open(t)
	w, ok := in.Conn.(connectors.Writer)
	if !ok {
		t.Fatalf("%T does not implement connectors.Writer", in.Conn)
	}
	submitted := time.Date(2026, 6, 1, 9, 30, 15, 0, time.FixedZone("CST", 8*60*60))
	deliveries := []connectors.Delivery{
		{IdempotencyKey: "conformance-1", Entity: connectors.Person, Key: fx.Persons[10], SubmittedAt: submitted, Fields: map[string]any{
			"assistance.level": "RURAL", "assistance.amount": 812.5, "assistance.since": time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
			"assistance.active": true, "assistance.members": int64(3), "assistance.note": "入户核实, 家庭人口变化", "visit.note": "网格员走访",
		}},
		{IdempotencyKey: "conformance-2", Entity: connectors.Person, Key: fx.Persons[lowerX], SubmittedAt: submitted, Fields: map[string]any{
			"assistance.active": false, "visit.note": "电话回访",
		}},
		{IdempotencyKey: "conformance-3", Entity: connectors.Person, Key: fx.Persons[12], SubmittedAt: submitted, Fields: map[string]any{
			"assistance.members": int64(5), "assistance.level": "URBAN",
		}},
	}
	write := func(t *testing.T, d connectors.Delivery) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return w.Write(ctx, d)
	}
	// check compares the inbox with the deliveries that should have landed.
	check := func(t *testing.T, landed ...connectors.Delivery) {
		t.Helper()
		got := in.Inbox(t)
		byKey := map[string]InboxEntry{}
		for _, e := range got {
			if _, dup := byKey[e.IdempotencyKey]; dup {
				t.Errorf("the inbox holds delivery %s twice", e.IdempotencyKey)
			}
			byKey[e.IdempotencyKey] = e
		}
		if len(got) != len(landed) {
			t.Errorf("the inbox holds %d deliveries, want %d", len(got), len(landed))
		}
		for _, d := range landed {
			e, ok := byKey[d.IdempotencyKey]
			if !ok {
				t.Errorf("delivery %s is not in the inbox", d.IdempotencyKey)
				continue
			}
			want, err := in.Dept.EncodeDelivery(d)
			if err != nil {
				t.Fatal(err)
			}
			targets := map[string]bool{}
			for _, v := range want {
				targets[v.Target] = true
				if v.Target == in.Dept.WriteBack.IdempotencyKey {
					continue
				}
				if g := e.Values[v.Target]; !sameValue(g, v.Value) {
					t.Errorf("delivery %s: %s = %#v, want %#v", d.IdempotencyKey, v.Target, g, v.Value)
				}
			}
			for _, wf := range in.Dept.WriteBack.Fields {
				if g := e.Values[wf.To]; !targets[wf.To] && g != nil && g != "" {
					t.Errorf("delivery %s: %s = %#v, want it empty: the delivery has no %s", d.IdempotencyKey, wf.To, g, wf.Field)
				}
			}
		}
	}

	t.Run("Writable", func(t *testing.T) {
		var got []string
		for _, f := range in.Dept.Writable() {
			got = append(got, f.Name()+" "+f.Type)
		}
		if diff := cmp.Diff(WriteFields, got); diff != "" {
			t.Errorf("Writable() (-want +got):\n%s", diff)
		}
		if in.Dept.WriteBack.SubmittedAt == "" {
			t.Error("the conformance writeback block names no submitted_at target")
		}
	})
	t.Run("WriteOnce", func(t *testing.T) {
		check(t)
		if err := write(t, deliveries[0]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		check(t, deliveries[0])
	})
	t.Run("RepeatIsANoOp", func(t *testing.T) {
		if err := write(t, deliveries[0]); err != nil {
			t.Fatalf("second Write of the same delivery: %v, want success", err)
		}
		if err := write(t, deliveries[1]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		check(t, deliveries[0], deliveries[1])
	})
	t.Run("ConcurrentRepeats", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := write(t, deliveries[2]); err != nil {
					t.Errorf("concurrent Write: %v", err)
				}
			})
		}
		wg.Wait()
		check(t, deliveries...)
	})
	t.Run("Refused", func(t *testing.T) {
		base := deliveries[0]
		with := func(key string, fields map[string]any) connectors.Delivery {
			d := base
			d.IdempotencyKey, d.Fields = key, fields
			return d
		}
		badKey := with("refused-key", map[string]any{"visit.note": "x"})
		badKey.Key = "3407021980"
		cases := map[string]connectors.Delivery{
			"unknown field":      with("refused-1", map[string]any{"assistance.nope": "x", "visit.note": "x"}),
			"wrong type":         with("refused-2", map[string]any{"assistance.members": "三"}),
			"unknown enum value": with("refused-3", map[string]any{"assistance.level": "SUBURBAN"}),
			"no fields":          with("refused-4", map[string]any{}),
			"no idempotency key": with("", map[string]any{"visit.note": "x"}),
			"bad key":            badKey,
		}
		for name, d := range cases {
			err := write(t, d)
			var perm *connectors.PermanentError
			if !errors.As(err, &perm) {
				t.Errorf("%s: Write = %v, want a permanent error", name, err)
			}
		}
		check(t, deliveries...)
	})
	t.Run("Cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		d := deliveries[0]
		d.IdempotencyKey = "cancelled"
		if err := w.Write(ctx, d); !errors.Is(err, context.Canceled) {
			t.Errorf("Write with a cancelled context: err = %v, want context.Canceled", err)
		}
		check(t, deliveries...)
	})
}

// sameValue compares a stored value with an encoded one, allowing for how a
// kind stores it: a number as text or a JSON number, a date as text, a bool
// as a boolean or its text.
func sameValue(got, want any) bool {
	if b, ok := want.(bool); ok {
		switch g := got.(type) {
		case bool:
			return g == b
		case string:
			v, err := strconv.ParseBool(strings.ToLower(g))
			return err == nil && v == b
		}
		return false
	}
	gs, ws := text(got), text(want)
	if gs == ws {
		return true
	}
	gf, err1 := strconv.ParseFloat(gs, 64)
	wf, err2 := strconv.ParseFloat(ws, 64)
	return err1 == nil && err2 == nil && gf == wf
}

func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}
