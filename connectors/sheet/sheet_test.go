package sheet

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/connectors/connectortest"
	"github.com/gridhub/gridhub/internal/ident"
)

// loadDept loads a testdata department with its ledger at path.
func loadDept(t *testing.T, file, path string) *connectors.Department {
	t.Helper()
	d, err := connectors.LoadDepartment(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	d.Source.Sheet.Path = path
	return d
}

func open(t *testing.T, d *connectors.Department) *Source {
	t.Helper()
	s, err := Open(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// cellValue is a unified value as the xlsx conformance ledger stores it: dates
// of the 低保 sheet as real Excel dates, numbers as numbers, the rest as text.
func cellValue(f connectors.Field, v any) any {
	switch f.Type {
	case connectors.TypeDate:
		if f.Format == "" {
			return v
		}
	case connectors.TypeDecimal, connectors.TypeInt:
		return v
	case connectors.TypeBool:
		if !v.(bool) {
			return "否"
		}
	}
	return connectortest.SourceText(f, v)
}

// writeXLSX writes the fixture as the conformance-xlsx department's workbook.
func writeXLSX(t *testing.T, path string, d *connectors.Department, fx connectortest.Fixture) {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	first := true
	for _, rs := range d.Records {
		if first {
			if err := f.SetSheetName("Sheet1", rs.Sheet.Name); err != nil {
				t.Fatal(err)
			}
			first = false
		} else if _, err := f.NewSheet(rs.Sheet.Name); err != nil {
			t.Fatal(err)
		}
		n := max(rs.Sheet.HeaderRow, 1)
		if n > 1 {
			setRow(t, f, rs.Sheet.Name, 1, []any{"铜官区" + rs.Label + "台账"})
		}
		header := []any{rs.Key}
		for _, fd := range rs.Fields {
			header = append(header, fd.From)
		}
		setRow(t, f, rs.Sheet.Name, n, header)
		for i, r := range fx.RowsOf(rs.Name) {
			n++
			if i == 3 {
				n++ // a blank row in the middle, as ledgers have
			}
			cells := []any{r.SourceKey}
			for _, fd := range rs.Fields {
				if v, ok := r.Record[fd.Name]; ok {
					cells = append(cells, cellValue(fd, v))
				} else {
					cells = append(cells, nil)
				}
			}
			setRow(t, f, rs.Sheet.Name, n, cells)
		}
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
}

func setRow(t *testing.T, f *excelize.File, sheet string, n int, cells []any) {
	t.Helper()
	cell, err := excelize.CoordinatesToCellName(1, n)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetSheetRow(sheet, cell, &cells); err != nil {
		t.Fatal(err)
	}
}

// writeCSV writes the fixture as the conformance-csv department's wide
// ledger: one key column, then each set's columns; a row fills its own set's.
func writeCSV(t *testing.T, path string, d *connectors.Department, fx connectortest.Fixture) {
	t.Helper()
	header := []string{d.Records[0].Key}
	for _, rs := range d.Records {
		for _, f := range rs.Fields {
			header = append(header, f.From)
		}
	}
	rows := [][]string{header}
	for _, r := range fx.Rows {
		line := []string{r.SourceKey}
		for _, rs := range d.Records {
			for _, f := range rs.Fields {
				v, ok := r.Record[f.Name]
				if rs.Name != r.Set || !ok {
					line = append(line, "")
					continue
				}
				line = append(line, connectortest.SourceText(f, v))
			}
		}
		rows = append(rows, line)
	}
	writeCSVRows(t, path, rows)
}

func writeCSVRows(t *testing.T, path string, rows [][]string) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("\uFEFF")
	w := csv.NewWriter(&b)
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, path, b.Bytes())
}

// replaceFile swaps the file in by rename, as an editor saving a ledger does,
// and moves its time forward so that a reload sees a new version even on a
// file system with coarse timestamps.
func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	bump.Lock()
	bump.at = bump.at.Add(time.Second)
	at := bump.at
	bump.Unlock()
	if err := os.Chtimes(tmp, at, at); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

var bump = struct {
	sync.Mutex
	at time.Time
}{at: time.Now()}

func TestConformanceXLSX(t *testing.T) {
	connectortest.Run(t, func(t *testing.T, fx connectortest.Fixture) connectortest.Instance {
		path := filepath.Join(t.TempDir(), "ledger.xlsx")
		d := loadDept(t, "conformance-xlsx.yaml", path)
		writeXLSX(t, path, d, fx)
		s := open(t, d)
		if bad := s.BadRows(); len(bad) > 0 {
			t.Fatalf("bad rows in the fixture ledger: %v", bad)
		}
		return connectortest.Instance{Conn: s, Dept: d}
	})
}

func TestConformanceCSV(t *testing.T) {
	connectortest.Run(t, func(t *testing.T, fx connectortest.Fixture) connectortest.Instance {
		path := filepath.Join(t.TempDir(), "ledger.csv")
		d := loadDept(t, "conformance-csv.yaml", path)
		writeCSV(t, path, d, fx)
		s := open(t, d)
		if bad := s.BadRows(); len(bad) > 0 {
			t.Fatalf("bad rows in the fixture ledger: %v", bad)
		}
		return connectortest.Instance{Conn: s, Dept: d}
	})
}

func TestSample(t *testing.T) {
	d, err := connectors.LoadDepartment("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != Kind {
		t.Errorf("sample kind = %q, want %q", d.Kind, Kind)
	}
	// The sample's ledger does not exist here: Open must still succeed, and
	// reads say the source is not connected.
	c, err := connectors.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Read(context.Background(), connectors.ReadRequest{Entity: connectors.Person, Keys: []string{testID(t, 1)}})
	if !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Read with the ledger missing: err = %v, want ErrNotConnected", err)
	}
}

func testID(t *testing.T, seq int) string {
	t.Helper()
	id, err := ident.NewResidentID("340702", time.Date(1980, 5, 17, 0, 0, 0, 0, time.UTC), seq)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// badCheckDigit returns id with a wrong check character.
func badCheckDigit(id string) string {
	c := byte('0')
	if id[17] == '0' {
		c = '1'
	}
	return id[:17] + string(c)
}

func TestBadRowsXLSX(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.xlsx")
	d := loadDept(t, "conformance-xlsx.yaml", path)
	a, b, c := testID(t, 11), testID(t, 12), testID(t, 13)
	f := excelize.NewFile()
	if err := f.SetSheetName("Sheet1", "低保"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.NewSheet("走访记录"); err != nil {
		t.Fatal(err)
	}
	setRow(t, f, "走访记录", 1, []any{"身份证号", "走访日期", "走访内容", "时长（分钟）"})
	setRow(t, f, "低保", 1, []any{"低保台账"})
	setRow(t, f, "低保", 2, []any{"身份证号", "保障类型", "保障金额", "起始日期", "是否在保", "家庭人口", "备注"})
	rows := [][]any{
		{a, "01", 650.5, "2021-03-01", "是", 3, "ok"},          // 3: good
		{badCheckDigit(c), "01", 650.5, "2021-03-01", "是", 3}, // 4: bad check digit
		{c, "01", 650.5, "2021-13-45", "是", 3},                // 5: bad date
		{"", "02", 100, "2021-03-01", "否", 1},                 // 6: missing key
		{c, "09", 100, "2021-03-01", "否", 1},                  // 7: unknown code
		{b, "02", 480, "2020-01-31", "否", 2},                  // 8: good
		{c, "02", "abc", "2021-03-01", "否", "三口"},             // 9: two bad cells
		{"3407021980", "02", 480, "2020-01-31", "否", 2},       // 10: short ID
		{c}, // 11: a key and nothing else: no record
		{},  // 12: blank
		{c, "02", 480, time.Date(2019, 7, 1, 0, 0, 0, 0, time.UTC)}, // 13: good, a real date cell
	}
	for i, r := range rows {
		setRow(t, f, "低保", 3+i, r)
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s := open(t, d)
	type bad struct {
		Row  int
		Want string
	}
	want := []bad{
		{4, "check digit"},
		{5, "field since: want date (2006-01-02)"},
		{6, "key 身份证号: missing"},
		{7, `field level: unknown code "09"`},
		{9, `field amount: want decimal, found "abc"; field members: want int, found "三口"`},
		{10, "length"},
	}
	got := s.BadRows()
	if len(got) != len(want) {
		t.Fatalf("BadRows() = %v, want %d rows", got, len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Row != w.Row || g.Sheet != "低保" || g.Set != "assistance" || !strings.Contains(g.Reason, w.Want) {
			t.Errorf("bad row %d = %+v, want row %d in 低保/assistance with reason containing %q", i, g, w.Row, w.Want)
		}
		for _, id := range []string{a, b, c, badCheckDigit(c)} {
			if strings.Contains(g.Error(), id) {
				t.Errorf("bad row %d shows an ID number in full: %s", i, g.Error())
			}
		}
	}

	res, err := s.Read(context.Background(), connectors.ReadRequest{Entity: connectors.Person, Keys: []string{a, b, c}})
	if err != nil {
		t.Fatal(err)
	}
	date := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	wantRes := connectors.Result{
		a: {"assistance": {{"level": "URBAN", "amount": 650.5, "since": date(2021, 3, 1), "active": true, "members": int64(3), "note": "ok"}}},
		b: {"assistance": {{"level": "RURAL", "amount": 480.0, "since": date(2020, 1, 31), "active": false, "members": int64(2)}}},
		c: {"assistance": {{"level": "RURAL", "amount": 480.0, "since": date(2019, 7, 1)}}},
	}
	if diff := cmp.Diff(wantRes, res); diff != "" {
		t.Errorf("good rows (-want +got):\n%s", diff)
	}
}

func TestBadRowsCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.csv")
	d := loadDept(t, "conformance-csv.yaml", path)
	a, b := testID(t, 21), testID(t, 22)
	header := "证件号码,低保类别,月保障金,纳入时间,在保,保障人数,备注,走访日期,走访内容,走访时长\n"
	body := header +
		a + ",1,650.5,20210301,1,3,ok,,,\n" + // 2: good
		a + ",1,650\n" + // 3: short
		b + `,1,6"50,20210301,1,3,,,,` + "\n" + // 4: a bare quote
		b + ",,,,,,,2023-01-05,入户走访,30\n" // 5: good, a visit only
	replaceFile(t, path, []byte("\uFEFF"+body))
	s := open(t, d)
	got := s.BadRows()
	want := []RowError{
		{Set: "assistance", Sheet: "ledger.csv", Row: 3},
		{Set: "assistance", Sheet: "ledger.csv", Row: 4},
		{Set: "visits", Sheet: "ledger.csv", Row: 3},
		{Set: "visits", Sheet: "ledger.csv", Row: 4},
	}
	if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Reason" }, cmp.Ignore())); diff != "" {
		t.Errorf("BadRows() (-want +got):\n%s", diff)
	}
	if len(got) == 4 && (!strings.Contains(got[0].Reason, "3 fields, the header has 10") || !strings.Contains(got[1].Reason, `bare "`)) {
		t.Errorf("reasons: %q, %q", got[0].Reason, got[1].Reason)
	}
	res, err := s.Read(context.Background(), connectors.ReadRequest{Entity: connectors.Person, Keys: []string{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res[a]["assistance"]) != 1 || len(res[a]["visits"]) != 0 || len(res[b]["visits"]) != 1 || len(res[b]["assistance"]) != 0 {
		t.Errorf("Read = %v, want a's assistance and b's visit", res)
	}
}

func TestUnreadableLedger(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.xlsx")
	d := loadDept(t, "conformance-xlsx.yaml", good)
	writeXLSX(t, good, d, connectortest.NewFixture())
	whole, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	onlyOneSheet := func() []byte {
		f := excelize.NewFile()
		defer f.Close()
		f.SetSheetName("Sheet1", "低保")
		setRow(t, f, "低保", 2, []any{"身份证号", "保障类型", "保障金额", "起始日期", "是否在保", "家庭人口", "备注"})
		var b bytes.Buffer
		if err := f.Write(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	cases := []struct {
		name    string
		content []byte
		want    string
	}{
		{"not a zip", []byte("this is not a workbook"), "not a readable .xlsx"},
		{"empty", nil, "not a readable .xlsx"},
		{"truncated", whole[:len(whole)/2], "not a readable .xlsx"},
		{"cut at the end", whole[:len(whole)-10], ""},
		{"cut early", whole[:100], ""},
		{"missing sheet", onlyOneSheet(), "走访记录"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ledger.xlsx")
			replaceFile(t, path, tc.content)
			s := open(t, loadDept(t, "conformance-xlsx.yaml", path))
			_, err := s.Read(context.Background(), connectors.ReadRequest{Entity: connectors.Person, Keys: []string{testID(t, 1)}})
			var perm *connectors.PermanentError
			if !errors.As(err, &perm) {
				t.Fatalf("Read: err = %v, want a permanent error", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "conformance_xlsx") {
				t.Errorf("Read: err = %v, want it to name the department and contain %q", err, tc.want)
			}
			if s.Health(context.Background()) == nil {
				t.Error("Health() = nil for an unreadable ledger")
			}
		})
	}
}

func TestMissingColumn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.csv")
	replaceFile(t, path, []byte("证件号码,低保类别\n"))
	s := open(t, loadDept(t, "conformance-csv.yaml", path))
	_, err := s.Read(context.Background(), connectors.ReadRequest{Entity: connectors.Person, Keys: []string{testID(t, 1)}})
	var perm *connectors.PermanentError
	if !errors.As(err, &perm) || !strings.Contains(err.Error(), `"月保障金"`) {
		t.Errorf("Read: err = %v, want a permanent error naming the missing column", err)
	}
}

func TestMissingFile(t *testing.T) {
	s := open(t, loadDept(t, "conformance-csv.yaml", filepath.Join(t.TempDir(), "nowhere.csv")))
	_, err := s.Read(context.Background(), connectors.ReadRequest{Entity: connectors.Person, Keys: []string{testID(t, 1)}})
	if !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Read: err = %v, want ErrNotConnected", err)
	}
	if err := s.Health(context.Background()); !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("Health: err = %v, want ErrNotConnected", err)
	}
}

// ledgerOf writes a CSV ledger in which each key has one visit on the day
// given.
func ledgerOf(t *testing.T, path string, visits map[string]int) {
	t.Helper()
	rows := [][]string{{"证件号码", "低保类别", "月保障金", "纳入时间", "在保", "保障人数", "备注", "走访日期", "走访内容", "走访时长"}}
	for k, day := range visits {
		rows = append(rows, []string{k, "", "", "", "", "", "", time.Date(2024, 1, day, 0, 0, 0, 0, time.UTC).Format("2006-01-02"), "入户走访", "10"})
	}
	writeCSVRows(t, path, rows)
}

func visitDays(t *testing.T, s *Source, keys ...string) map[string]int {
	t.Helper()
	res, err := s.Read(context.Background(), connectors.ReadRequest{Entity: connectors.Person, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for k, sets := range res {
		for _, r := range sets["visits"] {
			out[k] = r["visitedOn"].(time.Time).Day()
		}
	}
	return out
}

func TestReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.csv")
	a, b := testID(t, 31), testID(t, 32)
	ledgerOf(t, path, map[string]int{a: 1})
	s := open(t, loadDept(t, "conformance-csv.yaml", path))
	s.checkEvery = 0

	if got := visitDays(t, s, a, b); !cmp.Equal(got, map[string]int{a: 1}) {
		t.Fatalf("first version: %v", got)
	}
	ledgerOf(t, path, map[string]int{b: 2})
	if got := visitDays(t, s, a, b); !cmp.Equal(got, map[string]int{b: 2}) {
		t.Fatalf("after a change: %v, want the new version", got)
	}

	// A broken version keeps the previous one served, and says why.
	replaceFile(t, path, []byte("证件号码\n"))
	if got := visitDays(t, s, a, b); !cmp.Equal(got, map[string]int{b: 2}) {
		t.Errorf("after a broken change: %v, want the previous version", got)
	}
	if s.LoadError() == nil || s.Health(context.Background()) == nil {
		t.Errorf("LoadError() = %v and Health() = %v after a broken change, want errors", s.LoadError(), s.Health(context.Background()))
	}

	ledgerOf(t, path, map[string]int{a: 3, b: 4})
	if got := visitDays(t, s, a, b); !cmp.Equal(got, map[string]int{a: 3, b: 4}) {
		t.Errorf("after a fix: %v", got)
	}
	if err := s.LoadError(); err != nil {
		t.Errorf("LoadError() = %v after a fix", err)
	}

	// A ledger that goes away keeps being served from memory.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got := visitDays(t, s, a, b); !cmp.Equal(got, map[string]int{a: 3, b: 4}) {
		t.Errorf("after removal: %v", got)
	}
	if err := s.LoadError(); !errors.Is(err, connectors.ErrNotConnected) {
		t.Errorf("LoadError() = %v after removal, want ErrNotConnected", err)
	}
}

func TestReloadIsThrottled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.csv")
	a := testID(t, 41)
	ledgerOf(t, path, map[string]int{a: 1})
	s := open(t, loadDept(t, "conformance-csv.yaml", path))
	s.checkEvery = time.Hour
	ledgerOf(t, path, map[string]int{a: 2})
	if got := visitDays(t, s, a); !cmp.Equal(got, map[string]int{a: 1}) {
		t.Errorf("within the check interval: %v, want the loaded version", got)
	}
	if err := s.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := visitDays(t, s, a); !cmp.Equal(got, map[string]int{a: 2}) {
		t.Errorf("after Health looked at the file: %v, want the new version", got)
	}
}

// TestReadWhileReloading reads from several goroutines while the ledger
// changes under them (run with -race).
func TestReadWhileReloading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.csv")
	a := testID(t, 51)
	ledgerOf(t, path, map[string]int{a: 1})
	s := open(t, loadDept(t, "conformance-csv.yaml", path))
	s.checkEvery = 0
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				got := visitDays(t, s, a)
				if d := got[a]; d != 1 && d != 2 {
					t.Errorf("read %v while reloading", got)
					return
				}
				s.BadRows()
			}
		})
	}
	for i := range 20 {
		ledgerOf(t, path, map[string]int{a: 1 + i%2})
	}
	close(done)
	wg.Wait()
}
