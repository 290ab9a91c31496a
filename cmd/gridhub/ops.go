package main

import (
	"context"
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

// runMigrate applies pending migrations.
func runMigrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dir := fs.String("data-dir", "", "act on a gridhub dev data dir")
	if err := fs.Parse(args); err != nil {
		return err
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
	n, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("migrations applied: %d\n", n)
	return nil
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
	dir := fs.String("data-dir", "", "act on a gridhub dev data dir")
	var o seedOptions
	fs.StringVar(&o.scale, "scale", "demo", "demo (铜官区, about 250,000 residents) or city (all of 铜陵市, about 1.3 million)")
	fs.IntVar(&o.residents, "residents", 0, "scale to about this many residents (0: natural size)")
	fs.Int64Var(&o.seed, "seed", 1, "generator seed: the same seed gives the same city")
	fs.StringVar(&o.truth, "truth", "", "directory for the generator's ground truth (default: the data dir's truth/)")
	if err := fs.Parse(args); err != nil {
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
