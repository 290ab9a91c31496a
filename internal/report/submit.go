package report

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/audit"
)

// SubmitInput is a filled report (SubmitReportInput).
type SubmitInput struct {
	Template string
	// Version is the template version the form was drawn from (required).
	Version int
	// Subject is the person id the report is about.
	Subject string
	// IdempotencyKey identifies the submission: sending it again (a retried
	// request) returns the stored submission instead of a second one.
	IdempotencyKey string
	Values         []FieldValue
}

// Actor is who submits.
type Actor struct {
	Subject string // the token's sub
	Roles   []string
}

// Idempotency keys are 8 to 128 printable ASCII characters (a UUID fits).
const (
	minKeyLength = 8
	maxKeyLength = 128
)

// deliveredField is one field of a department's delivery as stored with it:
// self-contained, so a catalogue changed between submission and delivery does
// not change what is delivered.
type deliveredField struct {
	Field  string  `json:"field"`
	Target string  `json:"target"`
	Type   Type    `json:"type"`
	Value  *string `json:"value"` // nil clears the target
}

// Submit validates a report, stores it and, in the same transaction, applies
// its core fields to the master index and enqueues one delivery job per
// department whose fields changed against a fresh draft. A department receives
// only its own fields, and only the changed ones; a department that did not
// answer the draft receives every non-empty value submitted for it.
//
// Every failed rule comes back at once in a *ValidationError
// (BAD_USER_INPUT, one entry per path). An unknown subject is NOT_FOUND. The
// same IdempotencyKey with the same payload (template, version, subject,
// actor and values) returns the stored submission with Replayed set, without
// reading departments or enqueueing anything; with another payload it is
// BAD_USER_INPUT (rule "idempotency").
//
// The caller checks that the actor may report on the subject (Subject's
// GridCode) and appends the audit entry (Submission.AuditEntry).
func (s *Service) Submit(ctx context.Context, in SubmitInput, actor Actor) (*Submission, error) {
	var errs []*FieldError
	bad := func(path, rule, format string, args ...any) {
		errs = append(errs, &FieldError{Path: path, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	keyOK := checkKey(in.IdempotencyKey, bad)
	var t *Template
	if in.Version == 0 {
		if _, err := s.lookup(ctx, in.Template, 0, false); err != nil && asFieldError(err).Path == "template" {
			if _, ok := apperr.As(err); !ok {
				return nil, err
			}
			errs = append(errs, asFieldError(err))
		}
		bad("version", "required", "version is required: the template version the form was drawn from")
	} else if tpl, err := s.lookup(ctx, in.Template, in.Version, true); err != nil {
		if _, ok := apperr.As(err); !ok {
			return nil, err
		}
		errs = append(errs, asFieldError(err))
	} else {
		t = tpl
	}
	if _, err := checkSubjectID(in.Subject); err != nil {
		errs = append(errs, asFieldError(err))
	}
	if len(in.Values) == 0 {
		// Nothing to store or deliver: a form sent without its values is a
		// client's mistake, not a report that everything is as it was.
		bad("values", "empty", "a submission carries at least one value")
	}
	fp := fingerprint(in, actor)
	if keyOK {
		prev, err := s.submissionByKey(ctx, s.pool, in.IdempotencyKey)
		if err != nil {
			return nil, err
		}
		if prev != nil {
			return s.replay(ctx, prev, fp)
		}
	}
	if len(errs) > 0 {
		return nil, &ValidationError{Errors: errs}
	}

	sub, err := s.Subject(ctx, in.Subject)
	if err != nil {
		return nil, err
	}
	// 准入: only a template the subject's street approved is filled there.
	if err := s.admitted(ctx, t, sub.GridCode); err != nil {
		return nil, &ValidationError{Errors: []*FieldError{asFieldError(err)}}
	}
	draft := s.draft(ctx, t, sub)
	now := s.opts.Now()
	values, verrs := validate(t, in.Values, draft, sub, now)
	if len(verrs) > 0 {
		return nil, &ValidationError{Errors: verrs}
	}
	core, depts := diff(t, values, draft)

	stored := make([]FieldValue, 0, len(values))
	for _, p := range values {
		stored = append(stored, FieldValue{Field: p.field.Key, Value: p.text})
	}
	slices.SortFunc(stored, func(a, b FieldValue) int { return strings.Compare(a.Field, b.Field) })
	valuesJSON, err := json.Marshal(stored)
	if err != nil {
		return nil, err
	}
	draftJSON, err := json.Marshal(snapshot(draft))
	if err != nil {
		return nil, err
	}
	var coreFields []string
	for _, p := range core {
		coreFields = append(coreFields, p.field.Key)
	}
	slices.Sort(coreFields)
	roles := actor.Roles
	if roles == nil {
		roles = []string{}
	}

	res := &Submission{
		IdempotencyKey: in.IdempotencyKey, Template: t.ID, Version: t.Version, Subject: sub.PersonID,
		GridCode: sub.GridCode, Actor: actor.Subject, Values: stored, CoreFields: coreFields,
	}
	if res.CoreFields == nil {
		res.CoreFields = []string{}
	}
	var conflict bool
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO report_submissions
				(idempotency_key, fingerprint, template, version, subject_person_id, grid_code, actor, actor_roles, values, draft, core_fields)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (idempotency_key) DO NOTHING
			RETURNING id::text, created_at`,
			in.IdempotencyKey, fp, t.ID, t.Version, sub.personID, sub.GridCode, actor.Subject, roles, valuesJSON, draftJSON, res.CoreFields).
			Scan(&res.ID, &res.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			// A concurrent request with the same key committed first.
			conflict = true
			return errRollback
		}
		if err != nil {
			return fmt.Errorf("report: store submission: %w", err)
		}
		if res.Deliveries, err = s.enqueue(ctx, tx, res.ID, depts, now); err != nil {
			return err
		}
		return applyCore(ctx, tx, sub, core)
	})
	if conflict {
		prev, err := s.submissionByKey(ctx, s.pool, in.IdempotencyKey)
		if err != nil {
			return nil, err
		}
		if prev == nil {
			return nil, errors.New("report: submission with a conflicting idempotency key vanished")
		}
		return s.replay(ctx, prev, fp)
	}
	if err != nil {
		return nil, err
	}
	res.Status = overall(res.Deliveries)
	return res, nil
}

var errRollback = errors.New("rollback")

func checkKey(key string, bad func(path, rule, format string, args ...any)) bool {
	if n := len(key); n < minKeyLength || n > maxKeyLength {
		bad("idempotencyKey", "length", "idempotencyKey must have %d to %d characters, got %d", minKeyLength, maxKeyLength, n)
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			bad("idempotencyKey", "charset", "idempotencyKey must be printable ASCII without spaces: character %d is not", i+1)
			return false
		}
	}
	return true
}

func asFieldError(err error) *FieldError {
	if e, ok := apperr.As(err); ok {
		return &FieldError{Path: e.Field, Rule: e.Rule, Message: e.Message}
	}
	return &FieldError{Path: "", Rule: "invalid", Message: err.Error()}
}

// replay answers a request whose idempotency key is already stored.
func (s *Service) replay(ctx context.Context, prev *storedSubmission, fp []byte) (*Submission, error) {
	if !bytes.Equal(prev.fingerprint, fp) {
		return nil, &ValidationError{Errors: []*FieldError{{
			Path: "idempotencyKey", Rule: "idempotency",
			Message: "idempotencyKey was already used for a different submission: use a new key for a new report",
		}}}
	}
	sub, err := s.Submission(ctx, prev.id)
	if err != nil {
		return nil, err
	}
	sub.Replayed = true
	return sub, nil
}

// fingerprint identifies a submission's payload for the idempotency check:
// the same values in another order are the same payload.
func fingerprint(in SubmitInput, actor Actor) []byte {
	vals := make([]FieldValue, len(in.Values))
	for i, v := range in.Values {
		vals[i] = FieldValue{Field: v.Field, Value: strings.TrimSpace(v.Value)}
	}
	slices.SortStableFunc(vals, func(a, b FieldValue) int { return strings.Compare(a.Field, b.Field) })
	b, _ := json.Marshal(struct {
		Template string
		Version  int
		Subject  string
		Actor    string
		Values   []FieldValue
	}{in.Template, in.Version, in.Subject, actor.Subject, vals})
	h := sha256.Sum256(b)
	return h[:]
}

// diff splits the submitted values into the core fields and, per department,
// the fields to deliver: those whose value differs from the draft's. A field
// of a department the draft could not read (or read from a stale copy) is
// unknown: it is delivered when the submission gives it a value, never
// cleared. An append field (a new record) is delivered when given a value.
func diff(t *Template, values map[string]*parsed, draft *Draft) (core []*parsed, depts map[string][]*parsed) {
	depts = map[string][]*parsed{}
	for _, tf := range t.Fields {
		p := values[tf.Key]
		if p == nil {
			continue
		}
		df := draft.Field(tf.Key)
		known := df.AsOf != nil && !df.Stale
		var changed bool
		switch {
		case tf.Append || !known:
			changed = p.text != ""
		default:
			old := ""
			if df.Value != nil {
				old = *df.Value
			}
			changed = !tf.same(p.text, old)
		}
		if !changed {
			continue
		}
		if tf.Department == Core {
			core = append(core, p)
		} else {
			depts[tf.Writeback.Department] = append(depts[tf.Writeback.Department], p)
		}
	}
	return core, depts
}

// draftSnapshot is the draft a submission was compared with, as stored.
type draftSnapshot struct {
	ReadAt      time.Time                `json:"readAt"`
	Fields      map[string]snapshotField `json:"fields"`
	Unavailable []*DepartmentError       `json:"unavailable,omitempty"`
}

type snapshotField struct {
	Value  *string    `json:"value"`
	Source string     `json:"source"`
	AsOf   *time.Time `json:"asOf"`
	Stale  bool       `json:"stale,omitempty"`
}

func snapshot(d *Draft) draftSnapshot {
	out := draftSnapshot{ReadAt: d.ReadAt, Fields: map[string]snapshotField{}, Unavailable: d.Unavailable}
	for _, f := range d.Fields {
		out.Fields[f.Key] = snapshotField{Value: f.Value, Source: f.Source, AsOf: f.AsOf, Stale: f.Stale}
	}
	return out
}

// QueueName is the River queue of a department's deliveries.
func QueueName(department string) string { return "deliver_" + department }

// enqueue creates, inside tx, one PENDING delivery and one River job per
// department with changes.
func (s *Service) enqueue(ctx context.Context, tx pgx.Tx, submissionID string, depts map[string][]*parsed, now time.Time) ([]*Delivery, error) {
	names := sortedKeys(depts)
	if len(names) == 0 {
		return []*Delivery{}, nil
	}
	params := make([]river.InsertManyParams, len(names))
	for i, dept := range names {
		params[i] = river.InsertManyParams{
			Args:       DeliverArgs{SubmissionID: submissionID, Department: dept},
			InsertOpts: &river.InsertOpts{Queue: QueueName(dept), MaxAttempts: s.opts.MaxAttempts},
		}
	}
	jobs, err := s.inserter.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, fmt.Errorf("report: enqueue deliveries: %w", err)
	}
	jobByQueue := map[string]int64{}
	for _, j := range jobs {
		jobByQueue[j.Job.Queue] = j.Job.ID
	}
	out := make([]*Delivery, len(names))
	batch := &pgx.Batch{}
	for i, dept := range names {
		payload := make([]deliveredField, 0, len(depts[dept]))
		d := &Delivery{SubmissionID: submissionID, Department: dept, Status: Pending, UpdatedAt: now}
		for _, p := range depts[dept] {
			var v *string
			if p.text != "" {
				v = &p.text
			}
			payload = append(payload, deliveredField{Field: p.field.Key, Target: p.field.Writeback.Target, Type: p.field.Type, Value: v})
			d.Fields = append(d.Fields, p.field.Key)
		}
		raw, err := json.Marshal(payload)
		if err != nil {
			return nil, err
		}
		batch.Queue(`INSERT INTO report_deliveries (submission_id, department, status, payload, job_id)
			VALUES ($1, $2, 'PENDING', $3, $4) RETURNING updated_at`, submissionID, dept, raw, jobByQueue[QueueName(dept)]).
			QueryRow(func(row pgx.Row) error { return row.Scan(&d.UpdatedAt) })
		out[i] = d
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, fmt.Errorf("report: store deliveries: %w", err)
	}
	return out, nil
}

// applyCore writes the changed core fields to the master index.
func applyCore(ctx context.Context, tx pgx.Tx, sub *Subject, core []*parsed) error {
	var sets []string
	args := []any{sub.personID}
	var household *string
	for _, p := range core {
		var v any
		if p.text != "" {
			v = p.text
		}
		switch p.field.Writeback.Target {
		case "person.phone":
			args = append(args, v)
			sets = append(sets, "phone = $"+strconv.Itoa(len(args)))
		case "person.residence":
			args = append(args, v)
			sets = append(sets, "residence = $"+strconv.Itoa(len(args)))
		case "person.awaySince":
			args = append(args, v)
			sets = append(sets, "away_since = $"+strconv.Itoa(len(args))+"::date")
		case "household.residentCount":
			t := p.text
			household = &t
		default:
			return fmt.Errorf("report: no master index target %s", p.field.Writeback.Target)
		}
	}
	if len(sets) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE persons SET `+strings.Join(sets, ", ")+` WHERE id = $1`, args...); err != nil {
			return fmt.Errorf("report: apply core fields to person: %w", err)
		}
	}
	if household != nil {
		var v any
		if *household != "" {
			v = *household
		}
		if _, err := tx.Exec(ctx, `UPDATE households SET resident_count = $2::integer WHERE id = $1`, sub.householdID, v); err != nil {
			return fmt.Errorf("report: apply core fields to household: %w", err)
		}
	}
	return nil
}

// AuditEntry is the ledger entry of a submission (action submit) for
// audit.Ledger.Append: the subject and the fields submitted. The caller adds
// what it knows of the request (department, purpose, operation, trace).
func (sub *Submission) AuditEntry(actor Actor) audit.Entry {
	fields := make([]string, len(sub.Values))
	for i, v := range sub.Values {
		fields[i] = "Report." + sub.Template + "." + v.Field
	}
	return audit.Entry{
		Actor:   actor.Subject,
		Roles:   actor.Roles,
		Action:  audit.ActionSubmit,
		Persons: []string{sub.Subject},
		Fields:  fields,
	}
}
