package gridwork

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/report"
)

// DeliverEventArgs is an event's delivery job: it runs on the department's
// report delivery queue (report.QueueName), worked by the same River client
// as reports (register it with AddWorkers).
type DeliverEventArgs struct {
	EventID    string `json:"event_id"`
	Department string `json:"department"`
}

// Kind is the River job kind of event deliveries.
func (DeliverEventArgs) Kind() string { return "event_deliver" }

// Writer writes a delivery to a department and returns its answer: the hub
// backs it with the department connectors that implement
// connectors.ReceiptWriter (*federation.Federation).
type Writer interface {
	WriteReceipt(ctx context.Context, dept string, d connectors.Delivery) (connectors.Receipt, error)
}

// EventIdempotencyKey is the key a department receives an event under: the
// same for every retry, so the department opens one case.
func EventIdempotencyKey(eventID string) string { return "event:" + eventID }

// AddWorkers registers the event delivery worker, writing through w, on a
// River client's workers (report.ClientConfig.AddWorkers).
func (s *Service) AddWorkers(w Writer) func(*river.Workers) error {
	return func(ws *river.Workers) error {
		return river.AddWorkerSafely(ws, &eventWorker{svc: s, w: w})
	}
}

type eventWorker struct {
	river.WorkerDefaults[DeliverEventArgs]
	svc *Service
	w   Writer
}

// Work delivers one event: the configured writeback fields, about no one,
// under the event's idempotency key; the answer's case number is kept. As
// with reports, the department's write and the event row are not one
// transaction: a crash between them repeats the write under the same key,
// and the department answers it with the same case.
func (w *eventWorker) Work(ctx context.Context, job *river.Job[DeliverEventArgs]) error {
	ev := w.svc.conf().Events
	e, err := w.svc.Event(ctx, job.Args.EventID)
	if err != nil {
		return err
	}
	if e == nil {
		return river.JobCancel(fmt.Errorf("gridwork: no event %s", job.Args.EventID))
	}
	var current *int64
	if err := w.svc.pool.QueryRow(ctx, `SELECT job_id FROM grid_events WHERE id = $1`, e.ID).Scan(&current); err != nil {
		return fmt.Errorf("gridwork: load event job: %w", err)
	}
	if e.Status == report.Delivered || current == nil || *current != job.ID {
		return nil
	}
	if ev == nil || ev.Department != e.Department {
		return w.fail(ctx, job, river.JobCancel(errors.New("the configuration no longer sends events to this department")), true)
	}
	d := connectors.Delivery{
		IdempotencyKey: EventIdempotencyKey(e.ID),
		Fields: map[string]any{
			ev.Fields.Kind: e.Kind, ev.Fields.Category: e.Category, ev.Fields.Description: e.Description,
			ev.Fields.Lon: e.Lon, ev.Fields.Lat: e.Lat,
		},
		SubmittedAt: e.CreatedAt,
	}
	if ev.Fields.Address != "" && e.Address != nil {
		d.Fields[ev.Fields.Address] = *e.Address
	}
	receipt, werr := w.w.WriteReceipt(ctx, e.Department, d)
	if werr == nil {
		return w.delivered(ctx, job, receipt.Text(ev.Receipt))
	}
	if ctx.Err() != nil && errors.Is(werr, context.Canceled) {
		return werr
	}
	var perm *connectors.PermanentError
	if errors.As(werr, &perm) {
		return w.fail(ctx, job, river.JobCancel(werr), true)
	}
	return w.fail(ctx, job, werr, job.Attempt >= job.MaxAttempts)
}

// delivered marks the event DELIVERED with its case number and completes
// the job, together.
func (w *eventWorker) delivered(ctx context.Context, job *river.Job[DeliverEventArgs], caseNumber string) error {
	var number, lastErr *string
	if caseNumber != "" {
		number = &caseNumber
	} else {
		msg := "the department's answer carries no case number: its stage cannot be followed"
		lastErr = &msg
	}
	return pgx.BeginFunc(ctx, w.svc.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE grid_events SET status = 'DELIVERED', attempts = attempts + 1, last_error = $3,
				delivered_at = now(), case_number = $4, updated_at = now()
			WHERE id = $1 AND job_id = $2`, job.Args.EventID, job.ID, lastErr, number)
		if err != nil {
			return fmt.Errorf("gridwork: mark event delivered: %w", err)
		}
		if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
			return fmt.Errorf("gridwork: complete event job: %w", err)
		}
		return nil
	})
}

// fail records a failed attempt (RETRYING, or FAILED when final).
func (w *eventWorker) fail(ctx context.Context, job *river.Job[DeliverEventArgs], err error, final bool) error {
	status := report.Retrying
	if final {
		status = report.Failed
	}
	msg := err.Error()
	if utf8.RuneCountInString(msg) > 500 {
		msg = string([]rune(msg)[:500]) + "…"
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, uerr := w.svc.pool.Exec(uctx, `UPDATE grid_events SET status = $3, attempts = attempts + 1, last_error = $4, updated_at = now()
		WHERE id = $1 AND job_id = $2`, job.Args.EventID, job.ID, string(status), msg)
	if uerr != nil {
		return errors.Join(err, fmt.Errorf("gridwork: record failed attempt: %w", uerr))
	}
	return err
}

// Follow brings the cases of delivered events up to date with the events
// department's synced facts (call it after each sync of that department):
// each event whose case's stage, deadline or closing date changed is
// updated, and its id returned.
func (s *Service) Follow(ctx context.Context, dept string) ([]string, error) {
	ev := s.conf().Events
	if ev == nil || ev.Department != dept {
		return nil, nil
	}
	rows, _ := s.pool.Query(ctx, `WITH cases AS (
			SELECT f.record->>$3 AS number, f.record->>$4 AS stage,
			       nullif(left(f.record->>$5, 10), '')::date AS deadline,
			       nullif(left(f.record->>$6, 10), '')::date AS closed_on
			FROM facts f
			WHERE f.department = $1 AND f.set = $2
			  AND f.record->>$3 IN (SELECT case_number FROM grid_events WHERE department = $1 AND case_number IS NOT NULL)
		)
		UPDATE grid_events e SET stage = c.stage, deadline = c.deadline, closed_on = c.closed_on,
			stage_changed_at = CASE WHEN e.stage IS DISTINCT FROM c.stage THEN now() ELSE e.stage_changed_at END,
			updated_at = now()
		FROM cases c
		WHERE e.department = $1 AND e.case_number = c.number
		  AND (e.stage IS DISTINCT FROM c.stage OR e.deadline IS DISTINCT FROM c.deadline OR e.closed_on IS DISTINCT FROM c.closed_on)
		RETURNING e.id::text`,
		dept, ev.Set, ev.Case.Number, ev.Case.Stage, ev.Case.Deadline, ev.Case.ClosedOn)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("gridwork: follow cases: %w", err)
	}
	return ids, nil
}
