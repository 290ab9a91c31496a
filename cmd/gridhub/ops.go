package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/gridhub/gridhub/internal/deptsim"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/store"
	"github.com/gridhub/gridhub/internal/synth"
	"github.com/jackc/pgx/v5"
)

// runMigrate applies pending migrations, as the owner of the tables. With
// --wait it applies none and waits until another has: what the hub's pods do
// (as the hub's own role) before they start, while the migration Job runs.
func runMigrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	wait := fs.Duration("wait", 0, "apply nothing: wait up to this long until the database answers and every migration is applied; exit 1 if it does not")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if *dir, err = databaseDir(fs, *dir, os.Getenv); err != nil {
		return err
	}
	t, err := openTarget(ctx, *dir)
	if err != nil {
		return err
	}
	defer t.stop()
	if *wait > 0 {
		return waitMigrated(ctx, t.url, *wait)
	}
	st, err := store.Open(ctx, t.url)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("migrations applied: %d\n", n)
	return nil
}

// waitMigrated polls the database at url until it answers and no migration
// is pending, or until wait has passed.
func waitMigrated(ctx context.Context, url string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var last error
	for {
		pending, err := migrationsPending(ctx, url)
		switch {
		case err == nil && !pending:
			fmt.Println("migrations: every one is applied")
			return nil
		case err == nil:
			last = errors.New("migrations are pending")
		default:
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("migrate --wait: not migrated after %s: %w", wait, last)
		case <-time.After(2 * time.Second):
		}
	}
}

// migrationsPending opens the database once and asks whether migrations
// remain; an error is a database that does not answer, or one whose tables
// the role may not read yet (the grants come with the migrations).
func migrationsPending(ctx context.Context, url string) (bool, error) {
	st, err := store.Open(ctx, url)
	if err != nil {
		return false, err
	}
	defer st.Close()
	return st.Pending(ctx)
}

type seedOptions struct {
	scale     string
	residents int
	seed      int64
	truth     string
}

// runSeed generates a city and loads it, replacing the master index.
func runSeed(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	dir := dataDirFlag(fs)
	var o seedOptions
	fs.StringVar(&o.scale, "scale", "demo", "demo (铜官区, about 250,000 residents) or city (all of 铜陵市, about 1.3 million)")
	fs.IntVar(&o.residents, "residents", 0, "scale to about this many residents (0: natural size)")
	fs.Int64Var(&o.seed, "seed", 1, "generator seed: the same seed gives the same city")
	fs.StringVar(&o.truth, "truth", "", "directory for the generator's ground truth (default: the data dir's truth/)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if *dir, err = databaseDir(fs, *dir, os.Getenv); err != nil {
		return err
	}
	if o.truth == "" && *dir != "" {
		o.truth = dataDir(*dir).truth()
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
	if _, err = seed(ctx, st, t.keys, o); err != nil || *dir == "" {
		return err
	}
	// A gridhub dev data dir: record the city as dev does, and drop the
	// department systems built from the city it replaced, so that the next
	// gridhub dev builds them from this one.
	d := dataDir(*dir)
	if err := recordCity(d, o); err != nil {
		return err
	}
	if err := os.RemoveAll(d.departments()); err != nil {
		return err
	}
	for _, dept := range deptsim.Departments() {
		if deptsim.Kind(dept) != deptsim.KindSQL {
			continue
		}
		if _, err := st.Pool.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{deptsim.DatabaseName(dept)}.Sanitize()+` WITH (FORCE)`); err != nil {
			return fmt.Errorf("drop the department database of the replaced city: %w", err)
		}
	}
	return nil
}

// seed generates the city, writes its ground truth, and loads it.
func seed(ctx context.Context, st *store.Store, keys *secret.Keys, o seedOptions) (*synth.City, error) {
	start := time.Now()
	city, err := synth.Generate(synth.Options{Scale: o.scale, Residents: o.residents, Seed: o.seed})
	if err != nil {
		return nil, fmt.Errorf("generate city: %w", err)
	}
	generated := time.Since(start)
	if o.truth != "" {
		if err := city.WriteTruth(o.truth); err != nil {
			return nil, fmt.Errorf("write ground truth: %w", err)
		}
	}
	stats, err := st.LoadCity(ctx, city, keys)
	if err != nil {
		return nil, err
	}
	total := time.Since(start)
	slog.Info("seeded", "area", city.Area, "residents", stats.Persons, "households", stats.Households,
		"buildings", stats.Buildings, "organizations", stats.Organizations, "grid_units", stats.Units,
		"generate", generated.Round(time.Millisecond), "load", stats.Elapsed.Round(time.Millisecond),
		"total", total.Round(time.Millisecond),
		"rows_per_s", int(float64(stats.Rows())/total.Seconds()))
	return city, nil
}
