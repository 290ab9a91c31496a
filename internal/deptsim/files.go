package deptsim

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xuri/excelize/v2"
)

// Files under WriteFiles' dir.
const (
	// manifestFile in a REST department's directory lists its resources.
	manifestFile = "manifest.json"
	// TruthDir holds the noise ground truth.
	TruthDir = "truth"
	// truthSummary is written last: its presence means the files are complete.
	truthSummary = "summary.json"
)

// line is one record of a REST resource file (<resource>.jsonl.gz): the key the
// API looks it up by, as the source writes it, its update time, and the record
// exactly as the API returns it.
type line struct {
	Key     string          `json:"key"`
	Updated time.Time       `json:"updated"`
	Record  json.RawMessage `json:"record"`
}

// manifest describes a REST department's files.
type manifest struct {
	Department string         `json:"department"`
	Seed       int64          `json:"seed"`
	Resources  map[string]int `json:"resources"` // name -> records
}

// WriteFiles writes what the simulators need under dir: dir/<dept>/ for the
// REST departments (one gzip-compressed JSON-lines file per resource and a
// manifest.json), dir/party_building/ledger.xlsx, and dir/truth/ with the
// noise ground truth (noise.csv.gz, deaths.csv.gz, showcase.json with the
// showcase residents, summary.json, the last written). The SQL departments
// are loaded with LoadSQL instead.
func (ds *Dataset) WriteFiles(dir string) error {
	// Until the new summary is written, the files are incomplete.
	if err := os.Remove(filepath.Join(dir, TruthDir, truthSummary)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// The departments are written in parallel: encoding and compressing a
	// city's social security takes seconds.
	var wg sync.WaitGroup
	errs := make([]error, len(Departments()))
	for k, dept := range Departments() {
		switch Kind(dept) {
		case KindREST:
			wg.Go(func() {
				if err := ds.writeREST(filepath.Join(dir, dept), dept); err != nil {
					errs[k] = fmt.Errorf("deptsim %s: %w", dept, err)
				}
			})
		case KindSheet:
			wg.Go(func() {
				if err := ds.WriteLedger(LedgerPath(dir)); err != nil {
					errs[k] = fmt.Errorf("deptsim %s: %w", dept, err)
				}
			})
		}
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := ds.writeTruth(filepath.Join(dir, TruthDir)); err != nil {
		return fmt.Errorf("deptsim truth: %w", err)
	}
	return nil
}

// FilesWritten tells whether WriteFiles completed in dir, so a restarted dev
// environment can reuse the files.
func FilesWritten(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, TruthDir, truthSummary))
	return err == nil
}

func (ds *Dataset) writeREST(dir, dept string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	m := manifest{Department: dept, Seed: ds.Seed, Resources: map[string]int{}}
	for _, res := range ds.restResources(dept) {
		err := writeGzip(filepath.Join(dir, res.name+".jsonl.gz"), func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false)
			for i := range res.n {
				key, updated, rec := res.item(i)
				raw, err := json.Marshal(rec)
				if err != nil {
					return err
				}
				if err := enc.Encode(line{Key: key, Updated: updated.In(cst), Record: raw}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		m.Resources[res.name] = res.n
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, manifestFile), append(b, '\n'), 0o644)
}

// writeGzip writes path atomically (a temporary file renamed into place)
// through a gzip stream.
func writeGzip(path string, body func(io.Writer) error) (err error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(zw, 1<<16)
	if err := body(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readLines reads a resource file written by writeREST. Lines are decoded by
// hand when they have the layout writeREST gives them (a city's social
// security holds over a million records; encoding/json would take seconds),
// by encoding/json otherwise.
func readLines(path string, fn func(line) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 1<<16), 16<<20)
	for n := 1; sc.Scan(); n++ {
		b := sc.Bytes()
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		l, ok := fastLine(b)
		if !ok {
			if err := json.Unmarshal(b, &l); err != nil {
				return fmt.Errorf("%s:%d: %w", path, n, err)
			}
			l.Record = slices.Clone(l.Record)
		}
		if err := fn(l); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// fastLine decodes {"key":"K","updated":"T","record":{...}} with K free of
// escapes; ok is false for any other shape. The record is not validated: the
// files are ours, and a bad one would show as a client's decoding error.
func fastLine(b []byte) (l line, ok bool) {
	const keyPrefix, updPrefix, recPrefix = `{"key":"`, `","updated":"`, `","record":`
	rest, found := bytes.CutPrefix(b, []byte(keyPrefix))
	if !found {
		return l, false
	}
	key, rest, found := bytes.Cut(rest, []byte(updPrefix))
	if !found || bytes.ContainsAny(key, `"\`) {
		return l, false
	}
	upd, rest, found := bytes.Cut(rest, []byte(recPrefix))
	if !found || len(rest) < 2 || rest[len(rest)-1] != '}' {
		return l, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(upd))
	if err != nil {
		return l, false
	}
	rec := rest[:len(rest)-1]
	if rec[0] != '{' {
		return l, false
	}
	return line{Key: string(key), Updated: t, Record: slices.Clone(rec)}, true
}

// Ledger layout: a title row, the header row, then one member a row.
const (
	// LedgerSheet is the worksheet of the 党员台账.
	LedgerSheet = "党员台账"
	// LedgerHeaderRow is the 1-based row of the column headers.
	LedgerHeaderRow = 2
	// ledgerDate is how the ledger writes dates.
	ledgerDate = "2006.01.02"
)

// LedgerHeaders are the ledger's column headers, left to right.
var LedgerHeaders = []string{"序号", "姓名", "性别", "民族", "出生日期", "身份证号", "人员类别", "入党时间", "转正时间",
	"所在支部", "是否转入", "是否失联", "最后联系时间", "联系电话", "现居住地址", "备注"}

var ledgerCategory = map[string]string{"FULL": "正式党员", "PROBATIONARY": "预备党员"}

func yesNo(b bool) string {
	if b {
		return "是"
	}
	return "否"
}

// WriteLedger writes the party_building ledger (台账) to path as an .xlsx
// workbook: sheet 党员台账, a merged title in row 1, the headers in row 2,
// one member a row below, every cell text (ID numbers must not become numbers).
func (ds *Dataset) WriteLedger(path string) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f := excelize.NewFile()
	defer func() { err = errors.Join(err, f.Close()) }()
	if err := f.SetSheetName("Sheet1", LedgerSheet); err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(LedgerSheet)
	if err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Alignment: &excelize.Alignment{Horizontal: "center"}})
	if err != nil {
		return err
	}
	title, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 16}, Alignment: &excelize.Alignment{Horizontal: "center"}})
	if err != nil {
		return err
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49}) // "@": text
	if err != nil {
		return err
	}
	widths := []float64{7, 10, 6, 8, 12, 21, 10, 12, 12, 28, 9, 9, 13, 14, 48, 30}
	for i, wd := range widths {
		if err := sw.SetColWidth(i+1, i+1, wd); err != nil {
			return err
		}
	}
	last, _ := excelize.ColumnNumberToName(len(LedgerHeaders))
	heading := fmt.Sprintf("%s党员信息台账（截至%s）", areaName(ds.Area), ds.Now.Format("2006年1月2日"))
	if err := sw.SetRow("A1", []any{excelize.Cell{StyleID: title, Value: heading}}); err != nil {
		return err
	}
	if err := sw.MergeCell("A1", last+"1"); err != nil {
		return err
	}
	hdr := make([]any, len(LedgerHeaders))
	for i, h := range LedgerHeaders {
		hdr[i] = excelize.Cell{StyleID: bold, Value: h}
	}
	if err := sw.SetRow("A2", hdr); err != nil {
		return err
	}
	row := make([]any, len(LedgerHeaders))
	for k := range ds.PartyBuilding.Members {
		m := &ds.PartyBuilding.Members[k]
		vals := []string{
			strconv.FormatInt(m.Row, 10), m.Name, cnSex(m.Gender), m.Ethnicity, fmtDate(m.BirthDate, ledgerDate), m.IDNumber,
			ledgerCategory[m.Category], fmtDate(m.JoinedOn, ledgerDate), fmtDate(m.RegularOn, ledgerDate), m.Branch,
			yesNo(m.Transferred), yesNo(m.OutOfContact), fmtDate(m.LastContact, ledgerDate), m.Phone, m.Address, m.Remark,
		}
		for i, v := range vals {
			row[i] = excelize.Cell{StyleID: text, Value: v}
		}
		cell, _ := excelize.CoordinatesToCellName(1, LedgerHeaderRow+1+k)
		if err := sw.SetRow(cell, row); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	tmp := path + ".tmp.xlsx"
	if err := f.SaveAs(tmp); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func areaName(area string) string {
	switch {
	case area == "3407":
		return "铜陵市"
	case area == "340705":
		return "铜陵市铜官区"
	}
	return "铜陵市"
}

// TruthSummary is dir/truth/summary.json: row counts and noise counts.
type TruthSummary struct {
	Seed int64 `json:"seed"`
	// Rows counts the rows of each record set, "dept.set" (duplicates included).
	Rows map[string]int `json:"rows"`
	// Noise counts the noise of each kind per department, "dept.kind".
	Noise map[string]int `json:"noise"`
	// Deaths counts the deaths civil_affairs registered; StillActive those of
	// them some other source keeps active.
	Deaths      int `json:"deaths"`
	StillActive int `json:"still_active"`
}

// Summary counts the dataset's rows and noise.
func (ds *Dataset) Summary() TruthSummary {
	s := TruthSummary{Seed: ds.Seed, Rows: map[string]int{}, Noise: map[string]int{}, Deaths: len(ds.Truth.Deaths)}
	rows := map[string]int{
		"civil_affairs.residents":        len(ds.CivilAffairs.Residents),
		"civil_affairs.dibao":            len(ds.CivilAffairs.Dibao),
		"civil_affairs.tekun":            len(ds.CivilAffairs.Tekun),
		"civil_affairs.elderlyAllowance": len(ds.CivilAffairs.Elderly),
		"civil_affairs.disability":       len(ds.CivilAffairs.Disability),
		"health.floating":                len(ds.Health.Floating),
		"health.marriage":                len(ds.Health.Marriage),
		"health.births":                  len(ds.Health.Births),
		"employment.unemployment":        len(ds.Employment.Unemployment),
		"employment.hardship":            len(ds.Employment.Hardship),
		"employment.certificate":         len(ds.Employment.Certificates),
		"employment.assistance":          len(ds.Employment.Assistance),
		"social_security.pension":        len(ds.SocialSecurity.Pension),
		"social_security.medical":        len(ds.SocialSecurity.Medical),
		"urban_management.cases":         len(ds.UrbanManagement.Cases),
		"party_building.membership":      len(ds.PartyBuilding.Members),
	}
	s.Rows = rows
	for _, n := range ds.Truth.Noise {
		s.Noise[n.Dept+"."+n.Kind]++
	}
	for _, d := range ds.Truth.Deaths {
		if len(d.StillActive) > 0 {
			s.StillActive++
		}
	}
	return s
}

func (ds *Dataset) writeTruth(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	err := writeCSV(filepath.Join(dir, "noise.csv.gz"), []string{"department", "set", "row", "person_id", "kind", "field", "source_value", "true_value"},
		len(ds.Truth.Noise), func(i int) []string {
			n := &ds.Truth.Noise[i]
			return []string{n.Dept, n.Set, strconv.FormatInt(n.Row, 10), strconv.FormatInt(n.PersonID, 10), n.Kind, n.Field, n.Source, n.True}
		})
	if err != nil {
		return err
	}
	err = writeCSV(filepath.Join(dir, "deaths.csv.gz"), []string{"person_id", "id_number", "died_on", "still_active"},
		len(ds.Truth.Deaths), func(i int) []string {
			d := &ds.Truth.Deaths[i]
			return []string{strconv.FormatInt(d.PersonID, 10), d.IDNumber, d.DiedOn.Format(time.DateOnly), strings.Join(d.StillActive, ";")}
		})
	if err != nil {
		return err
	}
	if err := ds.writeShowcase(dir); err != nil {
		return err
	}
	b, err := json.MarshalIndent(ds.Summary(), "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, truthSummary), append(b, '\n'), 0o644)
}

func writeCSV(path string, header []string, n int, row func(int) []string) error {
	return writeGzip(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.Write(header); err != nil {
			return err
		}
		for i := range n {
			if err := cw.Write(row(i)); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	})
}

// sortedKeys is m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
