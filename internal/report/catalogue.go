package report

import (
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/yamlpos"
)

// Core is the pseudo-department of the hub's own master index: core fields
// are applied to the hub's tables in the submission's transaction rather than
// delivered.
const Core = "core"

// Type is a catalogue field's value type.
type Type string

// The field types. Values travel as strings in a submission and are typed on
// delivery as the department mapping types them: string, int64, float64,
// time.Time (midnight UTC of the civil date), bool; an enum is its unified
// value (a string), an idnumber its normalised number (a string).
const (
	TypeString   Type = "string"
	TypeInt      Type = "int"
	TypeDecimal  Type = "decimal"
	TypeDate     Type = "date"
	TypeBool     Type = "bool"
	TypeEnum     Type = "enum"
	TypeIDNumber Type = "idnumber"
)

// Sensitivity classes of a field, for the policy layer to mask and to log.
const (
	Public    = "public"
	Personal  = "personal"
	Sensitive = "sensitive"
)

// Kinds of identifier an idnumber field holds.
const (
	// IDResident is an 18-character resident ID number (GB 11643-1999).
	IDResident = "resident"
	// IDDisability is a disability certificate number (resident ID of the
	// holder + category + grade); the holder must be the report's subject.
	IDDisability = "disability"
)

// DateLayout is how a date value is written in a submission and a draft.
const DateLayout = "2006-01-02"

// DefaultMaxLength bounds a string value when the catalogue sets no max_length.
const DefaultMaxLength = 200

// coreTargets are the master index columns a core field may be written to.
var coreTargets = map[string]Type{
	"person.phone":            TypeString,
	"person.residence":        TypeEnum,
	"person.awaySince":        TypeDate,
	"household.residentCount": TypeInt,
}

// chinaTime is the zone in which "today" is judged for not_future dates.
var chinaTime = time.FixedZone("CST", 8*60*60)

// Catalogue is the set of reportable fields.
type Catalogue struct {
	// Fields in file order.
	Fields []*Field
	byKey  map[string]*Field
	file   *yamlpos.File
}

// Field is one reportable field.
type Field struct {
	// Key is "department.set.field" ("core.person.phone" for core fields).
	Key   string `yaml:"key"`
	Label string `yaml:"label"`
	// Department owns the field: a department code, or Core.
	Department string `yaml:"department"`
	Type       Type   `yaml:"type"`
	// Values are an enum's values in display order.
	Values []EnumValue `yaml:"values"`
	// Min and Max bound an int or decimal (inclusive).
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
	// NotFuture refuses a date after today (China time).
	NotFuture bool `yaml:"not_future"`
	// Pattern is a regular expression a string must match in full.
	Pattern string `yaml:"pattern"`
	// PatternHint says in words what Pattern wants, for the error message.
	PatternHint string `yaml:"pattern_hint"`
	// MaxLength bounds a string in characters (default DefaultMaxLength).
	MaxLength int `yaml:"max_length"`
	// IDKind is what an idnumber holds: IDResident (default) or IDDisability.
	IDKind string `yaml:"id_kind"`
	// Required means a submission must carry a non-empty value; a template may
	// override it.
	Required bool `yaml:"required"`
	// RequiredIf makes the field required when another field's value (as
	// submitted, else as the draft holds it) is one of Equals, or, with Present,
	// is not empty.
	RequiredIf *Condition `yaml:"required_if"`
	// Sensitivity is Public, Personal or Sensitive.
	Sensitivity string `yaml:"sensitivity"`
	// Append marks a field that adds to the department rather than correcting
	// what it holds: a new record of a set that keeps many (cases), or a
	// report-only field (a visit note). The draft never pre-fills it, and a
	// submission delivers it whenever it gives it a value.
	Append bool `yaml:"append"`
	// Writeback is where a submitted value goes.
	Writeback Writeback `yaml:"writeback"`

	line    int
	pattern *regexp.Regexp
}

// EnumValue is one value of an enum field.
type EnumValue struct {
	Value string `yaml:"value"` // the unified value, e.g. ACTIVE
	Label string `yaml:"label"` // 在保
}

// Condition is a required_if rule.
type Condition struct {
	Field   string   `yaml:"field"`
	Equals  []string `yaml:"equals"`
	Present bool     `yaml:"present"`
}

// Writeback is where a field is written: a department and its "set.field", or
// Core and a master index target (person.phone, ...).
type Writeback struct {
	Department string `yaml:"department"`
	Target     string `yaml:"target"`
}

// Set is the record set part of the key ("floating" of "health.floating.inflowDate").
func (f *Field) Set() string { return strings.Split(f.Key, ".")[1] }

// Name is the field part of the key ("inflowDate").
func (f *Field) Name() string { return strings.Split(f.Key, ".")[2] }

// EnumLabel is the label of an enum value, "" when value is not one of the
// field's values.
func (f *Field) EnumLabel(value string) string {
	for _, v := range f.Values {
		if v.Value == value {
			return v.Label
		}
	}
	return ""
}

// Field returns the field with key, or nil.
func (c *Catalogue) Field(key string) *Field { return c.byKey[key] }

// Departments are the departments the catalogue writes back to, Core aside.
func (c *Catalogue) Departments() []string {
	var out []string
	for _, f := range c.Fields {
		if d := f.Writeback.Department; d != Core && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// DefaultCatalogueFile is how errors name the built-in catalogue.
const DefaultCatalogueFile = builtin.Name + "/report/catalogue.yaml"

// DefaultCatalogue is the catalogue the hub ships with (the built-in
// configuration's report/catalogue.yaml).
func DefaultCatalogue() (*Catalogue, error) {
	return ParseCatalogue(DefaultCatalogueFile, builtin.File("report/catalogue.yaml"))
}

// LoadCatalogueFile reads a catalogue from path, in place of the default.
func LoadCatalogueFile(path string) (*Catalogue, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseCatalogue(path, raw)
}

// ParseCatalogue reads a catalogue file's content; path names it in errors.
// Unknown keys are errors with the file and line; Validate's rules follow.
func ParseCatalogue(path string, raw []byte) (*Catalogue, error) {
	var doc struct {
		Fields []*Field `yaml:"fields"`
	}
	file, err := yamlpos.Decode(path, raw, &doc)
	if err != nil {
		return nil, err
	}
	for i, f := range doc.Fields {
		f.line = file.Line("fields", i)
	}
	c := &Catalogue{Fields: doc.Fields, byKey: map[string]*Field{}, file: file}
	if err := c.validate(path); err != nil {
		return nil, err
	}
	return c, nil
}

// Errorf is a problem with the catalogue field key at its key path ("" for
// the field itself), as "file:line: field KEY: what is wrong".
func (c *Catalogue) Errorf(key string, path []any, format string, args ...any) error {
	i := slices.IndexFunc(c.Fields, func(f *Field) bool { return f.Key == key })
	return c.file.Errorf(append([]any{"fields", i}, path...), "field %q: %s", key, fmt.Sprintf(format, args...))
}

var (
	// A department code is lower_snake_case; set and field names lowerCamelCase.
	deptCode = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	camel    = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)
	enumVal  = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
)

func (c *Catalogue) validate(path string) error {
	var errs []error
	for _, f := range c.Fields {
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: field %q: %s", path, f.line, f.Key, fmt.Sprintf(format, args...)))
		}
		parts := strings.Split(f.Key, ".")
		if len(parts) != 3 || !deptCode.MatchString(parts[0]) || !camel.MatchString(parts[1]) || !camel.MatchString(parts[2]) {
			fail("key must be department.set.field (e.g. health.floating.inflowDate)")
			continue
		}
		if c.byKey[f.Key] != nil {
			fail("defined twice")
			continue
		}
		c.byKey[f.Key] = f
		if f.Department != parts[0] {
			fail("department %q must be the key's first part %q", f.Department, parts[0])
		}
		if f.Label == "" {
			fail("label is required")
		}
		if !slices.Contains([]string{Public, Personal, Sensitive}, f.Sensitivity) {
			fail("sensitivity %q is not public, personal or sensitive", f.Sensitivity)
		}
		numeric := f.Type == TypeInt || f.Type == TypeDecimal
		switch f.Type {
		case TypeString, TypeInt, TypeDecimal, TypeDate, TypeBool, TypeIDNumber:
		case TypeEnum:
			if len(f.Values) == 0 {
				fail("an enum needs values")
			}
			seen := map[string]bool{}
			for _, v := range f.Values {
				if !enumVal.MatchString(v.Value) || v.Label == "" {
					fail("enum value %q must be UPPER_SNAKE_CASE with a label", v.Value)
				}
				if seen[v.Value] {
					fail("enum value %q is listed twice", v.Value)
				}
				seen[v.Value] = true
			}
		default:
			fail("type %q is not string, int, decimal, date, bool, enum or idnumber", f.Type)
		}
		if f.Type != TypeEnum && len(f.Values) > 0 {
			fail("values are for enum fields only")
		}
		if !numeric && (f.Min != nil || f.Max != nil) {
			fail("min and max are for int and decimal fields only")
		}
		if f.Min != nil && f.Max != nil && *f.Min > *f.Max {
			fail("min %v is above max %v", *f.Min, *f.Max)
		}
		if f.NotFuture && f.Type != TypeDate {
			fail("not_future is for date fields only")
		}
		if f.Type != TypeString && (f.Pattern != "" || f.MaxLength != 0) {
			fail("pattern and max_length are for string fields only")
		}
		if f.Pattern != "" {
			re, err := regexp.Compile(`^(?:` + f.Pattern + `)$`)
			if err != nil {
				fail("pattern: %v", err)
			}
			f.pattern = re
		}
		if f.Type == TypeIDNumber {
			if f.IDKind == "" {
				f.IDKind = IDResident
			}
			if f.IDKind != IDResident && f.IDKind != IDDisability {
				fail("id_kind %q is not resident or disability", f.IDKind)
			}
		} else if f.IDKind != "" {
			fail("id_kind is for idnumber fields only")
		}
		if f.Type == TypeString && f.MaxLength == 0 {
			f.MaxLength = DefaultMaxLength
		}
		if f.Required && f.RequiredIf != nil {
			fail("required and required_if exclude each other")
		}
		if f.Append && f.Department == Core {
			fail("append is for department fields")
		}
		wb := f.Writeback
		switch {
		case wb.Department == "":
			fail("writeback.department is required")
		case wb.Department == Core || f.Department == Core:
			if wb.Department != f.Department {
				fail("a core field is written back to core, and only a core field is")
			} else if t, ok := coreTargets[wb.Target]; !ok {
				fail("writeback.target %q is not a master index target (%s)", wb.Target, strings.Join(sortedKeys(coreTargets), ", "))
			} else if t != f.Type {
				fail("writeback.target %s holds a %s, the field is a %s", wb.Target, t, f.Type)
			}
		default:
			// The draft a submission is compared with is read from the owner,
			// so the owner is where a change goes.
			if wb.Department != f.Department {
				fail("writeback.department %q must be the owning department %q", wb.Department, f.Department)
			}
			tp := strings.Split(wb.Target, ".")
			if len(tp) != 2 || !camel.MatchString(tp[0]) || !camel.MatchString(tp[1]) {
				fail("writeback.target %q must be set.field of the department", wb.Target)
			}
		}
	}
	// required_if refers to other fields: check once all are known.
	for _, f := range c.Fields {
		rif := f.RequiredIf
		if rif == nil || c.byKey[f.Key] != f {
			continue
		}
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: field %q: required_if: %s", path, f.line, f.Key, fmt.Sprintf(format, args...)))
		}
		other := c.byKey[rif.Field]
		switch {
		case other == nil:
			fail("no field %q in the catalogue", rif.Field)
		case other == f:
			fail("a field cannot depend on itself")
		case rif.Present == (len(rif.Equals) > 0):
			fail("give either equals (values) or present: true")
		case other.Type == TypeEnum:
			for _, v := range rif.Equals {
				if other.EnumLabel(v) == "" {
					fail("%q is not a value of %s", v, other.Key)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Value is a parsed field value: its canonical text (what drafts show and
// submissions store) and its typed form (what deliveries carry).
type Value struct {
	Text  string
	Typed any
}

// ruleError is a value that breaks one of its field's rules. Its message never
// repeats the value: it may be personal data.
type ruleError struct {
	Rule    string
	Message string
}

func (e *ruleError) Error() string { return e.Message }

func broken(rule, format string, args ...any) *ruleError {
	return &ruleError{Rule: rule, Message: fmt.Sprintf(format, args...)}
}

// Parse checks a submitted value against the field's type and rules and
// returns its canonical form. raw is trimmed; an empty raw is not parsed (the
// caller decides whether empty is allowed). now is the time "today" is taken
// from for not_future.
func (f *Field) Parse(raw string, now time.Time) (Value, error) {
	s := strings.TrimSpace(raw)
	switch f.Type {
	case TypeString:
		if n := utf8.RuneCountInString(s); n > f.MaxLength {
			return Value{}, broken("length", "%s: at most %d characters, got %d", f.Label, f.MaxLength, n)
		}
		if f.pattern != nil && !f.pattern.MatchString(s) {
			hint := f.PatternHint
			if hint == "" {
				hint = "the pattern " + f.Pattern
			}
			return Value{}, broken("pattern", "%s: must be %s", f.Label, hint)
		}
		return Value{Text: s, Typed: s}, nil
	case TypeInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Value{}, broken("int", "%s: must be a whole number", f.Label)
		}
		if err := f.checkRange(float64(n)); err != nil {
			return Value{}, err
		}
		return Value{Text: strconv.FormatInt(n, 10), Typed: n}, nil
	case TypeDecimal:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return Value{}, broken("decimal", "%s: must be a number", f.Label)
		}
		if err := f.checkRange(x); err != nil {
			return Value{}, err
		}
		return Value{Text: strconv.FormatFloat(x, 'f', -1, 64), Typed: x}, nil
	case TypeDate:
		d, err := time.Parse(DateLayout, s)
		if err != nil {
			return Value{}, broken("date", "%s: must be a date written YYYY-MM-DD", f.Label)
		}
		if f.NotFuture {
			y, m, dd := now.In(chinaTime).Date()
			if d.After(time.Date(y, m, dd, 0, 0, 0, 0, time.UTC)) {
				return Value{}, broken("not_future", "%s: must not be in the future", f.Label)
			}
		}
		return Value{Text: d.Format(DateLayout), Typed: d}, nil
	case TypeBool:
		switch strings.ToLower(s) {
		case "true":
			return Value{Text: "true", Typed: true}, nil
		case "false":
			return Value{Text: "false", Typed: false}, nil
		}
		return Value{}, broken("bool", "%s: must be true or false", f.Label)
	case TypeEnum:
		if f.EnumLabel(s) == "" {
			vals := make([]string, len(f.Values))
			for i, v := range f.Values {
				vals[i] = v.Value
			}
			return Value{}, broken("enum", "%s: must be one of %s", f.Label, strings.Join(vals, ", "))
		}
		return Value{Text: s, Typed: s}, nil
	case TypeIDNumber:
		var number string
		var err error
		if f.IDKind == IDDisability {
			var c ident.DisabilityCert
			c, err = ident.ParseDisabilityCertAt(s, now)
			number = c.Number
		} else {
			var r ident.ResidentID
			r, err = ident.ParseResidentIDAt(s, now)
			number = r.Number
		}
		if err != nil {
			var re *ident.RuleError
			if errors.As(err, &re) {
				// RuleError details name positions and single characters, never the number.
				return Value{}, broken("idnumber", "%s: %s", f.Label, re.Error())
			}
			return Value{}, broken("idnumber", "%s: not a valid number", f.Label)
		}
		return Value{Text: number, Typed: number}, nil
	}
	return Value{}, broken("type", "%s: unknown type %s", f.Label, f.Type)
}

func (f *Field) checkRange(x float64) *ruleError {
	if f.Min != nil && x < *f.Min {
		return broken("range", "%s: must be at least %v", f.Label, *f.Min)
	}
	if f.Max != nil && x > *f.Max {
		return broken("range", "%s: must be at most %v", f.Label, *f.Max)
	}
	return nil
}

// Format turns a value as a department record holds it (string, int64,
// float64, bool, time.Time) into the field's canonical text. ok is false for
// a value the field cannot hold, which a draft then shows as empty.
func (f *Field) Format(v any) (string, bool) {
	switch f.Type {
	case TypeString, TypeEnum, TypeIDNumber:
		s, ok := v.(string)
		return s, ok
	case TypeInt:
		switch n := v.(type) {
		case int64:
			return strconv.FormatInt(n, 10), true
		case int:
			return strconv.Itoa(n), true
		case int32:
			return strconv.FormatInt(int64(n), 10), true
		case float64:
			if n == math.Trunc(n) {
				return strconv.FormatInt(int64(n), 10), true
			}
		}
	case TypeDecimal:
		switch n := v.(type) {
		case float64:
			return strconv.FormatFloat(n, 'f', -1, 64), true
		case int64:
			return strconv.FormatInt(n, 10), true
		case int:
			return strconv.Itoa(n), true
		}
	case TypeDate:
		if t, ok := v.(time.Time); ok {
			return t.Format(DateLayout), true
		}
	case TypeBool:
		if b, ok := v.(bool); ok {
			return strconv.FormatBool(b), true
		}
	}
	return "", false
}

// same says whether two canonical texts of the field are the same value.
func (f *Field) same(a, b string) bool {
	if f.Type == TypeDecimal && a != "" && b != "" {
		x, err1 := strconv.ParseFloat(a, 64)
		y, err2 := strconv.ParseFloat(b, 64)
		return err1 == nil && err2 == nil && x == y
	}
	return a == b
}
