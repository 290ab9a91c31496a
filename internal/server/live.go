package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/internal/auth"
)

// Live updates: the GraphQL subscriptions (schema/live.graphqls) over
// graphql-ws and SSE, gqlgen's transports, on POST and GET /graphql beside
// the other requests.
//
//   - graphql-ws: GET /graphql upgraded to a WebSocket (subprotocols
//     graphql-transport-ws and graphql-ws). A browser cannot set headers on
//     a WebSocket, so the token comes in connection_init's payload as
//     {"Authorization": "Bearer <token>"} (and the purpose as "X-Purpose"),
//     verified as the header is; without one the connection is refused.
//     The WebSocket takes requests from the hub's own origin only (or from
//     clients that send none, as programs do).
//   - SSE: POST /graphql with Accept: text/event-stream, the token and the
//     purpose as headers, through the same middleware as a query.
//
// Neither stream is bounded by the request timeout; each subscription ends
// when its token expires (graph.untilExpiry) and every stream when the hub
// drains. Queries and mutations sent over them keep the request timeout.

// liveKeepAlive is how often an idle stream says it is alive (proxies close
// silent connections).
const liveKeepAlive = 15 * time.Second

// addLiveTransports adds the WebSocket and SSE transports, before the ones
// that take every request.
func addLiveTransports(srv *handler.Server, opts Options) {
	srv.AddTransport(transport.Websocket{
		KeepAlivePingInterval: liveKeepAlive,
		InitTimeout:           10 * time.Second,
		InitFunc: func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			// A refusal closes the connection with 4403, as graphql-ws says,
			// its code and reason in the close frame.
			refuse := func(code, msg string) (context.Context, *transport.InitPayload, error) {
				reason := code + ": " + msg
				if len(reason) > 120 {
					reason = reason[:120]
				}
				ctx = transport.AppendCloseReason(transport.WithWebsocketCloseCode(ctx, 4403), reason)
				return ctx, nil, errors.New(reason)
			}
			token, ok := strings.CutPrefix(p.Authorization(), "Bearer ")
			if !ok || token == "" {
				return refuse("UNAUTHENTICATED", `connection_init must carry {"Authorization": "Bearer <token>"}`)
			}
			pr, err := opts.Auth.Verify(ctx, token)
			if err != nil {
				return refuse("UNAUTHENTICATED", err.Error())
			}
			pol := opts.Config.Get().Policy
			pu, err := pol.Purpose(p.GetString("X-Purpose"))
			if err != nil {
				return refuse("BAD_USER_INPUT", err.Error())
			}
			return graph.WithPurpose(auth.WithPrincipal(ctx, pr), pol, pu), nil, nil
		},
	})
	srv.AddTransport(transport.SSE{KeepAlivePingInterval: liveKeepAlive})
	// A query or mutation over a stream keeps the request timeout.
	timeout := opts.RequestTimeout
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		if oc.Operation == nil || oc.Operation.Operation == ast.Subscription {
			return next(ctx)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		respond := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			defer cancel()
			return respond(ctx)
		}
	})
}

// isWebSocket says whether r asks for a WebSocket.
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// isSSE says whether r asks for an SSE stream (what transport.SSE takes).
func isSSE(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// liveOr serves the live streams on /graphql when the hub has live updates,
// every other request through api: the WebSocket with its token in
// connection_init, SSE through the middleware of a query but the timeout;
// both end when the hub drains.
func (h *Handler) liveOr(opts Options, resolver *graph.Resolver, gql http.Handler, api http.Handler) http.Handler {
	if opts.Live == nil {
		return api
	}
	ws := rateLimit(opts.Limiter, resolver.WithLoaders(gql))
	sse := limitBody(opts.Auth.Middleware(rateLimit(opts.Limiter, withPurpose(opts.Config, resolver.WithLoaders(gql)))))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var next http.Handler
		switch {
		case isWebSocket(r):
			next = ws
		case isSSE(r):
			next = sse
		default:
			api.ServeHTTP(w, r)
			return
		}
		// A stream outlives the server's read and write timeouts.
		rc := http.NewResponseController(w)
		rc.SetReadDeadline(time.Time{})
		rc.SetWriteDeadline(time.Time{})
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(h.live, cancel)
		defer stop()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
