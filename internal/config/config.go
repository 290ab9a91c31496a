// Package config loads the one directory that is the whole truth about the
// hub's departments, and checks its files against each other:
//
//	departments/*.yaml          one mapping file per department (required)
//	policy.yaml                 the purpose catalogue
//	indicators.yaml             the indicator catalogue
//	report/catalogue.yaml       the unified report's field catalogue
//	report/templates/*.yaml     the report templates
//	signin.yaml                 staff sign-in: identity provider claims -> role, department, scope
//
// Every file but the mapping files is optional: the built-in one (package
// builtin, the same layout) stands in for a missing one, less what names a
// department or field the directory does not configure. Every problem is
// reported as "file:line: what is wrong"; a cross-reference names both
// files. `gridhub config check`, `serve`, `dev` and a reload all load through
// Load.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/policy"
	"github.com/gridhub/gridhub/internal/report"
	"github.com/gridhub/gridhub/internal/signin"
	"github.com/gridhub/gridhub/internal/yamlpos"
)

// Config is a loaded, checked configuration directory.
type Config struct {
	// Dir is the directory it was read from, or builtin.Name.
	Dir         string
	Departments []*connectors.Department
	Policy      *policy.Policy
	Indicators  *indicators.Catalogue
	Catalogue   *report.Catalogue
	Templates   *report.Templates
	// Signin maps the identity provider's claims onto staff roles
	// (signin.yaml); nil when the directory has none (nothing is built in).
	Signin *signin.Mapping
	// Warnings are problems that do not stop the hub ("file:line: ...").
	Warnings []error
	// Builtin lists the optional files taken from the built-in set.
	Builtin []string
}

// Load reads and checks the configuration directory dir; "" is the built-in
// one. The error holds every problem found (yamlpos.Flatten lists them).
func Load(dir string) (*Config, error) {
	if dir == "" {
		return LoadFS(builtin.FS, builtin.Name)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("configuration directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: not a directory (want a configuration directory holding departments/*.yaml)", dir)
	}
	return LoadFS(os.DirFS(dir), dir)
}

// LoadFS reads and checks the configuration directory at the root of fsys,
// named name in errors.
func LoadFS(fsys fs.FS, name string) (*Config, error) {
	c := &Config{Dir: name}
	sub, err := fs.Sub(fsys, "departments")
	if err != nil {
		return nil, err
	}
	depts, err := connectors.LoadDepartmentsFS(sub, path.Join(name, "departments"))
	if err != nil {
		// Every other file is checked against the departments: with a
		// broken one, its problems come first and alone.
		return nil, err
	}
	c.Departments = depts
	var errs []error

	// The purpose catalogue.
	if raw, file, ok := readOptional(fsys, name, "policy.yaml"); ok {
		c.Policy, err = policy.Parse(file, raw, depts, false)
	} else {
		c.Builtin = append(c.Builtin, "policy.yaml")
		c.Policy, err = policy.Parse(builtin.Name+"/policy.yaml", builtin.File("policy.yaml"), depts, true)
	}
	errs = append(errs, err)

	// The indicator catalogue.
	if raw, file, ok := readOptional(fsys, name, "indicators.yaml"); ok {
		cat, err := indicators.ParseFile(file, raw)
		if err == nil {
			err = cat.CheckDepartments(depts)
		}
		c.Indicators = cat
		errs = append(errs, err)
	} else {
		c.Builtin = append(c.Builtin, "indicators.yaml")
		c.Indicators = indicators.Default().For(depts)
	}

	// The report's field catalogue, then its templates.
	if raw, file, ok := readOptional(fsys, name, "report/catalogue.yaml"); ok {
		cat, err := report.ParseCatalogue(file, raw)
		if err == nil {
			err = cat.CheckDepartments(depts)
		}
		c.Catalogue = cat
		errs = append(errs, err)
	} else {
		c.Builtin = append(c.Builtin, "report/catalogue.yaml")
		cat, err := report.DefaultCatalogue()
		if err != nil {
			return nil, err
		}
		c.Catalogue = cat.For(depts)
	}
	if c.Catalogue != nil {
		if tsub, err := fs.Sub(fsys, "report/templates"); err == nil && hasYAML(tsub) {
			c.Templates, err = report.LoadTemplatesFS(tsub, path.Join(name, "report/templates"), c.Catalogue)
			errs = append(errs, err)
		} else {
			c.Builtin = append(c.Builtin, "report/templates")
			ts, err := report.DefaultTemplates(mustDefaultCatalogue())
			if err != nil {
				return nil, err
			}
			c.Templates = ts.For(c.Catalogue)
		}
	}
	// The staff sign-in's claims mapping: a city's own, nothing built in.
	if raw, file, ok := readOptional(fsys, name, "signin.yaml"); ok {
		m, err := signin.ParseMapping(file, raw, c.Codes())
		c.Signin = m
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.Warnings = append(c.Warnings, unusedWriteBack(depts, c.Catalogue)...)
	return c, nil
}

func mustDefaultCatalogue() *report.Catalogue {
	cat, err := report.DefaultCatalogue()
	if err != nil {
		panic("config: built-in report catalogue: " + err.Error())
	}
	return cat
}

// readOptional reads an optional file of the directory.
func readOptional(fsys fs.FS, dir, name string) ([]byte, string, bool) {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, "", false
	}
	return raw, path.Join(dir, name), true
}

func hasYAML(fsys fs.FS) bool {
	m, err := fs.Glob(fsys, "*.yaml")
	return err == nil && len(m) > 0
}

// unusedWriteBack warns of each field a department takes from the report
// that no catalogue field writes: the department expects it, and nothing
// will ever send it.
func unusedWriteBack(depts []*connectors.Department, cat *report.Catalogue) []error {
	used := map[string]bool{}
	if cat != nil {
		for _, f := range cat.Fields {
			used[f.Writeback.Department+"."+f.Writeback.Target] = true
		}
	}
	var out []error
	for _, d := range depts {
		if d.WriteBack == nil {
			continue
		}
		var unused []string
		for i, w := range d.WriteBack.Fields {
			if !used[d.Code+"."+w.Field] {
				unused = append(unused, w.Field)
				out = append(out, d.Errorf([]any{"writeback", "fields", i}, "writeback field %s: no report catalogue field writes it, so the department never receives it", w.Field))
			}
		}
		if len(unused) == len(d.WriteBack.Fields) && len(unused) > 0 {
			out = append(out, d.Errorf([]any{"writeback"}, "writeback block: no report catalogue field uses it (add fields with writeback: {department: %s, target: set.field} to report/catalogue.yaml)", d.Code))
		}
	}
	return out
}

// Codes lists the department codes in file order.
func (c *Config) Codes() []string {
	out := make([]string, len(c.Departments))
	for i, d := range c.Departments {
		out[i] = d.Code
	}
	return out
}

// Department returns the department with code.
func (c *Config) Department(code string) (*connectors.Department, bool) {
	i := slices.IndexFunc(c.Departments, func(d *connectors.Department) bool { return d.Code == code })
	if i < 0 {
		return nil, false
	}
	return c.Departments[i], true
}

// Problems lists the problems of a Load error one per line, in file order.
func Problems(err error) []string {
	var out []string
	for _, e := range yamlpos.Flatten(err) {
		out = append(out, strings.TrimSpace(e.Error()))
	}
	return out
}

// Live is the configuration in force, swapped whole on reload. Readers take
// it once per request or per run, so that each sees one configuration.
type Live struct{ p atomic.Pointer[Config] }

// NewLive holds c.
func NewLive(c *Config) *Live {
	l := &Live{}
	l.p.Store(c)
	return l
}

// Get is the configuration in force.
func (l *Live) Get() *Config { return l.p.Load() }

// Set puts c in force.
func (l *Live) Set(c *Config) { l.p.Store(c) }

// UndeclaredIdentifiers checks sample records of a department: a string
// field that declares no identifier class but whose values hold resident
// ID numbers or mobile numbers (alone, or inside a longer value such as a
// certificate number) is reported at its line in the mapping file, with how
// many of the samples hold one. The hub masks such values anyway; the
// declaration is what lets a purpose unmask them and tells readers what the
// field is.
func UndeclaredIdentifiers(d *connectors.Department, samples []connectors.Fact) []error {
	type count struct {
		seen, found int
		class       ident.Class
	}
	counts := map[[2]string]*count{}
	for _, f := range samples {
		rs, ok := d.Set(f.Set)
		if !ok || f.Deleted {
			continue
		}
		for _, field := range rs.Fields {
			if field.Type != connectors.TypeString || field.Identifier != "" {
				continue
			}
			v, ok := f.Record[field.Name].(string)
			if !ok {
				continue
			}
			k := [2]string{rs.Name, field.Name}
			c := counts[k]
			if c == nil {
				c = &count{}
				counts[k] = c
			}
			c.seen++
			if cl, ok := ident.Embedded(v); ok {
				c.found++
				c.class = cl
			}
		}
	}
	var out []error
	for i, rs := range d.Records {
		for j, field := range rs.Fields {
			c := counts[[2]string{rs.Name, field.Name}]
			if c == nil || c.found == 0 {
				continue
			}
			out = append(out, d.Errorf([]any{"records", i, "fields", j},
				"field %s.%s: %d of %d sample values hold a %s, but the field declares no identifier class (add identifier: %s, or certificate for a number built from one)",
				rs.Name, field.Name, c.found, c.seen, c.class, c.class))
		}
	}
	return out
}
