package deptsim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/connectors"
	_ "github.com/gridhub/gridhub/connectors/all"
	"github.com/gridhub/gridhub/internal/devenv"
)

// simulators starts the six department systems for a test of its own (fresh
// databases, copies of the REST files and of the ledger), points the
// mapping files' environment at them, and opens a connector on each.
type simulators struct {
	dsn    map[string]string
	rest   map[string]*Server
	ledger string
	conns  map[string]connectors.Connector
	depts  map[string]*connectors.Department
}

func startSimulators(t *testing.T) *simulators {
	t.Helper()
	_, ds := fixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sim := &simulators{dsn: map[string]string{}, rest: map[string]*Server{}, conns: map[string]connectors.Connector{}}
	for _, d := range []string{CivilAffairs, Health} {
		u := devenv.NewDatabase(t)
		if err := ds.LoadSQL(ctx, d, u); err != nil {
			t.Fatal(err)
		}
		sim.dsn[d] = u
		setEnv(t, Env(d, Endpoint{DSN: u}))
	}
	for _, d := range []string{Employment, SocialSecurity, UrbanManagement} {
		s, u := serveDir(t, d, deptDir(t, d))
		sim.rest[d] = s
		setEnv(t, Env(d, Endpoint{URL: u, APIKey: testKey}))
	}
	sim.ledger = filepath.Join(t.TempDir(), "party_building", "ledger.xlsx")
	os.MkdirAll(filepath.Dir(sim.ledger), 0o755)
	b, err := os.ReadFile(LedgerPath(files(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sim.ledger, b, 0o644); err != nil {
		t.Fatal(err)
	}
	setEnv(t, Env(PartyBuilding, Endpoint{Ledger: sim.ledger}))
	sim.depts = mapping(t)
	for code, d := range sim.depts {
		c, err := connectors.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		if cl, ok := c.(connectors.Closer); ok {
			t.Cleanup(func() { cl.Close() })
		}
		sim.conns[code] = c
	}
	return sim
}

// sampleValue is a value a department takes for a writable field.
func sampleValue(w connectors.WritableField) any {
	switch w.Name() {
	case "floating.originCode":
		return "340705"
	case "cases.lat":
		return 30.9375
	}
	switch w.Type {
	case connectors.TypeEnum:
		return w.Values[len(w.Values)-1]
	case connectors.TypeInt:
		return int64(2)
	case connectors.TypeDecimal:
		return 117.8125
	case connectors.TypeDate:
		return time.Date(2026, 5, 20, 0, 0, 0, 0, time.UTC)
	case connectors.TypeBool:
		return true
	}
	return "网格员走访核实"
}

// TestConnectorsWriteToSimulators delivers every field each department takes,
// twice under one key, through the shipped mapping files, and checks that each
// department's inbox holds it once, in its own conventions.
func TestConnectorsWriteToSimulators(t *testing.T) {
	_, ds := fixture(t)
	sim := startSimulators(t)
	key := ds.Showcase[0]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, code := range Departments() {
		t.Run(code, func(t *testing.T) {
			d := sim.depts[code]
			fields := map[string]any{}
			for _, w := range d.Writable() {
				fields[w.Name()] = sampleValue(w)
			}
			del := connectors.Delivery{IdempotencyKey: "report-1/" + code, Entity: connectors.Person, Key: key, Fields: fields,
				SubmittedAt: time.Date(2026, 6, 1, 9, 30, 0, 0, cst)}
			w := sim.conns[code].(connectors.Writer)
			for range 2 {
				if err := w.Write(ctx, del); err != nil {
					t.Fatalf("Write: %v", err)
				}
			}
			switch Kind(code) {
			case KindSQL:
				conn, err := pgx.Connect(ctx, sim.dsn[code])
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(ctx)
				rows, _ := conn.Query(ctx, "SELECT * FROM "+InboxTable(code))
				got, err := pgx.CollectRows(rows, pgx.RowToMap)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || got[0]["idempotency_key"] != del.IdempotencyKey || got[0]["sfzh"] != key {
					t.Fatalf("%s holds %v, want the delivery once", InboxTable(code), got)
				}
				t.Logf("%s: %v", InboxTable(code), got[0])
			case KindREST:
				s := sim.rest[code]
				if st := s.InboxStats(); st.Keys != 1 || st.Replayed != 1 || st.Refused != 0 {
					t.Errorf("InboxStats() = %+v, want one key, one replay", st)
				}
				got, ok := s.Delivered(del.IdempotencyKey)
				if !ok || !strings.Contains(string(got.Body), key) {
					t.Fatalf("delivery: %+v", got)
				}
				t.Logf("%s", got.Body)
			case KindSheet:
				got, err := ReadLedgerInbox(strings.TrimSuffix(sim.ledger, ".xlsx") + "-inbox.xlsx")
				if err != nil {
					t.Fatal(err)
				}
				want := map[string]string{"身份证号": key, "报送编号": del.IdempotencyKey, "报送时间": "2026-06-01 09:30:00",
					"最后联系时间": "2026.05.20", "是否失联": "是", "所在支部": "网格员走访核实"}
				if len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(want) {
					t.Errorf("inbox %v, want %v", got, want)
				}
			}
		})
	}
}

// factsOf drains a connector's feed from since, limit at a time.
func factsOf(t *testing.T, c connectors.Connector, since string, limit int) ([]connectors.Fact, string) {
	t.Helper()
	feed := c.(connectors.FactFeed)
	var all []connectors.Fact
	for range 100000 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p, err := feed.Facts(ctx, since, limit)
		cancel()
		if err != nil {
			t.Fatalf("Facts: %v", err)
		}
		all = append(all, p.Facts...)
		since = p.Watermark
		if !p.More {
			return all, since
		}
	}
	t.Fatal("the feed never ends")
	return nil, ""
}

// validKey says whether a key as a source writes it normalises as a person's
// or an organisation's.
func validKey(k string) bool {
	_, err1 := connectors.NormalizeKey(connectors.Person, k)
	_, err2 := connectors.NormalizeKey(connectors.Organization, k)
	return err1 == nil || err2 == nil
}

// TestConnectorsFactsFromSimulators reads each department's whole fact feed
// through the shipped mapping files, changes the department as its clerks
// would, and checks that the feed then lists exactly what changed.
func TestConnectorsFactsFromSimulators(t *testing.T) {
	sim := startSimulators(t)
	ctx := context.Background()
	for _, code := range Departments() {
		t.Run(code, func(t *testing.T) {
			c := sim.conns[code]
			all, mark := factsOf(t, c, "", 1000)
			perSet := map[string]int{}
			seen := map[string]bool{}
			for _, f := range all {
				id := f.Set + "/" + f.ID
				if seen[id] {
					t.Fatalf("record %s listed twice", id)
				}
				seen[id] = true
				perSet[f.Set]++
			}
			skipped := c.(connectors.FactSkipCounter).FactsSkipped()
			t.Logf("%d facts %v, %d skipped", len(all), perSet, skipped)
			for _, rs := range sim.depts[code].Records {
				if perSet[rs.Name] == 0 {
					t.Errorf("no facts for %s", rs.Name)
				}
			}
			if p, err := c.(connectors.FactFeed).Facts(ctx, mark, 10); err != nil || len(p.Facts) != 0 {
				t.Fatalf("caught up: %d facts, %v", len(p.Facts), err)
			}

			// Change the department, then read from the watermark in small
			// pages: the changed records share one update time.
			// A record set with an identity block lists a row whose ID
			// number is missing or invalid too, for record linkage.
			named := map[string]bool{}
			for _, rs := range sim.depts[code].Records {
				if len(rs.Identity) > 0 {
					named[rs.Name] = true
					if rs.Facts != nil && rs.Facts.Resource != "" {
						named[rs.Facts.Resource] = true
					}
				}
			}
			var want []string
			switch Kind(code) {
			case KindSQL:
				touched, err := TouchSQL(ctx, code, sim.dsn[code], 20)
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range touched {
					if validKey(x.Key) || named[x.Resource] {
						want = append(want, x.Resource+"/"+x.ID+" changed")
					}
				}
			case KindREST:
				touched, _, err := sim.rest[code].Touch(20, 3, "")
				if err != nil {
					t.Fatal(err)
				}
				for _, x := range touched {
					// A case with no party names no one (a row with no
					// number but a name is rare enough to leave out here).
					if validKey(x.Key) || named[x.Resource] && x.Key != "" {
						want = append(want, x.Resource+"/"+x.ID+" "+fmtBool(x.Deleted))
					}
				}
			case KindSheet:
				changed, removed, err := TouchLedger(sim.ledger, 4, 2, 1)
				if err != nil {
					t.Fatal(err)
				}
				facts, _ := factsOf(t, c, mark, 7)
				byKey := map[string]connectors.Fact{}
				deleted := 0
				for _, f := range facts {
					if f.Deleted {
						deleted++
					}
					byKey[f.Key] = f
				}
				if len(facts) != len(all) || deleted != len(removed) {
					t.Errorf("after the ledger changed: %d facts (%d deleted), want every member again (%d) and %d deletions", len(facts), deleted, len(all), len(removed))
				}
				for _, k := range removed {
					if f := byKey[normKey(k)]; !f.Deleted {
						t.Errorf("removed member %s: %+v, want a Deleted fact", k, f)
					}
				}
				today := time.Now().In(cst)
				for _, k := range changed {
					f := byKey[normKey(k)]
					if d, _ := f.Record["lastContact"].(time.Time); d.Day() != today.Day() {
						t.Errorf("changed member %s: %+v, want last contact today", k, f)
					}
				}
				return
			}
			facts, _ := factsOf(t, c, mark, 7)
			// The touch names a resource (a REST resource, a SQL record
			// set); 城管's cases resource feeds two record sets.
			resource := map[string]string{}
			for _, rs := range sim.depts[code].FactSets() {
				resource[rs.Name] = rs.Name
				if rs.Facts.Resource != "" {
					resource[rs.Name] = rs.Facts.Resource
				}
			}
			var got []string
			for _, f := range facts {
				got = append(got, resource[f.Set]+"/"+f.ID+" "+fmtBool(f.Deleted))
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) || len(want) == 0 {
				t.Errorf("facts after the change:\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestConnectorWriteThroughFaults delivers to the employment simulator while
// it misbehaves: garbage is permanent, failures are retryable, and a delivery
// whose answer was lost (the simulator stored it, the hub never heard) lands
// once when the hub retries it, also after the simulator restarted.
func TestConnectorWriteThroughFaults(t *testing.T) {
	_, ds := fixture(t)
	dir := deptDir(t, Employment)
	s, u := serveDir(t, Employment, dir)
	setEnv(t, Env(Employment, Endpoint{URL: u, APIKey: testKey}))
	c, err := connectors.Open(mapping(t)[Employment])
	if err != nil {
		t.Fatal(err)
	}
	w := c.(connectors.Writer)
	del := func(key string) connectors.Delivery {
		return connectors.Delivery{IdempotencyKey: key, Entity: connectors.Person, Key: ds.Showcase[1],
			Fields: map[string]any{"unemployment.status": "REEMPLOYED"}, SubmittedAt: time.Now()}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for mode, permanent := range map[string]bool{"garbage": true, "error": false, "unavailable": false} {
		s.SetFault(Fault{Mode: mode})
		err := w.Write(ctx, del("k-"+mode))
		var perm *connectors.PermanentError
		if err == nil || errors.As(err, &perm) != permanent {
			t.Errorf("fault %s: err = %v, want permanent %t", mode, err, permanent)
		}
	}
	s.SetFault(Fault{})
	if n := s.InboxStats().Keys; n != 0 {
		t.Fatalf("%d deliveries stored while faulty, want 0", n)
	}

	// The answer is lost: the simulator has the delivery, the hub retries.
	body, _ := json.Marshal(map[string]any{"sfzh": ds.Showcase[1], "djzt": "02", "tbsj": "2026-06-01 09:00:00"})
	req, _ := http.NewRequest(http.MethodPost, u+"/api/v1/inbox", bytes.NewReader(body))
	req.Header.Set(APIKeyHeader(Employment), testKey)
	req.Header.Set(IdempotencyHeader, "k-lost")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("direct delivery: %v %v", resp, err)
	}
	resp.Body.Close()
	s2, u2 := serveDir(t, Employment, dir) // restarted
	setEnv(t, Env(Employment, Endpoint{URL: u2, APIKey: testKey}))
	c2, err := connectors.Open(mapping(t)[Employment])
	if err != nil {
		t.Fatal(err)
	}
	d := del("k-lost")
	d.SubmittedAt = time.Date(2026, 6, 1, 9, 0, 0, 0, cst)
	if err := c2.(connectors.Writer).Write(ctx, d); err != nil {
		t.Fatalf("retry of a delivery the simulator has: %v", err)
	}
	if st := s2.InboxStats(); st.Keys != 1 || st.Replayed != 1 {
		t.Errorf("InboxStats() = %+v, want one key, one replay", st)
	}
}
