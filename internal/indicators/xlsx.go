package indicators

import (
	"fmt"
	"io"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/gridhub/gridhub/internal/grid"
)

// SuppressedMark is what a withheld cell shows in a workbook: text, so that
// no sum in the spreadsheet counts it as a zero.
const SuppressedMark = "*"

// LevelLabels are the Chinese names of the levels: the sheet names of a
// workbook.
var LevelLabels = map[grid.Level]string{
	grid.District:  "区县",
	grid.Township:  "街道",
	grid.Community: "社区",
	grid.Grid:      "网格",
}

// DefinitionsSheet is the name of a workbook's sheet of definitions.
const DefinitionsSheet = "指标说明"

// WriteXLSX writes tables (one per level, each level once) as an Excel
// workbook: one sheet per level, named in Chinese (区县, 街道, 社区, 网格),
// with Chinese headers (代码, 名称, then each indicator's label and unit),
// one row per unit and a last row of totals (合计), the same cells as
// WriteCSV writes: numbers as numbers (counts as integers, rates with one
// decimal), a withheld cell as SuppressedMark on a grey ground; then the
// definitions sheet (指标说明): each indicator's name, label, unit,
// department and definition, what the mark means, and when each
// department's data is as of.
func WriteXLSX(w io.Writer, cat *Catalogue, tables []*Table) error {
	return writeWorkbook(w, cat, [][]*Table{tables}, false)
}

// WriteSeriesXLSX writes a series as a workbook: series[i] are the tables of
// period i (one per level, as WriteXLSX takes them), each sheet holding every
// period's rows one after the other, with the period (期间) as the first
// column.
func WriteSeriesXLSX(w io.Writer, cat *Catalogue, series [][]*Table) error {
	return writeWorkbook(w, cat, series, true)
}

func writeWorkbook(w io.Writer, cat *Catalogue, periods [][]*Table, series bool) error {
	f := excelize.NewFile()
	defer f.Close()
	grey, err := f.NewStyle(&excelize.Style{Fill: excelize.Fill{Type: "pattern", Color: []string{"#D9D9D9"}, Pattern: 1},
		Alignment: &excelize.Alignment{Horizontal: "center"}})
	if err != nil {
		return err
	}
	rateFormat := "0.0" // rates are rounded to one decimal
	oneDecimal, err := f.NewStyle(&excelize.Style{CustomNumFmt: &rateFormat})
	if err != nil {
		return err
	}
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	first := true
	var asOf []AsOf
	var names []string
	for _, l := range []grid.Level{grid.District, grid.Township, grid.Community, grid.Grid} {
		var sheet string
		row := 1
		for _, tables := range periods {
			for _, t := range tables {
				if t.Level != l {
					continue
				}
				names, asOf = t.Names, t.AsOf
				if sheet == "" {
					sheet = LevelLabels[l]
					if first {
						if err := f.SetSheetName("Sheet1", sheet); err != nil {
							return err
						}
						first = false
					} else if _, err := f.NewSheet(sheet); err != nil {
						return err
					}
					header := []any{"代码", "名称"}
					if series {
						header = append([]any{"期间"}, header...)
					}
					for _, n := range t.Names {
						in, _ := cat.Lookup(n)
						header = append(header, fmt.Sprintf("%s（%s）", in.Label, in.Unit))
					}
					if err := f.SetSheetRow(sheet, "A1", &header); err != nil {
						return err
					}
					end, _ := excelize.CoordinatesToCellName(len(header), 1)
					if err := f.SetCellStyle(sheet, "A1", end, bold); err != nil {
						return err
					}
					if err := f.SetPanes(sheet, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
						return err
					}
				}
				totalName := "合计"
				if t.Within != "" {
					totalName = t.WithinName + " 合计"
				}
				for _, r := range append(t.Rows, Row{Unit: Unit{Code: t.Within, Name: totalName}, Values: t.Totals}) {
					row++
					if err := writeXLSXRow(f, sheet, row, t, r, series, cat, grey, oneDecimal); err != nil {
						return err
					}
				}
			}
		}
	}
	if first {
		if err := f.SetSheetName("Sheet1", DefinitionsSheet); err != nil {
			return err
		}
	} else if _, err := f.NewSheet(DefinitionsSheet); err != nil {
		return err
	}
	if err := writeDefinitions(f, cat, names, asOf, bold); err != nil {
		return err
	}
	_, err = f.WriteTo(w)
	return err
}

// writeXLSXRow writes one unit's row (or the totals) at row.
func writeXLSXRow(f *excelize.File, sheet string, row int, t *Table, r Row, series bool, cat *Catalogue, grey, oneDecimal int) error {
	vals := []any{r.Unit.Code, r.Unit.Name}
	if series {
		label := ""
		if t.Period != nil {
			label = t.Period.Label
		}
		vals = append([]any{label}, vals...)
	}
	offset := len(vals)
	for _, c := range r.Values {
		if c.Value == nil {
			vals = append(vals, SuppressedMark)
		} else {
			vals = append(vals, *c.Value)
		}
	}
	cell, _ := excelize.CoordinatesToCellName(1, row)
	if err := f.SetSheetRow(sheet, cell, &vals); err != nil {
		return err
	}
	for j, c := range r.Values {
		at, _ := excelize.CoordinatesToCellName(offset+j+1, row)
		in, _ := cat.Lookup(c.Name)
		switch {
		case c.Value == nil:
			if err := f.SetCellStyle(sheet, at, at, grey); err != nil {
				return err
			}
		case in != nil && in.Rate != nil:
			if err := f.SetCellStyle(sheet, at, at, oneDecimal); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeDefinitions fills the definitions sheet.
func writeDefinitions(f *excelize.File, cat *Catalogue, names []string, asOf []AsOf, bold int) error {
	rows := [][]any{{"指标", "名称", "单位", "部门", "定义"}}
	if len(names) == 0 {
		names = cat.Names()
	}
	for _, n := range names {
		in, _ := cat.Lookup(n)
		rows = append(rows, []any{in.Name, in.Label, in.Unit, in.Department, in.Definition})
	}
	rows = append(rows, []any{},
		[]any{"说明", SuppressedMark + " 表示该数值依小数保护规则不予公布（数值小于阈值，或可由其他公布数值推算出这类数值）；比率在分子或分母不公布时也不公布。"},
		[]any{"", "数值为数字：人数、户数、件数为整数，比率为百分数，保留一位小数。"})
	rows = append(rows, []any{}, []any{"数据截至", "部门", "时间"})
	for _, a := range asOf {
		at := "未同步"
		if a.At != nil {
			at = a.At.In(cst).Format(time.DateTime)
		}
		rows = append(rows, []any{"", a.Department, at})
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(DefinitionsSheet, cell, &r); err != nil {
			return err
		}
	}
	if err := f.SetCellStyle(DefinitionsSheet, "A1", "E1", bold); err != nil {
		return err
	}
	return f.SetColWidth(DefinitionsSheet, "E", "E", 80)
}
