package rest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gridhub/gridhub/connectors"
)

var (
	_ connectors.FactFeed        = (*Source)(nil)
	_ connectors.FactSkipCounter = (*Source)(nil)
)

// Facts reads one page of the department's changes endpoint: GET
// feed.path?since=W&limit=N, retried like reads. The watermark is the
// department's own next value, passed through untouched (empty: from the
// start); the department orders changes with a tie-breaker, so that paging
// skips nothing. Each change item names its resource; the record sets whose
// facts.resource it is map it, the first whose entity its key normalises as
// (城管's cases are about persons or organisations). Items of resources no
// set feeds, and items with no key (a case with no party), are passed over;
// items whose key or fields do not convert are skipped and counted
// (FactsSkipped). A deleted item is a Deleted fact.
func (s *Source) Facts(ctx context.Context, since string, limit int) (connectors.FactPage, error) {
	feed := s.dept.Feed
	sets := s.dept.FactSets()
	if len(sets) == 0 || feed == nil {
		return connectors.FactPage{}, fmt.Errorf("rest %s: facts: %w", s.dept.Code, connectors.Permanent(connectors.ErrNoFacts))
	}
	if limit <= 0 {
		limit = connectors.DefaultFactLimit
	}
	if err := ctx.Err(); err != nil {
		return connectors.FactPage{}, fmt.Errorf("rest %s: facts: %w", s.dept.Code, err)
	}
	u := s.endpoint(feed.Path)
	q := u.Query()
	q.Set(cmp.Or(feed.SinceParam, "since"), since)
	q.Set(cmp.Or(feed.LimitParam, "limit"), strconv.Itoa(limit))
	u.RawQuery = q.Encode()
	op := "GET " + feed.Path
	doc, err := s.retry(ctx, func() (any, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, connectors.Permanentf("%s: %w", op, err)
		}
		b, err := s.do(ctx, req, op)
		if err != nil {
			return nil, err
		}
		return decode(b, op)
	})
	if err != nil {
		return connectors.FactPage{}, fmt.Errorf("rest %s: facts: %w", s.dept.Code, err)
	}
	page, err := s.factPage(doc, since, limit, sets)
	if err != nil {
		return connectors.FactPage{}, fmt.Errorf("rest %s: facts: %w", s.dept.Code, connectors.Permanentf("%s: %w", op, err))
	}
	return page, nil
}

// FactsSkipped is how many change items the fact feed has left out because
// their key did not normalise or a field did not convert.
func (s *Source) FactsSkipped() int64 { return s.factsSkipped.Load() }

// factPage maps a changes answer; an error means the answer is not what the
// feed block describes.
func (s *Source) factPage(doc any, since string, limit int, sets []*connectors.RecordSet) (connectors.FactPage, error) {
	feed := s.dept.Feed
	items, err := itemsOf(doc, feed.Items)
	if err != nil {
		return connectors.FactPage{}, err
	}
	next, found, err := lookup(doc, feed.Next)
	if err != nil {
		return connectors.FactPage{}, err
	}
	var page connectors.FactPage
	switch v := next.(type) {
	case string:
		page.Watermark = v
	case json.Number:
		page.Watermark = v.String()
	default:
		if found && v != nil {
			return connectors.FactPage{}, fmt.Errorf("%s is %s, not a watermark", feed.Next, kindOf(v))
		}
		if len(items) > 0 {
			return connectors.FactPage{}, fmt.Errorf("the answer has no %s", feed.Next)
		}
	}
	if page.Watermark == "" {
		page.Watermark = since
	}
	if feed.More != "" {
		v, found, err := lookup(doc, feed.More)
		if err != nil {
			return connectors.FactPage{}, err
		}
		b, ok := v.(bool)
		if !ok && found {
			return connectors.FactPage{}, fmt.Errorf("%s is %s, not a bool", feed.More, kindOf(v))
		}
		page.More = b
	} else {
		page.More = len(items) >= limit
	}
	byResource := map[string][]*connectors.RecordSet{}
	for _, rs := range sets {
		byResource[rs.Facts.Resource] = append(byResource[rs.Facts.Resource], rs)
	}
	recordPath := cmp.Or(feed.Record, "record")
	var skipped int64
	for i, item := range items {
		obj, ok := item.(map[string]any)
		if !ok {
			return connectors.FactPage{}, fmt.Errorf("%s[%d] is %s, not an object", itemsName(feed.Items), i, kindOf(item))
		}
		resource, _ := field(obj, cmp.Or(feed.Resource, "resource"))
		name, _ := resource.(string)
		candidates := byResource[name]
		if len(candidates) == 0 {
			continue // a resource no record set feeds
		}
		v, _ := field(obj, recordPath)
		rec, ok := v.(map[string]any)
		if !ok {
			skipped++
			continue
		}
		get := func(from string) (any, bool) { return field(rec, from) }
		var rs *connectors.RecordSet
		var key string
		var who connectors.Record
		var invalid bool
		keyless := true
		// A valid key of any candidate set wins (a case about an
		// organisation is not a person's with a broken ID number); only
		// then may a set with an identity block take it by name.
		for _, c := range candidates {
			k, err := c.KeyOf(get)
			if err == nil {
				rs, key, who = c, k, c.IdentityOf(get)
				break
			}
			keyless = keyless && errors.Is(err, connectors.ErrNoKey)
		}
		for _, c := range candidates {
			if rs != nil {
				break
			}
			id := c.IdentityOf(get)
			if k, inv, err := c.FactKey(get, id); err == nil {
				rs, key, who, invalid = c, k, id, inv
			}
		}
		if rs == nil {
			if !keyless {
				skipped++ // a record about no one (a case with no party) is not bad data
			}
			continue
		}
		fact := connectors.Fact{Entity: rs.Entity, Key: key, Set: rs.Name, ID: textOf(obj, cmp.Or(rs.Facts.ID, feed.ID, "id")), Identity: who, KeyInvalid: invalid}
		if d, _ := field(obj, cmp.Or(feed.Deleted, "deleted")); d == true || d == "true" {
			fact.Deleted = true
		} else if fact.Record, err = rs.MapRecord(get); err != nil {
			skipped++
			continue
		}
		page.Facts = append(page.Facts, fact)
	}
	s.factsSkipped.Add(skipped)
	return page, nil
}

// textOf reads a string or number at a dotted path as text; "" when absent.
func textOf(obj map[string]any, path string) string {
	v, _ := field(obj, path)
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	}
	return ""
}
