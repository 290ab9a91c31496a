package deptsim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/xuri/excelize/v2"
)

// LedgerInboxFile is where the party_building connector delivers report
// fields by default: a workbook beside the ledger (the hub never edits the
// ledger itself).
const LedgerInboxFile = "party_building/ledger-inbox.xlsx"

// LedgerInboxPath is the ledger's inbox workbook under WriteFiles' dir.
func LedgerInboxPath(dir string) string {
	return filepath.Join(dir, filepath.FromSlash(LedgerInboxFile))
}

// ReadLedgerInbox reads an inbox workbook's first worksheet: a row per
// delivery, by header. A missing workbook is an empty inbox.
func ReadLedgerInbox(path string) ([]map[string]string, error) {
	f, err := excelize.OpenFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := f.GetRows(f.GetSheetName(0))
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			if i < len(r) && r[i] != "" {
				m[h] = r[i]
			}
		}
		out = append(out, m)
	}
	return out, nil
}

// TouchLedger edits the party ledger at path as a branch secretary does
// between two syncs: n members get a new last contact (today) with their
// out-of-contact flag turned over, and remove other members' rows are
// deleted. It picks members entered once with an 18-character number, so
// that the change shows in what the connector serves, and returns their
// numbers as the ledger writes them. The file is replaced atomically.
func TouchLedger(path string, n, remove int, seed uint64) (changed, removed []string, err error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	rows, err := f.GetRows(LedgerSheet)
	if err != nil {
		return nil, nil, err
	}
	col := func(h string) int { return slices.Index(LedgerHeaders, h) }
	idCol, lostCol, contactCol := col("身份证号"), col("是否失联"), col("最后联系时间")
	seen := map[string]int{}
	for _, r := range rows[LedgerHeaderRow:] {
		if idCol < len(r) {
			seen[normKey(r[idCol])]++
		}
	}
	var candidates []int // 1-based row numbers
	for i, r := range rows {
		if i >= LedgerHeaderRow && idCol < len(r) && len(normKey(r[idCol])) == 18 && seen[normKey(r[idCol])] == 1 {
			candidates = append(candidates, i+1)
		}
	}
	if n+remove > len(candidates) {
		return nil, nil, fmt.Errorf("deptsim: %d ledger rows to touch, %d can be", n+remove, len(candidates))
	}
	rng := rand.New(rand.NewPCG(seed, 0x6c6564676572))
	rng.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	today := time.Now().In(cst).Format(ledgerDate)
	for _, rn := range candidates[:n] {
		r := rows[rn-1]
		lost := "是"
		if lostCol < len(r) && r[lostCol] == "是" {
			lost = "否"
		}
		for c, v := range map[int]string{lostCol: lost, contactCol: today} {
			cell, _ := excelize.CoordinatesToCellName(c+1, rn)
			if err := f.SetCellStr(LedgerSheet, cell, v); err != nil {
				return nil, nil, err
			}
		}
		changed = append(changed, r[idCol])
	}
	gone := slices.Clone(candidates[n : n+remove])
	slices.Sort(gone)
	for i := len(gone) - 1; i >= 0; i-- {
		removed = append(removed, rows[gone[i]-1][idCol])
		if err := f.RemoveRow(LedgerSheet, gone[i]); err != nil {
			return nil, nil, err
		}
	}
	tmp := path + ".tmp.xlsx"
	if err := f.SaveAs(tmp); err != nil {
		return nil, nil, err
	}
	return changed, removed, os.Rename(tmp, path)
}
