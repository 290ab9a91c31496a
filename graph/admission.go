package graph

import (
	"context"
	"fmt"
	"slices"

	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/report"
)

// 准入: department officers draft and submit templates; street staff decide
// for their own streets; each step goes to the access ledger.

// drafter is the caller when it may draft templates: a department's officer.
func drafter(ctx context.Context) (*auth.Principal, error) {
	pr, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !pr.Has(auth.DeptOfficer) || pr.Department == "" {
		return nil, &apperr.Error{Code: apperr.Forbidden, Message: "report templates are drafted by a department's officers"}
	}
	return pr, nil
}

// decider is the caller when it may decide for street: street staff whose
// scope holds it.
func decider(ctx context.Context, street string) (*auth.Principal, error) {
	pr, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !pr.Has(auth.StreetAdmin) {
		return nil, &apperr.Error{Code: apperr.Forbidden, Message: "report templates are approved by street staff"}
	}
	if len(street) != 9 || !pr.InScope(street) {
		return nil, &apperr.Error{Code: apperr.Forbidden, Field: "street", Message: "street is not one the caller speaks for"}
	}
	return pr, nil
}

// streetsOf are the streets (9-digit codes) whose templates the caller is
// offered: those of its scope codes; nil (every street) for an admin or a
// caller whose scope is wider than a street.
func streetsOf(pr *auth.Principal) []string {
	if pr.Has(auth.Admin) || len(pr.Scope) == 0 {
		return nil
	}
	var out []string
	for _, c := range pr.Scope {
		if len(c) < 9 {
			return nil
		}
		if !slices.Contains(out, c[:9]) {
			out = append(out, c[:9])
		}
	}
	return out
}

// decideAudit is the ledger entry of a step of a template's admission.
func decideAudit(d *report.TemplateDraft, step, street string) audit.Entry {
	f := fmt.Sprintf("ReportTemplate:%s.v%d:%s", d.ID, d.Version, step)
	if street != "" {
		f += ":" + street
	}
	return audit.Entry{Action: audit.ActionDecide, Fields: []string{f}}
}

// decide approves or rejects for a street, and records it.
func (r *Resolver) decide(ctx context.Context, template string, version int, street string, approve bool, reason string) (*report.TemplateDraft, error) {
	pr, err := decider(ctx, street)
	if err != nil {
		return nil, err
	}
	d, err := r.Reports.DecideTemplate(ctx, template, version, street, approve, reason, pr.Subject)
	if err != nil {
		return nil, err
	}
	step := report.DecisionRejected
	if approve {
		step = report.DecisionApproved
	}
	if err := r.record(ctx, pr, decideAudit(d, step, street)); err != nil {
		return nil, err
	}
	return d, nil
}

func sectionsOf(in []*model.TemplateSectionInput) []report.Section {
	out := make([]report.Section, len(in))
	for i, s := range in {
		out[i].Title = s.Title
		for _, f := range s.Fields {
			out[i].Fields = append(out[i].Fields, report.SectionField{Field: f.Field, Required: f.Required})
		}
	}
	return out
}
