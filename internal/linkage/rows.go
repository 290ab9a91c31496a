package linkage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/federation"
)

// Blinder is the blind index of a normalised ID number (*secret.Keys).
type Blinder interface {
	Blind(id string) []byte
}

// Rows reads the rows linkage placed on persons, for federated reads
// (federation.Linked): the hub's synced copy of each row, with its method.
type Rows struct {
	pool  *pgxpool.Pool
	blind Blinder
}

var _ federation.Linked = (*Rows)(nil)

// NewRows returns the linked rows over the hub's database.
func NewRows(pool *pgxpool.Pool, blind Blinder) *Rows { return &Rows{pool: pool, blind: blind} }

// LinkedRows implements federation.Linked: one query for a batch of keys,
// every department's rows.
func (r *Rows) LinkedRows(ctx context.Context, keys []string) (map[string]map[string][]federation.LinkedRow, error) {
	hmacs := make([][]byte, len(keys))
	keyOf := make(map[string]string, len(keys))
	for i, k := range keys {
		hmacs[i] = r.blind.Blind(k)
		keyOf[string(hmacs[i])] = k
	}
	q, err := r.pool.Query(ctx, `SELECT l.department, l.person_hmac, f.set, f.record, l.method, f.updated_at
		FROM links l
		JOIN facts f ON f.department = l.department AND f.set = l.set AND f.id = l.fact_id AND f.key_hmac = l.key_hmac
		WHERE l.person_hmac = ANY($1) AND l.outcome = 'LINKED'
		ORDER BY l.department, f.set, f.updated_at DESC, f.id`, hmacs)
	if err != nil {
		return nil, fmt.Errorf("linkage: linked rows: %w", err)
	}
	out := map[string]map[string][]federation.LinkedRow{}
	var h, rec []byte
	var dept, set, method string
	var at time.Time
	_, err = pgx.ForEachRow(q, []any{&dept, &h, &set, &rec, &method, &at}, func() error {
		var m connectors.Record
		if err := json.Unmarshal(rec, &m); err != nil {
			return err
		}
		k := keyOf[string(h)]
		if out[dept] == nil {
			out[dept] = map[string][]federation.LinkedRow{}
		}
		out[dept][k] = append(out[dept][k], federation.LinkedRow{Set: set, Record: m, Method: method, AsOf: at})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("linkage: linked rows: %w", err)
	}
	return out, nil
}
