package graph

import (
	"context"
	"time"

	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/linkage"
	"github.com/gridhub/gridhub/internal/people"
)

// reviewer is the caller when it may review link candidates: community
// staff, department officers (their own department's rows) and admins.
func (r *Resolver) reviewer(ctx context.Context) (*auth.Principal, error) {
	pr, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !pr.Has(auth.CommunityAdmin) && !pr.Has(auth.DeptOfficer) && !pr.Has(auth.Admin) {
		return nil, &apperr.Error{Code: apperr.Forbidden, Message: "reviewing links is for community staff and department officers"}
	}
	if r.Linker == nil {
		return nil, &apperr.Error{Code: apperr.NotFound, Message: "this hub runs no record linkage"}
	}
	return pr, nil
}

// mayReview tells whether the caller may see and decide a candidate: its
// proposed person's grid in scope, and, for a department officer who is not
// also community staff or admin, the officer's own department's row.
func mayReview(pr *auth.Principal, c *linkage.Candidate) bool {
	if c == nil || !visible(pr, c.Grid) {
		return false
	}
	if pr.Has(auth.Admin) || pr.Has(auth.CommunityAdmin) {
		return true
	}
	return pr.Department != "" && pr.Department == c.Department
}

// noSuchCandidate answers a candidate that does not exist or that the caller
// may not review, alike.
func noSuchCandidate() error {
	return &apperr.Error{Code: apperr.NotFound, Field: "id", Message: "no link candidate with this id in your scope"}
}

// candidateModels presents candidates: the proposed persons under the
// operation's policy (read, so audited), the department rows' identifiers
// masked as the master index's are.
func (r *Resolver) candidateModels(ctx context.Context, cands []linkage.Candidate) ([]*model.LinkCandidate, error) {
	ids := make([]string, len(cands))
	for i := range cands {
		ids[i] = cands[i].PersonIDString()
	}
	persons, err := r.Master.PersonsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	var present []*people.Person
	for _, p := range persons {
		if p != nil {
			present = append(present, p)
		}
	}
	if err := r.present(ctx, present, nil, personNeedsAt(ctx)); err != nil {
		return nil, err
	}
	op := r.operation(ctx)
	conf := r.Config.Get()
	out := make([]*model.LinkCandidate, len(cands))
	for i := range cands {
		c := &cands[i]
		op.NoteFields("LinkCandidate.record")
		m := &model.LinkCandidate{ID: c.ID, Department: c.Department, Set: c.Set, SetLabel: c.Set, Status: c.Outcome,
			Score: c.Score, Person: persons[i], Record: &model.LinkRecord{}}
		if d, ok := conf.Department(c.Department); ok {
			if rs, ok := d.Set(c.Set); ok && rs.Label != "" {
				m.SetLabel = rs.Label
			}
		}
		if c.Method != "" && c.Outcome == linkage.Linked {
			meth := model.LinkMethod(c.Method)
			m.Method = &meth
		}
		for _, e := range c.Evidence {
			m.Evidence = append(m.Evidence, &model.LinkEvidence{Field: e.Field, Level: e.Level, Weight: e.Weight})
		}
		rec := m.Record
		rec.Name, rec.Sex, rec.Address = nonEmpty(c.Name), nonEmpty(c.Sex), nonEmpty(c.Address)
		if c.Phone != "" {
			rec.Phone = op.ShowCore("phone", c.Phone)
		}
		if !c.BirthDate.IsZero() {
			b := c.BirthDate
			rec.BirthDate = &b
		}
		out[i] = m
	}
	return out, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// decideLink is confirmLink and rejectLink: the decision, then its ledger
// entry (the person, the row, what was decided), written even when the client
// hangs up.
func (r *Resolver) decideLink(ctx context.Context, id string, confirm bool) (*model.LinkCandidate, error) {
	pr, err := r.reviewer(ctx)
	if err != nil {
		return nil, err
	}
	c, err := r.Linker.Candidate(ctx, id)
	if err != nil {
		return nil, err
	}
	if !mayReview(pr, c) {
		return nil, noSuchCandidate()
	}
	if err := r.Linker.Decide(ctx, c, confirm, pr.Subject); err != nil {
		return nil, err
	}
	if r.Ledger != nil {
		what := "rejectLink"
		if confirm {
			what = "confirmLink"
		}
		e := audit.Entry{Actor: pr.Subject, Department: pr.Department, Action: audit.ActionLink,
			Persons: []string{c.PersonIDString()},
			Fields:  []string{what + ":" + c.Department + "." + c.Set + "." + c.FactID}, TraceID: traceID(ctx)}
		for _, role := range pr.Roles {
			e.Roles = append(e.Roles, string(role))
		}
		if pu := PurposeFrom(ctx); pu != nil {
			e.Purpose = pu.Code
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
		defer cancel()
		if _, err := r.Ledger.Append(actx, e); err != nil {
			return nil, err
		}
	}
	after, err := r.Linker.Candidate(ctx, id)
	if err != nil {
		return nil, err
	}
	if after == nil || after.PersonID != c.PersonID {
		// Rejected and nobody else proposed, or another candidate now:
		// answer with the decided pair, as rejected.
		c.Outcome, c.Method, c.LinkedAt = linkage.Unlinked, "", time.Now()
		after = c
	}
	ms, err := r.candidateModels(ctx, []linkage.Candidate{*after})
	if err != nil {
		return nil, err
	}
	return ms[0], nil
}
