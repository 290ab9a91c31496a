package sheet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/gridhub/gridhub/connectors"
)

var _ connectors.Writer = (*Source)(nil)

// InboxPath is where the department's inbox workbook is: writeback.file, or
// beside the ledger with its name and -inbox.xlsx (ledger.xlsx ->
// ledger-inbox.xlsx).
func (s *Source) InboxPath() string {
	if wb := s.dept.WriteBack; wb != nil && wb.File != "" {
		return wb.File
	}
	return strings.TrimSuffix(s.path, filepath.Ext(s.path)) + "-inbox.xlsx"
}

// Write appends the delivery as one row of the inbox workbook, unless a row
// with its idempotency key is there already. The hub never writes the ledger
// itself: a clerk keeps it, and takes deliveries over from the inbox.
//
// The inbox is replaced atomically: read, add the row, write a temporary file
// in the same directory, fsync it, rename it over the old one, fsync the
// directory. A crash at any point leaves the old inbox or the new one, never a
// torn file. Writers are serialised by a mutex within the process and by an
// flock on inbox.lock between processes on one machine, so that two hubs
// appending at once do not lose a row.
//
// A missing directory (an unmounted share) is ErrNotConnected; an inbox that
// is not a readable workbook is permanent until someone repairs it.
func (s *Source) Write(ctx context.Context, del connectors.Delivery) error {
	vals, err := s.dept.EncodeDelivery(del)
	if err != nil {
		return fmt.Errorf("sheet %s: deliver: %w", s.dept.Code, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sheet %s: deliver: %w", s.dept.Code, err)
	}
	if err := s.append(ctx, del.IdempotencyKey, vals); err != nil {
		return fmt.Errorf("sheet %s: deliver to %s: %w", s.dept.Code, filepath.Base(s.InboxPath()), err)
	}
	return nil
}

func (s *Source) append(ctx context.Context, key string, vals []connectors.WriteValue) error {
	wb := s.dept.WriteBack
	path := s.InboxPath()
	dir := filepath.Dir(path)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("the inbox directory is not there: %w", connectors.ErrNotConnected)
	}
	unlock, err := lockFile(ctx, path+".lock")
	if err != nil {
		return err
	}
	defer unlock()

	f, err := openInbox(path, wb.Sheet)
	if err != nil {
		return err
	}
	defer f.Close()
	if idx, _ := f.GetSheetIndex(wb.Sheet); idx < 0 {
		if _, err := f.NewSheet(wb.Sheet); err != nil {
			return connectors.Permanent(err)
		}
	}
	rows, err := f.GetRows(wb.Sheet)
	if err != nil {
		return connectors.Permanentf("worksheet %s: %w", wb.Sheet, err)
	}
	var header []string
	if len(rows) > 0 {
		header = rows[0]
	}
	col := func(name string) int {
		for i, h := range header {
			if strings.TrimSpace(h) == name {
				return i
			}
		}
		// A column the inbox lacks (a new field, or a clerk removed it)
		// is added at the end.
		header = append(header, name)
		cell, _ := excelize.CoordinatesToCellName(len(header), 1)
		f.SetCellStr(wb.Sheet, cell, name)
		return len(header) - 1
	}
	keyCol := col(wb.IdempotencyKey)
	for _, r := range rows[min(1, len(rows)):] {
		if keyCol < len(r) && strings.TrimSpace(r[keyCol]) == key {
			return nil // delivered before
		}
	}
	n := max(len(rows), 1) + 1
	for _, v := range vals {
		cell, _ := excelize.CoordinatesToCellName(col(v.Target)+1, n)
		switch x := v.Value.(type) {
		case nil:
		case string:
			err = f.SetCellStr(wb.Sheet, cell, x)
		case bool:
			err = f.SetCellBool(wb.Sheet, cell, x)
		default:
			err = f.SetCellValue(wb.Sheet, cell, x)
		}
		if err != nil {
			return connectors.Permanent(err)
		}
	}
	return s.replace(path, f)
}

// openInbox opens the inbox workbook, or makes an empty one with sheet.
func openInbox(path, sheet string) (*excelize.File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		f := excelize.NewFile()
		if err := f.SetSheetName(f.GetSheetName(0), sheet); err != nil {
			return nil, connectors.Permanent(err)
		}
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	f, err := excelize.OpenReader(bytes.NewReader(b), excelize.Options{UnzipSizeLimit: maxUnzip})
	if err != nil {
		return nil, connectors.Permanentf("the inbox is not a readable .xlsx workbook: %w", err)
	}
	return f, nil
}

// replace writes f over path atomically.
func (s *Source) replace(path string, f *excelize.File) error {
	// One temporary name is enough: writers hold the lock, and a file a
	// crash left behind is simply overwritten.
	tmp := path + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteTo(out); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if s.beforeRename != nil {
		if err := s.beforeRename(tmp); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
