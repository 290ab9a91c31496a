package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/bi"
	"github.com/gridhub/gridhub/internal/factsync"
	"github.com/gridhub/gridhub/internal/findings"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/indicators"
	"github.com/gridhub/gridhub/internal/linkage"
	"github.com/gridhub/gridhub/internal/store"
)

// departmentsEnvFile is where a dev data dir may record the environment that
// points the mapping files at its departments (GRIDHUB_DEPT_*: the simulators'
// ports, the dev cluster's databases, the ledger), one KEY=VALUE a line, so
// that `gridhub sync --data-dir DIR` reaches what `gridhub dev` started.
const departmentsEnvFile = "departments.env"

// runSync pulls the departments' fact feeds into the hub's database once:
//
//	gridhub sync [--data-dir DIR] [--full] [--department D]
//
// Incremental from each department's watermark unless --full (which also
// removes the facts a department no longer has). With --data-dir it acts on a
// `gridhub dev` data dir, whose simulated departments must be running (run it
// while `gridhub dev` runs); otherwise on GRIDHUB_DATABASE_URL with the
// departments of GRIDHUB_CONFIG (or the built-in mapping files) and their
// GRIDHUB_DEPT_* variables. A department that does not answer is reported and
// makes the command fail; the others are still synced.
func runSync(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	dir := dataDirFlag(fs) // its departments must be running
	full := fs.Bool("full", false, "re-read every feed from the beginning and remove facts the departments no longer have")
	only := fs.String("department", "", "sync only this department (default: every department with a fact feed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sync: unexpected arguments %q", fs.Args())
	}
	var err error
	if *dir, err = databaseDir(fs, *dir, os.Getenv); err != nil {
		return err
	}
	if *dir != "" {
		if err := loadEnvFile(filepath.Join(*dir, departmentsEnvFile)); err != nil {
			return err
		}
	}
	cfg := configFromEnv()
	conf, err := loadConfig(cfg.ConfigDir)
	if err != nil {
		return err
	}
	depts, cat := conf.Departments, conf.Indicators
	if *only != "" {
		var found []*connectors.Department
		for _, d := range depts {
			if d.Code == *only {
				found = append(found, d)
			}
		}
		if len(found) == 0 {
			codes := make([]string, len(depts))
			for i, d := range depts {
				codes[i] = d.Code
			}
			return fmt.Errorf("sync: unknown department %q (want one of %s)", *only, strings.Join(codes, ", "))
		}
		depts = found
	}

	t, err := openTarget(ctx, *dir)
	if err != nil {
		return err
	}
	defer t.stop()
	st, err := store.Open(ctx, t.url)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		return err
	}
	if v, err := st.RegistryVersion(ctx); err != nil {
		return err
	} else if v == 0 {
		return errors.New("sync: the master index is empty: run `gridhub seed` first (facts are placed in grids through it)")
	}
	// After the target: a dev data dir's cluster, started here when `gridhub
	// dev` is not running, holds the SQL departments' databases.
	feeds, closeAll, problems := openFeeds(ctx, depts, *only != "")
	defer closeAll()
	if len(feeds) == 0 {
		return errors.Join(append([]error{errors.New("sync: no department to sync")}, problems...)...)
	}

	agg := indicators.NewAggregator(cat)
	registry := grid.NewRegistry(st, time.Minute)
	syncer := factsync.New(st.Pool, t.keys, feeds, registry, agg,
		factsync.Options{Linker: linkage.New(st.Pool, linkage.Options{}), Findings: findings.NewEngine(conf.Findings, agg)})

	results := map[string]factsync.Result{}
	if *only != "" {
		s, err := syncer.SyncDepartment(ctx, *only, *full)
		results[*only] = factsync.Result{Stats: s, Err: err}
	} else {
		results, _ = syncer.SyncAll(ctx, *full)
	}
	// The bi schema shows what the sync wrote, as after serve's syncs.
	if _, err := bi.NewPublisher(st.Pool, indicators.NewService(st.Pool, cat, registry, indicators.Options{}), nil).Refresh(ctx); err != nil {
		problems = append(problems, err)
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(w, "department\tsync\tfacts\tdeleted\tchanged\tunlinked\tgrids\ttime\tresult")
	for _, d := range feeds.Departments() {
		r, ok := results[d]
		if !ok {
			continue
		}
		kind := "incremental"
		if r.Stats.Full {
			kind = "full"
		}
		res := "ok"
		if r.Err != nil {
			res = "FAILED: " + r.Err.Error()
			problems = append(problems, r.Err)
		}
		s := r.Stats
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", d, kind, s.Facts, s.Deleted, s.Changed, s.Unlinked, s.Grids,
			s.Elapsed.Round(time.Millisecond), res)
	}
	w.Flush()
	if len(problems) > 0 {
		return fmt.Errorf("sync: %d department(s) not synced:\n%w", len(problems), errors.Join(problems...))
	}
	return nil
}

// openFeeds opens each department's connector and checks that it answers. A
// department without a fact feed is skipped (an error when it was asked for by
// name); one that does not answer is an error naming it and its address.
func openFeeds(ctx context.Context, depts []*connectors.Department, named bool) (factsync.FeedMap, func(), []error) {
	feeds := factsync.FeedMap{}
	var closers []connectors.Closer
	var problems []error
	for _, d := range depts {
		conn, err := connectors.Open(d)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		if c, ok := conn.(connectors.Closer); ok {
			closers = append(closers, c)
		}
		feed, ok := conn.(connectors.FactFeed)
		if !ok {
			if named {
				problems = append(problems, fmt.Errorf("department %s: its %s connector has no fact feed", d.Code, d.Kind))
			} else {
				fmt.Fprintf(os.Stderr, "department %s: no fact feed, skipped\n", d.Code)
			}
			continue
		}
		if hc, ok := conn.(connectors.HealthChecker); ok {
			hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := hc.Health(hctx)
			cancel()
			if err != nil {
				problems = append(problems, fmt.Errorf("department %s (%s) is unreachable at %s: %w (is `gridhub dev` running, or are its GRIDHUB_DEPT_* variables set?)",
					d.Code, d.Kind, address(d), err))
				continue
			}
		}
		feeds[d.Code] = feed
	}
	return feeds, func() {
		for _, c := range closers {
			c.Close()
		}
	}, problems
}

// address says where a department's source is, without secrets.
func address(d *connectors.Department) string {
	switch {
	case d.Source.SQL != nil:
		return redactURL(d.Source.SQL.DSN)
	case d.Source.REST != nil:
		return d.Source.REST.BaseURL
	case d.Source.Sheet != nil:
		return d.Source.Sheet.Path
	}
	return "(unknown)"
}

// loadEnvFile sets the KEY=VALUE lines of path in the environment, except for
// variables already set; a missing file is fine.
func loadEnvFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("%s:%d: want KEY=VALUE", path, n)
		}
		k = strings.TrimSpace(k)
		if _, set := os.LookupEnv(k); !set {
			os.Setenv(k, strings.TrimSpace(v))
		}
	}
	return sc.Err()
}
