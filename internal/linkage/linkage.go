// Package linkage places department rows whose resident ID number is missing
// or does not validate on the persons of the master index, and keeps every
// decision with its evidence.
//
// A fact sync stores such rows (facts.key_invalid) with their identity block
// (name, sex, birth date, address, phone, as the department's mapping file
// names them) and, for a broken number, the birth date and sex it still
// embeds and the blind indexes of its one-character corrections. LinkDepartment
// then decides, for each:
//
//  1. CORRECTED_ID: exactly one correction of the number is a resident whose
//     name agrees (the same, a 同音字 or a 形近字) and whose birth date is the
//     row's (the stated one, else the one the number embeds).
//  2. MATCH: a Fellegi-Sunter score over name (exact, same pinyin, look-alike),
//     birth date, sex, address normalised to the building (or its grid) and
//     phone, against the persons in the row's blocks (same sound of the name,
//     same birth date, same phone). Each field's weight is log2(m/u): m, how
//     often the field agrees so for the department's rows whose ID number
//     links them for certain, counted on every run; u, how often a random
//     resident would agree so, from the master index's own frequencies (a rare
//     name counts more than a common one). The best candidate's probability
//     is 2^score / (N + sum of 2^score over the candidates), N the number of
//     residents: at or above Options.LinkAt the row is LINKED, at or above
//     Options.ReviewAt it waits for a person to decide (REVIEW), below it is
//     UNLINKED.
//  3. REVIEWED: a reviewer confirmed the pair (Confirm); a rejected pair is
//     never proposed again. Decisions live apart from links and outlive
//     every re-sync and re-link.
//
// A linked row's fact takes its person and grid, so indicators count it and a
// person's federated sections include it (linkedBy on the section source).
package linkage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Outcomes of a row.
const (
	Linked   = "LINKED"
	Review   = "REVIEW"
	Unlinked = "UNLINKED"
)

// Methods of a link (the section source's linkedBy, with ID for a row whose
// own number is valid).
const (
	MethodID          = "ID"
	MethodCorrectedID = "CORRECTED_ID"
	MethodMatch       = "MATCH"
	MethodReviewed    = "REVIEWED"
)

// Options tune a Linker; the zero value uses the defaults.
type Options struct {
	// LinkAt is the probability at or above which a scored match links
	// (default 0.999).
	LinkAt float64
	// ReviewAt is the probability at or above which a scored match waits for
	// review (default 0.01).
	ReviewAt float64
	// Logger gets one line per department run (default slog.Default()).
	Logger *slog.Logger
	// KeepIndex is how long the master index stays in memory after it was
	// last used (default 2 minutes: longer than a sync interval, so a
	// department that changes every minute does not reload it each time).
	// A hub whose departments are quiet does not hold it (on the demo city
	// about 100 MB, which also makes every request's allocations dearer).
	KeepIndex time.Duration
}

func (o Options) withDefaults() Options {
	if o.LinkAt <= 0 {
		o.LinkAt = 0.999
	}
	if o.ReviewAt <= 0 {
		o.ReviewAt = 0.01
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.KeepIndex <= 0 {
		o.KeepIndex = 2 * time.Minute
	}
	return o
}

// Linker links department rows to the master index. It is safe for
// concurrent use; its copy of the master index is reloaded when the index is
// reseeded.
type Linker struct {
	pool *pgxpool.Pool
	opts Options

	mu      sync.Mutex
	ix      *index
	usedAt  time.Time   // when ix was last asked for
	release *time.Timer // drops ix once it is KeepIndex old unused
	// linked is the master index version of each department's last complete
	// run: a sync that changed nothing need not link again at the same one.
	linked map[string]int64
}

// New returns a Linker over the hub's database.
func New(pool *pgxpool.Pool, opts Options) *Linker {
	return &Linker{pool: pool, opts: opts.withDefaults(), linked: map[string]int64{}}
}

// Stats is what one department's run did.
type Stats struct {
	Department string
	// Rows is how many rows had a missing or invalid ID number.
	Rows int
	// By outcome and method.
	Corrected, Matched, Reviewed, ToReview, Unlinked int
	// Changed is how many facts changed person.
	Changed int
	Elapsed time.Duration
}

// index returns the master index in memory, loading it when it changed.
func (l *Linker) index(ctx context.Context) (*index, error) {
	v, err := registryVersion(ctx, l.pool)
	if err != nil {
		return nil, fmt.Errorf("linkage: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.usedAt = time.Now()
	if l.ix != nil && l.ix.version == v {
		return l.ix, nil
	}
	ix, err := loadIndex(ctx, l.pool, v)
	if err != nil {
		return nil, err
	}
	l.ix = ix
	if l.release == nil {
		l.release = time.AfterFunc(l.opts.KeepIndex, l.releaseIdle)
	}
	return ix, nil
}

// releaseIdle drops the master index when it has not been used for
// KeepIndex, or looks again when it is due; a run holding it keeps its copy.
func (l *Linker) releaseIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if idle := time.Since(l.usedAt); idle < l.opts.KeepIndex {
		l.release.Reset(l.opts.KeepIndex - idle)
		return
	}
	l.ix, l.release = nil, nil
}

// indexVersion is the version of the master index held in memory, 0 for none.
func (l *Linker) indexVersion() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ix == nil {
		return 0
	}
	return l.ix.version
}

// result is one row's decision.
type result struct {
	r        *row
	outcome  string
	method   string
	person   int64 // 0 for none
	grid     string
	score    float64
	evidence []Evidence
}

// LinkDepartment decides every row of dept whose ID number is missing or
// invalid, stores the links and moves the facts to their persons (marking the
// grids whose counts change), in one transaction: a run that fails changes
// nothing, and rows linked before stay linked.
func (l *Linker) LinkDepartment(ctx context.Context, dept string) (Stats, error) {
	start := time.Now()
	st := Stats{Department: dept}
	version, err := registryVersion(ctx, l.pool)
	if err != nil {
		return st, fmt.Errorf("linkage: %w", err)
	}
	rows, err := l.rows(ctx, dept)
	if err != nil {
		return st, err
	}
	st.Rows = len(rows)
	var results []result
	if len(rows) > 0 {
		ix, err := l.index(ctx)
		if err != nil {
			return st, err
		}
		if len(ix.persons) == 0 {
			return st, errors.New("linkage: the master index is empty")
		}
		md, err := l.model(ctx, ix, dept)
		if err != nil {
			return st, err
		}
		decided, err := l.decisions(ctx, dept)
		if err != nil {
			return st, err
		}
		byCorrection, err := l.corrections(ctx, rows)
		if err != nil {
			return st, err
		}
		for _, r := range rows {
			res := l.decide(ix, md, r, decided[rowKey{r.set, r.factID}], byCorrection)
			results = append(results, res)
			switch {
			case res.method == MethodCorrectedID:
				st.Corrected++
			case res.method == MethodReviewed:
				st.Reviewed++
			case res.outcome == Linked:
				st.Matched++
			case res.outcome == Review:
				st.ToReview++
			default:
				st.Unlinked++
			}
		}
	}
	st.Changed, err = l.store(ctx, dept, results)
	if err != nil {
		return st, err
	}
	l.mu.Lock()
	l.linked[dept] = version
	l.mu.Unlock()
	st.Elapsed = time.Since(start)
	l.opts.Logger.Info("linkage", "department", dept, "rows", st.Rows, "corrected", st.Corrected, "matched", st.Matched,
		"reviewed", st.Reviewed, "review", st.ToReview, "unlinked", st.Unlinked, "changed", st.Changed,
		"elapsed", st.Elapsed.Round(time.Millisecond))
	return st, nil
}

// rowKey identifies a department row within its department.
type rowKey struct{ set, factID string }

// decision is a reviewer's word on one pair.
type decision struct {
	confirmed int64          // the person confirmed, 0 for none
	rejected  map[int64]bool // persons rejected
}

// decide places one row.
func (l *Linker) decide(ix *index, md *model, r *row, d decision, byCorrection map[string]int64) result {
	if d.confirmed != 0 {
		if i, ok := ix.byID[d.confirmed]; ok {
			p := &ix.persons[i]
			ev, s := md.score(ix, r, p)
			return result{r: r, outcome: Linked, method: MethodReviewed, person: p.id, grid: p.grid, score: l.probability(ix, s, s), evidence: ev}
		}
	}
	// A single slip of the keyboard, corrected: unique, and agreeing.
	var agreeing []int32
	for _, c := range r.corrections {
		id, ok := byCorrection[string(c)]
		if !ok || d.rejected[id] {
			continue
		}
		i, ok := ix.byID[id]
		if !ok {
			continue
		}
		p := &ix.persons[i]
		b, hasBirth := r.birthDate()
		if hasBirth && b.Equal(p.birth) && AgreeName(r.name, p.name) && !slices.Contains(agreeing, i) {
			agreeing = append(agreeing, i)
		}
	}
	if len(agreeing) == 1 {
		p := &ix.persons[agreeing[0]]
		ev, _ := md.score(ix, r, p)
		ev = append([]Evidence{{Field: FieldIDNumber, Level: Corrected}}, ev...)
		return result{r: r, outcome: Linked, method: MethodCorrectedID, person: p.id, grid: p.grid, score: 1, evidence: ev}
	}
	// A scored match within the row's blocks.
	best, bestScore, sum := int32(-1), math.Inf(-1), 0.0
	var bestEv []Evidence
	for _, i := range ix.candidates(r) {
		p := &ix.persons[i]
		if d.rejected[p.id] {
			continue
		}
		ev, s := md.score(ix, r, p)
		sum += math.Exp2(s)
		if s > bestScore || s == bestScore && p.id < ix.persons[best].id {
			best, bestScore, bestEv = i, s, ev
		}
	}
	if best < 0 {
		return result{r: r, outcome: Unlinked}
	}
	p := &ix.persons[best]
	prob := math.Exp2(bestScore) / (float64(len(ix.persons)) + sum)
	res := result{r: r, person: p.id, grid: p.grid, score: prob, evidence: bestEv, method: MethodMatch}
	switch {
	case prob >= l.opts.LinkAt:
		res.outcome = Linked
	case prob >= l.opts.ReviewAt:
		res.outcome = Review
	default:
		res = result{r: r, outcome: Unlinked, score: prob}
	}
	return res
}

// probability of a confirmed pair, for the record: its own score alone.
func (l *Linker) probability(ix *index, s, sum float64) float64 {
	return math.Exp2(s) / (float64(len(ix.persons)) + math.Exp2(sum))
}

// rows reads dept's facts whose ID number is missing or invalid.
func (l *Linker) rows(ctx context.Context, dept string) ([]*row, error) {
	q, err := l.pool.Query(ctx, `SELECT set, id, key_hmac, identity, corrections FROM facts
		WHERE department = $1 AND key_invalid AND entity = 'person' ORDER BY set, id`, dept)
	if err != nil {
		return nil, fmt.Errorf("linkage %s: read rows: %w", dept, err)
	}
	var out []*row
	var set, id string
	var key, who []byte
	var corr [][]byte
	_, err = pgx.ForEachRow(q, []any{&set, &id, &key, &who, &corr}, func() error {
		r := &row{set: set, factID: id, keyHMAC: key, corrections: corr}
		if err := parseIdentity(who, r); err != nil {
			return fmt.Errorf("fact %s/%s: identity: %w", set, id, err)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("linkage %s: read rows: %w", dept, err)
	}
	return out, nil
}

// model counts dept's m-probabilities from up to 5000 of its rows whose ID
// number is valid and names a resident.
func (l *Linker) model(ctx context.Context, ix *index, dept string) (*model, error) {
	q, err := l.pool.Query(ctx, `SELECT identity, person_id FROM facts
		WHERE department = $1 AND NOT key_invalid AND person_id IS NOT NULL AND identity IS NOT NULL
		ORDER BY set, id LIMIT 5000`, dept)
	if err != nil {
		return nil, fmt.Errorf("linkage %s: read keyed rows: %w", dept, err)
	}
	var pairs []pair
	var who []byte
	var pid int64
	_, err = pgx.ForEachRow(q, []any{&who, &pid}, func() error {
		var r row
		if err := parseIdentity(who, &r); err != nil {
			return nil // a keyed row's identity is only evidence
		}
		if i, ok := ix.byID[pid]; ok {
			pairs = append(pairs, pair{r: r, p: i})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("linkage %s: read keyed rows: %w", dept, err)
	}
	return estimate(ix, pairs), nil
}

// decisions reads the reviewers' decisions on dept's rows.
func (l *Linker) decisions(ctx context.Context, dept string) (map[rowKey]decision, error) {
	q, err := l.pool.Query(ctx, `SELECT set, fact_id, person_id, decision FROM link_decisions WHERE department = $1`, dept)
	if err != nil {
		return nil, fmt.Errorf("linkage %s: read decisions: %w", dept, err)
	}
	out := map[rowKey]decision{}
	var set, id, what string
	var pid int64
	_, err = pgx.ForEachRow(q, []any{&set, &id, &pid, &what}, func() error {
		k := rowKey{set, id}
		d := out[k]
		if d.rejected == nil {
			d.rejected = map[int64]bool{}
		}
		if what == "CONFIRMED" {
			d.confirmed = pid
		} else {
			d.rejected[pid] = true
		}
		out[k] = d
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("linkage %s: read decisions: %w", dept, err)
	}
	return out, nil
}

// corrections finds the residents whose blind index is a correction of some
// row's number: blind index -> person id.
func (l *Linker) corrections(ctx context.Context, rows []*row) (map[string]int64, error) {
	var all [][]byte
	for _, r := range rows {
		all = append(all, r.corrections...)
	}
	out := map[string]int64{}
	if len(all) == 0 {
		return out, nil
	}
	q, err := l.pool.Query(ctx, `SELECT id_hmac, id FROM persons WHERE id_hmac = ANY($1)`, all)
	if err != nil {
		return nil, fmt.Errorf("linkage: look up corrections: %w", err)
	}
	var h []byte
	var id int64
	_, err = pgx.ForEachRow(q, []any{&h, &id}, func() error {
		out[string(h)] = id
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("linkage: look up corrections: %w", err)
	}
	return out, nil
}

// Link implements factsync.Linker: LinkDepartment, its statistics logged,
// unless the sync changed nothing (changed false) and the department was
// linked in full at the master index there is now: its stored links stand,
// and an idle hub neither relinks every broken row each tick nor keeps the
// master index in memory for it. A reviewer's decision links at once
// (Decide).
func (l *Linker) Link(ctx context.Context, dept string, changed bool) error {
	if !changed {
		v, err := registryVersion(ctx, l.pool)
		if err != nil {
			return fmt.Errorf("linkage: %w", err)
		}
		l.mu.Lock()
		done := l.linked[dept] == v
		l.mu.Unlock()
		if done {
			return nil
		}
	}
	_, err := l.LinkDepartment(ctx, dept)
	return err
}
