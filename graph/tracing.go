package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Tracing is a gqlgen extension giving each GraphQL operation its span; loader
// batches and connector calls open theirs beneath it. Variables are never
// recorded: they hold ID numbers.
type Tracing struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = Tracing{}

// ExtensionName implements graphql.HandlerExtension.
func (Tracing) ExtensionName() string { return "Tracing" }

// Validate implements graphql.HandlerExtension.
func (Tracing) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse wraps the whole operation, from execution to the response.
func (Tracing) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	name := oc.OperationName
	if name == "" && oc.Operation != nil {
		name = oc.Operation.Name
	}
	op := "query"
	if oc.Operation != nil {
		op = string(oc.Operation.Operation)
	}
	ctx, span := tracer.Start(ctx, "graphql."+op, trace.WithAttributes(
		attribute.String("graphql.operation.type", op),
		attribute.String("graphql.operation.name", name),
	))
	defer span.End()
	resp := next(ctx)
	if resp != nil && len(resp.Errors) > 0 {
		span.SetAttributes(attribute.Int("graphql.errors", len(resp.Errors)))
		span.SetStatus(codes.Error, resp.Errors[0].Message)
	}
	return resp
}
