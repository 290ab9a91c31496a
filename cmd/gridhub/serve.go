package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/internal/bi"
	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/federation"
	"github.com/gridhub/gridhub/internal/findings"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/gridwork"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/leader"
	"github.com/gridhub/gridhub/internal/linkage"
	livepkg "github.com/gridhub/gridhub/internal/live"
	"github.com/gridhub/gridhub/internal/people"
	"github.com/gridhub/gridhub/internal/report"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/server"
	"github.com/gridhub/gridhub/internal/signin"
	"github.com/gridhub/gridhub/internal/store"
	"github.com/gridhub/gridhub/internal/telemetry"
)

// runServe runs the hub alone, configured by flags and the environment.
func runServe(ctx context.Context, args []string) error {
	cfg := configFromEnv()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return errors.New("GRIDHUB_DATABASE_URL is not set")
	}
	keys, err := keysFromEnv()
	if err != nil {
		return err
	}
	slog.Info("starting", "config", cfg.String())
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	return serve(ctx, cfg, st, keys, func(addr string) {
		slog.Info("serving", "graphql", fmt.Sprintf("http://%s/graphql", addr))
	})
}

// serve runs the HTTP server until ctx ends, then shuts down within the timeout.
// ready is called once the listener is open.
func serve(ctx context.Context, cfg Config, st *store.Store, keys *secret.Keys, ready func(addr string)) error {
	shutdownTracing, err := telemetry.Setup(ctx, "gridhub", version)
	if err != nil {
		return err
	}
	defer shutdownTracing(context.Background())
	sh, err := openShared(ctx, cfg)
	if err != nil {
		return err
	}
	defer sh.close()
	conf, err := loadConfig(cfg.ConfigDir)
	if err != nil {
		return err
	}
	if cfg.PprofAddr != "" {
		if err := startPprof(ctx, cfg.PprofAddr); err != nil {
			return err
		}
	}
	live := config.NewLive(conf)
	verifier, err := openVerifier(cfg, live, keys)
	if err != nil {
		return err
	}
	defer verifier.Close()
	signIn, err := openSignIn(cfg, live, keys)
	if err != nil {
		return err
	}
	var trusted *graph.TrustedDocuments
	if cfg.TrustedDocuments != "" {
		if trusted, err = graph.LoadTrustedDocuments(cfg.TrustedDocuments); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	fed, err := federation.New(conf.Departments, federation.Options{Cache: sh.cache, Blinder: keys, Metrics: reg,
		Linked: linkage.NewRows(st.Pool, keys)})
	if err != nil {
		return err
	}
	defer fed.Close()
	ledger, checkpoints, closeLedger, err := openAudit(cfg, st, keys)
	if err != nil {
		return err
	}
	// What one replica does for all: the periodic fact sync and the audit
	// checkpoints, run by whichever leads. On the way out the ledger drains,
	// then the leader's duties stop (its last checkpoint then covers every
	// entry this process wrote) and the lead is given up, before the pool
	// closes (defers run last-in first-out).
	elector := leader.New(st.Pool.Config().ConnConfig, leader.Options{Metrics: reg})
	stopLeading := func() {}
	defer func() {
		closeLedger()
		stopLeading()
	}()
	var duties []leader.Duty
	if checkpoints != nil {
		duties = append(duties, checkpoints)
	}

	reports, err := report.NewService(st.Pool, conf.Catalogue, conf.Templates, fed, report.Options{Opener: keys})
	if err != nil {
		return err
	}
	// 准入: which streets approved the configuration's templates.
	reports.SetConfiguredAdmission(func(template, street string) bool {
		gw := live.Get().GridWork
		return gw == nil || gw.Admission.Approved(template, street)
	})
	// The grid's daily work, under the gridwork.yaml in force; its events
	// go out through the report's delivery queues.
	work, err := gridwork.NewService(st.Pool, func() *gridwork.Config { return live.Get().GridWork }, gridwork.Options{})
	if err != nil {
		return err
	}
	// The delivery workers: one River queue per department, retries with
	// backoff, coordinated through Postgres with every other replica.
	deliveries, err := report.NewClient(reports, report.WritersFunc(fed.Write), report.ClientConfig{
		Departments: conf.Codes(),
		MaxWorkers:  deliveryWorkers,
		// A delivery a killed hub left running is taken up again by another
		// replica after RESCUE_AFTER (River's own default is an hour, too long
		// for a report staff are watching); it must exceed JOB_TIMEOUT.
		JobTimeout:           envDuration("GRIDHUB_DELIVERY_JOB_TIMEOUT", time.Minute),
		RescueStuckJobsAfter: envDuration("GRIDHUB_DELIVERY_RESCUE_AFTER", 2*time.Minute),
		AddWorkers:           work.AddWorkers(fed),
	})
	if err != nil {
		return err
	}
	if err := deliveries.Start(ctx); err != nil {
		return fmt.Errorf("start report delivery: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		deliveries.Stop(stopCtx)
	}()

	registry := grid.NewRegistry(st, 5*time.Second)
	agg := indicators.NewAggregator(conf.Indicators)
	figures := indicators.NewService(st.Pool, conf.Indicators, registry, indicators.Options{Cache: sh.cache})
	linker := linkage.New(st.Pool, linkage.Options{})
	// The bi schema: refreshed after each round of fact syncs, when the
	// round's leader also takes the period snapshot that is due.
	snapshots, err := bi.ParseSchedule(cfg.SnapshotPeriod)
	if err != nil {
		return fmt.Errorf("GRIDHUB_SNAPSHOT_PERIOD: %w", err)
	}
	publisher := bi.NewPublisher(st.Pool, figures, nil)
	checks := findings.NewEngine(conf.Findings, agg)
	syncer := factsync.New(st.Pool, keys, federation.Feeds{Federation: fed}, registry, agg, factsync.Options{
		Parallel: cfg.SyncParallel,
		Linker:   linker,
		Findings: checks,
		// The cases of the events reported follow the department's facts.
		AfterSync: func(ctx context.Context, dept string, _ factsync.Stats) {
			if _, err := work.Follow(ctx, dept); err != nil && ctx.Err() == nil {
				slog.Warn("follow event cases", "department", dept, "err", err)
			}
		},
		AfterRound: func(ctx context.Context) { publisher.AfterSync(ctx, snapshots, time.Now()) },
	})
	if err := syncer.Prepare(ctx); err != nil {
		return fmt.Errorf("prepare indicators: %w", err)
	}
	duties = append(duties, func(ctx context.Context) { syncer.Run(ctx, cfg.SyncInterval) })
	leadCtx, cancelLead := context.WithCancel(context.WithoutCancel(ctx))
	leadDone := make(chan struct{})
	go func() {
		defer close(leadDone)
		elector.Run(leadCtx, duties...)
	}()
	stopLeading = func() { cancelLead(); <-leadDone }

	c := &configured{dir: cfg.ConfigDir, live: live, fed: fed, reports: reports, agg: agg, figures: figures, findings: checks,
		syncer: syncer, deliveries: deliveries, queues: map[string]bool{}, leading: elector.Leading}
	for _, code := range conf.Codes() {
		c.queues[code] = true
	}
	go reloadOnSignal(ctx, c)
	if cfg.WatchConfig && cfg.ConfigDir != "" {
		go watchConfig(ctx, cfg.ConfigDir, c)
	}

	// Master-index reads may be a moment behind (store.Reader says which
	// reads those are); everything else reads the primary.
	reader, err := store.OpenReader(ctx, st.Pool, cfg.DatabaseReplicaURL, store.ReaderOptions{MaxLag: cfg.ReplicaMaxLag, Metrics: reg})
	if err != nil {
		return err
	}
	defer reader.Close()

	// Live updates: every replica listens for what any of them changed.
	liveHub := livepkg.New(st.Pool, slog.Default())
	go liveHub.Run(ctx)

	h := server.New(server.Options{
		Store:      st,
		People:     people.NewService(reader, keys),
		Federation: fed,
		Auth:       verifier,
		Config:     live,
		Ledger:     ledger,
		Reports:    reports,
		Work:       work,
		Figures:    figures,
		Freshness:  syncer.Freshness,
		Linker:     linker,
		Live:       liveHub,
		// An admin's snapshot shows in the bi schema's series at once.
		AfterSnapshot: func(ctx context.Context) {
			if _, err := publisher.Refresh(ctx); err != nil {
				slog.Error("bi: refresh after a snapshot", "err", err)
			}
		},
		Cache:   sh.cache,
		Limiter: sh.limiter,
		SignIn:  signInHandler(signIn),
		Trusted: trusted,
		Metrics: reg,
		Version: version,
		Dev:     cfg.Dev,
	})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ready(ln.Addr().String())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	if cfg.ShutdownDelay > 0 {
		// Not ready any more, still serving: a load balancer sees /readyz
		// fail and sends new requests to the other replicas, while this one
		// answers what still comes, each answer closing its connection.
		slog.Info("shutting down: draining", "delay", cfg.ShutdownDelay)
		h.Drain()
		srv.SetKeepAlivesEnabled(false)
		select {
		case err := <-errc:
			return err
		case <-time.After(cfg.ShutdownDelay):
		}
	}
	timeout := cfg.ShutdownTimeout
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	slog.Info("shutting down")
	h.Drain() // ends the live streams (subscriptions), which Shutdown would wait for
	return srv.Shutdown(shutCtx)
}

// signInHandler is s as the server's sign-in routes: nil leaves the server
// its default (no provider).
func signInHandler(s *signin.Service) http.Handler {
	if s == nil {
		return nil
	}
	return s
}
