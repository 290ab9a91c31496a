// Package model holds the GraphQL models: generated ones in models_gen.go, and the
// hand-written ones here that gqlgen binds automatically.
package model

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// MarshalDate writes a calendar date as YYYY-MM-DD.
func MarshalDate(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		io.WriteString(w, strconv.Quote(t.Format(time.DateOnly)))
	})
}

// UnmarshalDate reads a YYYY-MM-DD calendar date.
func UnmarshalDate(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, fmt.Errorf("Date must be a string YYYY-MM-DD")
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("Date must be YYYY-MM-DD: %q is not a calendar date", s)
	}
	return t, nil
}

// GeoJSON is a GeoJSON geometry object, written as it is.
type GeoJSON json.RawMessage

// MarshalGQL writes the geometry object.
func (g GeoJSON) MarshalGQL(w io.Writer) {
	if len(g) == 0 {
		io.WriteString(w, "null")
		return
	}
	w.Write(g)
}

// UnmarshalGQL accepts a geometry object given as input.
func (g *GeoJSON) UnmarshalGQL(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("GeoJSON: %w", err)
	}
	*g = b
	return nil
}
