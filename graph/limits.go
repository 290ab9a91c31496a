package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/gridhub/gridhub/graph/generated"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/people"
)

// Limits rejects an operation before it runs when it is too deep, selects too
// many fields (aliases count), or costs too much by the schema's complexity
// (lists count once per row of the page they ask for). The answer is one error
// with extensions.code QUERY_TOO_COMPLEX, and nothing is executed.
type Limits struct {
	MaxDepth      int
	MaxFields     int
	MaxComplexity int
	es            graphql.ExecutableSchema
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = (*Limits)(nil)

// ExtensionName implements graphql.HandlerExtension.
func (*Limits) ExtensionName() string { return "Limits" }

// Validate implements graphql.HandlerExtension.
func (l *Limits) Validate(es graphql.ExecutableSchema) error {
	l.es = es
	return nil
}

// MutateOperationContext checks the operation once it is parsed and validated
// (so fragment cycles are already refused).
func (l *Limits) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	depth, fields := measure(oc.Operation.SelectionSet, 1, map[string]bool{})
	switch {
	case depth > l.MaxDepth:
		return tooComplex("query depth %d exceeds the limit of %d", depth, l.MaxDepth)
	case fields > l.MaxFields:
		return tooComplex("query selects %d fields, more than the limit of %d", fields, l.MaxFields)
	}
	if c := complexity.Calculate(ctx, l.es, oc.Operation, oc.Variables); c > l.MaxComplexity {
		return tooComplex("query complexity %d exceeds the limit of %d", c, l.MaxComplexity)
	}
	return nil
}

func tooComplex(format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    fmt.Sprintf(format, args...),
		Extensions: map[string]any{"code": string(apperr.QueryTooComplex)},
	}
}

// measure returns the depth of a selection set and the number of fields in it,
// counting a fragment's fields at every place it is spread (that is what runs).
// active guards against a fragment spreading itself, should validation ever
// let one through.
func measure(set ast.SelectionSet, depth int, active map[string]bool) (maxDepth, fields int) {
	maxDepth = depth - 1
	for _, sel := range set {
		var d, n int
		switch s := sel.(type) {
		case *ast.Field:
			d, n = depth, 1
			if len(s.SelectionSet) > 0 {
				cd, cn := measure(s.SelectionSet, depth+1, active)
				d, n = max(d, cd), n+cn
			}
		case *ast.InlineFragment:
			d, n = measure(s.SelectionSet, depth, active)
		case *ast.FragmentSpread:
			if s.Definition == nil || active[s.Name] {
				continue
			}
			active[s.Name] = true
			d, n = measure(s.Definition.SelectionSet, depth, active)
			delete(active, s.Name)
		}
		maxDepth, fields = max(maxDepth, d), fields+n
	}
	return maxDepth, fields
}

// Complexity prices the list fields by the page they ask for, so that a query
// nesting pages multiplies their cost as it multiplies the work.
func Complexity() generated.ComplexityRoot {
	var c generated.ComplexityRoot
	page := func(first *int) int {
		n, err := people.PageSize(first)
		if err != nil || n == 0 {
			return people.MaxPage
		}
		return n
	}
	c.Query.People = func(child int, _ string, first *int, _ *string) int { return 1 + child*page(first) }
	c.Query.Grids = func(child int, _ grid.Level, _ *string, first *int, _ *string) int { return 1 + child*page(first) }
	c.Grid.Children = func(child int, first *int, _ *string) int { return 1 + child*page(first) }
	// A household has a handful of members; price it as ten.
	c.Household.Members = func(child int) int { return 1 + child*10 }
	return c
}

// IntrospectionOff answers an operation that asks for the schema (__schema,
// __type) on a server with introspection turned off with one clear error
// before anything runs, rather than the executor's bare failure. It must be
// used after the extension that turns introspection on (in dev), so that it
// sees the final setting.
type IntrospectionOff struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = IntrospectionOff{}

// ExtensionName implements graphql.HandlerExtension.
func (IntrospectionOff) ExtensionName() string { return "IntrospectionOff" }

// Validate implements graphql.HandlerExtension.
func (IntrospectionOff) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext refuses a schema query when introspection is off.
func (IntrospectionOff) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil || !oc.DisableIntrospection || !introspects(oc.Operation.SelectionSet, map[string]bool{}) {
		return nil
	}
	return &gqlerror.Error{
		Message:    "introspection is turned off on this server: the schema is in the repository (schema/*.graphqls), and gridhub dev serves it",
		Extensions: map[string]any{"code": string(apperr.Forbidden)},
	}
}

// introspects tells whether a root selection set asks for __schema or __type.
func introspects(set ast.SelectionSet, active map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if introspects(s.SelectionSet, active) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && !active[s.Name] {
				active[s.Name] = true
				if introspects(s.Definition.SelectionSet, active) {
					return true
				}
			}
		}
	}
	return false
}
