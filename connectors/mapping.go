package connectors

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gridhub/gridhub/internal/ident"
)

// This file is the part of the mapping every connector kind shares: turning a
// raw source row (a sheet's cells, a JSON object, a database row) into a
// unified Record, and a source's key into the hub's normalised key.

// DefaultDateFormat is the layout of a date in the source when Field.Format is
// empty.
const DefaultDateFormat = "2006-01-02"

// Bool spellings used when Field.Format is empty. With Format set, the
// department has listed its true values and every other non-empty value is
// false; without it a value must be one of these, so that a typo is an error
// rather than a silent false.
var (
	defaultTrue  = []string{"1", "true", "是", "y"}
	defaultFalse = []string{"0", "false", "否", "n"}
)

// NormalizeKey turns a key as a source writes it into the hub's key for
// entity: for Person the 18-character resident ID (white space trimmed,
// lower-case x upper-cased, a 15-digit first-generation number converted), for
// Organization the upper-cased unified social credit code. A credit code whose
// check characters are wrong is accepted (early codes fail them); any other
// failure is an error that does not show the number.
func NormalizeKey(entity, raw string) (string, error) {
	switch entity {
	case Person:
		id, err := ident.ParseResidentID(raw)
		if err != nil {
			return "", err
		}
		return id.Number, nil
	case Organization:
		c, err := ident.ParseCreditCode(raw)
		if err != nil {
			return "", err
		}
		return c.Code, nil
	}
	return "", fmt.Errorf("unknown entity %q", entity)
}

// SetsFor returns the record sets a read asks for: those of req.Entity,
// limited to req.Sets when it is set, in the order of the mapping file. A name
// in req.Sets that is not a record set of the entity is a permanent error, as
// it is a bug in the caller that no retry heals.
func (d *Department) SetsFor(req ReadRequest) ([]*RecordSet, error) {
	var out []*RecordSet
	for i := range d.Records {
		rs := &d.Records[i]
		if rs.Entity != req.Entity {
			continue
		}
		if req.Sets != nil && !slices.Contains(req.Sets, rs.Name) {
			continue
		}
		out = append(out, rs)
	}
	for _, name := range req.Sets {
		if !slices.ContainsFunc(out, func(rs *RecordSet) bool { return rs.Name == name }) {
			return nil, Permanentf("no record set %q about %s entities", name, req.Entity)
		}
	}
	return out, nil
}

// AddTo adds rec for key to res. A Many set keeps every record in source order.
// Any other set keeps one record per key, and the rule is simply that the
// first one in source order wins: the mapping puts the newest first (a sql
// query ORDER BY its updated-at column DESC; the department simulators' APIs
// answer newest first; a ledger's duplicate rows are appended copies of the
// row above them).
func (rs *RecordSet) AddTo(res Result, key string, rec Record) {
	if rs.Many {
		res.Add(key, rs.Name, rec)
		return
	}
	sets := res[key]
	if sets == nil {
		sets = map[string][]Record{}
		res[key] = sets
	}
	if len(sets[rs.Name]) == 0 {
		sets[rs.Name] = []Record{rec}
	}
}

// ErrNoKey is KeyOf's error for a row whose key field is missing or empty: a
// record about no one identifiable (a 部件 case has no party), which fact
// feeds pass over rather than count as bad data.
var ErrNoKey = errors.New("missing")

// KeyOf reads and normalises the key of a raw source row through get (see
// MapRecord). A missing or empty key (ErrNoKey), or one that does not
// normalise, is an error naming the key field but not showing the value.
func (rs *RecordSet) KeyOf(get func(from string) (any, bool)) (string, error) {
	raw, ok := get(rs.Key)
	if !ok || raw == nil {
		return "", fmt.Errorf("key %s: %w", rs.Key, ErrNoKey)
	}
	s, err := keyText(raw)
	if err != nil {
		return "", fmt.Errorf("key %s: %w", rs.Key, err)
	}
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("key %s: %w", rs.Key, ErrNoKey)
	}
	key, err := NormalizeKey(rs.Entity, s)
	if err != nil {
		return "", fmt.Errorf("key %s: %w", rs.Key, err)
	}
	return key, nil
}

// keyText is a raw key value as text.
func keyText(raw any) (string, error) {
	switch v := raw.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case float64:
		// A 15-digit number survives float64; an 18-digit one does not and
		// will fail its check digit, which is the right outcome.
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	default:
		n, ok := asInt(raw)
		if !ok {
			return "", fmt.Errorf("want a string, found %s", describe(raw))
		}
		return strconv.FormatInt(n, 10), nil
	}
}

// MapRecord builds the unified record of a raw source row. get returns the raw
// value of a source field (a column, a dotted JSON path, a sheet header) and
// whether the row has it; a field the row lacks is absent from the record. The
// errors of all fields are returned together, naming the record set.
func (rs *RecordSet) MapRecord(get func(from string) (any, bool)) (Record, error) {
	rec := Record{}
	var errs fieldErrors
	for _, f := range rs.Fields {
		raw, ok := get(f.From)
		if !ok {
			continue
		}
		v, ok, err := f.Convert(raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			rec[f.Name] = v
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("record set %s: %w", rs.Name, errs)
	}
	return rec, nil
}

// fieldErrors joins the errors of one row on one line ("; "), since they end
// up in one bad-row reason or log line.
type fieldErrors []error

func (e fieldErrors) Error() string {
	parts := make([]string, len(e))
	for i, err := range e {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (e fieldErrors) Unwrap() []error { return e }

// Convert turns a raw source value into the field's unified value: a string,
// int64, float64 (decimal), bool, time.Time (date, midnight UTC of the civil
// date) or the enum's unified string. Raw values are what the kinds produce:
// strings (sheet and CSV cells), JSON values decoded with UseNumber (string,
// json.Number, float64, bool, nil, objects and arrays), and database values
// (string, integers, float32/64, time.Time, bool, nil; the sql kind passes a
// numeric column as its decimal string).
//
// nil and an empty or blank string are absent (ok false). A value of the wrong
// type is an error naming the field, the type it wants and what it found; the
// value itself is shown only when it is short, because a long one may be an
// identity number in the wrong column.
func (f Field) Convert(raw any) (any, bool, error) {
	if raw == nil {
		return nil, false, nil
	}
	if s, isString := raw.(string); isString {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil, false, nil
		}
		raw = s
	}
	var v any
	var err error
	switch f.Type {
	case TypeString:
		v, err = f.toString(raw)
	case TypeInt:
		v, err = f.toInt(raw)
	case TypeDecimal:
		v, err = f.toDecimal(raw)
	case TypeDate:
		v, err = f.toDate(raw)
	case TypeBool:
		v, err = f.toBool(raw)
	case TypeEnum:
		v, err = f.toEnum(raw)
	default:
		err = fmt.Errorf("field %s: unknown type %q", f.Name, f.Type)
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

func (f Field) wrongType(raw any) error {
	return fmt.Errorf("field %s: want %s, found %s", f.Name, f.Type, describe(raw))
}

func (f Field) toString(raw any) (string, error) {
	switch v := raw.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	default:
		if n, ok := asInt(raw); ok {
			return strconv.FormatInt(n, 10), nil
		}
	}
	return "", f.wrongType(raw)
}

func (f Field) toInt(raw any) (int64, error) {
	switch v := raw.(type) {
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, f.wrongType(raw)
		}
		return n, nil
	case json.Number:
		if n, err := v.Int64(); err == nil {
			return n, nil
		}
		// 12.0 is a whole number a JSON encoder may write for an integer.
		if x, err := v.Float64(); err == nil && x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int64(x), nil
		}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return int64(v), nil
		}
	default:
		if n, ok := asInt(raw); ok {
			return n, nil
		}
	}
	return 0, f.wrongType(raw)
}

func (f Field) toDecimal(raw any) (float64, error) {
	var x float64
	switch v := raw.(type) {
	case string:
		p, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, f.wrongType(raw)
		}
		x = p
	case json.Number:
		p, err := v.Float64()
		if err != nil {
			return 0, f.wrongType(raw)
		}
		x = p
	case float64:
		x = v
	case float32:
		// Via the decimal string, so that 0.1 stays 0.1 and not 0.100000001.
		x, _ = strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
	default:
		n, ok := asInt(raw)
		if !ok {
			return 0, f.wrongType(raw)
		}
		x = float64(n)
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, f.wrongType(raw)
	}
	return x, nil
}

func (f Field) toDate(raw any) (time.Time, error) {
	layout := f.Format
	if layout == "" {
		layout = DefaultDateFormat
	}
	var s string
	switch v := raw.(type) {
	case time.Time:
		// The civil date as the source wrote it, in the source's own zone: a
		// date column comes as midnight UTC, a timestamptz in the local zone.
		y, m, d := v.Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
	case string:
		s = v
	case json.Number:
		s = v.String() // 20210301 for a "20060102" layout
	default:
		n, ok := asInt(raw)
		if !ok {
			return time.Time{}, f.wrongType(raw)
		}
		s = strconv.FormatInt(n, 10)
	}
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("field %s: want date (%s), found %s", f.Name, layout, describe(raw))
	}
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
}

func (f Field) toBool(raw any) (bool, error) {
	var s string
	switch v := raw.(type) {
	case bool:
		return v, nil
	case string:
		s = v
	case json.Number:
		s = v.String()
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		n, ok := asInt(raw)
		if !ok {
			return false, f.wrongType(raw)
		}
		s = strconv.FormatInt(n, 10)
	}
	if f.Format != "" {
		for _, t := range strings.Split(f.Format, ",") {
			if strings.EqualFold(strings.TrimSpace(t), s) {
				return true, nil
			}
		}
		return false, nil
	}
	for _, t := range defaultTrue {
		if strings.EqualFold(t, s) {
			return true, nil
		}
	}
	for _, t := range defaultFalse {
		if strings.EqualFold(t, s) {
			return false, nil
		}
	}
	return false, f.wrongType(raw)
}

func (f Field) toEnum(raw any) (string, error) {
	var code string
	switch v := raw.(type) {
	case string:
		code = v
	case json.Number:
		code = v.String()
	case float64:
		code = strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		code = strconv.FormatBool(v)
	default:
		n, ok := asInt(raw)
		if !ok {
			return "", f.wrongType(raw)
		}
		code = strconv.FormatInt(n, 10)
	}
	v, ok := f.Codes[code]
	if !ok {
		return "", fmt.Errorf("field %s: unknown code %s", f.Name, short(code))
	}
	return v, nil
}

// asInt converts Go's integer types, as pgx returns them for int2/int4/int8.
func asInt(raw any) (int64, bool) {
	rv := reflect.ValueOf(raw)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rv.Int(), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return 0, false
		}
		return int64(u), true
	}
	return 0, false
}

// describe says what a raw value is for an error message, showing the value
// only through short.
func describe(raw any) string {
	switch v := raw.(type) {
	case string:
		return short(v)
	case json.Number:
		return "number " + short(v.String())
	case float64:
		return "number " + short(strconv.FormatFloat(v, 'f', -1, 64))
	case bool:
		return "bool " + strconv.FormatBool(v)
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case time.Time:
		return "a timestamp"
	}
	if n, ok := asInt(raw); ok {
		return "number " + short(strconv.FormatInt(n, 10))
	}
	return fmt.Sprintf("a %T", raw)
}

// short quotes s when it has at most 8 characters, and masks it otherwise
// (first 6 and last 4 of what looks like an ID number, at most half of
// anything else), so that no identity number reaches a log in full.
func short(s string) string {
	if utf8.RuneCountInString(s) <= 8 {
		return strconv.Quote(s)
	}
	return strconv.Quote(ident.MaskResidentID(s))
}
