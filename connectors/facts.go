package connectors

import (
	"errors"
	"strings"
)

// This file is the part of the fact feed every kind shares: which record sets
// are in it, and the checks of their facts blocks.

// ErrNoFacts is a fact-feed call to a department none of whose record sets has
// a facts block; it is wrapped in a PermanentError.
var ErrNoFacts = errors.New("the department has no fact feed (no record set has a facts block)")

// DefaultFactLimit is the page size of a fact-feed call whose limit is not
// positive.
const DefaultFactLimit = 1000

// FactSets returns the record sets in the department's fact feed, in mapping
// order.
func (d *Department) FactSets() []*RecordSet {
	var out []*RecordSet
	for i := range d.Records {
		if d.Records[i].Facts != nil {
			out = append(out, &d.Records[i])
		}
	}
	return out
}

// validateFacts checks record set i's facts block.
func (d *Department) validateFacts(fail failFunc, i int, rs *RecordSet) {
	f := rs.Facts
	if f == nil {
		return
	}
	at := func(more ...any) []any { return append([]any{"records", i, "facts"}, more...) }
	only := func(key, val, kind string) {
		if val != "" && d.Kind != kind {
			fail(at(key), "%s applies to the %s kind only", key, kind)
		}
	}
	only("query", f.Query, "sql")
	only("updated", f.Updated, "sql")
	only("deleted", f.Deleted, "sql")
	only("resource", f.Resource, "rest")
	if f.Keyless && d.Kind != "rest" {
		fail(at("keyless"), "keyless applies to the rest kind only")
	}
	switch d.Kind {
	case "sql":
		for _, p := range []string{"$1", "$2", "$3"} {
			if !strings.Contains(f.Query, p) {
				fail(at("query"), "the facts query takes the last updated-at as $1, the last id as $2 and the limit as $3: WHERE (gxsj, id) > ($1, $2) ORDER BY gxsj, id LIMIT $3")
				break
			}
		}
		if f.Updated == "" {
			fail(at("updated"), "updated (the updated-at column) is required")
		}
		if f.ID == "" {
			fail(at("id"), "id (the integer primary-key column that orders rows updated at the same time) is required")
		}
	case "rest":
		if f.Resource == "" {
			fail(at("resource"), "resource (the resource name in the department's change items) is required")
		}
		if d.Feed == nil {
			fail(at(), "a rest record set in the fact feed needs the department's feed block (its changes endpoint)")
		}
	}
}

// validateFeed checks the department's feed block.
func (d *Department) validateFeed(fail failFunc) {
	f := d.Feed
	if f == nil {
		return
	}
	if d.Kind != "rest" {
		fail([]any{"feed"}, "feed applies to the rest kind only")
		return
	}
	if !strings.HasPrefix(f.Path, "/") {
		fail([]any{"feed", "path"}, "path (the changes endpoint under base_url, e.g. /api/v1/changes) is required")
	}
	if f.Next == "" {
		fail([]any{"feed", "next"}, "next (the dotted path of the next watermark in the answer) is required")
	}
}
