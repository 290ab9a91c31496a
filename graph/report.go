package graph

import (
	"context"
	"errors"
	"strings"

	"github.com/99designs/gqlgen/graphql"

	"github.com/gridhub/gridhub/graph/model"
	"github.com/gridhub/gridhub/graph/records"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/report"
)

// reportSubject checks that the caller may report on a person: a row reader,
// with the person in scope. Out of scope answers as a person that does not exist.
func (r *Resolver) reportSubject(ctx context.Context, personID string) (*auth.Principal, *report.Subject, error) {
	pr, err := rowReader(ctx)
	if err != nil {
		return nil, nil, err
	}
	sub, err := r.Reports.Subject(ctx, personID)
	if e, ok := apperr.As(err); ok && e.Code == apperr.NotFound {
		return nil, nil, noSuchSubject()
	}
	if err != nil {
		return nil, nil, err
	}
	if sub == nil || !visible(pr, sub.GridCode) {
		return nil, nil, noSuchSubject()
	}
	return pr, sub, nil
}

func options(f *report.Field) []*model.ReportOption {
	out := make([]*model.ReportOption, len(f.Values))
	for i, v := range f.Values {
		out[i] = &model.ReportOption{Value: v.Value, Label: v.Label}
	}
	return out
}

func templateModel(t *report.Template) *model.ReportTemplate {
	m := &model.ReportTemplate{ID: t.ID, Version: t.Version, Title: t.Title, Subject: t.Subject}
	for _, f := range t.Fields {
		m.Fields = append(m.Fields, &model.ReportField{
			Field: f.Key, Label: f.Label, Department: f.Department, Section: f.Section,
			Type: string(f.Type), Required: f.Required, Options: options(f.Field), Sensitivity: f.Sensitivity,
		})
	}
	return m
}

// draftModel shows a draft the way the caller may see it: a department value
// the sharing policy withholds from the caller (for the stated purpose) is
// left empty, and an identifier (the phone, a certificate number) is masked
// unless the purpose unmasks its class. The form can still be filled and
// submitted; it only does not show what it may not.
func (r *Resolver) draftModel(ctx context.Context, d *report.Draft) *model.ReportDraft {
	op := r.operation(ctx)
	m := &model.ReportDraft{Template: d.Template, Version: d.Version, Title: d.Title, Subject: d.Subject}
	notes := make([]string, 0, len(d.Fields))
	for _, f := range d.Fields {
		df := &model.DraftField{
			Field: f.Key, Label: f.Label, Department: f.Department, Section: f.Section,
			Type: string(f.Type), Required: f.Required, Options: options(f.Field),
			Value: f.Value, AsOf: f.AsOf,
		}
		if f.Source != "" {
			src := f.Source
			df.Source = &src
		}
		if df.Value != nil {
			df.Value = r.draftValue(op, f)
		}
		notes = append(notes, "Report."+d.Template+"."+f.Key)
		m.Fields = append(m.Fields, df)
	}
	op.NoteFields(notes...)
	for _, u := range d.Unavailable {
		m.Unavailable = append(m.Unavailable, &model.DraftDepartmentError{Department: u.Department, Message: u.Message})
	}
	if m.Unavailable == nil {
		m.Unavailable = []*model.DraftDepartmentError{}
	}
	return m
}

// draftValue is a draft field's value as the caller may see it, nil when
// withheld.
func (r *Resolver) draftValue(op *records.Operation, f *report.DraftField) *string {
	if f.Department == report.Core {
		if c, ok := coreIdentifiers[f.Key]; ok {
			return op.ShowCore(c, *f.Value)
		}
		return f.Value
	}
	d, ok := r.Federation.Dept(f.Department)
	set, field, okKey := splitKey(f.Key, f.Department)
	if !ok || !okKey {
		return nil
	}
	return op.Show(d.Config, set, field, *f.Value)
}

// coreIdentifiers are the core report fields that hold identifiers, by the
// Person field whose masking they follow.
var coreIdentifiers = map[string]string{"core.person.phone": "phone"}

// splitKey splits "dept.set.field" into set and field.
func splitKey(key, dept string) (set, field string, ok bool) {
	rest, found := strings.CutPrefix(key, dept+".")
	if !found {
		return "", "", false
	}
	return strings.Cut(rest, ".")
}

func deliveryModel(d *report.Delivery) *model.Delivery {
	fields := d.Fields
	if fields == nil {
		fields = []string{}
	}
	return &model.Delivery{
		Department: d.Department, Status: d.Status, Attempts: d.Attempts,
		LastError: d.LastError, DeliveredAt: d.DeliveredAt, Fields: fields,
	}
}

func submissionModel(s *report.Submission) *model.Submission {
	m := &model.Submission{
		ID: s.ID, Status: s.Status, Template: s.Template, Version: s.Version,
		Subject: s.Subject, CreatedAt: s.CreatedAt, Deliveries: []*model.Delivery{},
	}
	for _, d := range s.Deliveries {
		m.Deliveries = append(m.Deliveries, deliveryModel(d))
	}
	return m
}

// validationErrors reports every failed rule of a submission as its own
// GraphQL error (each with its field path), returning the first as the field's.
func validationErrors(ctx context.Context, err error) error {
	var ve *report.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	errs := ve.AppErrors()
	if len(errs) == 0 {
		return err
	}
	for _, e := range errs[1:] {
		graphql.AddError(ctx, e)
	}
	return errs[0]
}
