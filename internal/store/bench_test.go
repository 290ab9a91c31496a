package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/store"
	"github.com/gridhub/gridhub/internal/synth"
)

// benchCityOptions reads the city to seed from the environment:
// GRIDHUB_BENCH_SCALE (demo or city; default demo) and GRIDHUB_BENCH_RESIDENTS
// (about this many residents, 0 for the scale's natural size; default 50000 so
// that a plain `go test -bench .` stays quick). scripts/bench.sh runs the whole
// city: GRIDHUB_BENCH_SCALE=city GRIDHUB_BENCH_RESIDENTS=0.
func benchCityOptions(b *testing.B) synth.Options {
	b.Helper()
	opts := synth.Options{Scale: synth.ScaleDemo, Residents: 50000, Seed: 1}
	if s := os.Getenv("GRIDHUB_BENCH_SCALE"); s != "" {
		opts.Scale = s
	}
	if s := os.Getenv("GRIDHUB_BENCH_RESIDENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			b.Fatalf("GRIDHUB_BENCH_RESIDENTS=%q: want a number of residents, 0 for the natural size", s)
		}
		opts.Residents = n
	}
	return opts
}

// BenchmarkLoadCity is the seeding rate: one op generates a city
// (synth.Generate) and loads it (Store.LoadCity, COPY in one transaction, then
// ANALYZE) into a fresh, migrated database. Creating and migrating the database
// is not timed.
//
// The database is the test cluster from devenv, which runs with fsync,
// synchronous_commit and full_page_writes off: this measures the generator and
// the loader, not the disk. scripts/bench.sh also times the real `gridhub seed
// --scale city` on a durable dev cluster.
func BenchmarkLoadCity(b *testing.B) {
	opts := benchCityOptions(b)
	ctx := context.Background()
	keys := testKeys(b)
	var (
		generate, load time.Duration
		rows, persons  int64
	)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := openFresh(b)
		b.StartTimer()

		start := time.Now()
		city, err := synth.Generate(opts)
		if err != nil {
			b.Fatal(err)
		}
		generated := time.Now()
		stats, err := st.LoadCity(ctx, city, keys)
		if err != nil {
			b.Fatal(err)
		}
		generate += generated.Sub(start)
		load += time.Since(generated)
		rows += stats.Rows()
		persons = stats.Persons
	}
	n := float64(b.N)
	b.ReportMetric(float64(persons), "residents")
	b.ReportMetric(float64(rows)/n, "rows")
	b.ReportMetric(generate.Seconds()/n, "generate-s")
	b.ReportMetric(load.Seconds()/n, "load-s")
	b.ReportMetric(float64(rows)/(generate+load).Seconds(), "rows/s")
}

// BenchmarkLoadCityBaselineCOPY is the baseline for BenchmarkLoadCity: the
// same city, rows and ID-number crypto, COPYed in one transaction the way the
// PostgreSQL manual advises for bulk loads ("Populating a Database"): foreign
// keys, unique constraints and secondary indexes dropped first and re-created
// after the data is in, then ANALYZE. Primary keys stay. It shows what the
// loader's row-by-row constraint checks and index maintenance cost.
func BenchmarkLoadCityBaselineCOPY(b *testing.B) {
	opts := benchCityOptions(b)
	ctx := context.Background()
	keys := testKeys(b)
	var (
		generate, load time.Duration
		rows, persons  int64
	)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := openFresh(b)
		b.StartTimer()

		start := time.Now()
		city, err := synth.Generate(opts)
		if err != nil {
			b.Fatal(err)
		}
		generated := time.Now()
		n, err := baselineLoad(ctx, st, city, keys)
		if err != nil {
			b.Fatal(err)
		}
		generate += generated.Sub(start)
		load += time.Since(generated)
		rows += n
		persons = int64(len(city.Persons))

		b.StopTimer()
		// The baseline must end where LoadCity ends: every row, every
		// constraint and index back.
		if got, want := tableCounts(b, st), cityCounts(city); !mapsEqual(got, want) {
			b.Fatalf("baseline load left %v rows, the city has %v", got, want)
		}
		if got, want := schemaObjects(b, st), schemaObjects(b, openFresh(b)); got != want || want == 0 {
			b.Fatalf("baseline load left %d constraints and indexes, a migrated database has %d", got, want)
		}
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(persons), "residents")
	b.ReportMetric(float64(rows)/n, "rows")
	b.ReportMetric(generate.Seconds()/n, "generate-s")
	b.ReportMetric(load.Seconds()/n, "load-s")
	b.ReportMetric(float64(rows)/(generate+load).Seconds(), "rows/s")
}

var masterTables = []string{"grid_units", "buildings", "households", "persons", "organizations"}

// baselineLoad loads city with constraints and indexes off, and returns the
// number of rows written.
func baselineLoad(ctx context.Context, st *store.Store, city *synth.City, keys *secret.Keys) (int64, error) {
	var total int64
	err := pgx.BeginFunc(ctx, st.Pool, func(tx pgx.Tx) error {
		// What to drop and re-create, read from the catalogue so that the
		// baseline follows the migrations.
		type object struct{ Table, Name, Def string }
		rows, _ := tx.Query(ctx, `SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
			FROM pg_constraint WHERE contype IN ('f', 'u') AND conrelid = ANY($1::regclass[])
			ORDER BY contype = 'u', conname`, masterTables)
		constraints, err := pgx.CollectRows(rows, pgx.RowToStructByPos[object])
		if err != nil {
			return err
		}
		rows, _ = tx.Query(ctx, `SELECT tablename, indexname, indexdef FROM pg_indexes
			WHERE schemaname = current_schema() AND tablename = ANY($1)
			  AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))`, masterTables)
		indexes, err := pgx.CollectRows(rows, pgx.RowToStructByPos[object])
		if err != nil {
			return err
		}
		exec := func(sql string) error {
			_, err := tx.Exec(ctx, sql)
			return err
		}
		for _, c := range constraints { // foreign keys first, then unique
			if err := exec(`ALTER TABLE ` + c.Table + ` DROP CONSTRAINT ` + pgx.Identifier{c.Name}.Sanitize()); err != nil {
				return err
			}
		}
		for _, ix := range indexes {
			if err := exec(`DROP INDEX ` + pgx.Identifier{ix.Name}.Sanitize()); err != nil {
				return err
			}
		}
		if err := exec(`TRUNCATE persons, households, buildings, organizations, grid_units`); err != nil {
			return err
		}

		units := make([][]any, len(city.Units))
		for i := range city.Units {
			u := &city.Units[i]
			geom, err := grid.GeoJSON(u.Polygon)
			if err != nil {
				return err
			}
			var kind, parent *string
			if u.Kind != "" {
				k := string(u.Kind)
				kind = &k
			}
			if u.Parent != "" {
				parent = &u.Parent
			}
			warnings := u.Warnings
			if warnings == nil {
				warnings = []string{}
			}
			units[i] = []any{u.Code, u.Name, int16(u.Level), kind, parent, u.Households, u.Residents, warnings, string(geom)}
		}
		copies := []struct {
			table   string
			columns []string
			src     pgx.CopyFromSource
		}{
			{"grid_units", []string{"code", "name", "level", "kind", "parent", "households", "residents", "warnings", "geometry"},
				pgx.CopyFromRows(units)},
			{"buildings", []string{"id", "grid_code", "address", "lon", "lat", "floors"},
				pgx.CopyFromSlice(len(city.Buildings), func(i int) ([]any, error) {
					b := &city.Buildings[i]
					return []any{b.ID, b.GridCode, b.Address, b.Lon, b.Lat, b.Floors}, nil
				})},
			{"households", []string{"id", "grid_code", "building_id", "address", "head_id"},
				pgx.CopyFromSlice(len(city.Households), func(i int) ([]any, error) {
					h := &city.Households[i]
					return []any{h.ID, h.GridCode, h.BuildingID, h.Address, h.HeadID}, nil
				})},
			{"persons", []string{"id", "id_hmac", "id_enc", "name", "gender", "birth_date", "ethnicity", "phone", "household_id", "relation", "grid_code"},
				pgx.CopyFromSlice(len(city.Persons), func(i int) ([]any, error) {
					p := &city.Persons[i]
					var phone *string
					if p.Phone != "" {
						phone = &p.Phone
					}
					return []any{p.ID, keys.Blind(p.IDNumber), keys.Seal(p.IDNumber), p.Name, p.Gender, p.BirthDate,
						p.Ethnicity, phone, p.HouseholdID, p.Relation, p.GridCode}, nil
				})},
			{"organizations", []string{"id", "credit_code", "name", "kind", "grid_code", "address", "lon", "lat", "employees", "legal_rep"},
				pgx.CopyFromSlice(len(city.Organizations), func(i int) ([]any, error) {
					o := &city.Organizations[i]
					return []any{o.ID, o.CreditCode, o.Name, o.Kind, o.GridCode, o.Address, o.Lon, o.Lat, o.Employees, o.LegalRep}, nil
				})},
		}
		for _, c := range copies {
			n, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.columns, c.src)
			if err != nil {
				return fmt.Errorf("copy %s: %w", c.table, err)
			}
			total += n
		}

		for _, ix := range indexes {
			if err := exec(ix.Def); err != nil {
				return err
			}
		}
		for i := len(constraints) - 1; i >= 0; i-- { // unique first, then foreign keys
			c := constraints[i]
			if err := exec(`ALTER TABLE ` + c.Table + ` ADD CONSTRAINT ` + pgx.Identifier{c.Name}.Sanitize() + ` ` + c.Def); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO seeds (area, seed, residents) VALUES ($1, $2, $3)`, city.Area, city.Seed, len(city.Persons))
		return err
	})
	if err != nil {
		return 0, err
	}
	_, err = st.Pool.Exec(ctx, `ANALYZE grid_units, buildings, households, persons, organizations`)
	return total, err
}

// schemaObjects counts the constraints and indexes of the master-index tables.
func schemaObjects(b *testing.B, st *store.Store) int {
	b.Helper()
	var n int
	err := st.Pool.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM pg_constraint WHERE conrelid = ANY($1::regclass[])) +
		(SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ANY($2::text[]))`, masterTables, masterTables).Scan(&n)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
