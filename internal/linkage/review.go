package linkage

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/apperr"
)

// Candidate is a department row linkage proposes for a person, as a reviewer
// sees it: the row's identity, the proposed person, the score and evidence.
type Candidate struct {
	// ID identifies the candidate for confirmLink and rejectLink (opaque).
	ID                      string
	Department, Set, FactID string
	PersonID                int64
	// Grid is the proposed person's grid: the scope a reviewer must hold.
	Grid     string
	Outcome  string
	Method   string
	Score    float64
	Evidence []Evidence
	// The department row's identity as the department writes it.
	Name, Sex, Address, Phone string
	BirthDate                 time.Time
	LinkedAt                  time.Time
}

// CandidateID is the opaque id of a department row's candidate.
func CandidateID(dept, set, factID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(dept + "\x00" + set + "\x00" + factID))
}

// parseCandidateID reads CandidateID's output.
func parseCandidateID(id string) (dept, set, factID string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(id)
	parts := strings.Split(string(b), "\x00")
	if err != nil || len(parts) != 3 {
		return "", "", "", apperr.BadInput("id", "format", "not a link candidate id")
	}
	return parts[0], parts[1], parts[2], nil
}

// CandidatePage is one page of the review queue.
type CandidatePage struct {
	Candidates  []Candidate
	Cursors     []string
	HasNextPage bool
	Total       int
}

// ReviewFilter bounds the review queue.
type ReviewFilter struct {
	// Prefixes are grid code prefixes the candidates' grids must start with
	// (the caller's scope cut to what they asked for); nil means anywhere.
	Prefixes []string
	// Department limits the queue to one department's rows; "" is every one.
	Department string
}

const candidateColumns = `l.department, l.set, l.fact_id, l.person_id, coalesce(l.grid_code, ''), l.outcome,
	coalesce(l.method, ''), coalesce(l.score, 0), l.evidence, f.identity, l.linked_at`

func scanCandidate(cr pgx.CollectableRow) (Candidate, error) {
	var c Candidate
	var ev, who []byte
	if err := cr.Scan(&c.Department, &c.Set, &c.FactID, &c.PersonID, &c.Grid, &c.Outcome, &c.Method, &c.Score, &ev, &who, &c.LinkedAt); err != nil {
		return c, err
	}
	c.ID = CandidateID(c.Department, c.Set, c.FactID)
	if err := json.Unmarshal(ev, &c.Evidence); err != nil {
		return c, fmt.Errorf("evidence: %w", err)
	}
	var r row
	if err := parseIdentity(who, &r); err != nil {
		return c, fmt.Errorf("identity: %w", err)
	}
	c.Name, c.Sex, c.Address, c.Phone, c.BirthDate = r.name, r.sexOf(), r.address, r.phone, r.birth
	if c.BirthDate.IsZero() {
		c.BirthDate = r.idBirth
	}
	return c, nil
}

// Candidates lists the rows waiting for review within the filter, in grid
// and row order, first at a time after the cursor.
func (l *Linker) Candidates(ctx context.Context, f ReviewFilter, first int, after string) (*CandidatePage, error) {
	if first <= 0 || first > 100 {
		first = 20
	}
	where := `l.outcome = 'REVIEW' AND ($1::text = '' OR l.department = $1)
		AND ($2::text[] IS NULL OR l.grid_code LIKE ANY (SELECT p || '%' FROM unnest($2::text[]) p))`
	var prefixes any
	if f.Prefixes != nil {
		prefixes = f.Prefixes
	}
	var total int
	if err := l.pool.QueryRow(ctx, `SELECT count(*) FROM links l WHERE `+where, f.Department, prefixes).Scan(&total); err != nil {
		return nil, fmt.Errorf("linkage: review queue: %w", err)
	}
	var cur [4]string
	if after != "" {
		b, err := base64.RawURLEncoding.DecodeString(after)
		parts := strings.Split(string(b), "\x00")
		if err != nil || len(parts) != 4 {
			return nil, apperr.BadInput("after", "format", "not a cursor of this list")
		}
		copy(cur[:], parts)
	}
	rows, err := l.pool.Query(ctx, `SELECT `+candidateColumns+`
		FROM links l JOIN facts f ON f.department = l.department AND f.set = l.set AND f.id = l.fact_id AND f.key_hmac = l.key_hmac
		WHERE `+where+` AND ($3::text = '' OR (l.grid_code, l.department, l.set, l.fact_id) > ($3, $4, $5, $6))
		ORDER BY l.grid_code, l.department, l.set, l.fact_id LIMIT $7`,
		f.Department, prefixes, cur[0], cur[1], cur[2], cur[3], first+1)
	if err != nil {
		return nil, fmt.Errorf("linkage: review queue: %w", err)
	}
	cands, err := pgx.CollectRows(rows, scanCandidate)
	if err != nil {
		return nil, fmt.Errorf("linkage: review queue: %w", err)
	}
	page := &CandidatePage{Total: total}
	if len(cands) > first {
		cands, page.HasNextPage = cands[:first], true
	}
	page.Candidates = cands
	for _, c := range cands {
		page.Cursors = append(page.Cursors, base64.RawURLEncoding.EncodeToString([]byte(c.Grid+"\x00"+c.Department+"\x00"+c.Set+"\x00"+c.FactID)))
	}
	return page, nil
}

// Candidate reads one candidate by id, whatever its outcome; nil when there
// is none.
func (l *Linker) Candidate(ctx context.Context, id string) (*Candidate, error) {
	dept, set, factID, err := parseCandidateID(id)
	if err != nil {
		return nil, err
	}
	rows, err := l.pool.Query(ctx, `SELECT `+candidateColumns+`
		FROM links l JOIN facts f ON f.department = l.department AND f.set = l.set AND f.id = l.fact_id AND f.key_hmac = l.key_hmac
		WHERE l.department = $1 AND l.set = $2 AND l.fact_id = $3 AND l.person_id IS NOT NULL LIMIT 1`, dept, set, factID)
	if err != nil {
		return nil, fmt.Errorf("linkage: candidate: %w", err)
	}
	c, err := pgx.CollectOneRow(rows, scanCandidate)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("linkage: candidate: %w", err)
	}
	return &c, nil
}

// Decide records a reviewer's decision on a candidate (confirm: the row is
// the person's; otherwise it is not) and links the department again, so the
// row moves at once: a confirmed row is LINKED by REVIEWED, a rejected one
// gets the next best candidate, if any. The decision outlives every re-sync
// and re-link. It returns the candidate as it was decided on.
func (l *Linker) Decide(ctx context.Context, c *Candidate, confirm bool, actor string) error {
	what := "REJECTED"
	if confirm {
		what = "CONFIRMED"
	}
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if confirm {
			// One confirmed person per row: a new confirmation replaces
			// the old one.
			if _, err := tx.Exec(ctx, `UPDATE link_decisions SET decision = 'REJECTED', actor = $5, decided_at = now()
				WHERE department = $1 AND set = $2 AND fact_id = $3 AND person_id <> $4 AND decision = 'CONFIRMED'`,
				c.Department, c.Set, c.FactID, c.PersonID, actor); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO link_decisions (department, set, fact_id, person_id, decision, actor)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (department, set, fact_id, person_id) DO UPDATE SET decision = excluded.decision, actor = excluded.actor, decided_at = now()`,
			c.Department, c.Set, c.FactID, c.PersonID, what, actor)
		return err
	})
	if err != nil {
		return fmt.Errorf("linkage: record decision: %w", err)
	}
	_, err = l.LinkDepartment(ctx, c.Department)
	return err
}

// PersonIDString is a candidate's person as the ledger and the master index
// name it.
func (c *Candidate) PersonIDString() string { return strconv.FormatInt(c.PersonID, 10) }
