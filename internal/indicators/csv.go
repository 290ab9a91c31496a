package indicators

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// UTF8BOM is the byte order mark an export may write before the CSV so that
// Excel reads it as UTF-8 (unit names are Chinese). WriteCSV does not write it.
const UTF8BOM = "\ufeff"

// TotalLevel is the level column of the CSV's totals row.
const TotalLevel = "TOTAL"

// WriteCSV writes a table as CSV (RFC 4180, UTF-8, one header row), with the
// same suppression as the table:
//
//	code,name,level,residents,residents_suppressed,dibaoPersons,dibaoPersons_suppressed,...
//	340705001001001,第一网格,GRID,412,false,,true,...
//	340705001001,某社区,TOTAL,2843,false,31,false,...
//
// One row per unit in code order, then one totals row whose level is TOTAL
// (code and name are the within unit's; for the whole area the code is empty
// and the name 合计; leave the row out when summing). Each indicator has two columns: its value (counts as
// integers, rates as percentages with one decimal) and <name>_suppressed (true
// or false). A withheld value is an empty field with <name>_suppressed true, so
// that a BI tool reads it as null, never as zero. Column names are the
// catalogue's names; their Chinese labels and definitions are in the
// catalogue.
func WriteCSV(w io.Writer, t *Table) error {
	cw := csv.NewWriter(w)
	rec := make([]string, 0, 3+2*len(t.Names))
	rec = append(rec, "code", "name", "level")
	for _, n := range t.Names {
		rec = append(rec, n, n+"_suppressed")
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	row := func(code, name, level string, cells []Cell) error {
		rec = append(rec[:0], code, safeText(name), level)
		for _, c := range cells {
			rec = append(rec, FormatValue(c), strconv.FormatBool(c.Suppressed))
		}
		return cw.Write(rec)
	}
	for _, r := range t.Rows {
		if err := row(r.Unit.Code, r.Unit.Name, r.Unit.Level.String(), r.Values); err != nil {
			return err
		}
	}
	totalName := "合计"
	if t.Within != "" {
		totalName = t.WithinName
	}
	if err := row(t.Within, totalName, TotalLevel, t.Totals); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// safeText keeps a spreadsheet from reading a text field as a formula.
func safeText(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}

// WriteSeriesCSV writes the tables of a series (one per period, oldest
// first, the same level and names) as one CSV: the columns of WriteCSV after
// a first column, period, the period's label; each period's rows and its
// totals row in turn, under one header.
func WriteSeriesCSV(w io.Writer, tables []*Table) error {
	cw := csv.NewWriter(w)
	for i, t := range tables {
		var buf strings.Builder
		if err := WriteCSV(&buf, t); err != nil {
			return err
		}
		recs, err := csv.NewReader(strings.NewReader(buf.String())).ReadAll()
		if err != nil {
			return err
		}
		label := ""
		if t.Period != nil {
			label = t.Period.Label
		}
		for j, rec := range recs {
			if j == 0 && i > 0 {
				continue // one header
			}
			head := label
			if j == 0 {
				head = "period"
			}
			if err := cw.Write(append([]string{head}, rec...)); err != nil {
				return err
			}
		}
	}
	if len(tables) == 0 {
		if err := cw.Write([]string{"period", "code", "name", "level"}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
