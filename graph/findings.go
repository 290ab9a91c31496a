package graph

import (
	"context"
	"encoding/json"
	"strconv"

	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/findings"
	"github.com/gridhub/gridhub/internal/people"
	"github.com/gridhub/gridhub/internal/policy"
)

// findingKinds are the kinds a findings query lists: those asked (each must
// be open to the caller under the stated purpose, else the query is
// refused), or, none asked, every kind of the catalogue the purpose opens
// (refused when it opens none).
func (r *Resolver) findingKinds(ctx context.Context, pr *auth.Principal, asked []string) ([]string, error) {
	conf := r.Config.Get()
	if conf.Findings == nil {
		return nil, nil
	}
	pu := PurposeFrom(ctx)
	if len(asked) > 0 {
		for _, k := range asked {
			if _, ok := conf.Findings.Lookup(k); !ok {
				return nil, apperr.BadInput("kinds", "enum", "no finding kind %q (kinds: %v)", k, conf.Findings.Names())
			}
			if d := conf.Policy.Finding(pr, pu, k); !d.Allow {
				return nil, &apperr.Error{Code: d.Code, Field: "kinds", Message: d.Why}
			}
		}
		return asked, nil
	}
	var out []string
	var refused policy.Decision
	for _, k := range conf.Findings.Names() {
		if d := conf.Policy.Finding(pr, pu, k); d.Allow {
			out = append(out, k)
		} else {
			refused = d
		}
	}
	if len(out) == 0 && len(conf.Findings.Names()) > 0 {
		return nil, &apperr.Error{Code: refused.Code, Message: refused.Why}
	}
	return out, nil
}

// findingModels presents findings: their residents, in scope, under the
// operation's policy (read, so audited).
func (r *Resolver) findingModels(ctx context.Context, pr *auth.Principal, list []findings.Finding) ([]*model.Finding, error) {
	conf := r.Config.Get()
	var ids []string
	for _, f := range list {
		if f.PersonID != 0 {
			ids = append(ids, strconv.FormatInt(f.PersonID, 10))
		}
	}
	byID := map[string]*people.Person{}
	if len(ids) > 0 {
		persons, err := r.Master.PersonsByID(ctx, ids)
		if err != nil {
			return nil, err
		}
		var present []*people.Person
		for _, p := range persons {
			if p = personInScope(pr, p); p != nil {
				present = append(present, p)
				byID[p.ID] = p
			}
		}
		if err := r.present(ctx, present, nil, personNeedsAt(ctx)); err != nil {
			return nil, err
		}
	}
	out := make([]*model.Finding, len(list))
	for i, f := range list {
		detail, _ := json.Marshal(f.Detail)
		if f.Detail == nil {
			detail = []byte("{}")
		}
		m := &model.Finding{ID: strconv.FormatInt(f.ID, 10), Kind: f.Kind, Label: f.Kind, Detail: string(detail),
			OpenedAt: f.OpenedAt, SeenAt: f.SeenAt, GridCode: nonEmpty(f.Grid), Department: nonEmpty(f.Department), Set: nonEmpty(f.Set)}
		if k, ok := conf.Findings.Lookup(f.Kind); ok {
			m.Label = k.Label
		}
		if f.PersonID != 0 {
			m.Person = byID[strconv.FormatInt(f.PersonID, 10)]
		}
		out[i] = m
	}
	return out, nil
}

// findingDraft is the report draft of a finding about a resident: the
// kind's template for the resident, the kind's note in its field.
func (r *Resolver) findingDraft(ctx context.Context, f *model.Finding) (*model.ReportDraft, error) {
	if f.Person == nil {
		return nil, nil
	}
	k, ok := r.Config.Get().Findings.Lookup(f.Kind)
	if !ok || k.Report == nil {
		return nil, nil
	}
	if _, _, err := r.reportSubject(ctx, f.Person.ID); err != nil {
		return nil, err
	}
	d, err := r.Reports.Draft(ctx, k.Report.Template, 0, f.Person.ID)
	if err != nil {
		return nil, err
	}
	r.operation(ctx).NotePersonIDs(f.Person.ID)
	m := r.draftModel(ctx, d)
	for _, df := range m.Fields {
		if df.Field == k.Report.Field {
			note := k.Report.Note
			df.Value = &note
		}
	}
	return m, nil
}
