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
// the published ones. The decision is a function of the counts only, computed
// once per version of the counts and reused by every table. A rate is withheld
// when its numerator or denominator is, or when the denominator is below the
// threshold. Related indicators are not suppressed jointly: the catalogue must
// not publish counts that add up to another published count.
//
// # Caching
//
// Tables are cached by query and data version, in process and in the shared
// cache (Redis when configured). Every completed sync bumps the data version,
// so a sync invalidates every cached table without deleting anything.
package indicators

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/gridhub/gridhub/connectors"
)

//go:embed catalogue.yaml
var catalogueYAML []byte

// Core is the department of indicators over the master index.
const Core = "core"

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
}

var nameRE = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)

// Default is the built-in catalogue (catalogue.yaml).
func Default() *Catalogue {
	c, err := Parse(catalogueYAML)
	if err != nil {
		panic("indicators: built-in catalogue: " + err.Error())
	}
	return c
}

// Parse reads and validates a catalogue; unknown keys are errors.
func Parse(data []byte) (*Catalogue, error) {
	var list []*Indicator
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("indicators: catalogue: %w", err)
	}
	return New(list)
}

// New validates indicators into a catalogue.
func New(list []*Indicator) (*Catalogue, error) {
	c := &Catalogue{list: list, byName: make(map[string]*Indicator, len(list))}
	var errs []error
	for i, in := range list {
		if in == nil {
			errs = append(errs, fmt.Errorf("entry %d is empty", i+1))
			continue
		}
		if !nameRE.MatchString(in.Name) {
			errs = append(errs, fmt.Errorf("entry %d: name %q is not camelCase", i+1, in.Name))
			continue
		}
		if c.byName[in.Name] != nil {
			errs = append(errs, fmt.Errorf("%s: duplicate name", in.Name))
			continue
		}
		c.byName[in.Name] = in
	}
	for _, in := range list {
		if in != nil && c.byName[in.Name] == in {
			if err := c.check(in); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", in.Name, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("indicators: catalogue: %w", err)
	}
	return c, nil
}

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
	case OfPersons, OfHouseholds:
		if in.Department != Core {
			return fmt.Errorf("a count of %s is over the master index: department %q, want %q", n.Of, in.Department, Core)
		}
		if len(n.Sets) > 0 || len(n.Where) > 0 || n.Distinct != "" {
			return fmt.Errorf("sets, where and distinct are for facts, not %s", n.Of)
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
		if in.Department == Core {
			return errors.New("a count of facts needs a department")
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
		return fmt.Errorf("count of %q, want persons, households or facts", n.Of)
	}
	return nil
}

// CheckDepartments checks the catalogue against the department mapping files:
// every department exists, and every count of facts names record sets and
// fields the department maps. The hub runs it at start-up.
func (c *Catalogue) CheckDepartments(depts []*connectors.Department) error {
	byCode := map[string]*connectors.Department{}
	for _, d := range depts {
		byCode[d.Code] = d
	}
	var errs []error
	for _, in := range c.list {
		if in.Department == Core {
			continue
		}
		d := byCode[in.Department]
		if d == nil {
			errs = append(errs, fmt.Errorf("%s: unknown department %q", in.Name, in.Department))
			continue
		}
		if in.Count == nil {
			continue
		}
		for _, set := range in.Count.Sets {
			var rs *connectors.RecordSet
			for i := range d.Records {
				if d.Records[i].Name == set {
					rs = &d.Records[i]
				}
			}
			if rs == nil {
				errs = append(errs, fmt.Errorf("%s: %s has no record set %q", in.Name, d.Code, set))
				continue
			}
			if in.Count.Distinct != DistinctRecord && rs.Entity != connectors.Person {
				errs = append(errs, fmt.Errorf("%s: counts distinct %ss of %s.%s, whose records are about %ss",
					in.Name, in.Count.Distinct, d.Code, set, rs.Entity))
			}
			for _, w := range in.Count.Where {
				if !slices.ContainsFunc(rs.Fields, func(f connectors.Field) bool { return f.Name == w.Field }) {
					errs = append(errs, fmt.Errorf("%s: %s.%s has no field %q", in.Name, d.Code, set, w.Field))
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("indicators: catalogue: %w", err)
	}
	return nil
}

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
