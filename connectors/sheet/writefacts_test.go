package sheet

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/connectors/connectortest"
)

// readInbox reads the inbox workbook back, each row by header.
func readInbox(t *testing.T, s *Source) []connectortest.InboxEntry {
	t.Helper()
	f, err := excelize.OpenFile(s.InboxPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(s.dept.WriteBack.Sheet, excelize.Options{RawCellValue: true})
	if err != nil {
		t.Fatal(err)
	}
	var out []connectortest.InboxEntry
	for _, r := range rows[1:] {
		vals := map[string]any{}
		for i, h := range rows[0] {
			if i < len(r) {
				vals[h] = r[i]
			}
		}
		out = append(out, connectortest.InboxEntry{IdempotencyKey: vals[s.dept.WriteBack.IdempotencyKey].(string), Values: vals})
	}
	return out
}

func TestWriteConformanceXLSX(t *testing.T) {
	connectortest.RunWriter(t, func(t *testing.T) connectortest.WriteInstance {
		path := filepath.Join(t.TempDir(), "ledger.xlsx")
		d := loadDept(t, "conformance-xlsx.yaml", path)
		writeXLSX(t, path, d, connectortest.NewFixture())
		s := open(t, d)
		return connectortest.WriteInstance{Conn: s, Dept: d, Inbox: func(t *testing.T) []connectortest.InboxEntry { return readInbox(t, s) }}
	})
}

func TestWriteConformanceCSV(t *testing.T) {
	connectortest.RunWriter(t, func(t *testing.T) connectortest.WriteInstance {
		path := filepath.Join(t.TempDir(), "ledger.csv")
		d := loadDept(t, "conformance-csv.yaml", path)
		s := open(t, d)
		return connectortest.WriteInstance{Conn: s, Dept: d, Inbox: func(t *testing.T) []connectortest.InboxEntry { return readInbox(t, s) }}
	})
}

// changeable is a conformance ledger the facts suite changes: the fixture's
// rows, rewritten in full after each change, as a clerk saves a ledger.
type changeable struct {
	fx    connectortest.Fixture
	write func()
}

func (c *changeable) touch(keys []string) {
	for i, r := range c.fx.Rows {
		if r.Set == connectortest.Assistance && slices.Contains(keys, r.Key) {
			c.fx.Rows[i].Record = maps.Clone(r.Record)
			c.fx.Rows[i].Record["members"] = int64(connectortest.TouchedMembers)
		}
	}
	c.write()
}

func (c *changeable) delete(key string) {
	c.fx.Rows = slices.DeleteFunc(slices.Clone(c.fx.Rows), func(r connectortest.Row) bool {
		return r.Set == connectortest.Assistance && r.Key == key
	})
	c.write()
}

func TestFactsConformanceXLSX(t *testing.T) {
	connectortest.RunFacts(t, func(t *testing.T, fx connectortest.Fixture) connectortest.FactsInstance {
		path := filepath.Join(t.TempDir(), "ledger.xlsx")
		d := loadDept(t, "conformance-xlsx.yaml", path)
		c := &changeable{fx: fx}
		c.write = func() { writeXLSX(t, path, d, c.fx) }
		c.write()
		return connectortest.FactsInstance{Conn: open(t, d), Dept: d, Snapshot: true,
			Touch:  func(t *testing.T, keys []string) { c.touch(keys) },
			Delete: func(t *testing.T, key string) { c.delete(key) },
		}
	})
}

func TestFactsConformanceCSV(t *testing.T) {
	connectortest.RunFacts(t, func(t *testing.T, fx connectortest.Fixture) connectortest.FactsInstance {
		path := filepath.Join(t.TempDir(), "ledger.csv")
		d := loadDept(t, "conformance-csv.yaml", path)
		c := &changeable{fx: fx}
		c.write = func() { writeCSV(t, path, d, c.fx) }
		c.write()
		return connectortest.FactsInstance{Conn: open(t, d), Dept: d, Snapshot: true,
			Touch:  func(t *testing.T, keys []string) { c.touch(keys) },
			Delete: func(t *testing.T, key string) { c.delete(key) },
		}
	})
}

func delivery(t *testing.T, key string) connectors.Delivery {
	return connectors.Delivery{IdempotencyKey: key, Entity: connectors.Person, Key: testID(t, 1),
		Fields: map[string]any{"visit.note": "走访", "assistance.active": true}, SubmittedAt: time.Now()}
}

func fileHash(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestWriteCrashBeforeRename simulates a crash between writing the new inbox
// and renaming it into place: the old inbox stays whole and readable, and the
// retry lands the delivery once.
func TestWriteCrashBeforeRename(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.csv")
	s := open(t, loadDept(t, "conformance-csv.yaml", path))
	if err := s.Write(context.Background(), delivery(t, "k1")); err != nil {
		t.Fatal(err)
	}
	before := fileHash(t, s.InboxPath())
	crash := errors.New("power cut")
	s.beforeRename = func(tmp string) error {
		if _, err := excelize.OpenFile(tmp); err != nil {
			t.Errorf("the temporary inbox is not complete before the rename: %v", err)
		}
		return crash
	}
	err := s.Write(context.Background(), delivery(t, "k2"))
	if !errors.Is(err, crash) || !connectors.Retryable(err) {
		t.Fatalf("Write with a crash before the rename: %v, want the crash, retryable", err)
	}
	if fileHash(t, s.InboxPath()) != before {
		t.Fatal("the inbox changed although the rename never happened")
	}
	if got := readInbox(t, s); len(got) != 1 || got[0].IdempotencyKey != "k1" {
		t.Fatalf("inbox after the crash: %v, want k1 alone", got)
	}
	s.beforeRename = nil
	for range 2 {
		if err := s.Write(context.Background(), delivery(t, "k2")); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	for _, e := range readInbox(t, s) {
		keys = append(keys, e.IdempotencyKey)
	}
	if !slices.Equal(keys, []string{"k1", "k2"}) {
		t.Errorf("inbox after the retry: %v, want k1, k2", keys)
	}
}

// TestWriteTwoProcesses writes through two sources on one inbox at once, as
// two hub processes on one machine do: the lock file keeps every row.
func TestWriteTwoProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.csv")
	a := open(t, loadDept(t, "conformance-csv.yaml", path))
	b := open(t, loadDept(t, "conformance-csv.yaml", path))
	var wg sync.WaitGroup
	for i := range 20 {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			if err := s.Write(context.Background(), delivery(t, fmt.Sprintf("k%02d", i%10))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := readInbox(t, a); len(got) != 10 {
		t.Errorf("%d rows in the inbox, want 10 (ten keys, each written twice)", len(got))
	}
}

func TestWriteDown(t *testing.T) {
	s := open(t, loadDept(t, "conformance-csv.yaml", filepath.Join(t.TempDir(), "unmounted", "ledger.csv")))
	err := s.Write(context.Background(), delivery(t, "k1"))
	if !errors.Is(err, connectors.ErrNotConnected) || !connectors.Retryable(err) {
		t.Errorf("Write with the directory missing: %v, want a retryable ErrNotConnected", err)
	}
	_, err = s.Facts(context.Background(), "", 10)
	if !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Facts with the ledger missing: %v, want ErrNotConnected", err)
	}
}

func TestWriteGarbageInbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.csv")
	s := open(t, loadDept(t, "conformance-csv.yaml", path))
	if err := os.WriteFile(s.InboxPath(), []byte("not a workbook"), 0o644); err != nil {
		t.Fatal(err)
	}
	var perm *connectors.PermanentError
	if err := s.Write(context.Background(), delivery(t, "k1")); !errors.As(err, &perm) {
		t.Errorf("Write to a broken inbox: %v, want a permanent error", err)
	}
	replaceFile(t, path, []byte("not,the,header\n"))
	if _, err := s.Facts(context.Background(), "", 10); !errors.As(err, &perm) {
		t.Errorf("Facts of a ledger without its columns: %v, want a permanent error", err)
	}
}

// TestFactsWithRowNumbers checks facts.id: a record's ID is its row number
// column, and an edit that keeps the file's size and time is still seen.
func TestFactsWithRowNumbers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.csv")
	d := loadDept(t, "conformance-csv.yaml", path)
	d.Records[1].Facts.ID = "序号"
	a, b := testID(t, 1), testID(t, 2)
	write := func(minutesA string) {
		writeCSVRows(t, path, [][]string{
			{"序号", "证件号码", "低保类别", "月保障金", "纳入时间", "在保", "保障人数", "备注", "走访日期", "走访内容", "走访时长"},
			{"1", a, "", "", "", "", "", "", "2024-01-01", "入户走访", minutesA},
			{"2", b, "", "", "", "", "", "", "2024-01-02", "入户走访", "10"},
			{"3", a, "1", "100", "20240101", "1", "1", "", "", "", ""},
		})
	}
	write("10")
	s := open(t, d)
	p, err := s.Facts(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range p.Facts {
		ids = append(ids, f.Set+" "+f.ID)
	}
	if want := []string{"assistance " + a, "visits 1", "visits 2"}; !slices.Equal(ids, want) {
		t.Errorf("facts %v, want %v", ids, want)
	}
	st, _ := os.Stat(path)
	write("20")
	os.Chtimes(path, st.ModTime(), st.ModTime())
	p, err = s.Facts(context.Background(), p.Watermark, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Facts) != 3 || p.Facts[1].Record["minutes"] != int64(20) {
		t.Errorf("after an edit keeping size and time: %+v, want the new version listed", p.Facts)
	}
	if strings.Contains(p.Watermark, a) {
		t.Error("the watermark shows an ID number")
	}
}

// TestFactsFreshProcess checks that a process that does not know the
// watermark's version lists everything again.
func TestFactsFreshProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.csv")
	ledgerOf(t, path, map[string]int{testID(t, 1): 1, testID(t, 2): 2})
	p, err := open(t, loadDept(t, "conformance-csv.yaml", path)).Facts(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	ledgerOf(t, path, map[string]int{testID(t, 1): 1})
	fresh := open(t, loadDept(t, "conformance-csv.yaml", path))
	p, err = fresh.Facts(context.Background(), p.Watermark, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Facts) != 1 || p.Facts[0].Deleted || p.More {
		t.Errorf("fresh process: %+v, want the one current record again", p)
	}
}
