package report

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/federation"
)

// Draft is a report form pre-filled with what the departments hold now.
type Draft struct {
	Template string
	Version  int
	Title    string
	// Subject is the person id the report is about.
	Subject string
	// GridCode is the subject's grid, for the caller's row scope.
	GridCode string
	Fields   []*DraftField
	// Unavailable lists the departments that did not answer; their fields are
	// empty, or filled from a recent copy and marked Stale.
	Unavailable []*DepartmentError
	// ReadAt is when the draft was read.
	ReadAt time.Time
}

// DraftField is one field of a draft.
type DraftField struct {
	*TemplateField
	// Value is the field's current value in canonical text (enum values,
	// YYYY-MM-DD dates, true/false), nil when the source holds none or did not
	// answer.
	Value *string
	// Source is the department the value was read from (Core for the master
	// index): the owning department.
	Source string
	// AsOf is when the source said so; nil when it did not answer, or for an
	// Append field, which has no current value to read.
	AsOf *time.Time
	// Stale marks a value from the federation's recent copy of a department
	// that is down.
	Stale bool
}

// DepartmentError says why a department's fields could not be read.
type DepartmentError struct {
	Department string
	Message    string
}

// Field returns the draft's field with key, or nil.
func (d *Draft) Field(key string) *DraftField {
	for _, f := range d.Fields {
		if f.Key == key {
			return f
		}
	}
	return nil
}

// Draft returns template (version 0: the current one) pre-filled for the
// subject person: each field's value as its department holds it now, with
// source and as-of time. One Read per department, all in parallel; a
// department that fails is listed in Unavailable and never fails the draft.
//
// The template must be approved by the subject's street (准入, admission.go);
// version 0 of a drafted template is the newest that street approved.
func (s *Service) Draft(ctx context.Context, templateID string, version int, subjectPersonID string) (*Draft, error) {
	if _, err := s.lookup(ctx, templateID, version, false); err != nil {
		return nil, err
	}
	sub, err := s.Subject(ctx, subjectPersonID)
	if err != nil {
		return nil, err
	}
	t, err := s.resolveFor(ctx, templateID, version, sub.GridCode)
	if err != nil {
		return nil, err
	}
	return s.draft(ctx, t, sub), nil
}

// deptRead is what one department said.
type deptRead struct {
	records map[string][]connectors.Record // set -> records for the subject
	asOf    time.Time
	stale   bool
	err     error
}

func (s *Service) draft(ctx context.Context, t *Template, sub *Subject) *Draft {
	now := s.opts.Now()
	d := &Draft{Template: t.ID, Version: t.Version, Title: t.Title, Subject: sub.PersonID, GridCode: sub.GridCode, ReadAt: now}

	reads := map[string]*deptRead{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, dept := range t.Departments {
		if dept == Core {
			continue
		}
		var sets []string
		for _, f := range t.Fields {
			if f.Department == dept && !f.Append && !slices.Contains(sets, f.Set()) {
				sets = append(sets, f.Set())
			}
		}
		if len(sets) == 0 {
			// Only Append fields (a new case): nothing to pre-fill, nothing to ask.
			mu.Lock()
			reads[dept] = &deptRead{}
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			r := s.readDept(ctx, dept, sub.idNumber, sets)
			mu.Lock()
			reads[dept] = r
			mu.Unlock()
		})
	}
	wg.Wait()

	for _, dept := range t.Departments {
		if r := reads[dept]; r != nil && r.err != nil {
			d.Unavailable = append(d.Unavailable, &DepartmentError{Department: dept, Message: r.err.Error()})
		}
	}
	for _, tf := range t.Fields {
		df := &DraftField{TemplateField: tf, Source: tf.Department}
		d.Fields = append(d.Fields, df)
		if tf.Department == Core {
			at := now
			df.AsOf = &at
			if v, ok := sub.core[tf.Writeback.Target]; ok {
				df.Value = &v
			}
			continue
		}
		r := reads[tf.Department]
		if tf.Append || (r.err != nil && !r.stale) {
			continue
		}
		at := r.asOf
		df.AsOf, df.Stale = &at, r.stale
		if recs := r.records[tf.Set()]; len(recs) > 0 {
			if raw, ok := recs[0][tf.Name()]; ok {
				if v, ok := tf.Format(raw); ok {
					df.Value = &v
				}
			}
		}
	}
	return d
}

// readDept asks dept for the subject's records of sets.
func (s *Service) readDept(ctx context.Context, dept, key string, sets []string) *deptRead {
	ans, err := s.reader.Read(ctx, dept, connectors.ReadRequest{Entity: connectors.Person, Keys: []string{key}, Sets: sets})
	r := &deptRead{err: err}
	if err != nil {
		if _, ok := apperr.As(err); !ok {
			// Not a domain error: keep internals out of the draft.
			r.err = &apperr.Error{Code: apperr.DepartmentUnavailable, Department: dept, Message: "department " + dept + " is unavailable"}
		}
	}
	if ans == nil {
		return r
	}
	if err != nil && !ans.Stale {
		return r
	}
	r.stale = ans.Stale
	r.asOf = ans.AsOf[key]
	if r.asOf.IsZero() {
		if err != nil {
			// A copy that does not hold the key says nothing.
			r.stale = false
			return r
		}
		r.asOf = s.opts.Now()
	}
	r.records = ans.Result[key]
	return r
}

var _ Reader = (*federation.Federation)(nil)
