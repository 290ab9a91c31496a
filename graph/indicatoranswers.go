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
// checks it. Answers with errors are not kept. An answer not kept yet is
// written in one pass over the table (encodeIndicators) when its selections
// are the table's own fields, by the executor otherwise.
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
	Help: "Queries asking only for an indicator table, by where their answer came from: the bytes kept from an earlier answer (from=kept), written in one pass over the table (from=encoded) or by the GraphQL executor (from=written).",
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
	q, ok := a.query(ctx)
	if !ok {
		return next(ctx)
	}
	if data, ok := a.answers.Get(q.key); ok {
		IndicatorAnswersServed.WithLabelValues("kept").Inc()
		return &graphql.Response{Data: data}
	}
	// Written here, in one pass over the table, when the selections are
	// the schema's fields of the table; by gqlgen otherwise, and for an
	// error, which gqlgen reports in its own words.
	if t, err := a.Resolver.IndicatorsFor(ctx, q.level, q.within, q.names, q.period); err == nil {
		if data, ok := encodeIndicators(ctx, graphql.GetOperationContext(ctx), q.root, t); ok {
			IndicatorAnswersServed.WithLabelValues("encoded").Inc()
			if len(data) <= maxKeptAnswer {
				a.answers.Add(q.key, data)
			}
			return &graphql.Response{Data: data}
		}
	}
	resp := next(ctx)
	IndicatorAnswersServed.WithLabelValues("written").Inc()
	if resp != nil && len(resp.Errors) == 0 && len(resp.Data) > 0 && len(resp.Data) <= maxKeptAnswer {
		a.answers.Add(q.key, resp.Data)
	}
	return resp
}

// indicatorQuery is an operation of exactly one root field, indicators:
// the field, its arguments, and the key of its answer.
type indicatorQuery struct {
	root           graphql.CollectedField
	level          grid.Level
	within, period *string
	names          []string
	key            string
}

// query is the operation when it is a query of exactly one root field,
// indicators, that the caller may have; ok is false otherwise (the
// operation then runs as usual and reports its own errors).
func (a *IndicatorAnswers) query(ctx context.Context) (q indicatorQuery, ok bool) {
	if !graphql.HasOperationContext(ctx) {
		return q, false
	}
	oc := graphql.GetOperationContext(ctx)
	if oc.Operation == nil || oc.Operation.Operation != ast.Query {
		return q, false
	}
	fields := graphql.CollectFields(oc, oc.Operation.SelectionSet, []string{"Query"})
	if len(fields) != 1 || fields[0].Name != "indicators" {
		return q, false
	}
	q.root = fields[0]
	args := q.root.ArgumentMap(oc.Variables)
	if q.level, ok = levelNamed(args["level"]); !ok {
		return q, false
	}
	if w, ok := args["within"].(string); ok {
		q.within = &w
	}
	if p, ok := args["period"].(string); ok {
		q.period = &p
	}
	if list, ok := args["names"].([]any); ok {
		for _, n := range list {
			s, ok := n.(string)
			if !ok {
				return q, false
			}
			q.names = append(q.names, s)
		}
	}
	code, err := a.Resolver.aggregateWithin(ctx, q.within)
	if err != nil {
		return q, false
	}
	table, err := a.Resolver.Figures.Key(ctx, q.level, code, q.names)
	if err != nil {
		return q, false
	}
	vars, err := json.Marshal(oc.Variables) // map keys sorted: one text per value
	if err != nil {
		return q, false
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s", table, oc.RawQuery, oc.OperationName, vars)
	q.key = hex.EncodeToString(h.Sum(nil))
	return q, true
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
