package graph

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/gridhub/gridhub/internal/apperr"
)

// PresentError is the one place where errors become GraphQL errors: a domain
// error keeps its message and gets extensions.code (and rule, field, department);
// anything else is logged and shown as an internal error, hiding what went wrong
// inside from the caller.
func PresentError(ctx context.Context, err error) *gqlerror.Error {
	var gqlErr *gqlerror.Error
	if errors.As(err, &gqlErr) && gqlErr.Err == nil {
		// Already a GraphQL error (parse, validation): keep it as gqlgen made it.
		return graphql.DefaultErrorPresenter(ctx, err)
	}
	out := graphql.DefaultErrorPresenter(ctx, err)
	if e, ok := apperr.As(err); ok {
		out.Message = e.Message
		ext := map[string]any{"code": string(e.Code)}
		if e.Field != "" {
			ext["field"] = e.Field
		}
		if e.Rule != "" {
			ext["rule"] = e.Rule
		}
		if e.Department != "" {
			ext["department"] = e.Department
		}
		out.Extensions = ext
		return out
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The client hung up or the request ran out of time: nothing went
		// wrong inside, and no one reads this answer (ClientsGone counts
		// them, once per request).
		slog.DebugContext(ctx, "resolver stopped", "path", out.Path.String(), "err", err)
		out.Message = "the request was cancelled or ran out of time"
		out.Extensions = map[string]any{"code": "REQUEST_CANCELLED"}
		return out
	}
	slog.ErrorContext(ctx, "resolver failed", "path", out.Path.String(), "err", err)
	out.Message = "internal error"
	out.Extensions = map[string]any{"code": "INTERNAL_SERVER_ERROR"}
	return out
}

// ClientsGone counts operations whose client hung up (or whose time ran out)
// before the answer was written: a load test's last requests, a closed tab.
// They are not errors of the hub, so they are counted, not logged.
var ClientsGone = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "gridhub_graphql_cancelled_total",
	Help: "GraphQL operations whose client hung up or whose time ran out before the answer.",
})
