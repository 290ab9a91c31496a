package graph

import (
	"context"
	"time"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/gridwork"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/people"
)

// IndicatorsFor serves an indicator table to a caller allowed aggregates for
// the whole of within: a bi_reader (city-wide or under its scope), a row role
// within its row scope. within may be the city's own 4-digit code, or be
// left out, for the whole city: for callers whose scope is the whole city
// (an admin, a bi_reader or dept_officer without scope codes). A scoped
// caller must name a within inside its scope. The CSV export goes through
// here too, so both publish the same cells.
//
// With period, the table is the one published in that period.
func (r *Resolver) IndicatorsFor(ctx context.Context, level grid.Level, within *string, names []string, period *string) (*indicators.Table, error) {
	code, err := r.aggregateWithin(ctx, within)
	if err != nil {
		return nil, err
	}
	if period != nil {
		return r.Figures.TableAt(ctx, *period, level, code, names)
	}
	return r.Figures.Table(ctx, level, code, names)
}

// SeriesFor serves the tables of a range of periods (from and to are period
// labels, nil for the first and the last) to the callers IndicatorsFor
// serves, under the same scope rules.
func (r *Resolver) SeriesFor(ctx context.Context, level grid.Level, within *string, names []string, from, to *string) ([]*indicators.Table, error) {
	code, err := r.aggregateWithin(ctx, within)
	if err != nil {
		return nil, err
	}
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	return r.Figures.Series(ctx, level, code, names, deref(from), deref(to))
}

// aggregateWithin checks within against the caller's aggregate scope and
// returns the unit code tables are cut under ("" for the whole city).
func (r *Resolver) aggregateWithin(ctx context.Context, within *string) (string, error) {
	pr, err := principal(ctx)
	if err != nil {
		return "", err
	}
	code := ""
	if within != nil && *within != "" {
		code = *within
		if len(code) == cityCodeLen {
			city, err := r.cityCode(ctx)
			if err != nil {
				return "", err
			}
			if code != city {
				return "", &apperr.Error{Code: apperr.NotFound, Field: "within", Message: "within names no city of this hub"}
			}
			code = ""
		} else if err := people.CheckCode("within", code); err != nil {
			return "", apperr.BadInput("within", "length", "within must be the city's 4-digit code or a grid code of 6, 9, 12 or 15 digits")
		}
	}
	if code == "" && !pr.WholeCity() || code != "" && !pr.InAggregateScope(code) {
		return "", &apperr.Error{Code: apperr.Forbidden, Field: "within",
			Message: "these figures are outside your scope: name a within code inside it"}
	}
	return code, nil
}

// AssessmentFor serves the 考核 table of a period to a caller allowed the
// figures of the whole of within (as IndicatorsFor); the CSV export goes
// through here too.
func (r *Resolver) AssessmentFor(ctx context.Context, level grid.Level, within *string, from, to time.Time, names []string) (*indicators.Table, error) {
	w, err := r.work()
	if err != nil {
		return nil, err
	}
	code, err := r.aggregateWithin(ctx, within)
	if err != nil {
		return nil, err
	}
	ix, err := r.Registry.Index(ctx)
	if err != nil {
		return nil, err
	}
	return w.Assess(ctx, ix, level, code, gridwork.Period{From: from, To: to}, names)

}

// chinaTime is China Standard Time, in which snapshot labels are written.
var chinaTime = time.FixedZone("CST", 8*60*60)

// cityCodeLen is the length of a prefecture-level city's code (铜陵市 3407).
const cityCodeLen = 4

// cityCode is the city the registry covers: the prefix its districts share.
func (r *Resolver) cityCode(ctx context.Context) (string, error) {
	ix, err := r.Registry.Index(ctx)
	if err != nil {
		return "", err
	}
	city := ""
	for _, d := range ix.Units(grid.District) {
		switch {
		case city == "":
			city = d.Code[:cityCodeLen]
		case d.Code[:cityCodeLen] != city:
			return "", nil // districts of several cities: none is the whole
		}
	}
	return city, nil
}
