package indicators

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/gridhub/gridhub/internal/disclosure"
)

// decision is the suppression of one family of related counts, decided or
// to be decided.
type decision struct {
	fam       []string
	counts    []disclosure.Count
	relations []disclosure.Relation
	key       string
	withheld  map[string]map[string]bool // nil until known
}

// decisionKey identifies what the suppression of a family depends on: the
// counts (the cells and registry versions, the counts' definitions, whose
// fingerprint is counts), each count's rule, the relations, and the earlier
// periods it is checked against (the latest period and how many are taken).
func (s *Service) decisionKey(counts string, sn *snapshot, d *decision) string {
	h := sha256.New()
	fmt.Fprintf(h, "decision:v1\x00%d\x00%d\x00%d\x00%d\x00%s", sn.cells, sn.registry, sn.periods, s.opts.History, counts)
	for _, c := range d.counts {
		fmt.Fprintf(h, "\x00%s\x00%d\x00%t", c.Name, c.Rule.Threshold, c.Rule.SuppressZero)
	}
	for _, r := range d.relations {
		fmt.Fprintf(h, "\x00%s\x00%d\x00%s", r.Count, r.Kind, r.Of)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// storedDecisions fills in the decisions another replica (or this one,
// before a restart) kept. A failure to read is logged and leaves them to be
// decided: the store only saves work.
func (s *Service) storedDecisions(ctx context.Context, ds []*decision) {
	keys := make([]string, len(ds))
	byKey := make(map[string]*decision, len(ds))
	for i, d := range ds {
		keys[i], byKey[d.key] = d.key, d
	}
	rows, err := s.pool.Query(ctx, `SELECT key, withheld FROM indicator_decisions WHERE key = ANY($1)`, keys)
	if err != nil {
		s.opts.Logger.Warn("indicators: read stored decisions", "err", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key      string
			withheld map[string][]string
		)
		if err := rows.Scan(&key, &withheld); err != nil {
			s.opts.Logger.Warn("indicators: read stored decisions", "err", err)
			return
		}
		d := byKey[key]
		if d == nil || !slices.Equal(slices.Sorted(maps.Keys(withheld)), slices.Sorted(slices.Values(d.fam))) {
			continue // not this family's: decide it again
		}
		d.withheld = make(map[string]map[string]bool, len(withheld))
		for name, codes := range withheld {
			set := make(map[string]bool, len(codes))
			for _, c := range codes {
				set[c] = true
			}
			d.withheld[name] = set
		}
		s.decisionsRead.Add(1)
	}
	if err := rows.Err(); err != nil {
		s.opts.Logger.Warn("indicators: read stored decisions", "err", err)
	}
}

// storeDecision keeps a decided family for the other replicas and prunes
// the decisions of counts an hour old. A failure is logged: the decision
// stands, and another replica decides again.
func (s *Service) storeDecision(ctx context.Context, d *decision) {
	withheld := make(map[string][]string, len(d.withheld))
	for name, set := range d.withheld {
		withheld[name] = slices.Sorted(maps.Keys(set))
	}
	b, err := json.Marshal(withheld)
	if err == nil {
		_, err = s.pool.Exec(ctx, `WITH pruned AS (DELETE FROM indicator_decisions WHERE decided_at < now() - interval '1 hour')
			INSERT INTO indicator_decisions (key, withheld) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, d.key, b)
	}
	if err != nil {
		s.opts.Logger.Warn("indicators: store a decision", "family", d.fam, "err", err)
	}
}
