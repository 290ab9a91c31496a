package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/gridhub/gridhub/internal/grid"
)

// RegistryVersion is the version of the loaded city: 0 before any seed.
func (s *Store) RegistryVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.Pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM seeds`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: registry version: %w", err)
	}
	return v, nil
}

// LoadUnits reads every grid unit, parents before children.
func (s *Store) LoadUnits(ctx context.Context) ([]grid.Unit, error) {
	rows, _ := s.Pool.Query(ctx, `SELECT code, name, level, coalesce(kind, ''), coalesce(parent, ''),
		households, residents, warnings, geometry FROM grid_units ORDER BY level, code`)
	units, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (grid.Unit, error) {
		var (
			u     grid.Unit
			level int16
			kind  string
			geom  []byte
		)
		if err := row.Scan(&u.Code, &u.Name, &level, &kind, &u.Parent, &u.Households, &u.Residents, &u.Warnings, &geom); err != nil {
			return u, err
		}
		u.Level, u.Kind = grid.Level(level), grid.Kind(kind)
		g, err := geojson.UnmarshalGeometry(geom)
		if err != nil {
			return u, fmt.Errorf("unit %s: geometry: %w", u.Code, err)
		}
		poly, ok := g.Geometry().(orb.Polygon)
		if !ok {
			return u, fmt.Errorf("unit %s: geometry is a %s, want a Polygon", u.Code, g.Geometry().GeoJSONType())
		}
		u.Polygon = poly
		return u, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: load units: %w", err)
	}
	return units, nil
}
