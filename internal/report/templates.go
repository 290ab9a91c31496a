package report

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"

	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/yamlpos"
)

// SubjectPerson is the only subject kind so far: a report about one resident.
const SubjectPerson = "person"

// Template is one version of a report template.
type Template struct {
	ID      string `yaml:"id"`
	Version int    `yaml:"version"`
	Title   string `yaml:"title"`
	// Subject is the kind of entity the report is about (SubjectPerson).
	Subject string `yaml:"subject"`
	// Retired versions stay loadable (old submissions name them) but accept
	// no new submissions and are not listed.
	Retired  bool      `yaml:"retired"`
	Sections []Section `yaml:"sections"`

	// Fields are the sections' fields in order, resolved against the catalogue.
	Fields []*TemplateField `yaml:"-"`
	// Departments are the departments whose fields the template holds, in
	// order of first appearance, Core included when it has core fields.
	Departments []string `yaml:"-"`
	// File is the template's file, for errors.
	File string `yaml:"-"`
	// Drafted marks a template a department drafted through the API (准入,
	// admission.go) rather than one of the configuration directory;
	// Department is the department that drafted it.
	Drafted    bool   `yaml:"-"`
	Department string `yaml:"-"`
	byKey      map[string]*TemplateField
}

// Section is a titled group of fields (基本情况, 民政, ...).
type Section struct {
	Title  string         `yaml:"title" json:"title"`
	Fields []SectionField `yaml:"fields" json:"fields"`
}

// SectionField names a catalogue field, optionally overriding whether it is
// required in this template.
type SectionField struct {
	Field    string `yaml:"field" json:"field"`
	Required *bool  `yaml:"required" json:"required,omitempty"`
}

// TemplateField is a catalogue field as one template asks for it.
type TemplateField struct {
	*Field
	// Section is the title of the section holding it.
	Section string
	// Required is the catalogue's required, or the template's override.
	Required bool
}

// Field returns the template's field with key, or nil.
func (t *Template) Field(key string) *TemplateField { return t.byKey[key] }

// Templates is every loaded version of every template.
type Templates struct {
	byID map[string][]*Template // versions ascending
	ids  []string               // sorted
}

// Latest returns the newest version of id that is not retired, or nil.
func (ts *Templates) Latest(id string) *Template {
	vs := ts.byID[id]
	for i := len(vs) - 1; i >= 0; i-- {
		if !vs[i].Retired {
			return vs[i]
		}
	}
	return nil
}

// Version returns version v of id (retired or not), or nil.
func (ts *Templates) Version(id string, v int) *Template {
	for _, t := range ts.byID[id] {
		if t.Version == v {
			return t
		}
	}
	return nil
}

// IDs lists the template ids, sorted.
func (ts *Templates) IDs() []string { return slices.Clone(ts.ids) }

// List returns the newest version of each template that is not retired, by id.
func (ts *Templates) List() []*Template {
	var out []*Template
	for _, id := range ts.ids {
		if t := ts.Latest(id); t != nil {
			out = append(out, t)
		}
	}
	return out
}

// DefaultTemplates are the templates the hub ships with (templates/*.yaml),
// resolved against cat.
func DefaultTemplates(cat *Catalogue) (*Templates, error) {
	sub, err := fs.Sub(builtin.FS, "report/templates")
	if err != nil {
		return nil, err
	}
	return LoadTemplatesFS(sub, builtin.Name+"/report/templates", cat)
}

// LoadTemplatesDir reads every *.yaml template in dir, in place of the defaults.
func LoadTemplatesDir(dir string, cat *Catalogue) (*Templates, error) {
	return LoadTemplatesFS(os.DirFS(dir), dir, cat)
}

var templateFile = regexp.MustCompile(`^([a-z][a-z0-9_]*)\.v([1-9][0-9]*)\.yaml$`)

// LoadTemplatesFS reads every *.yaml template at the root of fsys (named in
// errors as under dir). A file is named <id>.v<version>.yaml and says the
// same inside; every field must be in cat; a template may hold a field once.
func LoadTemplatesFS(fsys fs.FS, dir string, cat *Catalogue) (*Templates, error) {
	files, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no report templates (*.yaml)", dir)
	}
	slices.Sort(files)
	ts := &Templates{byID: map[string][]*Template{}}
	var errs []error
	for _, name := range files {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		t, err := parseTemplate(path.Join(dir, name), raw, cat)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m := templateFile.FindStringSubmatch(name)
		if m == nil || m[1] != t.ID || m[2] != strconv.Itoa(t.Version) {
			errs = append(errs, fmt.Errorf("%s:1: a template file is named <id>.v<version>.yaml: want %s.v%d.yaml", path.Join(dir, name), t.ID, t.Version))
			continue
		}
		ts.byID[t.ID] = append(ts.byID[t.ID], t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for id, vs := range ts.byID {
		slices.SortFunc(vs, func(a, b *Template) int { return a.Version - b.Version })
		ts.ids = append(ts.ids, id)
	}
	slices.Sort(ts.ids)
	return ts, nil
}

func parseTemplate(file string, raw []byte, cat *Catalogue) (*Template, error) {
	t := &Template{File: file}
	f, err := yamlpos.Decode(file, raw, t)
	if err != nil {
		return nil, err
	}
	var errs []error
	fail := func(path []any, format string, args ...any) {
		errs = append(errs, f.Errorf(path, format, args...))
	}
	if !templateID.MatchString(t.ID) {
		fail([]any{"id"}, "id %q must be lower_snake_case", t.ID)
	}
	if t.Version < 1 {
		fail([]any{"version"}, "version must be a positive integer")
	}
	if t.Title == "" {
		fail([]any{"title"}, "title is required")
	}
	if t.Subject != SubjectPerson {
		fail([]any{"subject"}, "subject %q: only person reports are supported", t.Subject)
	}
	if len(t.Sections) == 0 {
		fail([]any{"sections"}, "at least one section is required")
	}
	t.byKey = map[string]*TemplateField{}
	for i, s := range t.Sections {
		if s.Title == "" {
			fail([]any{"sections", i, "title"}, "sections[%d]: title is required", i)
		}
		if len(s.Fields) == 0 {
			fail([]any{"sections", i, "fields"}, "sections[%d] (%s): at least one field is required", i, s.Title)
		}
		for j, sf := range s.Fields {
			at := []any{"sections", i, "fields", j}
			cf := cat.Field(sf.Field)
			if cf == nil {
				fail(at, "sections[%d].fields[%d]: %q is not in the field catalogue (%s)", i, j, sf.Field, cat.file.Name)
				continue
			}
			if t.byKey[cf.Key] != nil {
				fail(at, "sections[%d].fields[%d]: %s is in the template twice", i, j, cf.Key)
				continue
			}
			t.addField(cf, s.Title, sf.Required)
		}
	}
	// A required_if must be decidable within the template.
	for _, tf := range t.Fields {
		if rif := tf.RequiredIf; rif != nil && t.byKey[rif.Field] == nil {
			fail([]any{"sections"}, "%s is required_if %s, which the template does not hold", tf.Key, rif.Field)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Template) addField(f *Field, section string, required *bool) {
	tf := &TemplateField{Field: f, Section: section, Required: f.Required}
	if required != nil {
		tf.Required = *required
	}
	t.Fields = append(t.Fields, tf)
	t.byKey[f.Key] = tf
	if !slices.Contains(t.Departments, f.Department) {
		t.Departments = append(t.Departments, f.Department)
	}
}

// For is the templates without the fields cat does not hold; a template left
// without fields, or whose required_if rules lose their field, is left out:
// how the built-in templates serve a configuration whose departments differ
// from the built-in ones.
func (ts *Templates) For(cat *Catalogue) *Templates {
	out := &Templates{byID: map[string][]*Template{}}
	for _, id := range ts.ids {
	versions:
		for _, t := range ts.byID[id] {
			nt := *t
			nt.Fields, nt.Departments, nt.byKey = nil, nil, map[string]*TemplateField{}
			for _, tf := range t.Fields {
				if f := cat.Field(tf.Key); f != nil {
					nt.addField(f, tf.Section, &tf.Required)
				}
			}
			for _, tf := range nt.Fields {
				if rif := tf.RequiredIf; rif != nil && nt.byKey[rif.Field] == nil {
					continue versions
				}
			}
			if len(nt.Fields) == 0 {
				continue
			}
			out.byID[id] = append(out.byID[id], &nt)
		}
		if len(out.byID[id]) > 0 {
			out.ids = append(out.ids, id)
		}
	}
	return out
}

var templateID = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
