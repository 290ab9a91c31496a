package linkage

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TruthRow is one department row whose identity the generator distorted, as
// its ground truth records it (internal/deptsim truth/noise.csv.gz): the
// person the row is truly about, and the kind of noise.
type TruthRow struct {
	Department, Set, Row string
	PersonID             int64
	Kind                 string
}

// KindScore is how the rows of one kind of noise came out.
type KindScore struct {
	Kind string
	// Rows is how many rows carry the noise; Absent how many of them are
	// not in the hub (a feed left them out).
	Rows, Absent int
	// Correct rows are on their true person; Wrong on another; Review wait
	// for a reviewer; Unlinked are on no one.
	Correct, Wrong, Review, Unlinked int
}

// Report is linkage measured against the ground truth, over every person row
// the departments hold about a resident.
type Report struct {
	// Rows is the person rows in the hub plus the truth rows absent from it.
	Rows int
	// Links is how many rows are on a person, Correct how many on the right one.
	Links, Correct int
	// ByMethod counts the correct and wrong links per method.
	ByMethod map[string][2]int
	Kinds    []KindScore
}

// Precision is the share of links that are right.
func (r Report) Precision() float64 { return ratio(r.Correct, r.Links) }

// Recall is the share of rows linked to their true person.
func (r Report) Recall() float64 { return ratio(r.Correct, r.Rows) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

// Evaluate measures the links in the hub's database against the truth. A row
// the truth does not list carries its person's true ID number, so the person
// its number names is its true person: such rows are right when linked.
func Evaluate(ctx context.Context, pool *pgxpool.Pool, truth []TruthRow) (Report, error) {
	rep := Report{ByMethod: map[string][2]int{}}
	// The true person of each distorted row.
	type rk struct{ dept, set, id string }
	trueOf := map[rk]int64{}
	for _, t := range truth {
		trueOf[rk{t.Department, t.Set, t.Row}] = t.PersonID
	}
	// Every person row, with its link; rows with valid numbers in bulk.
	var keyed, keyedLinked int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(person_id) FROM facts WHERE entity = 'person' AND NOT key_invalid`).
		Scan(&keyed, &keyedLinked); err != nil {
		return rep, fmt.Errorf("linkage: evaluate: %w", err)
	}
	type got struct {
		person  int64
		invalid bool
		outcome string
		method  string
	}
	have := map[rk]got{}
	q, err := pool.Query(ctx, `SELECT f.department, f.set, f.id, coalesce(f.person_id, 0), f.key_invalid,
			coalesce(l.outcome, ''), coalesce(l.method, '')
		FROM facts f LEFT JOIN links l ON l.department = f.department AND l.set = f.set AND l.fact_id = f.id AND f.key_invalid
		WHERE f.entity = 'person' AND (f.key_invalid OR (f.department, f.set, f.id) IN
			(SELECT * FROM unnest($1::text[], $2::text[], $3::text[])))`,
		column(truth, func(t TruthRow) string { return t.Department }),
		column(truth, func(t TruthRow) string { return t.Set }),
		column(truth, func(t TruthRow) string { return t.Row }))
	if err != nil {
		return rep, fmt.Errorf("linkage: evaluate: %w", err)
	}
	var k rk
	var g got
	if _, err := pgx.ForEachRow(q, []any{&k.dept, &k.set, &k.id, &g.person, &g.invalid, &g.outcome, &g.method}, func() error {
		have[k] = g
		return nil
	}); err != nil {
		return rep, fmt.Errorf("linkage: evaluate: %w", err)
	}
	invalid := 0
	for k, g := range have {
		if !g.invalid {
			continue
		}
		invalid++
		if g.person == 0 {
			continue
		}
		rep.Links++
		m := rep.ByMethod[g.method]
		if t, ok := trueOf[k]; ok && t == g.person {
			rep.Correct++
			m[0]++
		} else {
			m[1]++
		}
		rep.ByMethod[g.method] = m
	}
	// Rows with valid numbers: linked by their number. A distorted one (a
	// 15-digit or lower-case number) is checked against the truth.
	rep.Links += keyedLinked
	rep.Correct += keyedLinked
	idLinks := [2]int{keyedLinked, 0}
	for k, g := range have {
		if g.invalid || g.person == 0 {
			continue
		}
		if t, ok := trueOf[k]; ok && t != g.person {
			rep.Correct--
			idLinks[0]--
			idLinks[1]++
		}
	}
	rep.ByMethod[MethodID] = idLinks
	rep.Rows = keyed + invalid
	byKind := map[string]*KindScore{}
	seenAbsent := map[rk]bool{}
	for _, t := range truth {
		s := byKind[t.Kind]
		if s == nil {
			s = &KindScore{Kind: t.Kind}
			byKind[t.Kind] = s
		}
		s.Rows++
		k := rk{t.Department, t.Set, t.Row}
		g, ok := have[k]
		switch {
		case !ok:
			s.Absent++
			if !seenAbsent[k] {
				seenAbsent[k] = true
				rep.Rows++
			}
		case g.person == t.PersonID:
			s.Correct++
		case g.person != 0:
			s.Wrong++
		case g.outcome == Review:
			s.Review++
		default:
			s.Unlinked++
		}
	}
	for _, s := range byKind {
		rep.Kinds = append(rep.Kinds, *s)
	}
	slices.SortFunc(rep.Kinds, func(a, b KindScore) int { return compareStrings(a.Kind, b.Kind) })
	return rep, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func column(truth []TruthRow, f func(TruthRow) string) []string {
	out := make([]string, len(truth))
	for i, t := range truth {
		out[i] = f(t)
	}
	return out
}
