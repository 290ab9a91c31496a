// Package server assembles the hub's HTTP surface: GraphQL, health and readiness,
// metrics and the landing page.
package server

import (
	"context"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/graph/generated"
	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/cache"
	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/findings"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/gridwork"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/linkage"
	"github.com/gridhub/gridhub/internal/live"
	"github.com/gridhub/gridhub/internal/people"
	"github.com/gridhub/gridhub/internal/policy"
	"github.com/gridhub/gridhub/internal/ratelimit"
	"github.com/gridhub/gridhub/internal/report"
	"github.com/gridhub/gridhub/internal/signin"
	"github.com/gridhub/gridhub/internal/store"
	"github.com/gridhub/gridhub/internal/web"
)

// Limits on what one request may ask.
const (
	// MaxComplexity bounds a query's cost: every field counts 1, lists count once
	// per row of the page they ask for. A 100-person page with all six
	// department sections costs about 10,000.
	MaxComplexity = 25000
	// MaxDepth bounds how deep a query nests.
	MaxDepth = 15
	// MaxFields bounds the fields one query selects, aliases included.
	MaxFields = 600
	// MaxTokens bounds the size of a query document the parser reads.
	MaxTokens = 15000
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes = 1 << 20
	// MaxUploadBytes bounds a multipart request (an event with its photos);
	// each photo's own limit is gridwork.yaml's.
	MaxUploadBytes = 24 << 20
)

// Options configure a Handler.
type Options struct {
	Store  *store.Store
	People *people.Service
	// Federation reaches the departments; nil serves the master index alone.
	Federation *federation.Federation
	// Auth verifies the bearer token of every GraphQL request.
	Auth *auth.Verifier
	// Config is the configuration in force: departments, the purpose
	// catalogue with their sharing classes, the catalogues.
	Config *config.Live
	// Ledger records every read of a person's record; nil records nothing
	// (benchmarks measure the hub with and without it).
	Ledger *audit.Ledger
	// Reports is the unified report (一表通); nil serves no reports.
	Reports *report.Service
	// Work is the grid's daily work (patrols, the diary, events, 考核); nil
	// serves none.
	Work *gridwork.Service
	// Figures serves indicator tables; Freshness each department's sync state.
	Figures   *indicators.Service
	Freshness func(ctx context.Context) ([]factsync.Freshness, error)
	// Cache backs automatic persisted queries; nil keeps them in process.
	Cache cache.Cache
	// Limiter limits requests per caller; nil means no limit.
	Limiter ratelimit.Limiter
	// SignIn serves the staff sign-in's paths (/auth/...): the identity
	// provider's sign-in (package signin); nil answers as a hub without
	// one (signin.Disabled).
	SignIn http.Handler
	// Trusted, when set, runs only registered operations.
	Trusted *graph.TrustedDocuments
	// RequestTimeout bounds one request (default 30s).
	RequestTimeout time.Duration
	// Metrics is the registry /metrics serves; nil makes a fresh one. Pass the one
	// the federation registered its series with.
	Metrics *prometheus.Registry
	Version string
	// Dev turns on GraphiQL and introspection.
	Dev bool
	// ExecutorOnly runs every operation on gqlgen's executor, without the
	// compiled plans of the hot queries (graph.Plans): the reference the
	// plans are tested against.
	ExecutorOnly bool
	// AfterSnapshot runs after an admin took a snapshot of the indicators
	// (the hub refreshes the bi schema); nil does nothing.
	AfterSnapshot func(ctx context.Context)
	// Linker is record linkage's review queue; nil serves none.
	Linker *linkage.Linker
	// Live tells the subscriptions what changed on any replica; nil serves
	// no subscriptions (live.go).
	Live *live.Hub
}

// Handler is the hub's HTTP handler.
type Handler struct {
	mux      *http.ServeMux
	store    *store.Store
	ready    atomic.Bool
	draining atomic.Bool
	// live ends the subscriptions' streams when the hub drains.
	live     context.Context
	stopLive context.CancelFunc
}

// Drain makes /readyz answer 503 from now on, for a hub on its way out: a
// load balancer stops sending it requests while it still answers them.
// The live streams (subscriptions) end at once: their clients subscribe
// again through another replica.
func (h *Handler) Drain() {
	h.draining.Store(true)
	h.stopLive()
}

// New builds the handler with every route.
func New(opts Options) *Handler {
	reg := opts.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gridhub_http_request_duration_seconds",
		Help:    "HTTP request duration by route and status class.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "code"})
	reg.MustRegister(duration, graph.ClientsGone, graph.IndicatorAnswersServed)
	if opts.Live != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "gridhub_live_subscriptions",
			Help: "GraphQL subscriptions (graphql-ws and SSE) this hub serves.",
		}, func() float64 { return float64(opts.Live.Subscribers()) }))
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = 30 * time.Second
	}
	if opts.Cache == nil {
		opts.Cache = cache.NewMemory(10_000)
	}

	resolver := &graph.Resolver{
		Registry:      grid.NewRegistry(opts.Store, 5*time.Second),
		Master:        opts.People,
		Federation:    opts.Federation,
		Ledger:        opts.Ledger,
		Reports:       opts.Reports,
		Config:        opts.Config,
		Figures:       opts.Figures,
		Freshness:     opts.Freshness,
		Version:       opts.Version,
		Work:          opts.Work,
		Linker:        opts.Linker,
		Live:          opts.Live,
		AfterSnapshot: opts.AfterSnapshot,
	}
	if opts.Store != nil {
		resolver.FindingStore = findings.NewReader(opts.Store.Pool)
	}
	gql := newGraphQL(resolver, opts, reg)

	h := &Handler{mux: http.NewServeMux(), store: opts.Store}
	h.live, h.stopLive = context.WithCancel(context.Background())
	route := func(pattern, name string, next http.Handler) {
		h.mux.Handle(pattern, instrument(duration, name, next))
	}
	// Outermost first: the body limit, the caller, the caller's rate, the
	// stated purpose, the time limit, then the request's loaders.
	api := limitBody(opts.Auth.Middleware(rateLimit(opts.Limiter,
		withPurpose(opts.Config, timeout(opts.RequestTimeout, resolver.WithLoaders(gql))))))
	route("/graphql", "graphql", h.liveOr(opts, resolver, gql, otelhttp.NewHandler(api, "graphql")))
	if opts.Work != nil {
		route("GET /export/assessment.csv", "export", otelhttp.NewHandler(
			opts.Auth.Middleware(rateLimit(opts.Limiter, timeout(opts.RequestTimeout, exportAssessment(resolver)))), "export"))
		route("GET /events/{id}/photos/{n}", "photo", otelhttp.NewHandler(
			opts.Auth.Middleware(rateLimit(opts.Limiter, timeout(opts.RequestTimeout, eventPhoto(opts.Work)))), "photo"))
	}
	if opts.Figures != nil {
		for _, e := range []struct {
			path, format string
			series       bool
		}{
			{"/export/indicators.csv", "csv", false},
			{"/export/indicators-series.csv", "csv", true},
			{"/export/indicators.xlsx", "xlsx", false},
			{"/export/indicators-series.xlsx", "xlsx", true},
		} {
			route("GET "+e.path, "export", otelhttp.NewHandler(
				opts.Auth.Middleware(rateLimit(opts.Limiter, timeout(opts.RequestTimeout, exportIndicators(resolver, e.series, e.format)))), "export"))
		}
	}
	route("GET /healthz", "healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	}))
	route("GET /readyz", "readyz", http.HandlerFunc(h.readyz))
	h.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if opts.Dev {
		// GraphiQL from the binary's own files: nothing from a CDN.
		h.mux.Handle("GET "+web.GraphiQLPath, web.GraphiQL())
		h.mux.Handle("GET "+web.GraphiQLPath+"/assets/", web.GraphiQL())
	}
	h.mux.Handle("GET /{$}", landing(opts.Dev))
	if opts.SignIn == nil {
		opts.SignIn = signin.Disabled(opts.Dev)
	}
	h.mux.Handle("/auth/", opts.SignIn)
	h.mux.Handle("GET /report", web.Report())
	h.mux.Handle("GET /map", web.Map())
	h.mux.Handle("GET /review", web.Review())
	h.mux.Handle("GET /diary", web.Diary())
	h.mux.Handle("GET /event", web.Event())
	h.mux.Handle("GET /approvals", web.Approvals())
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// newGraphQL builds the GraphQL server explicitly: the transports it speaks, the
// limits it enforces, the policy boundary, the audit, and the one error presenter.
func newGraphQL(resolver *graph.Resolver, opts Options, reg prometheus.Registerer) *handler.Server {
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: resolver, Complexity: graph.Complexity()}))
	// GET and POST as GraphQL over HTTP asks (graphqlhttp.go says where gqlgen's
	// transport.GET and transport.POST differ); OPTIONS answered by gqlgen.
	// Files (an event's photos), as the GraphQL multipart request spec sends
	// them; parts beyond MaxMemory go to temporary files. Before graphQLHTTP,
	// which takes every request it is offered.
	if opts.Live != nil {
		addLiveTransports(srv, opts)
	}
	srv.AddTransport(transport.MultipartForm{MaxUploadSize: MaxUploadBytes, MaxMemory: 8 << 20})
	srv.AddTransport(graphQLHTTP{})
	srv.AddTransport(transport.Options{})
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(MaxTokens)
	if opts.Trusted != nil {
		srv.Use(opts.Trusted)
	} else {
		srv.Use(extension.AutomaticPersistedQuery{Cache: graph.QueryCache{Cache: opts.Cache, TTL: 24 * time.Hour}})
	}
	srv.Use(&graph.Limits{MaxDepth: MaxDepth, MaxFields: MaxFields, MaxComplexity: MaxComplexity})
	if opts.Dev {
		srv.Use(extension.Introspection{})
	}
	srv.Use(graph.IntrospectionOff{})
	srv.Use(graph.Tracing{})
	if resolver.Figures != nil {
		srv.Use(graph.NewIndicatorAnswers(resolver, 32))
	}
	srv.Use(&graph.Operations{Ledger: opts.Ledger, Policy: func() *policy.Policy { return opts.Config.Get().Policy }})
	if !opts.ExecutorOnly {
		// Inside Operations: a plan's reads are noted in the operation's
		// read log like the executor's.
		plans := graph.NewPlans(resolver, 1000)
		reg.MustRegister(plans.Collector())
		srv.Use(plans)
	}
	srv.SetErrorPresenter(graph.PresentError)
	return srv
}

// readyz answers 200 once the database answers and every migration is
// applied, until the hub drains.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	if h.draining.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := h.store.Pool.Ping(ctx); err != nil {
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	if !h.ready.Load() {
		pending, err := h.store.Pending(ctx)
		if err != nil || pending {
			http.Error(w, "migrations pending", http.StatusServiceUnavailable)
			return
		}
		h.ready.Store(true)
	}
	w.Write([]byte("ready\n"))
}

// limitBody refuses a body over MaxBodyBytes (MaxUploadBytes for a multipart
// request, which carries files): at once with 413 when its length is
// declared, and by cutting the read short when it is not.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := int64(MaxBodyBytes)
		if isMultipart(r) {
			limit = MaxUploadBytes
		}
		if r.ContentLength > limit {
			writeError(w, r, http.StatusRequestEntityTooLarge, "BAD_USER_INPUT",
				fmt.Sprintf("request body of %d bytes exceeds the limit of %d", r.ContentLength, limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// isMultipart says whether a request is a multipart form (the GraphQL
// multipart request spec: files).
func isMultipart(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "multipart/form-data"
}

// writeError answers with a GraphQL-shaped error body and no data, for refusals
// made before the GraphQL server runs the request, in the media type its Accept
// negotiates (application/graphql-response+json when asked for, as the auth
// middleware's 401 does).
func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	writeJSON(w, r, status, map[string]any{
		"errors": []map[string]any{{"message": message, "extensions": map[string]any{"code": code}}},
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets a WebSocket take over the connection (live.go).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush sends what is written so far (an SSE stream's events, live.go).
func (w *statusWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

func instrument(h *prometheus.HistogramVec, route string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		h.WithLabelValues(route, http.StatusText(sw.code)).Observe(time.Since(start).Seconds())
	})
}

var landingPage = template.Must(template.New("landing").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>gridhub 社区网格数据中枢</title>
<style>body{font-family:system-ui,"PingFang SC","Noto Sans CJK SC",sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;line-height:1.6}a{display:block;margin:.5rem 0}</style>
</head><body>
<h1>gridhub 社区网格数据中枢</h1>
<p>统一查询各部门共享的居民、住户和单位信息，一表通填报，按街道、社区、网格汇总指标。</p>
{{if .Dev}}<a href="/graphiql">GraphiQL 查询调试</a>{{end}}
<a href="/report">一表通填报</a>
<a href="/diary">民情日记</a>
<a href="/event">事件上报</a>
<a href="/review">关联审核</a>
<a href="/approvals">表单准入审批</a>
<a href="/map">网格地图</a>
<a href="/graphql">GraphQL 接口 (POST /graphql)</a>
</body></html>`))

func landing(dev bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		landingPage.Execute(w, struct{ Dev bool }{dev})
	})
}
