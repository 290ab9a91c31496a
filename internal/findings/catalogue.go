// Package findings lists where the departments' data disagree (数据核查), per
// grid: a person registered dead in one department and paid in another, the
// same person twice in one register, a department's address in another grid
// than the master index's, a department row naming no resident, a 低保
// household drawing a pension above the local 低保 line, an overdue case that
// no grid was given. Each kind is data, an entry of the findings catalogue
// (findings.yaml in the configuration directory, read by ParseFile); no
// department is named in the code.
//
// # Kinds
//
// A kind has one rule, over the synced facts (internal/factsync) and the
// links of record linkage (internal/linkage: a linked row counts as its
// person's):
//
//	conflict:  a person (or, per: household, a household of the master
//	           index) with a record matching subject and one matching other
//	duplicate: a person with two or more records in one record set
//	address:   a person whose record's address (its identity block) is in a
//	           building of another grid than the person's
//	unindexed: a record whose valid ID number names no resident
//	records:   every record matching a selector
//
// A selector names a department, its record sets and conditions on the
// records' unified fields (in, notIn, empty, above, below; above and below
// take a number or a figure of the catalogue, such as the 低保 line).
//
// # Lifecycle
//
// Engine.Refresh recomputes the kinds that read a department after each of
// its syncs (and every kind whose definition changed): a finding is stored
// with the time it was first seen, and closed when the data no longer shows
// it. Open findings are counted per grid by the indicator catalogue's counts
// of findings (internal/indicators), under the same disclosure control as
// every other count.
package findings

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/yamlpos"
)

// Per values of a conflict.
const (
	PerPerson    = "person"
	PerHousehold = "household"
)

// Rules a kind may have.
const (
	RuleConflict  = "conflict"
	RuleDuplicate = "duplicate"
	RuleAddress   = "address"
	RuleUnindexed = "unindexed"
	RuleRecords   = "records"
)

// Figure is a named figure of the catalogue, such as the local 低保 line, that
// conditions compare with.
type Figure struct {
	Name  string  `yaml:"name"`
	Label string  `yaml:"label"`
	Unit  string  `yaml:"unit"`
	Value float64 `yaml:"value"`
}

// Kind is one entry of the catalogue: what disagreement it finds, and how.
// Exactly one rule is set.
type Kind struct {
	// Name is camelCase: the API's kind.
	Name       string `yaml:"name"`
	Label      string `yaml:"label"`      // Chinese label
	Definition string `yaml:"definition"` // for people

	Conflict  *Conflict `yaml:"conflict,omitempty"`
	Duplicate *SetList  `yaml:"duplicate,omitempty"`
	Address   *SetList  `yaml:"address,omitempty"`
	Unindexed *SetList  `yaml:"unindexed,omitempty"`
	Records   *Selector `yaml:"records,omitempty"`

	// Report makes a finding about a person a pre-filled report draft.
	Report *Report `yaml:"report,omitempty"`
}

// perSet says whether each finding of the kind is about the records of one
// record set, of one department (a duplicate, a stale address, a record of
// no resident): those of a set change only with that set's records (and
// the master index).
func (k *Kind) perSet() bool { return k.Duplicate != nil || k.Address != nil || k.Unindexed != nil }

// Conflict finds persons (or households) with a record of each selector.
type Conflict struct {
	Subject Selector `yaml:"subject"`
	Other   Selector `yaml:"other"`
	// Per is PerPerson (default) or PerHousehold: both records about members
	// of one household of the master index.
	Per string `yaml:"per,omitempty"`
}

// SetList names record sets as "department.set".
type SetList struct {
	Sets []string `yaml:"sets"`
}

// Selector picks records: of a department's record sets, where every
// condition holds.
type Selector struct {
	Department string      `yaml:"department"`
	Sets       []string    `yaml:"sets"`
	Where      []Condition `yaml:"where,omitempty"`
}

// Condition tests one unified field of a record. Exactly one test is set:
// In and NotIn compare as text (true, 1, ACTIVE; a record without the field
// fails In and passes NotIn), Empty says the field is absent or blank (or,
// false, that it holds something), Above and Below compare a number with a
// number or a figure's name.
type Condition struct {
	Field string   `yaml:"field"`
	In    []string `yaml:"in,omitempty"`
	NotIn []string `yaml:"notIn,omitempty"`
	Empty *bool    `yaml:"empty,omitempty"`
	Above string   `yaml:"above,omitempty"`
	Below string   `yaml:"below,omitempty"`
}

// Report is how a finding becomes a report draft: the template to fill for
// the finding's person, and a note put in one of its fields.
type Report struct {
	Template string `yaml:"template"`
	// Field is a catalogue key of the template (department.set.field) that
	// takes Note.
	Field string `yaml:"field"`
	Note  string `yaml:"note"`
}

// Rule is the name of the kind's rule.
func (k *Kind) Rule() string {
	switch {
	case k.Conflict != nil:
		return RuleConflict
	case k.Duplicate != nil:
		return RuleDuplicate
	case k.Address != nil:
		return RuleAddress
	case k.Unindexed != nil:
		return RuleUnindexed
	case k.Records != nil:
		return RuleRecords
	}
	return ""
}

// Departments are the departments whose facts the kind reads.
func (k *Kind) Departments() []string {
	var out []string
	add := func(d string) {
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	switch {
	case k.Conflict != nil:
		add(k.Conflict.Subject.Department)
		add(k.Conflict.Other.Department)
	case k.Records != nil:
		add(k.Records.Department)
	default:
		for _, s := range k.sets().Sets {
			d, _, _ := strings.Cut(s, ".")
			add(d)
		}
	}
	return out
}

// sets is the set list of a duplicate, address or unindexed rule.
func (k *Kind) sets() *SetList {
	switch {
	case k.Duplicate != nil:
		return k.Duplicate
	case k.Address != nil:
		return k.Address
	case k.Unindexed != nil:
		return k.Unindexed
	}
	return &SetList{}
}

// Catalogue is a validated findings catalogue.
type Catalogue struct {
	Figures []*Figure `yaml:"figures"`
	Kinds   []*Kind   `yaml:"kinds"`

	byName map[string]*Kind
	figure map[string]*Figure
	file   *yamlpos.File
}

// DefaultFile is how errors name the built-in catalogue.
const DefaultFile = builtin.Name + "/findings.yaml"

// Default is the built-in catalogue, unchecked against departments.
func Default() *Catalogue {
	c, err := ParseFile(DefaultFile, builtin.File("findings.yaml"))
	if err != nil {
		panic("findings: built-in catalogue: " + err.Error())
	}
	return c
}

var nameRE = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)

// ParseFile reads and validates a catalogue file's content (unknown keys are
// errors); name names it in errors, each "file:line: what is wrong". It does
// not look at the departments: CheckDepartments does.
func ParseFile(name string, data []byte) (*Catalogue, error) {
	c := &Catalogue{}
	f, err := yamlpos.Decode(name, data, c)
	if err != nil {
		return nil, err
	}
	c.file = f
	if err := c.index(); err != nil {
		return nil, err
	}
	return c, nil
}

// errorf is a problem at a key path of the file.
func (c *Catalogue) errorf(path []any, format string, args ...any) error {
	if c.file == nil {
		return fmt.Errorf("findings: catalogue: "+format, args...)
	}
	return c.file.Errorf(path, format, args...)
}

// index checks what needs no departments: names, labels, one rule per kind,
// the conditions' form and the figures they name.
func (c *Catalogue) index() error {
	c.byName, c.figure = map[string]*Kind{}, map[string]*Figure{}
	var errs []error
	for i, f := range c.Figures {
		at := func(more ...any) []any { return append([]any{"figures", i}, more...) }
		switch {
		case f == nil:
			errs = append(errs, c.errorf(at(), "figure %d is empty", i+1))
		case !nameRE.MatchString(f.Name):
			errs = append(errs, c.errorf(at("name"), "figure %d: name %q is not camelCase", i+1, f.Name))
		case c.figure[f.Name] != nil:
			errs = append(errs, c.errorf(at("name"), "figure %s: defined twice", f.Name))
		case strings.TrimSpace(f.Label) == "":
			errs = append(errs, c.errorf(at(), "figure %s: no label", f.Name))
		default:
			c.figure[f.Name] = f
		}
	}
	for i, k := range c.Kinds {
		at := func(more ...any) []any { return append([]any{"kinds", i}, more...) }
		if k == nil {
			errs = append(errs, c.errorf(at(), "kind %d is empty", i+1))
			continue
		}
		if !nameRE.MatchString(k.Name) {
			errs = append(errs, c.errorf(at("name"), "kind %d: name %q is not camelCase", i+1, k.Name))
			continue
		}
		if c.byName[k.Name] != nil {
			errs = append(errs, c.errorf(at("name"), "kind %s: defined twice", k.Name))
			continue
		}
		c.byName[k.Name] = k
		fail := func(path []any, format string, args ...any) {
			errs = append(errs, c.errorf(path, "kind %s: %s", k.Name, fmt.Sprintf(format, args...)))
		}
		if strings.TrimSpace(k.Label) == "" {
			fail(at(), "no label")
		}
		if strings.TrimSpace(k.Definition) == "" {
			fail(at(), "no definition")
		}
		rules := 0
		for _, set := range []bool{k.Conflict != nil, k.Duplicate != nil, k.Address != nil, k.Unindexed != nil, k.Records != nil} {
			if set {
				rules++
			}
		}
		if rules != 1 {
			fail(at(), "want exactly one of conflict, duplicate, address, unindexed and records, found %d", rules)
			continue
		}
		switch {
		case k.Conflict != nil:
			if k.Conflict.Per != "" && k.Conflict.Per != PerPerson && k.Conflict.Per != PerHousehold {
				fail(at("conflict", "per"), "per %q, want person or household", k.Conflict.Per)
			}
			c.checkSelector(fail, at("conflict", "subject"), &k.Conflict.Subject)
			c.checkSelector(fail, at("conflict", "other"), &k.Conflict.Other)
		case k.Records != nil:
			c.checkSelector(fail, at("records"), k.Records)
		default:
			rule := k.Rule()
			if len(k.sets().Sets) == 0 {
				fail(at(rule), "no sets")
			}
			for j, s := range k.sets().Sets {
				if d, set, ok := strings.Cut(s, "."); !ok || d == "" || set == "" {
					fail(at(rule, "sets", j), "set %q, want department.set", s)
				} else if slices.Index(k.sets().Sets, s) < j {
					fail(at(rule, "sets", j), "set %s named twice", s)
				}
			}
		}
		if r := k.Report; r != nil && (r.Template == "" || (r.Field == "") != (r.Note == "")) {
			fail(at("report"), "a report needs a template, and a field and a note together")
		}
	}
	return errors.Join(errs...)
}

// checkSelector checks a selector's form and its conditions' figures.
func (c *Catalogue) checkSelector(fail func([]any, string, ...any), at []any, s *Selector) {
	path := func(more ...any) []any { return append(slices.Clone(at), more...) }
	if s.Department == "" {
		fail(path("department"), "no department")
	}
	if len(s.Sets) == 0 {
		fail(path("sets"), "no sets")
	}
	for j, w := range s.Where {
		tests := 0
		for _, set := range []bool{len(w.In) > 0, len(w.NotIn) > 0, w.Empty != nil, w.Above != "", w.Below != ""} {
			if set {
				tests++
			}
		}
		if w.Field == "" {
			fail(path("where", j), "a condition without a field")
		}
		if tests != 1 {
			fail(path("where", j), "condition on %s: want exactly one of in, notIn, empty, above and below", w.Field)
			continue
		}
		for key, bound := range map[string]string{"above": w.Above, "below": w.Below} {
			if bound == "" {
				continue
			}
			if _, ok := c.bound(bound); !ok {
				fail(path("where", j, key), "condition on %s: %s %q is neither a number nor a figure of the catalogue", w.Field, key, bound)
			}
		}
	}
}

// bound is the value of a condition's above or below: a number, or a
// figure's name.
func (c *Catalogue) bound(s string) (float64, bool) {
	if f := c.figure[s]; f != nil {
		return f.Value, true
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}

// Figure returns the figure called name.
func (c *Catalogue) Figure(name string) (*Figure, bool) {
	f, ok := c.figure[name]
	return f, ok
}

// Lookup returns the kind called name.
func (c *Catalogue) Lookup(name string) (*Kind, bool) {
	k, ok := c.byName[name]
	return k, ok
}

// Names lists the kinds in catalogue order.
func (c *Catalogue) Names() []string {
	out := make([]string, len(c.Kinds))
	for i, k := range c.Kinds {
		out[i] = k.Name
	}
	return out
}

// CheckDepartments checks the catalogue against the department mapping
// files: departments, record sets and fields that exist, of the right entity
// and type. Each problem names the catalogue's file and line and the mapping
// file it looked in.
func (c *Catalogue) CheckDepartments(depts []*connectors.Department) error {
	byCode := map[string]*connectors.Department{}
	for _, d := range depts {
		byCode[d.Code] = d
	}
	var errs []error
	for i, k := range c.Kinds {
		errs = append(errs, c.checkKind(i, k, byCode)...)
	}
	return errors.Join(errs...)
}

// For is the catalogue without the kinds that do not hold against depts: how
// the built-in catalogue serves a configuration whose departments differ
// from the built-in ones.
func (c *Catalogue) For(depts []*connectors.Department) *Catalogue {
	byCode := map[string]*connectors.Department{}
	for _, d := range depts {
		byCode[d.Code] = d
	}
	out := &Catalogue{Figures: c.Figures, file: c.file}
	for i, k := range c.Kinds {
		if len(c.checkKind(i, k, byCode)) == 0 {
			out.Kinds = append(out.Kinds, k)
		}
	}
	if err := out.index(); err != nil {
		panic("findings: a subset of a valid catalogue failed: " + err.Error())
	}
	return out
}

// Without is the catalogue less the kinds whose report names a template that
// is not in templates (or a field not in it): how the built-in catalogue
// serves a configuration with other report templates. fields says whether
// template has a field.
func (c *Catalogue) Without(has func(template, field string) bool) *Catalogue {
	out := &Catalogue{Figures: c.Figures, file: c.file}
	for _, k := range c.Kinds {
		if k.Report != nil && !has(k.Report.Template, k.Report.Field) {
			cp := *k
			cp.Report = nil
			k = &cp
		}
		out.Kinds = append(out.Kinds, k)
	}
	if err := out.index(); err != nil {
		panic("findings: a subset of a valid catalogue failed: " + err.Error())
	}
	return out
}

// CheckReports checks each kind's report against the report templates: has
// says whether a template exists and, for a non-empty field, whether it has
// the field.
func (c *Catalogue) CheckReports(has func(template, field string) bool) error {
	var errs []error
	for i, k := range c.Kinds {
		r := k.Report
		if r == nil {
			continue
		}
		switch {
		case !has(r.Template, ""):
			errs = append(errs, c.errorf([]any{"kinds", i, "report", "template"}, "kind %s: no report template %q", k.Name, r.Template))
		case r.Field != "" && !has(r.Template, r.Field):
			errs = append(errs, c.errorf([]any{"kinds", i, "report", "field"}, "kind %s: report template %s has no field %s", k.Name, r.Template, r.Field))
		}
	}
	return errors.Join(errs...)
}

// checkKind checks one kind against the departments.
func (c *Catalogue) checkKind(i int, k *Kind, byCode map[string]*connectors.Department) (errs []error) {
	at := func(more ...any) []any { return append([]any{"kinds", i}, more...) }
	fail := func(path []any, format string, args ...any) {
		errs = append(errs, c.errorf(path, "kind %s: %s", k.Name, fmt.Sprintf(format, args...)))
	}
	dept := func(path []any, code string) *connectors.Department {
		d := byCode[code]
		if d == nil {
			codes := make([]string, 0, len(byCode))
			for code := range byCode {
				codes = append(codes, code)
			}
			slices.Sort(codes)
			fail(path, "no department %q is configured (departments: %s)", code, strings.Join(codes, ", "))
		}
		return d
	}
	switch {
	case k.Conflict != nil:
		c.checkSelectorSets(fail, at("conflict", "subject"), &k.Conflict.Subject, dept, true)
		c.checkSelectorSets(fail, at("conflict", "other"), &k.Conflict.Other, dept, true)
	case k.Records != nil:
		c.checkSelectorSets(fail, at("records"), k.Records, dept, false)
	default:
		rule := k.Rule()
		for j, s := range k.sets().Sets {
			code, name, _ := strings.Cut(s, ".")
			d := dept(at(rule, "sets", j), code)
			if d == nil {
				continue
			}
			rs, ok := d.Set(name)
			switch {
			case !ok:
				fail(at(rule, "sets", j), "%s has no record set %q", d.File, name)
			case rs.Entity != connectors.Person:
				fail(at(rule, "sets", j), "%s.%s (%s) is about %ss, not persons", code, name, d.File, rs.Entity)
			case rs.Facts == nil:
				fail(at(rule, "sets", j), "%s.%s (%s) is in no fact feed", code, name, d.File)
			case rule == RuleDuplicate && rs.Many:
				fail(at(rule, "sets", j), "%s.%s (%s) holds many records per person (many: true): two are no duplicate", code, name, d.File)
			case rule == RuleAddress && !hasIdentity(rs, connectors.IdentityAddress):
				fail(at(rule, "sets", j), "%s.%s (%s) maps no address in its identity block", code, name, d.File)
			}
		}
	}
	return errs
}

func hasIdentity(rs *connectors.RecordSet, name string) bool {
	return slices.ContainsFunc(rs.Identity, func(f connectors.Field) bool { return f.Name == name })
}

// checkSelectorSets checks a selector's department, sets and fields.
func (c *Catalogue) checkSelectorSets(fail func([]any, string, ...any), at []any, s *Selector,
	dept func([]any, string) *connectors.Department, persons bool) {
	path := func(more ...any) []any { return append(slices.Clone(at), more...) }
	d := dept(path("department"), s.Department)
	if d == nil {
		return
	}
	for j, name := range s.Sets {
		rs, ok := d.Set(name)
		if !ok {
			fail(path("sets", j), "%s has no record set %q", d.File, name)
			continue
		}
		if rs.Facts == nil {
			fail(path("sets", j), "%s.%s (%s) is in no fact feed", d.Code, name, d.File)
		}
		if persons && rs.Entity != connectors.Person {
			fail(path("sets", j), "%s.%s (%s) is about %ss, not persons", d.Code, name, d.File, rs.Entity)
		}
		for k, w := range s.Where {
			f, ok := rs.Field(w.Field)
			if !ok {
				fail(path("where", k, "field"), "record set %s of %s has no field %q", name, d.File, w.Field)
				continue
			}
			if (w.Above != "" || w.Below != "") && f.Type != connectors.TypeInt && f.Type != connectors.TypeDecimal {
				fail(path("where", k, "field"), "%s.%s.%s is a %s: above and below compare numbers", d.Code, name, w.Field, f.Type)
			}
			for _, v := range slices.Concat(w.In, w.NotIn) {
				if !valueFits(f, v) {
					fail(path("where", k, "field"), "%s.%s.%s (%s) never holds %q", d.Code, name, w.Field, d.File, v)
				}
			}
		}
	}
}

// valueFits says whether a field of f's type can hold v as text.
func valueFits(f *connectors.Field, v string) bool {
	switch f.Type {
	case connectors.TypeBool:
		return v == "true" || v == "false"
	case connectors.TypeEnum:
		for _, u := range f.Codes {
			if u == v {
				return true
			}
		}
		return false
	case connectors.TypeInt:
		_, err := strconv.ParseInt(v, 10, 64)
		return err == nil
	case connectors.TypeDecimal:
		_, err := strconv.ParseFloat(v, 64)
		return err == nil
	}
	return true
}

// fingerprint identifies what a kind finds: its rule and the figures it
// compares with. Labels, definitions and reports do not change what is found.
func (c *Catalogue) fingerprint(k *Kind) string {
	b, _ := json.Marshal(struct {
		Conflict  *Conflict
		Duplicate *SetList
		Address   *SetList
		Unindexed *SetList
		Records   *Selector
	}{k.Conflict, k.Duplicate, k.Address, k.Unindexed, k.Records})
	h := sha256.New()
	h.Write(b)
	for _, s := range k.selectors() {
		for _, w := range s.Where {
			for _, bound := range []string{w.Above, w.Below} {
				if f := c.figure[bound]; f != nil {
					fmt.Fprintf(h, "\x00%s=%v", f.Name, f.Value)
				}
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// selectors are the kind's selectors (none for a set-list rule).
func (k *Kind) selectors() []*Selector {
	switch {
	case k.Conflict != nil:
		return []*Selector{&k.Conflict.Subject, &k.Conflict.Other}
	case k.Records != nil:
		return []*Selector{k.Records}
	}
	return nil
}
