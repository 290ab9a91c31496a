package sql

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gridhub/gridhub/connectors"
)

var (
	_ connectors.FactFeed        = (*Source)(nil)
	_ connectors.FactSkipCounter = (*Source)(nil)
)

// position is where a record set's feed has got to: the updated-at and id of
// the last row listed. Rows are listed in (updated, id) order, so a row
// updated at the same instant as the last one is still after it when its id
// is greater, and a page boundary between equal timestamps skips nothing.
type position struct {
	Updated time.Time `json:"t"`
	ID      int64     `json:"id"`
}

// watermarkPrefix marks the sql kind's watermarks, so that one from another
// kind or version is refused rather than misread.
const watermarkPrefix = "sql1."

func encodeWatermark(pos map[string]position) string {
	b, _ := json.Marshal(pos)
	return watermarkPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func decodeWatermark(s string) (map[string]position, error) {
	pos := map[string]position{}
	if s == "" {
		return pos, nil
	}
	rest, ok := strings.CutPrefix(s, watermarkPrefix)
	if !ok {
		return nil, connectors.Permanentf("watermark %.20q is not one of the sql kind's", s)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err == nil {
		err = json.Unmarshal(b, &pos)
	}
	if err != nil {
		return nil, connectors.Permanentf("watermark %.20q is damaged: %v", s, err)
	}
	return pos, nil
}

// Facts lists the rows changed after the watermark, record set by record set
// (one query each, at most limit rows in all). The watermark holds each set's
// position. Rows whose key does not normalise or whose fields do not convert
// are skipped and counted (FactsSkipped), rows with no key are passed over,
// and the position moves past both: bad data never stops the feed.
func (s *Source) Facts(ctx context.Context, since string, limit int) (connectors.FactPage, error) {
	sets := s.dept.FactSets()
	if len(sets) == 0 {
		return connectors.FactPage{}, fmt.Errorf("sql %s: facts: %w", s.dept.Code, connectors.Permanent(connectors.ErrNoFacts))
	}
	pos, err := decodeWatermark(since)
	if err != nil {
		return connectors.FactPage{}, fmt.Errorf("sql %s: facts: %w", s.dept.Code, err)
	}
	if limit <= 0 {
		limit = connectors.DefaultFactLimit
	}
	if err := ctx.Err(); err != nil {
		return connectors.FactPage{}, fmt.Errorf("sql %s: facts: %w", s.dept.Code, err)
	}
	if s.closed.Load() {
		return connectors.FactPage{}, fmt.Errorf("sql %s: facts: %w", s.dept.Code, errClosed)
	}
	var page connectors.FactPage
	left := limit
	for _, rs := range sets {
		if left == 0 {
			// Whether this set has changes is for the next call to find.
			page.More = true
			break
		}
		facts, last, rows, more, err := s.factsOf(ctx, rs, pos[rs.Name], left)
		if err != nil {
			return connectors.FactPage{}, fmt.Errorf("sql %s: facts %s: %w", s.dept.Code, rs.Name, err)
		}
		page.Facts = append(page.Facts, facts...)
		pos[rs.Name] = last
		left -= rows
		page.More = page.More || more
	}
	page.Watermark = encodeWatermark(pos)
	return page, nil
}

// FactsSkipped is how many rows the fact feed has left out because their key
// did not normalise or a field did not convert.
func (s *Source) FactsSkipped() int64 { return s.factsSkipped.Load() }

// factsOf lists up to limit rows of one set after from; rows is how many it
// read, more whether rows are left.
func (s *Source) factsOf(ctx context.Context, rs *connectors.RecordSet, from position, limit int) (facts []connectors.Fact, last position, rows int, more bool, err error) {
	f := rs.Facts
	last = from
	r, err := s.pool.Query(ctx, f.Query, from.Updated, from.ID, limit+1)
	if err != nil {
		return nil, last, 0, false, classify(ctx, err)
	}
	defer r.Close()
	names := append([]string{rs.Key, f.Updated, f.ID}, fromsOf(rs)...)
	names = append(names, rs.IdentityFroms()...)
	if f.Deleted != "" {
		names = append(names, f.Deleted)
	}
	cols, err := columnsNamed(r.FieldDescriptions(), names)
	if err != nil {
		r.Close()
		if qerr := r.Err(); qerr != nil {
			return nil, last, 0, false, classify(ctx, qerr)
		}
		return nil, last, 0, false, err
	}
	var skipped int64
	for r.Next() {
		if rows == limit {
			more = true
			break
		}
		vals, err := r.Values()
		if err != nil {
			return nil, last, 0, false, classify(ctx, err)
		}
		get := func(from string) (any, bool) { return plain(vals[cols[from]]), true }
		updated, ok := vals[cols[f.Updated]].(time.Time)
		if !ok {
			return nil, last, 0, false, connectors.Permanentf("facts.updated column %s is %T, not a timestamp", f.Updated, vals[cols[f.Updated]])
		}
		id, ok := asInt64(vals[cols[f.ID]])
		if !ok {
			return nil, last, 0, false, connectors.Permanentf("facts.id column %s is %T, not an integer", f.ID, vals[cols[f.ID]])
		}
		rows++
		last = position{Updated: updated.UTC(), ID: id}
		who := rs.IdentityOf(get)
		key, invalid, err := rs.FactKey(get, who)
		if err != nil {
			if !errors.Is(err, connectors.ErrNoKey) {
				skipped++ // a row about no one is not bad data
			}
			continue
		}
		fact := connectors.Fact{Entity: rs.Entity, Key: key, Set: rs.Name, ID: strconv.FormatInt(id, 10), Identity: who, KeyInvalid: invalid}
		if f.Deleted != "" {
			del, ok := vals[cols[f.Deleted]].(bool)
			if !ok && vals[cols[f.Deleted]] != nil {
				return nil, last, 0, false, connectors.Permanentf("facts.deleted column %s is %T, not a boolean", f.Deleted, vals[cols[f.Deleted]])
			}
			fact.Deleted = del
		}
		if !fact.Deleted {
			if fact.Record, err = rs.MapRecord(get); err != nil {
				skipped++
				continue
			}
		}
		facts = append(facts, fact)
	}
	if err := r.Err(); err != nil {
		return nil, from, 0, false, classify(ctx, err)
	}
	s.factsSkipped.Add(skipped)
	return facts, last, rows, more, nil
}

func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	}
	return 0, false
}
