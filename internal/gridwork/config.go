package gridwork

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/yamlpos"
)

// Config is gridwork.yaml: the diary's categories, where events go, the
// streets that approved the configured report templates, and what 考核
// counts as due.
type Config struct {
	Diary      Diary      `yaml:"diary"`
	Events     *Events    `yaml:"events"`
	Admission  Admission  `yaml:"admission"`
	Assessment Assessment `yaml:"assessment"`

	// File is where the configuration was read from, for errors.
	File string `yaml:"-"`
}

// Diary configures the 民情日记.
type Diary struct {
	Categories []Option `yaml:"categories"`
}

// Option is a coded value with its Chinese label.
type Option struct {
	Code  string `yaml:"code"`
	Label string `yaml:"label"`
}

// Category returns the diary category with code, or nil.
func (d Diary) Category(code string) *Option {
	for i := range d.Categories {
		if d.Categories[i].Code == code {
			return &d.Categories[i]
		}
	}
	return nil
}

// Events configures 事件上报: the department that takes events and how.
type Events struct {
	// Department takes events through its writeback block.
	Department string `yaml:"department"`
	// Set is the department's record set whose facts follow the case.
	Set string `yaml:"set"`
	// Fields maps what an event carries (kind, category, description, lon,
	// lat, address) to the department's writeback fields (set.field).
	Fields EventFields `yaml:"fields"`
	// Receipt is the dotted path of the case number in the department's
	// answer to a delivery.
	Receipt string `yaml:"receipt"`
	// Case names the set's fields that follow the case.
	Case CaseFields `yaml:"case"`
	// Stages are the stage values in order; the last one closes the case.
	Stages []StageOption `yaml:"stages"`
	// Kinds are the event kinds (事件, 部件) with their categories.
	Kinds  []Kind `yaml:"kinds"`
	Photos Photos `yaml:"photos"`
}

// EventFields are the department's writeback fields an event is written to.
type EventFields struct {
	Kind        string `yaml:"kind"`
	Category    string `yaml:"category"`
	Description string `yaml:"description"`
	Lon         string `yaml:"lon"`
	Lat         string `yaml:"lat"`
	Address     string `yaml:"address"`
}

// CaseFields are the fields of the fact feed's record set that follow a case.
type CaseFields struct {
	Number   string `yaml:"number"`
	Stage    string `yaml:"stage"`
	Deadline string `yaml:"deadline"`
	ClosedOn string `yaml:"closed_on"`
}

// StageOption is a case stage.
type StageOption struct {
	Value string `yaml:"value"`
	Label string `yaml:"label"`
}

// Kind is an event kind with its categories.
type Kind struct {
	Value      string   `yaml:"value"`
	Label      string   `yaml:"label"`
	Categories []string `yaml:"categories"`
}

// Photos bounds an event's photos.
type Photos struct {
	Max      int      `yaml:"max"`
	MaxBytes int64    `yaml:"max_bytes"`
	Types    []string `yaml:"types"`
}

// Kind returns the event kind with value, or nil.
func (e *Events) Kind(value string) *Kind {
	for i := range e.Kinds {
		if e.Kinds[i].Value == value {
			return &e.Kinds[i]
		}
	}
	return nil
}

// Closed is the stage that closes a case.
func (e *Events) Closed() string { return e.Stages[len(e.Stages)-1].Value }

// StageLabel is the Chinese label of a stage, or the value itself.
func (e *Events) StageLabel(v string) string {
	for _, s := range e.Stages {
		if s.Value == v {
			return s.Label
		}
	}
	return v
}

// Admission lists the streets that approved the configured templates.
type Admission struct {
	// Configured maps a template id of report/templates to the 9-digit
	// street codes that approved it; a template not listed is approved in
	// every street.
	Configured map[string][]string `yaml:"configured"`
}

// Assessment says what 考核 counts as due.
type Assessment struct {
	Due []Due `yaml:"due"`
}

// Due is a report due once per period for every household or person.
type Due struct {
	Template string `yaml:"template"`
	// Per is household or person.
	Per string `yaml:"per"`
}

// What a due report is counted per.
const (
	PerHousehold = "household"
	PerPerson    = "person"
)

// DefaultFile is how errors name the built-in gridwork.yaml.
const DefaultFile = builtin.Name + "/gridwork.yaml"

var (
	optionCode = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,31}$`)
	streetCode = regexp.MustCompile(`^[0-9]{9}$`)
	dottedPath = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$`)
)

// Default is the built-in gridwork.yaml for the departments depts: its
// events are left out when depts do not hold what they name (a
// configuration without the built-in urban management department reports
// no events until its own gridwork.yaml says where they go).
func Default(depts []*connectors.Department) *Config {
	c, err := Parse(DefaultFile, builtin.File("gridwork.yaml"), nil, nil)
	if err != nil {
		panic("gridwork: built-in gridwork.yaml: " + err.Error())
	}
	if c.Events != nil && c.checkEvents(depts, func([]any, string, ...any) {}) > 0 {
		c.Events = nil
	}
	return c
}

// Parse reads and checks gridwork.yaml against the departments, and the
// template ids against templates (nil: not checked). Every problem is
// "file:line: what is wrong".
func Parse(name string, raw []byte, depts []*connectors.Department, templates []string) (*Config, error) {
	c := &Config{File: name}
	f, err := yamlpos.Decode(name, raw, c)
	if err != nil {
		return nil, err
	}
	var errs []error
	fail := func(path []any, format string, args ...any) {
		errs = append(errs, f.Errorf(path, format, args...))
	}
	if len(c.Diary.Categories) == 0 {
		fail([]any{"diary", "categories"}, "at least one diary category is required")
	}
	seen := map[string]bool{}
	for i, o := range c.Diary.Categories {
		at := []any{"diary", "categories", i}
		switch {
		case !optionCode.MatchString(o.Code):
			fail(at, "category code %q must be UPPER_SNAKE_CASE", o.Code)
		case seen[o.Code]:
			fail(at, "category %s is listed twice", o.Code)
		case strings.TrimSpace(o.Label) == "":
			fail(at, "category %s needs a label", o.Code)
		}
		seen[o.Code] = true
	}
	if c.Events != nil {
		c.checkEventShape(fail)
		if depts != nil {
			c.checkEvents(depts, fail)
		}
	}
	for id, streets := range c.Admission.Configured {
		at := []any{"admission", "configured", id}
		if templates != nil && !slices.Contains(templates, id) {
			fail(at, "no report template %q in report/templates", id)
		}
		for _, s := range streets {
			if !streetCode.MatchString(s) {
				fail(at, "%q is not a 9-digit street code", s)
			}
		}
	}
	for i, d := range c.Assessment.Due {
		at := []any{"assessment", "due", i}
		if d.Per != PerHousehold && d.Per != PerPerson {
			fail(at, "per must be household or person, not %q", d.Per)
		}
		if d.Template == "" {
			fail(at, "template is required")
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// checkEventShape checks the events block on its own.
func (c *Config) checkEventShape(fail func([]any, string, ...any)) {
	e := c.Events
	at := func(more ...any) []any { return append([]any{"events"}, more...) }
	if e.Department == "" {
		fail(at("department"), "department (the one that takes events) is required")
	}
	if e.Set == "" {
		fail(at("set"), "set (the record set whose facts follow the case) is required")
	}
	if !dottedPath.MatchString(e.Receipt) {
		fail(at("receipt"), "receipt (the case number's dotted path in the department's answer) is required")
	}
	for _, f := range []struct{ name, value string }{
		{"kind", e.Fields.Kind}, {"category", e.Fields.Category}, {"description", e.Fields.Description},
		{"lon", e.Fields.Lon}, {"lat", e.Fields.Lat},
	} {
		if f.value == "" {
			fail(at("fields"), "fields.%s is required", f.name)
		}
	}
	if e.Case.Number == "" || e.Case.Stage == "" {
		fail(at("case"), "case.number and case.stage are required")
	}
	if len(e.Stages) < 2 {
		fail(at("stages"), "at least two stages are required (the last one closes a case)")
	}
	if len(e.Kinds) == 0 {
		fail(at("kinds"), "at least one kind is required")
	}
	for i, k := range e.Kinds {
		if k.Value == "" || k.Label == "" || len(k.Categories) == 0 {
			fail(at("kinds", i), "a kind needs a value, a label and categories")
		}
	}
	p := &e.Photos
	if p.Max < 0 || p.Max > 10 {
		fail(at("photos", "max"), "photos.max must be 0 to 10")
	}
	if p.MaxBytes <= 0 || p.MaxBytes > 16<<20 {
		fail(at("photos", "max_bytes"), "photos.max_bytes must be 1 to 16777216")
	}
	for _, t := range p.Types {
		if !slices.Contains(imageTypes, t) {
			fail(at("photos", "types"), "photo type %q is not one of %s", t, strings.Join(imageTypes, ", "))
		}
	}
}

// checkEvents checks the events block against the departments and returns
// how many problems it found.
func (c *Config) checkEvents(depts []*connectors.Department, fail func([]any, string, ...any)) int {
	e := c.Events
	n := 0
	failf := func(path []any, format string, args ...any) {
		n++
		fail(path, format, args...)
	}
	at := func(more ...any) []any { return append([]any{"events"}, more...) }
	i := slices.IndexFunc(depts, func(d *connectors.Department) bool { return d.Code == e.Department })
	if i < 0 {
		failf(at("department"), "no department %q is configured", e.Department)
		return n
	}
	d := depts[i]
	writable := map[string]bool{}
	for _, w := range d.Writable() {
		writable[w.Name()] = true
		// An enum takes the unified values of its mapping: the kinds must be some.
		if w.Name() == e.Fields.Kind && w.Type == connectors.TypeEnum {
			for i, k := range e.Kinds {
				if !slices.Contains(w.Values, k.Value) {
					failf(at("kinds", i), "kind %q is not a value %s takes as %s (%s)", k.Value, e.Department, w.Name(), strings.Join(w.Values, ", "))
				}
			}
		}
	}
	for _, f := range []string{e.Fields.Kind, e.Fields.Category, e.Fields.Description, e.Fields.Lon, e.Fields.Lat, e.Fields.Address} {
		if f != "" && !writable[f] {
			failf(at("fields"), "%s does not take %s: its writeback block (%s) has no such field", e.Department, f, d.File)
		}
	}
	rs, ok := d.Set(e.Set)
	if !ok {
		failf(at("set"), "%s has no record set %q (%s)", e.Department, e.Set, d.File)
		return n
	}
	if rs.Facts == nil {
		failf(at("set"), "record set %s.%s is not in the department's fact feed (no facts block in %s)", e.Department, e.Set, d.File)
	}
	names := map[string]bool{}
	for _, f := range rs.Fields {
		names[f.Name] = true
	}
	for _, f := range []string{e.Case.Number, e.Case.Stage, e.Case.Deadline, e.Case.ClosedOn} {
		if f != "" && !names[f] {
			failf(at("case"), "record set %s.%s has no field %s (%s)", e.Department, e.Set, f, d.File)
		}
	}
	return n
}

// Departments lists what gridwork.yaml reads from the department files: the
// events department's code, if any.
func (c *Config) Departments() []string {
	if c.Events == nil {
		return nil
	}
	return []string{c.Events.Department}
}

// WriteBackFields are the department writeback fields events write, as
// "department.set.field": used, so config check does not call them unused.
func (c *Config) WriteBackFields() []string {
	if c.Events == nil {
		return nil
	}
	var out []string
	f := c.Events.Fields
	for _, name := range []string{f.Kind, f.Category, f.Description, f.Lon, f.Lat, f.Address} {
		if name != "" {
			out = append(out, c.Events.Department+"."+name)
		}
	}
	return out
}

// Approved says whether a template of the configuration directory is
// approved in street (a 9-digit code).
func (a Admission) Approved(template, street string) bool {
	streets, listed := a.Configured[template]
	return !listed || slices.Contains(streets, street)
}

// String names a configuration for logs.
func (c *Config) String() string { return fmt.Sprintf("gridwork %s", c.File) }
