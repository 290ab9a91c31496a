// Package sheet is the connector kind for departments that keep their records
// in a ledger file (台账): an .xlsx workbook or a .csv table.
//
// The ledger is loaded into an in-memory index (key -> record set -> records),
// so a read is a lookup and never touches the file. The file is checked for
// changes (modification time and size) at most once a second, on a read, and
// reloaded when it changed. Rows that cannot be read (a key that does not
// normalise, a cell of the wrong type, a short CSV row) do not stop the load:
// they are listed by BadRows, and the rest of the ledger is served. A reload
// that fails keeps serving the previous good index.
//
// A ledger is often one wide table with a block of columns per topic, where a
// person's row leaves the blocks that do not apply blank. So a row that fills
// none of a record set's field columns holds no record of that set; a row with
// a key but nothing else is therefore not a record either. A record set that is
// not many keeps the first row of a key: duplicates are copies appended below.
package sheet

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/gridhub/gridhub/connectors"
)

// Kind is the connector kind name in department files.
const Kind = "sheet"

func init() {
	connectors.Register(Kind, func(d *connectors.Department) (connectors.Connector, error) {
		s, err := Open(d)
		if err != nil {
			return nil, err
		}
		return s, nil
	})
}

// maxUnzip bounds what an .xlsx may inflate to, against zip bombs: a ledger of
// a million rows is well under it.
const maxUnzip = 1 << 30

// Source is a ledger file and the index loaded from it.
type Source struct {
	dept *connectors.Department
	path string
	// checkEvery is how often a read may look at the file for changes.
	checkEvery time.Duration

	mu      sync.Mutex
	checked time.Time // when the file was last looked at; zero: never
	tried   stamp     // the file version last loaded, or attempted
	idx     *index    // the last good index, nil before the first
	loadErr error     // why the last attempt failed; nil when it worked
	// versions are the fact identities of recently loaded versions, by
	// content hash, so that the fact feed can tell which records went away.
	versions map[string][]connectors.Fact
	recent   []string // the hashes in versions, oldest first

	// wmu serialises writes to the inbox within the process; a lock file
	// serialises them across processes.
	wmu sync.Mutex
	// beforeRename, when set, runs between writing the new inbox to its
	// temporary file and renaming it into place: tests simulate a crash
	// there.
	beforeRename func(tmp string) error
}

var (
	_ connectors.Connector     = (*Source)(nil)
	_ connectors.HealthChecker = (*Source)(nil)
	_ connectors.Closer        = (*Source)(nil)
)

// stamp identifies a version of the file.
type stamp struct {
	mod  time.Time
	size int64
}

// index is one loaded version of the ledger; it is never changed once built,
// so reads share it without a lock.
type index struct {
	records connectors.Result
	bad     []RowError
	// hash is the SHA-256 of the file's content, mod its modification time.
	hash string
	mod  time.Time
	// facts are the records of the sets in the fact feed, in set and row
	// order, each with the ID the feed gives it.
	facts []connectors.Fact
}

// RowError is a ledger row that could not be read; it names the worksheet (the
// file name for a .csv), the row as Excel or a text editor numbers it, the
// record set and why, without showing identity numbers in full.
type RowError struct {
	Set    string
	Sheet  string
	Row    int
	Reason string
}

// Error formats the row as "sheet row n (set): reason".
func (e RowError) Error() string {
	return fmt.Sprintf("%s row %d (%s): %s", e.Sheet, e.Row, e.Set, e.Reason)
}

// Open opens the ledger of a sheet department. A relative path is taken from
// the hub's working directory (mapping files may be embedded and have no
// directory of their own). The ledger is loaded at once, but a ledger that is
// missing or broken does not fail Open: reads and Health report it until the
// file is fixed, as a down database does not stop the hub.
func Open(dept *connectors.Department) (*Source, error) {
	if dept.Source.Sheet == nil {
		return nil, fmt.Errorf("sheet %s: no source.sheet block", dept.Code)
	}
	path := dept.Source.Sheet.Path
	if path == "" {
		return nil, fmt.Errorf("sheet %s: source.sheet.path is empty", dept.Code)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xlsx", ".xlsm", ".csv":
	default:
		return nil, fmt.Errorf("sheet %s: %s is not an .xlsx or .csv file", dept.Code, filepath.Base(path))
	}
	s := &Source{dept: dept, path: path, checkEvery: time.Second}
	s.current(true)
	return s, nil
}

// Describe says what the connector serves.
func (s *Source) Describe() connectors.Description {
	return connectors.Description{Code: s.dept.Code, Name: s.dept.Name, Kind: s.dept.Kind, Sets: s.dept.Records}
}

// Read looks the keys up in the index.
func (s *Source) Read(ctx context.Context, req connectors.ReadRequest) (connectors.Result, error) {
	sets, err := s.dept.SetsFor(req)
	if err != nil {
		return nil, fmt.Errorf("sheet %s: %w", s.dept.Code, err)
	}
	res := connectors.Result{}
	if len(req.Keys) == 0 || len(sets) == 0 {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sheet %s: read: %w", s.dept.Code, err)
	}
	idx, err := s.current(false)
	if err != nil {
		return nil, fmt.Errorf("sheet %s: %w", s.dept.Code, err)
	}
	for _, k := range req.Keys {
		for _, rs := range sets {
			for _, rec := range idx.records[k][rs.Name] {
				// A copy, so that a caller changing its result cannot change
				// what later reads get.
				res.Add(k, rs.Name, maps.Clone(rec))
			}
		}
	}
	return res, nil
}

// Health reports whether the ledger, as it is on disk now, loads.
func (s *Source) Health(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.current(true)
	if err := s.LoadError(); err != nil {
		return fmt.Errorf("sheet %s: %w", s.dept.Code, err)
	}
	return nil
}

// BadRows lists the rows of the loaded ledger that could not be read.
func (s *Source) BadRows() []RowError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idx == nil {
		return nil
	}
	return append([]RowError(nil), s.idx.bad...)
}

// LoadError is why the last load of the ledger failed, or nil when it worked.
// After a failed reload reads keep being served from the previous version.
func (s *Source) LoadError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadErr
}

// Close releases nothing: the index is only memory. It exists so that the hub
// can close every connector alike.
func (s *Source) Close() error { return nil }

// current returns the index to serve, reloading the file when it changed
// (checking at most every checkEvery unless force). A reload runs under the
// lock, so reads wait for it rather than load the same file twice.
func (s *Source) current(force bool) (*index, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if force || s.checked.IsZero() || now.Sub(s.checked) >= s.checkEvery {
		s.checked = now
		s.refresh()
	}
	if s.idx != nil {
		return s.idx, nil
	}
	return nil, s.loadErr
}

// refresh loads the file if it is not the version last tried. Callers hold mu.
func (s *Source) refresh() {
	st, err := os.Stat(s.path)
	if err != nil {
		s.fail(err)
		return
	}
	v := stamp{st.ModTime(), st.Size()}
	if v == s.tried {
		return
	}
	s.tried = v
	s.loadFile(st.ModTime())
}

// fail records why the file could not be looked at. Callers hold mu.
func (s *Source) fail(err error) {
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("ledger %s is missing: %w", filepath.Base(s.path), connectors.ErrNotConnected)
	} else {
		err = fmt.Errorf("ledger %s: %w: %w", filepath.Base(s.path), connectors.ErrNotConnected, err)
	}
	s.loadErr, s.tried = err, stamp{}
}

// loadFile reads the file and, unless its content is that of the index
// served, loads it. Callers hold mu.
func (s *Source) loadFile(mod time.Time) {
	b, err := os.ReadFile(s.path)
	if err != nil {
		s.fail(err)
		return
	}
	sum := sha256.Sum256(b)
	hash := hex.EncodeToString(sum[:])
	if s.idx != nil && s.idx.hash == hash {
		s.loadErr = nil
		return
	}
	idx, err := s.load(b)
	if err != nil {
		s.loadErr = err
		return
	}
	idx.hash, idx.mod = hash, mod
	s.idx, s.loadErr = idx, nil
	s.remember(idx)
}

// maxVersions bounds the versions kept for the fact feed's deletions.
const maxVersions = 8

// remember keeps the fact identities of a loaded version. Callers hold mu.
func (s *Source) remember(idx *index) {
	if _, ok := s.versions[idx.hash]; ok {
		return
	}
	if s.versions == nil {
		s.versions = map[string][]connectors.Fact{}
	}
	ids := make([]connectors.Fact, len(idx.facts))
	for i, f := range idx.facts {
		ids[i] = connectors.Fact{Entity: f.Entity, Key: f.Key, Set: f.Set, ID: f.ID, Deleted: true}
	}
	s.versions[idx.hash] = ids
	s.recent = append(s.recent, idx.hash)
	if len(s.recent) > maxVersions {
		delete(s.versions, s.recent[0])
		s.recent = s.recent[1:]
	}
}

// table is a worksheet or CSV file as rows of text cells.
type table struct {
	name string
	rows []row
	// serialDates is set for workbooks: date cells hold Excel serial numbers.
	serialDates bool
	date1904    bool
	// strictWidth is set for CSV, where a row with fewer fields than the
	// header is broken; .xlsx rows simply omit their trailing empty cells.
	strictWidth bool
}

type row struct {
	n     int // 1-based, as Excel or an editor shows it
	cells []string
	err   string // a CSV row that did not parse
}

// load reads the whole ledger, the file's content b, into a new index.
func (s *Source) load(b []byte) (idx *index, err error) {
	name := filepath.Base(s.path)
	// excelize parses untrusted files; a panic in it must cost this reload,
	// not the hub.
	defer func() {
		if r := recover(); r != nil {
			idx, err = nil, connectors.Permanentf("ledger %s could not be parsed: %v", name, r)
		}
	}()
	var tables func(rs *connectors.RecordSet) (*table, error)
	if strings.EqualFold(filepath.Ext(s.path), ".csv") {
		t, err := readCSV(name, b)
		if err != nil {
			return nil, err
		}
		tables = func(*connectors.RecordSet) (*table, error) { return t, nil }
	} else {
		f, err := excelize.OpenReader(bytes.NewReader(b), excelize.Options{UnzipSizeLimit: maxUnzip})
		if err != nil {
			return nil, connectors.Permanentf("ledger %s is not a readable .xlsx workbook: %w", name, err)
		}
		defer f.Close()
		cache := map[string]*table{}
		tables = func(rs *connectors.RecordSet) (*table, error) {
			sheet := rs.Sheet.Name
			if sheet == "" {
				sheet = f.GetSheetName(0)
			}
			if t, ok := cache[sheet]; ok {
				return t, nil
			}
			t, err := readSheet(f, sheet)
			if err != nil {
				return nil, connectors.Permanentf("ledger %s: %w", name, err)
			}
			cache[sheet] = t
			return t, nil
		}
	}
	idx = &index{records: connectors.Result{}}
	for i := range s.dept.Records {
		rs := &s.dept.Records[i]
		t, err := tables(rs)
		if err != nil {
			return nil, err
		}
		bad, err := indexSet(idx, rs, t)
		if err != nil {
			return nil, connectors.Permanentf("ledger %s: %w", name, err)
		}
		idx.bad = append(idx.bad, bad...)
	}
	return idx, nil
}

// readSheet reads a worksheet's rows with their raw cell values: the number
// formats of a ledger are whatever its last editor chose, the raw values are
// stable.
func readSheet(f *excelize.File, sheet string) (*table, error) {
	it, err := f.Rows(sheet)
	if err != nil {
		return nil, fmt.Errorf("worksheet %q: %w", sheet, err)
	}
	defer it.Close()
	t := &table{name: sheet, serialDates: true}
	if props, err := f.GetWorkbookProps(); err == nil && props.Date1904 != nil {
		t.date1904 = *props.Date1904
	}
	for n := 1; it.Next(); n++ {
		cells, err := it.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, fmt.Errorf("worksheet %q row %d: %w", sheet, n, err)
		}
		if len(cells) > 0 {
			t.rows = append(t.rows, row{n: n, cells: cells})
		}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("worksheet %q: %w", sheet, err)
	}
	return t, nil
}

// readCSV reads a UTF-8 CSV file's content b, with or without the byte order
// mark that Excel writes; name is the file's.
func readCSV(name string, b []byte) (*table, error) {
	b = bytes.TrimPrefix(b, []byte("\uFEFF"))
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	t := &table{name: name, strictWidth: true}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			// A broken quote spoils one record; the reader goes on after it.
			t.rows = append(t.rows, row{n: perr.StartLine, err: perr.Err.Error()})
			continue
		}
		if err != nil {
			return nil, connectors.Permanentf("ledger %s: %w", name, err)
		}
		line, _ := r.FieldPos(0)
		t.rows = append(t.rows, row{n: line, cells: rec})
	}
	return t, nil
}

// indexSet maps the rows of t below rs's header row into idx, and into its
// facts when rs is in the fact feed. A missing header row or column is an
// error for the whole ledger, as the mapping and the file disagree; a bad row
// is only listed.
func indexSet(idx *index, rs *connectors.RecordSet, t *table) ([]RowError, error) {
	res := idx.records
	headerRow := rs.Sheet.HeaderRow
	if headerRow == 0 {
		headerRow = 1
	}
	cols := map[string]int{}
	width := 0 // up to the last named column
	found := false
	for _, r := range t.rows {
		if r.n != headerRow {
			continue
		}
		found = true
		for i, h := range r.cells {
			h = strings.TrimSpace(h)
			if h == "" {
				continue
			}
			if _, dup := cols[h]; !dup {
				cols[h] = i // the first of two equal headers wins
			}
			width = i + 1
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: header row %d of record set %s is empty", t.name, headerRow, rs.Name)
	}
	var missing []string
	need := append([]string{rs.Key}, fromsOf(rs)...)
	need = append(need, rs.IdentityFroms()...)
	if rs.Facts != nil && rs.Facts.ID != "" {
		need = append(need, rs.Facts.ID)
	}
	for _, from := range need {
		if _, ok := cols[from]; !ok {
			missing = append(missing, strconv.Quote(from))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: record set %s: no column %s in header row %d", t.name, rs.Name, strings.Join(missing, ", "), headerRow)
	}
	dateLayouts := map[string]string{}
	for _, f := range append(slices.Clone(rs.Fields), rs.Identity...) {
		if f.Type == connectors.TypeDate {
			dateLayouts[f.From] = cmp.Or(f.Format, connectors.DefaultDateFormat)
		}
	}
	// Rows numbered by a column of their own are facts one by one: a
	// repeated or unusable ID number is then a fact too, for record linkage
	// and the findings to see.
	numbered := rs.Facts != nil && rs.Facts.ID != ""

	var bad []RowError
	for _, r := range t.rows {
		if r.n <= headerRow {
			continue
		}
		fail := func(reason string) {
			bad = append(bad, RowError{Set: rs.Name, Sheet: t.name, Row: r.n, Reason: reason})
		}
		if r.err != "" {
			fail(r.err)
			continue
		}
		if blank(r.cells) {
			continue
		}
		if t.strictWidth && len(r.cells) < width {
			fail(fmt.Sprintf("row has %d fields, the header has %d", len(r.cells), width))
			continue
		}
		cell := func(from string) string {
			if i := cols[from]; i < len(r.cells) {
				return strings.TrimSpace(r.cells[i])
			}
			return ""
		}
		if len(rs.Fields) > 0 && !anyFilled(rs, cell) {
			continue
		}
		get := func(from string) (any, bool) {
			v := cell(from)
			if layout, isDate := dateLayouts[from]; isDate && t.serialDates && v != "" {
				if d, ok := serialDate(v, layout, t.date1904); ok {
					return d, true
				}
			}
			return v, true
		}
		who := rs.IdentityOf(get)
		key, invalid, err := rs.FactKey(get, who)
		if err == nil && invalid && !numbered {
			_, err = rs.KeyOf(get) // a fact needs a row number to be told apart
		}
		if err != nil {
			fail(err.Error())
			continue
		}
		rec, err := rs.MapRecord(get)
		if err != nil {
			fail(err.Error())
			continue
		}
		if invalid {
			idx.facts = append(idx.facts, connectors.Fact{Entity: rs.Entity, Key: key, Set: rs.Name, ID: factID(rs, key, 0, cell), Record: rec, Identity: who, KeyInvalid: true})
			continue
		}
		before := len(res[key][rs.Name])
		rs.AddTo(res, key, rec)
		if n := len(res[key][rs.Name]); rs.Facts != nil && (n > before || numbered) {
			idx.facts = append(idx.facts, connectors.Fact{Entity: rs.Entity, Key: key, Set: rs.Name, ID: factID(rs, key, n, cell), Record: rec, Identity: who})
		}
	}
	return bad, nil
}

// factID identifies a ledger record for the fact feed: the row number column
// when the mapping names one; else the key, and for a many set the key and
// the record's place among the key's (n, from 1), which is as stable as the
// ledger's order.
func factID(rs *connectors.RecordSet, key string, n int, cell func(string) string) string {
	if rs.Facts.ID != "" {
		if id := cell(rs.Facts.ID); id != "" {
			return id
		}
	}
	if !rs.Many {
		return key
	}
	return key + "#" + strconv.Itoa(n)
}

// serialDate reads a date cell that holds an Excel serial day number rather
// than text in the field's layout.
func serialDate(v, layout string, date1904 bool) (time.Time, bool) {
	if _, err := time.Parse(layout, v); err == nil {
		return time.Time{}, false
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || x < 1 || x > 2958465 { // 2958465 is 9999-12-31
		return time.Time{}, false
	}
	t, err := excelize.ExcelDateToTime(x, date1904)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func fromsOf(rs *connectors.RecordSet) []string {
	out := make([]string, len(rs.Fields))
	for i, f := range rs.Fields {
		out[i] = f.From
	}
	return out
}

func anyFilled(rs *connectors.RecordSet, cell func(string) string) bool {
	for _, f := range rs.Fields {
		if cell(f.From) != "" {
			return true
		}
	}
	return false
}

func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}
