package connectors

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
)

// This file is the part of write-back (一表通 回写) every kind shares: which
// unified fields a department takes (Writable), and a delivery encoded in the
// department's own conventions (EncodeDelivery), which each kind then puts in
// its inbox: a row, a JSON body, a worksheet row.

// Write-back defaults.
const (
	// DefaultIdempotencyField is the target field of the idempotency key for
	// the sql and sheet kinds.
	DefaultIdempotencyField = "idempotency_key"
	// DefaultTimeFormat is how SubmittedAt is written.
	DefaultTimeFormat = "2006-01-02 15:04:05"
	// DefaultInboxSheet is the sheet kind's inbox worksheet.
	DefaultInboxSheet = "报送"
)

// ErrNoWriteBack is a delivery to a department whose mapping has no writeback
// block; it is wrapped in a PermanentError.
var ErrNoWriteBack = errors.New("the department takes no report fields (no writeback block)")

// cst is China Standard Time, the departments' clocks.
var cst = time.FixedZone("CST", 8*60*60)

// WritableField is a unified field a department takes from the report.
type WritableField struct {
	// Set and Field name the unified field ("set.field"). Set is a record
	// set of the department, or, for a report-only field, a name of the
	// report's own (visit, report).
	Set, Field string
	// Entity is what the field is about: its record set's entity; person
	// for a report-only field.
	Entity string
	Label  string
	// Type is the field's type: string, int, decimal, date, bool or enum.
	Type string
	// Target is the department's field the value goes to.
	Target string
	// Values are the unified values an enum field accepts, sorted.
	Values []string
}

// Name is the unified field name, "set.field", as Delivery.Fields keys it.
func (w WritableField) Name() string { return w.Set + "." + w.Field }

// writeSpec is a writable field with what its encoding needs.
type writeSpec struct {
	WritableField
	layout   string            // date layout
	boolPair []string          // "true", "false" as the department writes them; nil: a boolean
	codes    map[string]string // enum: unified value -> department code
}

// Writable lists the unified fields the department takes from the report, in
// the order of its mapping file; nil when it takes none.
func (d *Department) Writable() []WritableField {
	specs := d.writeSpecs()
	out := make([]WritableField, len(specs))
	for i, s := range specs {
		out[i] = s.WritableField
	}
	return out
}

// writeSpecs resolves the writeback fields against the record sets. The
// mapping has been validated, so every field resolves.
func (d *Department) writeSpecs() []writeSpec {
	if d.WriteBack == nil {
		return nil
	}
	var out []writeSpec
	for _, wf := range d.WriteBack.Fields {
		setName, name, _ := strings.Cut(wf.Field, ".")
		s := writeSpec{WritableField: WritableField{Set: setName, Field: name, Entity: Person, Label: wf.Label, Type: wf.Type, Target: wf.To}}
		var read *Field
		if rs, ok := d.Set(setName); ok {
			s.Entity = rs.Entity
			if read = rs.field(name); read != nil {
				s.Type = read.Type
				if s.Label == "" {
					s.Label = read.Label
				}
			}
		}
		switch s.Type {
		case TypeDate:
			s.layout = wf.Format
			if s.layout == "" && read != nil {
				s.layout = read.Format
			}
			if s.layout == "" {
				s.layout = DefaultDateFormat
			}
		case TypeBool:
			if wf.Format != "" {
				t, f, _ := strings.Cut(wf.Format, ",")
				s.boolPair = []string{strings.TrimSpace(t), strings.TrimSpace(f)}
			}
		case TypeEnum:
			s.codes = wf.Codes
			if len(s.codes) == 0 && read != nil {
				s.codes = reverseCodes(read.Codes)
			}
			for v := range s.codes {
				s.Values = append(s.Values, v)
			}
			slices.Sort(s.Values)
		}
		out = append(out, s)
	}
	return out
}

// reverseCodes turns source code -> unified value into unified value ->
// source code, keeping the smallest code where several share a value (20
// 已婚 rather than 21 初婚), so that the choice is stable.
func reverseCodes(codes map[string]string) map[string]string {
	out := map[string]string{}
	for code, v := range codes {
		if prev, ok := out[v]; !ok || code < prev {
			out[v] = code
		}
	}
	return out
}

// field returns the record set's field called name, or nil.
func (rs *RecordSet) field(name string) *Field {
	for i := range rs.Fields {
		if rs.Fields[i].Name == name {
			return &rs.Fields[i]
		}
	}
	return nil
}

// WriteValue is one target field of a delivery as the department takes it.
type WriteValue struct {
	// Target is the department's field: a column, a dotted JSON path, a
	// header.
	Target string
	// Value is a string, int64, float64 or bool, or nil to clear the field.
	// Dates and enum codes are strings in the department's format; a bool
	// is a string when the mapping gives its spellings.
	Value any
}

// EncodeDelivery checks a delivery against the department's writeback block
// and encodes it in the department's conventions: first the key (normalised;
// none for a delivery about no one, whose Entity and Key are empty),
// then the idempotency key and the submission time where the mapping names
// their targets, then each field of the delivery in mapping order. Every
// error is permanent: a field the department does not take, a value of the
// wrong type or an unknown enum value is a bug in the caller, not something a
// retry heals. Errors do not show long values, which may be ID numbers.
func (d *Department) EncodeDelivery(del Delivery) ([]WriteValue, error) {
	wb := d.WriteBack
	if wb == nil {
		return nil, Permanent(ErrNoWriteBack)
	}
	if strings.TrimSpace(del.IdempotencyKey) == "" {
		return nil, Permanentf("a delivery needs an idempotency key")
	}
	if len(del.Fields) == 0 {
		return nil, Permanentf("delivery %s has no fields", short(del.IdempotencyKey))
	}
	// A delivery about no one (an event at a place) carries no key.
	var key string
	if del.Entity != "" || del.Key != "" {
		var err error
		if key, err = NormalizeKey(del.Entity, del.Key); err != nil {
			return nil, Permanentf("delivery key: %w", err)
		}
	}
	specs := map[string]writeSpec{}
	for _, s := range d.writeSpecs() {
		specs[s.Name()] = s
	}
	var errs fieldErrors
	for _, name := range slices.Sorted(mapKeys(del.Fields)) {
		s, ok := specs[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("field %s: not taken by department %s", name, d.Code))
		case del.Entity != "" && s.Entity != del.Entity:
			errs = append(errs, fmt.Errorf("field %s: about %s entities, the delivery is about %s", name, s.Entity, del.Entity))
		}
	}
	if len(errs) > 0 {
		return nil, Permanent(errs)
	}
	var out []WriteValue
	if key != "" {
		out = append(out, WriteValue{Target: wb.Key, Value: key})
	}
	if wb.IdempotencyKey != "" {
		out = append(out, WriteValue{Target: wb.IdempotencyKey, Value: del.IdempotencyKey})
	}
	if wb.SubmittedAt != "" && !del.SubmittedAt.IsZero() {
		out = append(out, WriteValue{Target: wb.SubmittedAt, Value: del.SubmittedAt.In(cst).Format(wb.TimeFormat)})
	}
	for _, s := range d.writeSpecs() {
		v, ok := del.Fields[s.Name()]
		if !ok {
			continue
		}
		enc, err := s.encode(v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, WriteValue{Target: s.Target, Value: enc})
	}
	if len(errs) > 0 {
		return nil, Permanent(errs)
	}
	return out, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// encode turns a unified value into the department's form. The values are
// typed as Records are: string, int64, float64, bool, time.Time for dates.
func (s writeSpec) encode(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	wrong := func() error {
		return fmt.Errorf("field %s: want %s, found %s", s.Name(), s.Type, describe(v))
	}
	switch s.Type {
	case TypeString:
		if x, ok := v.(string); ok {
			return x, nil
		}
	case TypeEnum:
		x, ok := v.(string)
		if !ok {
			return nil, wrong()
		}
		code, ok := s.codes[x]
		if !ok {
			return nil, fmt.Errorf("field %s: %s is not one of %s", s.Name(), short(x), strings.Join(s.Values, ", "))
		}
		return code, nil
	case TypeInt:
		if n, ok := asInt(v); ok {
			return n, nil
		}
	case TypeDecimal:
		switch x := v.(type) {
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, wrong()
			}
			return x, nil
		default:
			if n, ok := asInt(v); ok {
				return float64(n), nil
			}
		}
	case TypeBool:
		if b, ok := v.(bool); ok {
			if s.boolPair == nil {
				return b, nil
			}
			if b {
				return s.boolPair[0], nil
			}
			return s.boolPair[1], nil
		}
	case TypeDate:
		if t, ok := v.(time.Time); ok {
			return t.Format(s.layout), nil
		}
	}
	return nil, wrong()
}

// sqlName is a column or table name the sql kind writes to: lower-case
// letters, digits and underscores, since a quoted mixed-case name in a legacy
// schema is almost always a mistake.
var sqlName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

type failFunc func(path []any, format string, args ...any)

// validateWriteBack checks the writeback block.
func (d *Department) validateWriteBack(fail failFunc) {
	wb := d.WriteBack
	if wb == nil {
		return
	}
	at := func(more ...any) []any { return append([]any{"writeback"}, more...) }
	only := func(key, val, kind string) {
		if val != "" && d.Kind != kind {
			fail(at(key), "%s applies to the %s kind only", key, kind)
		}
	}
	only("table", wb.Table, "sql")
	only("path", wb.Path, "rest")
	only("file", wb.File, "sheet")
	switch d.Kind {
	case "sql":
		parts := strings.Split(wb.Table, ".")
		valid := len(parts) <= 2
		for _, p := range parts {
			valid = valid && sqlName.MatchString(p)
		}
		if !valid {
			fail(at("table"), "table (the inbox table, e.g. sb_inbox) is required: a lower-case SQL name, optionally schema.table")
		}
	case "rest":
		if !strings.HasPrefix(wb.Path, "/") {
			fail(at("path"), "path (the inbox endpoint under base_url, e.g. /api/v1/inbox) is required")
		}
	case "sheet":
		if wb.File != "" && !strings.EqualFold(fileExt(wb.File), ".xlsx") {
			fail(at("file"), "the inbox workbook %q must be an .xlsx file", wb.File)
		}
	}
	if _, err := time.Parse(wb.TimeFormat, time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).Format(wb.TimeFormat)); err != nil {
		fail(at("time_format"), "time format %q is not a Go layout", wb.TimeFormat)
	}
	targets := map[string]string{}
	target := func(path []any, to, what string) {
		if to == "" {
			return
		}
		if d.Kind == "sql" && !sqlName.MatchString(to) {
			fail(path, "column %q is not a lower-case SQL name", to)
		}
		if prev, dup := targets[to]; dup {
			fail(path, "%s goes to %s, as %s does", what, to, prev)
			return
		}
		targets[to] = what
	}
	if wb.Key == "" {
		fail(at("key"), "key (the department's field for the ID number or credit code) is required")
	}
	target(at("key"), wb.Key, "the key")
	target(at("idempotency_key"), wb.IdempotencyKey, "the idempotency key")
	target(at("submitted_at"), wb.SubmittedAt, "the submission time")
	if len(wb.Fields) == 0 {
		fail(at("fields"), "at least one field is required")
	}
	seen := map[string]bool{}
	for j, wf := range wb.Fields {
		fat := func(more ...any) []any { return append(at("fields", j), more...) }
		setName, name, ok := strings.Cut(wf.Field, ".")
		if !ok || !identifier.MatchString(setName) || !identifier.MatchString(name) {
			fail(fat("field"), "field %q is not a unified field name, set.field", wf.Field)
			continue
		}
		if seen[wf.Field] {
			fail(fat("field"), "field %s is listed twice", wf.Field)
		}
		seen[wf.Field] = true
		if wf.To == "" {
			fail(fat("to"), "to (the department's field) is required")
		}
		target(fat("to"), wf.To, wf.Field)
		typ := wf.Type
		var read *Field
		if rs, isSet := d.Set(setName); isSet {
			if read = rs.field(name); read == nil {
				fail(fat("field"), "record set %s has no field %s (a report-only field takes a set name that is not a record set)", setName, name)
				continue
			}
			if typ != "" && typ != read.Type {
				fail(fat("type"), "type %s differs from the record set's %s", typ, read.Type)
			}
			typ = read.Type
		} else if typ == "" {
			fail(fat("type"), "type is required for a report-only field (%s is not a record set)", setName)
			continue
		}
		switch typ {
		case TypeString, TypeInt, TypeDecimal:
			if wf.Format != "" {
				fail(fat("format"), "format applies to dates and bools")
			}
		case TypeDate:
			if wf.Format != "" && !dateLayout(wf.Format) {
				fail(fat("format"), "date format %q is not a Go layout", wf.Format)
			}
		case TypeBool:
			if wf.Format != "" {
				t, f, ok := strings.Cut(wf.Format, ",")
				t, f = strings.TrimSpace(t), strings.TrimSpace(f)
				if !ok || t == "" || f == "" || t == f || strings.Contains(f, ",") {
					fail(fat("format"), "a bool's format is \"true value,false value\" (e.g. \"1,0\" or \"是,否\"), not %q", wf.Format)
				}
			}
		case TypeEnum:
			if read == nil && len(wf.Codes) == 0 {
				fail(fat("codes"), "a report-only enum needs codes (unified value -> department code)")
			}
			if read != nil {
				values := map[string]bool{}
				for _, v := range read.Codes {
					values[v] = true
				}
				for _, v := range slices.Sorted(mapKeys(wf.Codes)) {
					if !values[v] {
						fail(fat("codes"), "%q is not a unified value of %s", v, wf.Field)
					}
				}
			}
		default:
			fail(fat("type"), "type %q is not one of string, int, decimal, date, bool, enum", typ)
		}
		if typ != TypeEnum && len(wf.Codes) > 0 {
			fail(fat("codes"), "codes apply to enums")
		}
	}
}

func fileExt(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 && !strings.ContainsAny(path[i:], `/\`) {
		return path[i:]
	}
	return ""
}
