package graph

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gridhub/gridhub/internal/grid"
)

// IndicatorAnswers is the extension that answers a query asking for nothing
// but one indicator table from the encoded bytes of the same query's earlier
// answer. A city's table is some 35,000 cells: the indicator service keeps
// the table itself, but writing it out field by field again costs more than
// computing it. The bytes are kept under the table's cache key (which moves
// with the data, the registry and the catalogue) and the query text and
// variables (which decide the answer's shape); the caller's right to the
// figures is checked on every request, hit or not, exactly as the resolver
// checks it. Answers with errors are not kept.
type IndicatorAnswers struct {
	Resolver *Resolver
	answers  *lru.Cache[string, json.RawMessage]
}

// NewIndicatorAnswers keeps the last n answers.
func NewIndicatorAnswers(r *Resolver, n int) *IndicatorAnswers {
	c, _ := lru.New[string, json.RawMessage](n)
	return &IndicatorAnswers{Resolver: r, answers: c}
}

// maxKeptAnswer is the largest answer kept, bytes (the whole city's grids
// with every indicator is about 2 MB).
const maxKeptAnswer = 16 << 20

// IndicatorAnswersServed counts indicator-only queries by where their answer came from.
var IndicatorAnswersServed = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "gridhub_indicator_answers_total",
	Help: "Queries asking only for an indicator table, by whether their encoded answer was kept (from=kept) or written (from=written).",
}, []string{"from"})

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = (*IndicatorAnswers)(nil)

// ExtensionName implements graphql.HandlerExtension.
func (*IndicatorAnswers) ExtensionName() string { return "IndicatorAnswers" }

// Validate implements graphql.HandlerExtension.
func (*IndicatorAnswers) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse implements graphql.ResponseInterceptor.
func (a *IndicatorAnswers) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	key, ok := a.key(ctx)
	if !ok {
		return next(ctx)
	}
	if data, ok := a.answers.Get(key); ok {
		IndicatorAnswersServed.WithLabelValues("kept").Inc()
		return &graphql.Response{Data: data}
	}
	resp := next(ctx)
	IndicatorAnswersServed.WithLabelValues("written").Inc()
	if resp != nil && len(resp.Errors) == 0 && len(resp.Data) > 0 && len(resp.Data) <= maxKeptAnswer {
		a.answers.Add(key, resp.Data)
	}
	return resp
}

// key is the answer's key when the operation is a query of exactly one
// root field, indicators, that the caller may have; ok is false otherwise
// (the operation then runs as usual and reports its own errors).
func (a *IndicatorAnswers) key(ctx context.Context) (string, bool) {
	if !graphql.HasOperationContext(ctx) {
		return "", false
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation != ast.Query {
		return "", false
	}
	fields := graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{"Query"})
	if len(fields) != 1 || fields[0].Name != "indicators" {
		return "", false
	}
	args := fields[0].ArgumentMap(oc.Variables)
	level, ok := levelNamed(args["level"])
	if !ok {
		return "", false
	}
	var within *string
	if w, ok := args["within"].(string); ok {
		within = &w
	}
	var names []string
	if list, ok := args["names"].([]any); ok {
		for _, n := range list {
			s, ok := n.(string)
			if !ok {
				return "", false
			}
			names = append(names, s)
		}
	}
	code, err := a.Resolver.aggregateWithin(ctx, within)
	if err != nil {
		return "", false
	}
	table, err := a.Resolver.Figures.Key(ctx, level, code, names)
	if err != nil {
		return "", false
	}
	vars, err := json.Marshal(oc.Variables) // map keys sorted: one text per value
	if err != nil {
		return "", false
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", table, oc.RawQuery, oc.OperationName, vars)
	return hex.EncodeToString(h.Sum(nil)), true
}

// levelNamed is the grid level of a GridLevel enum value.
func levelNamed(v any) (grid.Level, bool) {
	s, _ := v.(string)
	for l := grid.District; l <= grid.Grid; l++ {
		if l.String() == s {
			return l, true
		}
	}
	return 0, false
}
