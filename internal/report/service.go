package report

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/gridhub/gridhub/connectors"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/federation"
)

// DefaultMaxAttempts is how many times a delivery is tried before it is FAILED.
const DefaultMaxAttempts = 10

// Reader reads a department's records: *federation.Federation is one. On
// failure it returns a DEPARTMENT_UNAVAILABLE error and, where it holds one, a
// recent copy marked Stale.
type Reader interface {
	Read(ctx context.Context, dept string, req connectors.ReadRequest) (*federation.Answer, error)
}

// Opener opens a sealed resident ID number (persons.id_enc): *secret.Keys is one.
type Opener interface {
	Open(sealed []byte) (string, error)
}

// Options configure a Service.
type Options struct {
	// Opener opens the subject's sealed ID number, the key departments know a
	// person by. Required.
	Opener Opener
	// MaxAttempts is how many times each delivery job is tried before its
	// delivery is FAILED (default DefaultMaxAttempts). It is fixed on the job
	// when the job is inserted.
	MaxAttempts int
	// NotifyCooldown is the shortest time between two "jobs available"
	// notifications (LISTEN/NOTIFY) to one department's queue from this
	// process (default 1ms, River's minimum). A job inserted within it waits
	// for the workers' next fetch, on an idle client their poll
	// (ClientConfig.FetchPollInterval): with River's default of 100ms, a
	// fifth of submissions at a steady 40 per second waited for the poll
	// (p99 delivery latency 100ms against 20ms), and the notifications'
	// cost did not show in BenchmarkSubmit.
	NotifyCooldown time.Duration
	// Now is the clock (default time.Now), for not_future rules and as-of times.
	Now func() time.Time
}

// Service drafts, validates, stores and tracks unified reports.
type Service struct {
	pool *pgxpool.Pool
	// forms is the catalogue and templates in force (Reconfigure swaps them).
	forms  atomic.Pointer[forms]
	reader Reader
	opener Opener
	opts   Options
	// inserter is an insert-only River client: it enqueues delivery jobs in the
	// submission's transaction, whether or not this process works them.
	inserter *river.Client[pgx.Tx]
	// configured says which streets approved the configuration's templates
	// (SetConfiguredAdmission); nil: every street.
	configured atomic.Pointer[func(template, street string) bool]
	// resolved keeps drafted templates resolved against a catalogue, by the
	// catalogue and the definition (admission.go).
	resolved sync.Map
}

// NewService returns a Service over pool (migrated: report tables and River's),
// drawing fields from cat and templates and reading departments through reader.
func NewService(pool *pgxpool.Pool, cat *Catalogue, templates *Templates, reader Reader, opts Options) (*Service, error) {
	if opts.Opener == nil {
		return nil, errors.New("report: Options.Opener is required")
	}
	if reader == nil || cat == nil || templates == nil {
		return nil, errors.New("report: a catalogue, templates and a reader are required")
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NotifyCooldown <= 0 {
		opts.NotifyCooldown = time.Millisecond
	}
	inserter, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		MaxAttempts:   opts.MaxAttempts,
		FetchCooldown: opts.NotifyCooldown, // for an insert-only client, the notify limiter's interval
	})
	if err != nil {
		return nil, fmt.Errorf("report: job queue client: %w", err)
	}
	s := &Service{pool: pool, reader: reader, opener: opts.Opener, opts: opts, inserter: inserter}
	s.Reconfigure(cat, templates)
	return s, nil
}

// forms is a field catalogue with the templates drawn from it.
type forms struct {
	cat       *Catalogue
	templates *Templates
}

// Reconfigure puts a new catalogue and templates in force (a configuration
// reload). Submissions already stored keep what they were delivered with.
func (s *Service) Reconfigure(cat *Catalogue, templates *Templates) {
	s.forms.Store(&forms{cat: cat, templates: templates})
}

// Catalogue is the service's field catalogue.
func (s *Service) Catalogue() *Catalogue { return s.forms.Load().cat }

// Templates lists the current version of each template (reportTemplates).
func (s *Service) Templates() []*Template { return s.forms.Load().templates.List() }

// Template returns a template version; version 0 is the newest that is not
// retired. An unknown template or version, or (with forSubmit) a retired one,
// is BAD_USER_INPUT on field "template" or "version".
func (s *Service) Template(id string, version int, forSubmit bool) (*Template, error) {
	ts := s.forms.Load().templates
	if ts.byID[id] == nil {
		return nil, apperr.BadInput("template", "unknown", "there is no report template %q", id)
	}
	var t *Template
	if version == 0 {
		t = ts.Latest(id)
		if t == nil {
			return nil, apperr.BadInput("template", "retired", "every version of report template %q is retired", id)
		}
		return t, nil
	}
	if t = ts.Version(id, version); t == nil {
		return nil, apperr.BadInput("version", "unknown", "report template %q has no version %d", id, version)
	}
	if forSubmit && t.Retired {
		return nil, apperr.BadInput("version", "retired", "version %d of report template %q is retired: reload the form (current version %d)", version, id, s.latestVersion(id))
	}
	return t, nil
}

func (s *Service) latestVersion(id string) int {
	if t := s.forms.Load().templates.Latest(id); t != nil {
		return t.Version
	}
	return 0
}

// Subject is the person a report is about, as the master index holds them.
type Subject struct {
	PersonID              string
	GridCode              string
	HouseholdID           string
	personID, householdID int64
	// idNumber is the key departments know the person by; never shown.
	idNumber string
	// core holds the master index values of the core targets, canonical text.
	core map[string]string
}

// Subject looks a report's subject up by person id: for the caller's row
// scope check (GridCode) before a draft or a submission. A malformed id is
// BAD_USER_INPUT, an unknown one NOT_FOUND, both on field "subject".
func (s *Service) Subject(ctx context.Context, personID string) (*Subject, error) {
	return s.subject(ctx, s.pool, personID)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func checkSubjectID(personID string) (int64, error) {
	id, err := strconv.ParseInt(personID, 10, 64)
	if err != nil || id <= 0 {
		return 0, apperr.BadInput("subject", "format", "subject must be a person id (a positive decimal number)")
	}
	return id, nil
}

func (s *Service) subject(ctx context.Context, q querier, personID string) (*Subject, error) {
	id, err := checkSubjectID(personID)
	if err != nil {
		return nil, err
	}
	var (
		enc                []byte
		grid               string
		household          int64
		phone, residence   *string
		awaySince          *time.Time
		residents, members *int64
	)
	err = q.QueryRow(ctx, `SELECT p.id_enc, p.grid_code, p.household_id, p.phone, p.residence, p.away_since,
			h.resident_count, (SELECT count(*) FROM persons m WHERE m.household_id = p.household_id)
		FROM persons p JOIN households h ON h.id = p.household_id
		WHERE p.id = $1`, id).
		Scan(&enc, &grid, &household, &phone, &residence, &awaySince, &residents, &members)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &apperr.Error{Code: apperr.NotFound, Field: "subject", Message: fmt.Sprintf("there is no person %d", id)}
	}
	if err != nil {
		return nil, fmt.Errorf("report: subject %d: %w", id, err)
	}
	number, err := s.opener.Open(enc)
	if err != nil {
		return nil, fmt.Errorf("report: subject %d: %w", id, err)
	}
	sub := &Subject{PersonID: strconv.FormatInt(id, 10), GridCode: grid, HouseholdID: strconv.FormatInt(household, 10),
		personID: id, householdID: household, idNumber: number, core: map[string]string{}}
	if phone != nil {
		sub.core["person.phone"] = *phone
	}
	if residence != nil {
		sub.core["person.residence"] = *residence
	}
	if awaySince != nil {
		sub.core["person.awaySince"] = awaySince.Format(DateLayout)
	}
	// 实住人数 defaults to the registered members until a visit reports it.
	switch {
	case residents != nil:
		sub.core["household.residentCount"] = strconv.FormatInt(*residents, 10)
	case members != nil:
		sub.core["household.residentCount"] = strconv.FormatInt(*members, 10)
	}
	return sub, nil
}
