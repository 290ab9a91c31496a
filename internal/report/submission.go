package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/gridhub/gridhub/internal/apperr"
)

// Status is a delivery's state, and a submission's overall state.
type Status string

// The delivery states.
const (
	// Pending: enqueued, not yet tried (or redelivered).
	Pending Status = "PENDING"
	// Retrying: tried and failed, another attempt is scheduled.
	Retrying Status = "RETRYING"
	// Delivered: the department accepted it.
	Delivered Status = "DELIVERED"
	// Failed: the last attempt failed, or the department refused it for good;
	// an admin may Redeliver it.
	Failed Status = "FAILED"
)

// Submission is a stored report and its deliveries.
type Submission struct {
	ID             string
	IdempotencyKey string
	Template       string
	Version        int
	// Subject is the person id the report is about; GridCode their grid.
	Subject  string
	GridCode string
	// Actor is who submitted (the token's sub).
	Actor string
	// Values are the submitted values in canonical text, by field.
	Values []FieldValue
	// CoreFields are the core fields the submission changed in the master index.
	CoreFields []string
	// Status is FAILED if any delivery failed, else RETRYING if any is
	// retrying, else PENDING if any is pending, else DELIVERED (also when no
	// department had changes).
	Status Status
	// Deliveries are one per department with changes, by department code.
	Deliveries []*Delivery
	CreatedAt  time.Time
	// Replayed is set when Submit returned a submission stored by an earlier
	// request with the same idempotency key.
	Replayed bool
}

// Delivery is a submission's delivery to one department.
type Delivery struct {
	SubmissionID string
	Department   string
	Status       Status
	// Attempts counts the calls to the department, across redeliveries.
	Attempts int
	// LastError is the last failed attempt's error, cleared on success.
	LastError   *string
	DeliveredAt *time.Time
	UpdatedAt   time.Time
	// Redeliveries counts the admin's Redeliver calls.
	Redeliveries int
	// Fields are the catalogue keys delivered.
	Fields []string
}

// Delivery returns the submission's delivery to department, or nil.
func (s *Submission) Delivery(department string) *Delivery {
	for _, d := range s.Deliveries {
		if d.Department == department {
			return d
		}
	}
	return nil
}

func overall(ds []*Delivery) Status {
	st := Delivered
	rank := map[Status]int{Delivered: 0, Pending: 1, Retrying: 2, Failed: 3}
	for _, d := range ds {
		if rank[d.Status] > rank[st] {
			st = d.Status
		}
	}
	return st
}

var uuidText = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func checkSubmissionID(field, id string) error {
	if !uuidText.MatchString(id) {
		return apperr.BadInput(field, "format", "%s is not a submission id", field)
	}
	return nil
}

// Submission loads a submission with each department's delivery; an unknown
// id is (nil, nil), a malformed one BAD_USER_INPUT on field "id".
func (s *Service) Submission(ctx context.Context, id string) (*Submission, error) {
	if err := checkSubmissionID("id", id); err != nil {
		return nil, err
	}
	sub := &Submission{}
	var values []byte
	err := s.pool.QueryRow(ctx, `SELECT id::text, idempotency_key, template, version, subject_person_id::text, grid_code,
			actor, values, core_fields, created_at
		FROM report_submissions WHERE id = $1`, id).
		Scan(&sub.ID, &sub.IdempotencyKey, &sub.Template, &sub.Version, &sub.Subject, &sub.GridCode,
			&sub.Actor, &values, &sub.CoreFields, &sub.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: load submission: %w", err)
	}
	if err := json.Unmarshal(values, &sub.Values); err != nil {
		return nil, fmt.Errorf("report: submission %s values: %w", id, err)
	}
	rows, _ := s.pool.Query(ctx, deliverySelect+` WHERE d.submission_id = $1 ORDER BY d.department`, id)
	sub.Deliveries, err = pgx.CollectRows(rows, scanDelivery)
	if err != nil {
		return nil, fmt.Errorf("report: load deliveries: %w", err)
	}
	sub.Status = overall(sub.Deliveries)
	return sub, nil
}

// deliverySelect reads deliveries with the state of their current job, to
// catch a job River gave up on without the worker seeing it (rescued after a
// crash on its last attempt, cancelled by an operator, cleaned away).
const deliverySelect = `SELECT d.submission_id::text, d.department, d.status, d.attempts, d.last_error,
		d.delivered_at, d.updated_at, d.redeliveries, d.payload, j.state::text
	FROM report_deliveries d LEFT JOIN river_job j ON j.id = d.job_id`

func scanDelivery(row pgx.CollectableRow) (*Delivery, error) {
	var (
		d        Delivery
		payload  []byte
		jobState *string
	)
	if err := row.Scan(&d.SubmissionID, &d.Department, &d.Status, &d.Attempts, &d.LastError,
		&d.DeliveredAt, &d.UpdatedAt, &d.Redeliveries, &payload, &jobState); err != nil {
		return nil, err
	}
	var fields []deliveredField
	if err := json.Unmarshal(payload, &fields); err != nil {
		return nil, fmt.Errorf("delivery %s/%s payload: %w", d.SubmissionID, d.Department, err)
	}
	d.Fields = make([]string, len(fields))
	for i, f := range fields {
		d.Fields[i] = f.Field
	}
	if d.Status == Pending || d.Status == Retrying {
		gone := "its delivery job is gone"
		switch {
		case jobState == nil:
		case *jobState == "discarded":
			gone = "its delivery job was discarded after its last attempt"
		case *jobState == "cancelled":
			gone = "its delivery job was cancelled"
		default:
			return &d, nil
		}
		d.Status = Failed
		if d.LastError == nil {
			d.LastError = &gone
		}
	}
	return &d, nil
}

type storedSubmission struct {
	id          string
	fingerprint []byte
}

func (s *Service) submissionByKey(ctx context.Context, q querier, key string) (*storedSubmission, error) {
	var st storedSubmission
	err := q.QueryRow(ctx, `SELECT id::text, fingerprint FROM report_submissions WHERE idempotency_key = $1`, key).
		Scan(&st.id, &st.fingerprint)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: look up idempotency key: %w", err)
	}
	return &st, nil
}

// Redeliver sends a FAILED delivery again (admin): it is reset to PENDING and
// a new job is enqueued, in one transaction. The idempotency key is the same
// as before, so a department that did apply it will not apply it twice. A
// delivery in any other state is BAD_USER_INPUT (rule "status"); an unknown
// one NOT_FOUND.
func (s *Service) Redeliver(ctx context.Context, submissionID, department string) (*Delivery, error) {
	if err := checkSubmissionID("submission", submissionID); err != nil {
		return nil, err
	}
	var out *Delivery
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, deliverySelect+` WHERE d.submission_id = $1 AND d.department = $2 FOR UPDATE OF d`, submissionID, department)
		d, err := pgx.CollectExactlyOneRow(rows, scanDelivery)
		if errors.Is(err, pgx.ErrNoRows) {
			return &apperr.Error{Code: apperr.NotFound, Field: "department",
				Message: fmt.Sprintf("submission %s has no delivery to %q", submissionID, clip(department, 40))}
		}
		if err != nil {
			return fmt.Errorf("report: load delivery: %w", err)
		}
		if d.Status != Failed {
			return apperr.BadInput("department", "status", "the delivery to %s is %s: only a FAILED delivery is redelivered", department, d.Status)
		}
		job, err := s.inserter.InsertTx(ctx, tx, DeliverArgs{SubmissionID: submissionID, Department: department},
			&river.InsertOpts{Queue: QueueName(department), MaxAttempts: s.opts.MaxAttempts})
		if err != nil {
			return fmt.Errorf("report: enqueue redelivery: %w", err)
		}
		err = tx.QueryRow(ctx, `UPDATE report_deliveries
			SET status = 'PENDING', job_id = $3, redeliveries = redeliveries + 1, updated_at = now()
			WHERE submission_id = $1 AND department = $2
			RETURNING updated_at, redeliveries`, submissionID, department, job.Job.ID).Scan(&d.UpdatedAt, &d.Redeliveries)
		if err != nil {
			return fmt.Errorf("report: reset delivery: %w", err)
		}
		d.Status = Pending
		out = d
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
