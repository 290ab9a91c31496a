package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/secret"
	"github.com/gridhub/gridhub/internal/synth"
)

// LoadStats tells what a load wrote and how long it took.
type LoadStats struct {
	Units, Buildings, Households, Persons, Organizations int64
	Elapsed                                              time.Duration
}

// Rows is the number of rows written.
func (s LoadStats) Rows() int64 {
	return s.Units + s.Buildings + s.Households + s.Persons + s.Organizations
}

// LoadCity replaces the master index with city, in one transaction, through the
// COPY protocol. Resident ID numbers are blinded and sealed with keys on the way in.
func (s *Store) LoadCity(ctx context.Context, city *synth.City, keys *secret.Keys) (LoadStats, error) {
	start := time.Now()
	var st LoadStats
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `TRUNCATE persons, households, buildings, organizations, grid_units`); err != nil {
			return fmt.Errorf("clear master index: %w", err)
		}
		var err error
		if st.Units, err = copyUnits(ctx, tx, city); err != nil {
			return err
		}
		if st.Buildings, err = tx.CopyFrom(ctx, pgx.Identifier{"buildings"},
			[]string{"id", "grid_code", "address", "lon", "lat", "floors"},
			pgx.CopyFromSlice(len(city.Buildings), func(i int) ([]any, error) {
				b := &city.Buildings[i]
				return []any{b.ID, b.GridCode, b.Address, b.Lon, b.Lat, b.Floors}, nil
			})); err != nil {
			return fmt.Errorf("copy buildings: %w", err)
		}
		if st.Households, err = tx.CopyFrom(ctx, pgx.Identifier{"households"},
			[]string{"id", "grid_code", "building_id", "address", "head_id"},
			pgx.CopyFromSlice(len(city.Households), func(i int) ([]any, error) {
				h := &city.Households[i]
				return []any{h.ID, h.GridCode, h.BuildingID, h.Address, h.HeadID}, nil
			})); err != nil {
			return fmt.Errorf("copy households: %w", err)
		}
		if st.Persons, err = tx.CopyFrom(ctx, pgx.Identifier{"persons"},
			[]string{"id", "id_hmac", "id_enc", "name", "gender", "birth_date", "ethnicity", "phone", "household_id", "relation", "grid_code"},
			pgx.CopyFromSlice(len(city.Persons), func(i int) ([]any, error) {
				p := &city.Persons[i]
				var phone *string
				if p.Phone != "" {
					phone = &p.Phone
				}
				return []any{p.ID, keys.Blind(p.IDNumber), keys.Seal(p.IDNumber), p.Name, p.Gender, p.BirthDate,
					p.Ethnicity, phone, p.HouseholdID, p.Relation, p.GridCode}, nil
			})); err != nil {
			return fmt.Errorf("copy persons: %w", err)
		}
		// A link keeps its person's blinded ID number (linkage.Rows finds
		// the linked rows by it): the replaced master index may number
		// persons differently.
		if _, err := tx.Exec(ctx, `UPDATE links l SET person_hmac = (SELECT p.id_hmac FROM persons p WHERE p.id = l.person_id)
			WHERE l.person_hmac IS DISTINCT FROM (SELECT p.id_hmac FROM persons p WHERE p.id = l.person_id)`); err != nil {
			return fmt.Errorf("links to the new master index: %w", err)
		}
		if st.Organizations, err = tx.CopyFrom(ctx, pgx.Identifier{"organizations"},
			[]string{"id", "credit_code", "name", "kind", "grid_code", "address", "lon", "lat", "employees", "legal_rep"},
			pgx.CopyFromSlice(len(city.Organizations), func(i int) ([]any, error) {
				o := &city.Organizations[i]
				return []any{o.ID, o.CreditCode, o.Name, o.Kind, o.GridCode, o.Address, o.Lon, o.Lat, o.Employees, o.LegalRep}, nil
			})); err != nil {
			return fmt.Errorf("copy organizations: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO seeds (area, seed, residents) VALUES ($1, $2, $3)`,
			city.Area, city.Seed, len(city.Persons))
		return err
	})
	if err != nil {
		return LoadStats{}, fmt.Errorf("store: load city: %w", err)
	}
	// Fresh statistics so the planner uses the indexes on the new rows at once.
	if _, err := s.Pool.Exec(ctx, `ANALYZE grid_units, buildings, households, persons, organizations`); err != nil {
		return st, fmt.Errorf("store: analyze: %w", err)
	}
	st.Elapsed = time.Since(start)
	return st, nil
}

func copyUnits(ctx context.Context, tx pgx.Tx, city *synth.City) (int64, error) {
	rows := make([][]any, 0, len(city.Units))
	for i := range city.Units {
		u := &city.Units[i]
		geom, err := grid.GeoJSON(u.Polygon)
		if err != nil {
			return 0, fmt.Errorf("unit %s: geometry: %w", u.Code, err)
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
		rows = append(rows, []any{u.Code, u.Name, int16(u.Level), kind, parent, u.Households, u.Residents, warnings, string(geom)})
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"grid_units"},
		[]string{"code", "name", "level", "kind", "parent", "households", "residents", "warnings", "geometry"},
		pgx.CopyFromRows(rows))
	if err != nil {
		return 0, fmt.Errorf("copy grid units: %w", err)
	}
	return n, nil
}
