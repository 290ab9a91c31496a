package indicators

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/gridhub/gridhub/internal/grid"
)

// The shared cache holds tables in a compact binary form: a city-wide table
// of every grid has tens of thousands of cells, which JSON takes milliseconds
// to decode and this takes a fraction of one.
//
//	"IT1" level within withinName dataVersion
//	n names...  n asOf(department flag [unixNano])...
//	n rows(code name level cells...)  totals cells...
//
// Integers are varints, strings length-prefixed; a cell is a flag byte
// (0 value, 1 withheld) and for a value its float64 bits.
const codecMagic = "IT1"

func encodeTable(t *Table) []byte {
	b := make([]byte, 0, 64+len(t.Rows)*(40+9*len(t.Names)))
	b = append(b, codecMagic...)
	b = binary.AppendUvarint(b, uint64(t.Level))
	b = appendString(b, t.Within)
	b = appendString(b, t.WithinName)
	b = binary.AppendVarint(b, t.DataVersion)
	b = binary.AppendUvarint(b, uint64(len(t.Names)))
	for _, n := range t.Names {
		b = appendString(b, n)
	}
	b = binary.AppendUvarint(b, uint64(len(t.AsOf)))
	for _, a := range t.AsOf {
		b = appendString(b, a.Department)
		if a.At == nil {
			b = append(b, 0)
		} else {
			b = append(b, 1)
			b = binary.AppendVarint(b, a.At.UnixNano())
		}
	}
	b = binary.AppendUvarint(b, uint64(len(t.Rows)))
	for _, r := range t.Rows {
		b = appendString(b, r.Unit.Code)
		b = appendString(b, r.Unit.Name)
		b = binary.AppendUvarint(b, uint64(r.Unit.Level))
		b = appendCells(b, r.Values)
	}
	return appendCells(b, t.Totals)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendCells(b []byte, cells []Cell) []byte {
	for _, c := range cells {
		if c.Value == nil {
			b = append(b, 1)
			continue
		}
		b = append(b, 0)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(*c.Value))
	}
	return b
}

// decoder reads what encodeTable wrote; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a length no larger than what each item's smallest encoding
// could fill in the rest of the input, so corrupt input cannot make a huge
// allocation.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.err = errCorrupt
		return 0
	}
	return int(n)
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) string() string {
	n := d.count(1)
	if d.err != nil {
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func decodeTable(b []byte) (*Table, error) {
	if len(b) < len(codecMagic) || string(b[:len(codecMagic)]) != codecMagic {
		return nil, errCorrupt
	}
	d := &decoder{b: b[len(codecMagic):]}
	t := &Table{}
	t.Level = grid.Level(d.uvarint())
	t.Within = d.string()
	t.WithinName = d.string()
	t.DataVersion = d.varint()
	t.Names = make([]string, d.count(1))
	for i := range t.Names {
		t.Names[i] = d.string()
	}
	t.AsOf = make([]AsOf, d.count(2))
	for i := range t.AsOf {
		t.AsOf[i].Department = d.string()
		if d.byte() == 1 {
			at := time.Unix(0, d.varint()).UTC()
			t.AsOf[i].At = &at
		}
	}
	k := len(t.Names)
	rows := d.count(3 + k)
	if d.err != nil {
		return nil, d.err
	}
	t.Rows = make([]Row, rows)
	cells := make([]Cell, (rows+1)*k)
	vals := make([]float64, len(cells))
	readCells := func(off int) {
		for j := range k {
			c := &cells[off+j]
			c.Name = t.Names[j]
			switch d.byte() {
			case 0:
				if len(d.b) < 8 {
					d.err = errCorrupt
					return
				}
				vals[off+j] = math.Float64frombits(binary.LittleEndian.Uint64(d.b))
				d.b = d.b[8:]
				c.Value = &vals[off+j]
			case 1:
				c.Suppressed = true
			default:
				d.err = errCorrupt
			}
		}
	}
	for r := range t.Rows {
		u := &t.Rows[r].Unit
		u.Code = d.string()
		u.Name = d.string()
		u.Level = grid.Level(d.uvarint())
		readCells(r * k)
		t.Rows[r].Values = cells[r*k : (r+1)*k]
		if d.err != nil {
			return nil, d.err
		}
	}
	readCells(rows * k)
	t.Totals = cells[rows*k:]
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, errCorrupt
	}
	return t, nil
}
