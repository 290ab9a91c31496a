package graph

import (
	"context"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/people"
)

// IndicatorsFor serves an indicator table to a caller allowed aggregates for
// the whole of within: a bi_reader (city-wide or under its scope), a row role
// within its row scope. A scoped caller must name a within inside its scope.
// The CSV export goes through here too, so both publish the same cells.
func (r *Resolver) IndicatorsFor(ctx context.Context, level grid.Level, within *string, names []string) (*indicators.Table, error) {
	pr, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	code := ""
	if within != nil && *within != "" {
		if err := people.CheckCode("within", *within); err != nil {
			return nil, err
		}
		code = *within
	}
	if !pr.InAggregateScope(code) {
		return nil, &apperr.Error{Code: apperr.Forbidden, Field: "within",
			Message: "these figures are outside your scope: name a within code inside it"}
	}
	return r.Figures.Table(ctx, level, code, names)
}
