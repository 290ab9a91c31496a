package sheet

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/connectors"
)

var (
	_ connectors.FactFeed        = (*Source)(nil)
	_ connectors.FactSkipCounter = (*Source)(nil)
)

// mark is the sheet kind's watermark. A ledger has no per-row update times,
// so the feed works by version: when the file's content changes, every
// record of the new version is listed again (the consumer upserts), preceded
// by Deleted facts for the records of the versions the consumer held that
// the new one lacks. A listing is paged by offset.
type mark struct {
	// Hash is the content hash of the version listed, or being listed.
	Hash string `json:"h,omitempty"`
	// Mod is that version's modification time (Unix nanoseconds), which
	// says when it was saved to whoever reads a watermark in a log.
	Mod int64 `json:"m,omitempty"`
	// From are the versions the consumer held when the listing began; their
	// records missing from Hash are the listing's Deleted facts.
	From []string `json:"f,omitempty"`
	// Off is how many facts of the listing have been returned.
	Off int `json:"o,omitempty"`
	// Done says the listing of Hash is complete: the consumer holds it.
	Done bool `json:"d,omitempty"`
}

const markPrefix = "sheet1."

func (m mark) String() string {
	b, _ := json.Marshal(m)
	return markPrefix + base64.RawURLEncoding.EncodeToString(b)
}

func parseMark(s string) (mark, error) {
	var m mark
	if s == "" {
		return m, nil
	}
	rest, ok := strings.CutPrefix(s, markPrefix)
	if !ok {
		return m, connectors.Permanentf("watermark %.20q is not one of the sheet kind's", s)
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil || m.Off < 0 {
		return m, connectors.Permanentf("watermark %.20q is damaged", s)
	}
	return m, nil
}

// Facts lists the ledger's records when its content differs from the version
// the watermark holds (see mark). It reads and hashes the whole file on each
// call, which a ledger's size allows, so that an edit that keeps the file's
// size and time is not missed. A process that does not know a version the
// watermark names (it restarted) lists everything again without deletions,
// and the consumer upserts. Rows that cannot be read are left out and
// counted (FactsSkipped, BadRows).
func (s *Source) Facts(ctx context.Context, since string, limit int) (connectors.FactPage, error) {
	if len(s.dept.FactSets()) == 0 {
		return connectors.FactPage{}, fmt.Errorf("sheet %s: facts: %w", s.dept.Code, connectors.Permanent(connectors.ErrNoFacts))
	}
	m, err := parseMark(since)
	if err != nil {
		return connectors.FactPage{}, fmt.Errorf("sheet %s: facts: %w", s.dept.Code, err)
	}
	if limit <= 0 {
		limit = connectors.DefaultFactLimit
	}
	if err := ctx.Err(); err != nil {
		return connectors.FactPage{}, fmt.Errorf("sheet %s: facts: %w", s.dept.Code, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reloadNow()
	if s.loadErr != nil {
		// Reads go on from the last good version, but the feed must not
		// say that it is caught up with a ledger it cannot read.
		return connectors.FactPage{}, fmt.Errorf("sheet %s: facts: %w", s.dept.Code, s.loadErr)
	}
	cur := s.idx
	switch {
	case m.Done && m.Hash == cur.hash:
		return connectors.FactPage{Watermark: since}, nil
	case m.Done:
		m = mark{From: []string{m.Hash}}
	case m.Hash != cur.hash:
		// A new listing, also when the file changed in the middle of one:
		// the consumer holds part of that version too.
		from := slices.Clone(m.From)
		if m.Hash != "" && !slices.Contains(from, m.Hash) {
			from = append(from, m.Hash)
		}
		m = mark{From: from[max(0, len(from)-maxVersions):]}
	}
	m.Hash, m.Mod = cur.hash, cur.mod.UnixNano()
	listing := append(s.deletions(m.From, cur), cur.facts...)
	m.Off = min(m.Off, len(listing))
	end := min(m.Off+limit, len(listing))
	page := connectors.FactPage{Facts: make([]connectors.Fact, 0, end-m.Off)}
	for _, f := range listing[m.Off:end] {
		if f.Record != nil {
			f.Record = maps.Clone(f.Record)
		}
		page.Facts = append(page.Facts, f)
	}
	if end == len(listing) {
		m = mark{Hash: m.Hash, Mod: m.Mod, Done: true}
	} else {
		m.Off, page.More = end, true
	}
	page.Watermark = m.String()
	return page, nil
}

// deletions are Deleted facts for the records of the versions from (those
// still in memory) that cur lacks, sorted. Callers hold mu.
func (s *Source) deletions(from []string, cur *index) []connectors.Fact {
	have := map[string]bool{}
	for _, f := range cur.facts {
		have[f.Set+"\x00"+f.ID] = true
	}
	var out []connectors.Fact
	for _, h := range from {
		for _, f := range s.versions[h] {
			id := f.Set + "\x00" + f.ID
			if !have[id] {
				have[id] = true
				out = append(out, f)
			}
		}
	}
	slices.SortFunc(out, func(a, b connectors.Fact) int { return cmp.Or(cmp.Compare(a.Set, b.Set), cmp.Compare(a.ID, b.ID)) })
	return out
}

// FactsSkipped is how many rows of the loaded ledger could not be read, and
// so are not in the fact feed.
func (s *Source) FactsSkipped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idx == nil {
		return 0
	}
	return int64(len(s.idx.bad))
}

// reloadNow loads the file as it is now, whatever its time and size say.
// Callers hold mu.
func (s *Source) reloadNow() {
	st, err := os.Stat(s.path)
	if err != nil {
		s.fail(err)
		return
	}
	s.checked, s.tried = time.Now(), stamp{st.ModTime(), st.Size()}
	s.loadFile(st.ModTime())
}
