package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/gridhub/gridhub/connectors"
)

// DeliverArgs is a delivery job: one submission's fields for one department.
type DeliverArgs struct {
	SubmissionID string `json:"submission_id"`
	Department   string `json:"department"`
}

// Kind is the River job kind of deliveries.
func (DeliverArgs) Kind() string { return "report_deliver" }

// Writers writes a delivery to a department: the hub backs it with the
// department connectors that implement connectors.Writer.
type Writers interface {
	Write(ctx context.Context, dept string, d connectors.Delivery) error
}

// WritersFunc adapts a function to Writers.
type WritersFunc func(ctx context.Context, dept string, d connectors.Delivery) error

// Write calls f.
func (f WritersFunc) Write(ctx context.Context, dept string, d connectors.Delivery) error {
	return f(ctx, dept, d)
}

// ConnectorWriters is Writers over the department connectors that implement
// connectors.Writer, by department code. A department without one refuses
// for good (a permanent error): no retry will give it a writer.
type ConnectorWriters map[string]connectors.Writer

// Write sends d to dept's connector.
func (m ConnectorWriters) Write(ctx context.Context, dept string, d connectors.Delivery) error {
	w, ok := m[dept]
	if !ok {
		return connectors.Permanentf("department %s takes no report deliveries", dept)
	}
	if err := w.Write(ctx, d); err != nil {
		return fmt.Errorf("deliver to %s: %w", dept, err)
	}
	return nil
}

// IdempotencyKey is the key a department receives a submission's delivery
// under: the same for every retry and redelivery.
func IdempotencyKey(submissionID, department string) string {
	return submissionID + ":" + department
}

// ClientConfig configures the delivery client.
type ClientConfig struct {
	// Departments get one queue each ("deliver_<department>"); default: every
	// department the catalogue writes back to.
	Departments []string
	// MaxWorkers is how many deliveries of one department run at once in this
	// process (default 4).
	MaxWorkers int
	// RetryBase is the first retry's delay, doubled at each retry (default 1s)
	// up to RetryCap (default 5 min), with ±10% jitter.
	RetryBase, RetryCap time.Duration
	// FetchCooldown and FetchPollInterval tune how soon a job is picked up
	// (River defaults 100ms and 1s; jobs are announced by LISTEN/NOTIFY, the
	// poll is the fallback and how short retries come back).
	FetchCooldown, FetchPollInterval time.Duration
	// JobTimeout bounds one attempt (default 1 min).
	JobTimeout time.Duration
	// RescueStuckJobsAfter is when a job left running by a crashed process is
	// tried again (River default 1 hour).
	RescueStuckJobsAfter time.Duration
	// Logger for River (default: warnings and errors to slog.Default()).
	Logger *slog.Logger
	// TestOnly makes River start and stop faster; for tests.
	TestOnly bool
	// AddWorkers, when set, registers more job kinds on the client: other
	// deliveries through the same department queues and outbox (the
	// events of package gridwork).
	AddWorkers func(*river.Workers) error
}

// NewClient returns the River client that delivers submissions: one queue per
// department, worked by a worker that writes through w. Start it to deliver;
// any number of clients (hub replicas) may work the same database, and each
// job is worked by one of them at a time.
//
// The client's retry policy is exponential backoff from cfg.RetryBase; the
// number of attempts is fixed per job when it is enqueued (Options.MaxAttempts).
func NewClient(svc *Service, w Writers, cfg ClientConfig) (*river.Client[pgx.Tx], error) {
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = 4
	}
	if len(cfg.Departments) == 0 {
		cfg.Departments = svc.Catalogue().Departments()
	}
	queues := map[string]river.QueueConfig{}
	for _, d := range cfg.Departments {
		queues[QueueName(d)] = river.QueueConfig{MaxWorkers: cfg.MaxWorkers}
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &deliverWorker{svc: svc, w: w}); err != nil {
		return nil, err
	}
	if cfg.AddWorkers != nil {
		if err := cfg.AddWorkers(workers); err != nil {
			return nil, err
		}
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(warnOnly{slog.Default().Handler()})
	}
	client, err := river.NewClient(riverpgxv5.New(svc.pool), &river.Config{
		Queues:               queues,
		Workers:              workers,
		MaxAttempts:          svc.opts.MaxAttempts,
		RetryPolicy:          &Backoff{Base: cfg.RetryBase, Cap: cfg.RetryCap},
		FetchCooldown:        cfg.FetchCooldown,
		FetchPollInterval:    cfg.FetchPollInterval,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueStuckJobsAfter,
		// The hub's role does not own River's tables (store/grants.sql), so
		// it does not reindex them: that is maintenance for their owner.
		ReindexerIndexNames: []string{},
		Logger:              logger,
		TestOnly:            cfg.TestOnly,
	})
	if err != nil {
		return nil, fmt.Errorf("report: delivery client: %w", err)
	}
	return client, nil
}

// warnOnly keeps River's info-level chatter (every retried job) out of the
// hub's logs; the delivery rows say what happened.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

// Backoff is the delivery retry policy: Base·2^(n-1) after the n-th failure,
// at most Cap, with ±10% jitter so that a department coming back is not hit
// by every retry at once.
type Backoff struct {
	Base, Cap time.Duration
}

// NextRetry implements river.ClientRetryPolicy.
func (b *Backoff) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().UTC().Add(b.Delay(len(job.Errors) + 1))
}

// Delay is the wait after the n-th failure.
func (b *Backoff) Delay(n int) time.Duration {
	base, ceiling := b.Base, b.Cap
	if base <= 0 {
		base = time.Second
	}
	if ceiling <= 0 {
		ceiling = 5 * time.Minute
	}
	d := base
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(d))
	return d + jitter
}

var _ river.ClientRetryPolicy = (*Backoff)(nil)

type deliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	svc *Service
	w   Writers
}

// maxErrorLength bounds a stored last error.
const maxErrorLength = 500

// Work delivers one submission's fields to one department. The department
// write and the delivery row are not one transaction (the department is
// another system), so a crash between them repeats the write on the next
// attempt: the idempotency key makes the department apply it once.
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	a := job.Args
	var (
		status      Status
		jobID       *int64
		payload     []byte
		enc         []byte
		submittedAt time.Time
	)
	err := w.svc.pool.QueryRow(ctx, `SELECT d.status, d.job_id, d.payload, p.id_enc, s.created_at
		FROM report_deliveries d
		JOIN report_submissions s ON s.id = d.submission_id
		LEFT JOIN persons p ON p.id = s.subject_person_id
		WHERE d.submission_id = $1 AND d.department = $2`, a.SubmissionID, a.Department).
		Scan(&status, &jobID, &payload, &enc, &submittedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return river.JobCancel(fmt.Errorf("report: no delivery %s to %s", a.SubmissionID, a.Department))
	}
	if err != nil {
		return fmt.Errorf("report: load delivery: %w", err)
	}
	if status == Delivered || jobID == nil || *jobID != job.ID {
		// Delivered already, or superseded by a redelivery: nothing to do.
		return nil
	}
	if status == Failed {
		// Given up on (a permanent error) before a crash kept River from
		// hearing it: only Redeliver sends it again.
		return river.JobCancel(errors.New("report: the delivery has failed: redeliver it to try again"))
	}
	d, err := w.delivery(a, payload, enc, submittedAt)
	if err != nil {
		// A delivery that cannot even be built will not build next time.
		return w.fail(ctx, job, river.JobCancel(err), true)
	}

	werr := w.w.Write(ctx, a.Department, d)
	if werr == nil {
		return w.delivered(ctx, job)
	}
	if ctx.Err() != nil && errors.Is(werr, context.Canceled) {
		// The client is stopping: River puts the job back without counting
		// the attempt, and so do we.
		return werr
	}
	var perm *connectors.PermanentError
	if errors.As(werr, &perm) {
		return w.fail(ctx, job, river.JobCancel(werr), true)
	}
	return w.fail(ctx, job, werr, job.Attempt >= job.MaxAttempts)
}

func (w *deliverWorker) delivery(a DeliverArgs, payload, enc []byte, submittedAt time.Time) (connectors.Delivery, error) {
	var fields []deliveredField
	if err := json.Unmarshal(payload, &fields); err != nil {
		return connectors.Delivery{}, fmt.Errorf("report: delivery payload: %w", err)
	}
	if enc == nil {
		return connectors.Delivery{}, errors.New("report: the submission's subject is no longer in the master index")
	}
	key, err := w.svc.opener.Open(enc)
	if err != nil {
		return connectors.Delivery{}, fmt.Errorf("report: open subject ID: %w", err)
	}
	d := connectors.Delivery{
		IdempotencyKey: IdempotencyKey(a.SubmissionID, a.Department),
		Entity:         connectors.Person,
		Key:            key,
		Fields:         make(map[string]any, len(fields)),
		SubmittedAt:    submittedAt,
	}
	for _, f := range fields {
		var v any
		if f.Value != nil {
			if v, err = typedValue(f.Type, *f.Value); err != nil {
				return connectors.Delivery{}, fmt.Errorf("report: delivery field %s: %w", f.Field, err)
			}
		}
		d.Fields[f.Target] = v
	}
	return d, nil
}

// delivered marks the delivery DELIVERED and completes the job, together.
func (w *deliverWorker) delivered(ctx context.Context, job *river.Job[DeliverArgs]) error {
	return pgx.BeginFunc(ctx, w.svc.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE report_deliveries
			SET status = 'DELIVERED', attempts = attempts + 1, last_error = NULL, delivered_at = now(), updated_at = now()
			WHERE submission_id = $1 AND department = $2 AND job_id = $3`, job.Args.SubmissionID, job.Args.Department, job.ID)
		if err != nil {
			return fmt.Errorf("report: mark delivered: %w", err)
		}
		if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
			return fmt.Errorf("report: complete delivery job: %w", err)
		}
		return nil
	})
}

// fail records a failed attempt (RETRYING, or FAILED when final) and returns
// err for River to retry, cancel or discard the job.
func (w *deliverWorker) fail(ctx context.Context, job *river.Job[DeliverArgs], err error, final bool) error {
	status := Retrying
	if final {
		status = Failed
	}
	msg := err.Error()
	if utf8.RuneCountInString(msg) > maxErrorLength {
		msg = string([]rune(msg)[:maxErrorLength]) + "…"
	}
	// Record the attempt even when the job's context has just expired.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, uerr := w.svc.pool.Exec(uctx, `UPDATE report_deliveries
		SET status = $4, attempts = attempts + 1, last_error = $5, updated_at = now()
		WHERE submission_id = $1 AND department = $2 AND job_id = $3`,
		job.Args.SubmissionID, job.Args.Department, job.ID, string(status), msg)
	if uerr != nil {
		return errors.Join(err, fmt.Errorf("report: record failed attempt: %w", uerr))
	}
	return err
}

// typedValue turns a stored canonical text into the value a delivery carries,
// typed as the department mappings type their records.
func typedValue(t Type, text string) (any, error) {
	switch t {
	case TypeString, TypeEnum, TypeIDNumber:
		return text, nil
	case TypeInt:
		return strconv.ParseInt(text, 10, 64)
	case TypeDecimal:
		return strconv.ParseFloat(text, 64)
	case TypeDate:
		return time.Parse(DateLayout, text)
	case TypeBool:
		return strconv.ParseBool(text)
	}
	return nil, fmt.Errorf("unknown type %q", t)
}
