package report

import (
	"errors"
	"slices"
	"strings"

	"github.com/gridhub/gridhub/connectors"
)

// CheckDepartments checks the catalogue against the department mapping files,
// for start-up: every department field must be a field of its record set (so
// drafts can pre-fill it) unless it appends (a new case, a report-only
// note), and its writeback
// target must be one the department takes (Department.Writable) with a
// compatible type; an enum's values must be values the department knows.
func (c *Catalogue) CheckDepartments(depts []*connectors.Department) error {
	byCode := map[string]*connectors.Department{}
	for _, d := range depts {
		byCode[d.Code] = d
	}
	var errs []error
	for _, f := range c.Fields {
		errs = append(errs, c.checkField(f, byCode)...)
	}
	return errors.Join(errs...)
}

// For is the catalogue without the fields that do not hold against depts:
// how the built-in catalogue serves a configuration whose departments differ
// from the built-in ones.
func (c *Catalogue) For(depts []*connectors.Department) *Catalogue {
	byCode := map[string]*connectors.Department{}
	for _, d := range depts {
		byCode[d.Code] = d
	}
	out := &Catalogue{byKey: map[string]*Field{}, file: c.file}
	for _, f := range c.Fields {
		if len(c.checkField(f, byCode)) == 0 {
			out.Fields = append(out.Fields, f)
			out.byKey[f.Key] = f
		}
	}
	return out
}

// checkField checks one field against the departments.
func (c *Catalogue) checkField(f *Field, byCode map[string]*connectors.Department) (errs []error) {
	if f.Department == Core {
		return nil
	}
	fail := func(format string, args ...any) {
		errs = append(errs, c.Errorf(f.Key, []any{"writeback"}, format, args...))
	}
	d := byCode[f.Department]
	if d == nil {
		return []error{c.Errorf(f.Key, []any{"department"}, "no department %q is configured", f.Department)}
	}
	if !f.Append {
		rs, ok := d.Set(f.Set())
		if !ok {
			fail("%s (%s) has no record set %q", d.Code, d.File, f.Set())
			return errs
		}
		var read *connectors.Field
		for i := range rs.Fields {
			if rs.Fields[i].Name == f.Name() {
				read = &rs.Fields[i]
			}
		}
		if read == nil {
			fail("record set %s.%s (%s) has no field %q", d.Code, rs.Name, d.File, f.Name())
			return errs
		}
		if !compatible(f.Type, read.Type) {
			fail("a %s, but %s.%s holds a %s", f.Type, d.Code, f.Writeback.Target, read.Type)
		}
		if f.Type == TypeEnum && read.Type == connectors.TypeEnum {
			known := map[string]bool{}
			for _, v := range read.Codes {
				known[v] = true
			}
			for _, v := range f.Values {
				if !known[v.Value] {
					fail("enum value %s is not one of %s's", v.Value, d.Code)
				}
			}
		}
	}
	i := slices.IndexFunc(d.Writable(), func(w connectors.WritableField) bool { return w.Name() == f.Writeback.Target })
	if i < 0 {
		fail("%s does not take %s: its writeback block (%s) has no such field", d.Code, f.Writeback.Target, d.File)
		return errs
	}
	w := d.Writable()[i]
	if !compatible(f.Type, w.Type) {
		fail("a %s, but %s takes %s as a %s", f.Type, d.Code, w.Name(), w.Type)
	}
	if f.Type == TypeEnum && w.Type == connectors.TypeEnum {
		for _, v := range f.Values {
			if !slices.Contains(w.Values, v.Value) {
				fail("%s does not take enum value %s for %s (it takes %s)", d.Code, v.Value, w.Name(), strings.Join(w.Values, ", "))
			}
		}
	}
	return errs
}

// compatible says whether a catalogue type can feed a department's field type.
func compatible(t Type, deptType string) bool {
	switch t {
	case TypeIDNumber, TypeEnum:
		return deptType == connectors.TypeString || deptType == string(t) || (t == TypeEnum && deptType == connectors.TypeEnum)
	case TypeInt:
		return deptType == connectors.TypeInt || deptType == connectors.TypeDecimal
	}
	return deptType == string(t)
}
