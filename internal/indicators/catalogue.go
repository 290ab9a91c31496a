// Package indicators publishes aggregate indicators by grid: the catalogue of
// indicators (catalogue.yaml), the per-grid counts kept in Postgres as facts
// are synced (Aggregator, called by internal/factsync), and the indicator
// tables served to GraphQL and the CSV export (Service.Table, WriteCSV), with
// small counts suppressed (internal/disclosure).
//
// # Storage and queries
//
// Counts are stored per responsibility grid only (indicator_cells: name,
// grid_code, value; a missing row is zero) and rolled up to the township,
// community and district by code prefix: a unit's count is the sum of the grids
// whose code starts with its code. So every level is additive by construction,
// which the disclosure control relies on.
//
// # Disclosure
//
// A user can read every level, so suppression is decided per indicator over
// the whole grid hierarchy at once, and published the same way at every level
// and in every table (see internal/disclosure): counts 1 to 4 are withheld,
// with complementary cells so that no withheld count can be recomputed from
// the published ones. Counts that the catalogue relates (subsetOf, sumOf:
// households on 低保 are at most the persons on 低保) are decided together,
// as one family, so that the relation cannot narrow a withheld count either.
// The decision is a function of the counts only, computed once per version
// of the counts and reused by every table; a table that needs one count of a
// family has the whole family decided. A rate is withheld when its numerator
// or denominator is, or when the denominator is below the threshold.
//
// # Caching
//
// Tables are cached by query and data version, in process and in the shared
// cache (Redis when configured). Every completed sync bumps the data version,
// so a sync invalidates every cached table without deleting anything.
package indicators

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/config/builtin"
	"github.com/gridhub/gridhub/internal/yamlpos"
)

// Core is the department of indicators over the master index.
const Core = "core"

// Findings is the department of indicators over the open findings (the
// hub's own cross-department checks, internal/findings).
const Findings = "findings"

// Units of indicators.
const (
	UnitPersons    = "人"
	UnitHouseholds = "户"
	UnitItems      = "件"
	UnitPercent    = "%"
)

// What a count counts.
const (
	OfPersons    = "persons"    // residents of the master index
	OfHouseholds = "households" // households of the master index
	OfFacts      = "facts"      // synced department records
	OfFindings   = "findings"   // open findings (internal/findings)

	DistinctPerson    = "person"
	DistinctHousehold = "household"
	DistinctRecord    = "record"
)

// Indicator is one entry of the catalogue.
type Indicator struct {
	Name       string `yaml:"name"`       // camelCase: the API's and the CSV's column name
	Label      string `yaml:"label"`      // Chinese label
	Department string `yaml:"department"` // department code, or Core
	Unit       string `yaml:"unit"`       // 人, 户, 件 or %
	Definition string `yaml:"definition"` // for people
	// Exactly one of Count and Rate is set.
	Count *Count `yaml:"count,omitempty"`
	Rate  *Rate  `yaml:"rate,omitempty"`
	// Threshold overrides the disclosure threshold of a count (0: the service's).
	Threshold int64 `yaml:"threshold,omitempty"`
	// SuppressZero withholds zeros too, for a count whose absence is sensitive.
	SuppressZero bool `yaml:"suppressZero,omitempty"`
	// SubsetOf names counts that this count is at most in every unit,
	// because what it counts is a subset of what each of them counts
	// (households on 低保 are at most the persons on 低保). SumOf names
	// counts that this count is the sum of in every unit. An attacker who
	// knows the definitions can use these relations across the published
	// tables, so related counts are suppressed together (see
	// internal/disclosure); declare every relation that holds by
	// definition. Counts whose values break a declared relation are
	// withheld entirely.
	SubsetOf []string `yaml:"subsetOf,omitempty"`
	SumOf    []string `yaml:"sumOf,omitempty"`
}

// IsRate says whether the indicator is a rate rather than a count.
func (in *Indicator) IsRate() bool { return in.Rate != nil }

// Count is what a count indicator counts.
type Count struct {
	Of string `yaml:"of"` // OfPersons, OfHouseholds or OfFacts
	// Ages, for OfPersons: age in whole years on the day of computation.
	MinAge *int `yaml:"minAge,omitempty"`
	MaxAge *int `yaml:"maxAge,omitempty"`
	// For OfFacts: the department's record sets, the conditions every
	// counted record meets, and what is counted once.
	Sets     []string    `yaml:"sets,omitempty"`
	Where    []Condition `yaml:"where,omitempty"`
	Distinct string      `yaml:"distinct,omitempty"` // DistinctPerson, DistinctHousehold or DistinctRecord
	// Kinds, for OfFindings: the kinds of findings counted (none: every
	// kind). Each open finding is counted once, in its grid.
	Kinds []string `yaml:"kinds,omitempty"`
}

// Condition is a test on one unified field of a record, compared as text
// (JSON strings as they are; numbers and booleans as written: 1, true). A
// record without the field fails In and passes NotIn.
type Condition struct {
	Field string   `yaml:"field"`
	In    []string `yaml:"in,omitempty"`
	NotIn []string `yaml:"notIn,omitempty"`
}

// Rate is 100 * numerator / denominator, both count indicators.
type Rate struct {
	Numerator   string `yaml:"numerator"`
	Denominator string `yaml:"denominator"`
}

// Catalogue is a validated list of indicators.
type Catalogue struct {
	list   []*Indicator
	byName map[string]*Indicator
	// family is, for every count, the counts related to it through
	// subsetOf and sumOf, directly or not, itself included, in catalogue
	// order: what must be suppressed together.
	family map[string][]string
	// file is where the catalogue was read from, for errors; nil for one
	// built in code.
	file *yamlpos.File
	fp   string
}

var nameRE = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)

// DefaultFile is how errors name the built-in catalogue.
const DefaultFile = builtin.Name + "/indicators.yaml"

// Default is the built-in catalogue (the built-in configuration's
// indicators.yaml).
func Default() *Catalogue {
	c, err := ParseFile(DefaultFile, builtin.File("indicators.yaml"))
	if err != nil {
		panic("indicators: built-in catalogue: " + err.Error())
	}
	return c
}

// Parse reads and validates a catalogue; unknown keys are errors.
func Parse(data []byte) (*Catalogue, error) { return ParseFile("indicators.yaml", data) }

// ParseFile reads and validates a catalogue file's content; name names it in
// errors, each "file:line: what is wrong".
func ParseFile(name string, data []byte) (*Catalogue, error) {
	var list []*Indicator
	f, err := yamlpos.Decode(name, data, &list)
	if err != nil {
		return nil, err
	}
	return newCatalogue(list, f)
}

// New validates indicators into a catalogue.
func New(list []*Indicator) (*Catalogue, error) { return newCatalogue(list, nil) }

func newCatalogue(list []*Indicator, f *yamlpos.File) (*Catalogue, error) {
	c := &Catalogue{list: list, byName: make(map[string]*Indicator, len(list)), file: f}
	var errs []error
	for i, in := range list {
		if in == nil {
			errs = append(errs, c.errorf(i, nil, "entry %d is empty", i+1))
			continue
		}
		if !nameRE.MatchString(in.Name) {
			errs = append(errs, c.errorf(i, []any{"name"}, "entry %d: name %q is not camelCase", i+1, in.Name))
			continue
		}
		if c.byName[in.Name] != nil {
			errs = append(errs, c.errorf(i, []any{"name"}, "%s: duplicate name", in.Name))
			continue
		}
		c.byName[in.Name] = in
	}
	for i, in := range list {
		if in != nil && c.byName[in.Name] == in {
			if err := c.check(in); err != nil {
				errs = append(errs, c.errorf(i, nil, "%s: %v", in.Name, err))
			}
			errs = append(errs, c.checkRelations(i, in)...)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := c.checkCycles(); err != nil {
		return nil, err
	}
	c.families()
	b, _ := json.Marshal(c.list)
	sum := sha256.Sum256(b)
	c.fp = hex.EncodeToString(sum[:16])
	return c, nil
}

// errorf is a problem with entry i (at the key path under it) of the file.
func (c *Catalogue) errorf(i int, path []any, format string, args ...any) error {
	if c.file == nil {
		return fmt.Errorf("indicators: catalogue: "+format, args...)
	}
	return c.file.Errorf(append([]any{i}, path...), format, args...)
}

// index is the position of in in the catalogue's file.
func (c *Catalogue) index(in *Indicator) int { return slices.Index(c.list, in) }

func (c *Catalogue) check(in *Indicator) error {
	switch {
	case strings.TrimSpace(in.Label) == "":
		return errors.New("no label")
	case strings.TrimSpace(in.Definition) == "":
		return errors.New("no definition")
	case in.Department == "":
		return errors.New("no department")
	case (in.Count == nil) == (in.Rate == nil):
		return errors.New("want exactly one of count and rate")
	case in.Threshold < 0:
		return fmt.Errorf("negative threshold %d", in.Threshold)
	}
	if r := in.Rate; r != nil {
		if in.Unit != UnitPercent {
			return fmt.Errorf("a rate has unit %q, want %q", in.Unit, UnitPercent)
		}
		if in.Threshold != 0 || in.SuppressZero {
			return errors.New("a rate follows the disclosure of its counts: no threshold or suppressZero")
		}
		for _, part := range []string{r.Numerator, r.Denominator} {
			p := c.byName[part]
			if p == nil {
				return fmt.Errorf("rate of unknown indicator %q", part)
			}
			if p.Count == nil {
				return fmt.Errorf("rate of %q, which is not a count", part)
			}
		}
		if r.Numerator == r.Denominator {
			return errors.New("numerator and denominator are the same")
		}
		return nil
	}
	if !slices.Contains([]string{UnitPersons, UnitHouseholds, UnitItems}, in.Unit) {
		return fmt.Errorf("a count has unit %q, want 人, 户 or 件", in.Unit)
	}
	n := in.Count
	switch n.Of {
	case OfFindings:
		if in.Department != Findings {
			return fmt.Errorf("a count of findings is over the hub's findings: department %q, want %q", in.Department, Findings)
		}
		if in.Unit != UnitItems {
			return fmt.Errorf("a count of findings has unit %q, want %q", in.Unit, UnitItems)
		}
		if n.MinAge != nil || n.MaxAge != nil || len(n.Sets) > 0 || len(n.Where) > 0 || n.Distinct != "" {
			return errors.New("ages, sets, where and distinct are not for findings: name the kinds")
		}
	case OfPersons, OfHouseholds:
		if in.Department != Core {
			return fmt.Errorf("a count of %s is over the master index: department %q, want %q", n.Of, in.Department, Core)
		}
		if len(n.Sets) > 0 || len(n.Where) > 0 || n.Distinct != "" || len(n.Kinds) > 0 {
			return fmt.Errorf("sets, where, distinct and kinds are for facts and findings, not %s", n.Of)
		}
		if n.Of == OfHouseholds && (n.MinAge != nil || n.MaxAge != nil) {
			return errors.New("ages are for persons")
		}
		if n.MinAge != nil && *n.MinAge < 0 || n.MaxAge != nil && *n.MaxAge < 0 {
			return errors.New("negative age")
		}
		if n.MinAge != nil && n.MaxAge != nil && *n.MinAge > *n.MaxAge {
			return errors.New("minAge above maxAge")
		}
	case OfFacts:
		if in.Department == Core || in.Department == Findings {
			return errors.New("a count of facts needs a department")
		}
		if len(n.Kinds) > 0 {
			return errors.New("kinds are for counts of findings")
		}
		if n.MinAge != nil || n.MaxAge != nil {
			return errors.New("ages are for persons")
		}
		if len(n.Sets) == 0 {
			return errors.New("a count of facts needs sets")
		}
		if !slices.Contains([]string{DistinctPerson, DistinctHousehold, DistinctRecord}, n.Distinct) {
			return fmt.Errorf("distinct %q, want person, household or record", n.Distinct)
		}
		for _, w := range n.Where {
			if w.Field == "" {
				return errors.New("a condition without a field")
			}
			if (len(w.In) == 0) == (len(w.NotIn) == 0) {
				return fmt.Errorf("condition on %s: want exactly one of in and notIn", w.Field)
			}
		}
	default:
		return fmt.Errorf("count of %q, want persons, households, facts or findings", n.Of)
	}
	return nil
}

// checkRelations checks the subsetOf and sumOf lists of entry i: counts that
// exist, other than in, each named once, and a sum of at least two.
func (c *Catalogue) checkRelations(i int, in *Indicator) (errs []error) {
	for _, rel := range []struct {
		key   string
		names []string
	}{{"subsetOf", in.SubsetOf}, {"sumOf", in.SumOf}} {
		if len(rel.names) == 0 {
			continue
		}
		if in.Rate != nil {
			errs = append(errs, c.errorf(i, []any{rel.key}, "%s: a rate has no %s: relate its counts", in.Name, rel.key))
			continue
		}
		if rel.key == "sumOf" && len(rel.names) < 2 {
			errs = append(errs, c.errorf(i, []any{rel.key}, "%s: a sum of %d count, want at least 2", in.Name, len(rel.names)))
		}
		for j, name := range rel.names {
			other := c.byName[name]
			switch {
			case other == nil:
				errs = append(errs, c.errorf(i, []any{rel.key, j}, "%s: %s unknown indicator %q", in.Name, rel.key, name))
			case other.Count == nil:
				errs = append(errs, c.errorf(i, []any{rel.key, j}, "%s: %s %q, which is not a count", in.Name, rel.key, name))
			case other == in:
				errs = append(errs, c.errorf(i, []any{rel.key, j}, "%s: %s itself", in.Name, rel.key))
			case slices.Index(rel.names, name) < j:
				errs = append(errs, c.errorf(i, []any{rel.key, j}, "%s: %s names %q twice", in.Name, rel.key, name))
			}
		}
	}
	return errs
}

// checkCycles rejects relations that go round (a subset of b, b a subset of
// a; a sum that is part of itself): such counts would be equal, or the
// declarations wrong.
func (c *Catalogue) checkCycles() error {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(in *Indicator) error
	visit = func(in *Indicator) error {
		state[in.Name] = onPath
		path = append(path, in.Name)
		for _, name := range slices.Concat(in.SubsetOf, in.SumOf) {
			switch state[name] {
			case onPath:
				cycle := append(slices.Clone(path[slices.Index(path, name):]), name)
				key := "subsetOf"
				if slices.Contains(in.SumOf, name) {
					key = "sumOf"
				}
				return c.errorf(c.index(in), []any{key}, "%s: relations go round: %s", in.Name, strings.Join(cycle, " -> "))
			case unseen:
				if err := visit(c.byName[name]); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		state[in.Name] = done
		return nil
	}
	for _, in := range c.list {
		if state[in.Name] == unseen {
			if err := visit(in); err != nil {
				return err
			}
		}
	}
	return nil
}

// families groups the counts into families: connected through relations,
// in either direction.
func (c *Catalogue) families() {
	c.family = map[string][]string{}
	for _, in := range c.list {
		if in.Count == nil || c.family[in.Name] != nil {
			continue
		}
		members := map[string]bool{in.Name: true}
		for grew := true; grew; {
			grew = false
			for _, o := range c.list {
				if o.Count == nil {
					continue
				}
				for _, name := range slices.Concat(o.SubsetOf, o.SumOf) {
					if members[o.Name] != members[name] {
						members[o.Name], members[name] = true, true
						grew = true
					}
				}
			}
		}
		var fam []string
		for _, o := range c.list {
			if members[o.Name] {
				fam = append(fam, o.Name)
			}
		}
		for _, name := range fam {
			c.family[name] = fam
		}
	}
}

// Family returns the count indicators that must be suppressed together with
// the count name: those related to it by subsetOf or sumOf, directly or
// through others, itself included, in catalogue order. It is nil for a rate
// or an unknown name.
func (c *Catalogue) Family(name string) []string { return c.family[name] }

// CheckDepartments checks the catalogue against the department mapping files:
// every department exists, and every count of facts names record sets and
// fields the department maps. Each problem names the catalogue's file and
// line and the mapping file it looked in.
func (c *Catalogue) CheckDepartments(depts []*connectors.Department) error {
	byCode := map[string]*connectors.Department{}
	for _, d := range depts {
		byCode[d.Code] = d
	}
	var errs []error
	for _, in := range c.list {
		errs = append(errs, c.checkIndicator(in, byCode)...)
	}
	return errors.Join(errs...)
}

// For is the catalogue without the indicators that do not hold against
// depts (and the rates over them): how the built-in catalogue serves a
// configuration whose departments differ from the built-in ones.
func (c *Catalogue) For(depts []*connectors.Department) *Catalogue {
	byCode := map[string]*connectors.Department{}
	for _, d := range depts {
		byCode[d.Code] = d
	}
	// The counts that hold, less every sum with a part that does not: a
	// sum published beside some of its parts tells more about them than a
	// relation to the parts that remain can say.
	keep := map[string]bool{}
	for _, in := range c.list {
		keep[in.Name] = in.Count != nil && len(c.checkIndicator(in, byCode)) == 0
	}
	for dropped := true; dropped; {
		dropped = false
		for _, in := range c.list {
			if keep[in.Name] && slices.ContainsFunc(in.SumOf, func(n string) bool { return !keep[n] }) {
				keep[in.Name], dropped = false, true
			}
		}
	}
	var list []*Indicator
	for _, in := range c.list {
		if r := in.Rate; r != nil {
			if keep[r.Numerator] && keep[r.Denominator] {
				list = append(list, in)
			}
			continue
		}
		if !keep[in.Name] {
			continue
		}
		// A subset of a count that is gone relates to nothing published.
		if slices.ContainsFunc(in.SubsetOf, func(n string) bool { return !keep[n] }) {
			cp := *in
			cp.SubsetOf = slices.DeleteFunc(slices.Clone(in.SubsetOf), func(n string) bool { return !keep[n] })
			in = &cp
		}
		list = append(list, in)
	}
	out, err := newCatalogue(list, c.file)
	if err != nil {
		panic("indicators: a subset of a valid catalogue failed: " + err.Error())
	}
	return out
}

// checkIndicator checks one indicator against the departments.
func (c *Catalogue) checkIndicator(in *Indicator, byCode map[string]*connectors.Department) (errs []error) {
	i := c.index(in)
	if in.Department == Core || in.Department == Findings {
		return nil
	}
	d := byCode[in.Department]
	if d == nil {
		codes := make([]string, 0, len(byCode))
		for code := range byCode {
			codes = append(codes, code)
		}
		slices.Sort(codes)
		return []error{c.errorf(i, []any{"department"}, "%s: no department %q is configured (departments: %s)", in.Name, in.Department, strings.Join(codes, ", "))}
	}
	if in.Count == nil {
		return nil
	}
	for j, set := range in.Count.Sets {
		rs, ok := d.Set(set)
		if !ok {
			errs = append(errs, c.errorf(i, []any{"count", "sets", j}, "%s: %s has no record set %q", in.Name, d.File, set))
			continue
		}
		if in.Count.Distinct != DistinctRecord && rs.Entity != connectors.Person {
			errs = append(errs, c.errorf(i, []any{"count", "distinct"}, "%s: counts distinct %ss of %s.%s (%s), whose records are about %ss",
				in.Name, in.Count.Distinct, d.Code, set, d.File, rs.Entity))
		}
		for k, w := range in.Count.Where {
			if _, ok := rs.Field(w.Field); !ok {
				errs = append(errs, c.errorf(i, []any{"count", "where", k, "field"}, "%s: record set %s of %s has no field %q", in.Name, set, d.File, w.Field))
			}
		}
	}
	return errs
}

// countsFingerprint hashes the definitions of the count indicators: what
// the stored counts are counts of.
func (c *Catalogue) countsFingerprint() string {
	h := sha256.New()
	for _, in := range c.list {
		if in.Count != nil {
			b, _ := json.Marshal(struct {
				Name, Department string
				Count            *Count
			}{in.Name, in.Department, in.Count})
			h.Write(b)
			h.Write([]byte{0})
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Fingerprint hashes the whole catalogue, labels and definitions included:
// what a published table depends on besides the counts.
func (c *Catalogue) Fingerprint() string { return c.fp }

// All returns the indicators in catalogue order. They must not be modified.
func (c *Catalogue) All() []*Indicator { return c.list }

// Names returns the indicator names in catalogue order.
func (c *Catalogue) Names() []string {
	out := make([]string, len(c.list))
	for i, in := range c.list {
		out[i] = in.Name
	}
	return out
}

// Lookup returns the indicator called name.
func (c *Catalogue) Lookup(name string) (*Indicator, bool) {
	in, ok := c.byName[name]
	return in, ok
}

// Departments returns the departments whose data an indicator depends on: its
// own, and for a rate those of its counts.
func (c *Catalogue) Departments(in *Indicator) []string {
	if in.Rate == nil {
		return []string{in.Department}
	}
	out := []string{c.byName[in.Rate.Numerator].Department}
	if d := c.byName[in.Rate.Denominator].Department; d != out[0] {
		out = append(out, d)
	}
	return out
}

// FindingKinds lists the kinds of findings the counts of findings name, in
// catalogue order.
func (c *Catalogue) FindingKinds() []string {
	var out []string
	for _, in := range c.list {
		if in.Count != nil && in.Count.Of == OfFindings {
			for _, k := range in.Count.Kinds {
				if !slices.Contains(out, k) {
					out = append(out, k)
				}
			}
		}
	}
	return out
}

// CheckFindings checks that every kind a count of findings names is one of
// kinds (the findings catalogue's), each problem at its line.
func (c *Catalogue) CheckFindings(kinds []string) error {
	var errs []error
	for i, in := range c.list {
		if in.Count == nil || in.Count.Of != OfFindings {
			continue
		}
		for j, k := range in.Count.Kinds {
			if !slices.Contains(kinds, k) {
				errs = append(errs, c.errorf(i, []any{"count", "kinds", j}, "%s: no finding kind %q in the findings catalogue (kinds: %s)",
					in.Name, k, strings.Join(kinds, ", ")))
			}
		}
	}
	return errors.Join(errs...)
}

// ForFindings is the catalogue without the counts of findings that name a
// kind not in kinds (and the rates and relations over them), as For does
// for departments.
func (c *Catalogue) ForFindings(kinds []string) *Catalogue {
	var keep []*Indicator
	dropped := map[string]bool{}
	for _, in := range c.list {
		if in.Count != nil && in.Count.Of == OfFindings && slices.ContainsFunc(in.Count.Kinds, func(k string) bool { return !slices.Contains(kinds, k) }) {
			dropped[in.Name] = true
		}
	}
	if len(dropped) == 0 {
		return c
	}
	// A sum with a part gone goes too, and a rate over a count gone.
	for grew := true; grew; {
		grew = false
		for _, in := range c.list {
			if !dropped[in.Name] && (in.Rate != nil && (dropped[in.Rate.Numerator] || dropped[in.Rate.Denominator]) ||
				slices.ContainsFunc(in.SumOf, func(n string) bool { return dropped[n] })) {
				dropped[in.Name], grew = true, true
			}
		}
	}
	for _, in := range c.list {
		if dropped[in.Name] {
			continue
		}
		if slices.ContainsFunc(in.SubsetOf, func(n string) bool { return dropped[n] }) {
			cp := *in
			cp.SubsetOf = slices.DeleteFunc(slices.Clone(in.SubsetOf), func(n string) bool { return dropped[n] })
			in = &cp
		}
		keep = append(keep, in)
	}
	out, err := newCatalogue(keep, c.file)
	if err != nil {
		panic("indicators: a subset of a valid catalogue failed: " + err.Error())
	}
	return out
}
