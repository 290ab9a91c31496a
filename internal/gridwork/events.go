package gridwork

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/audit"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/report"
)

// Event is an event or broken component reported from the grid, with its
// delivery to the department and the case the department opened.
type Event struct {
	ID       string
	Reporter string
	GridCode string
	// OutsideScope flags a point outside the reporter's own grids.
	OutsideScope bool
	DiaryEntryID *string
	Kind         string
	Category     string
	Description  string
	Lon, Lat     float64
	Address      *string
	Department   string
	// Status is the delivery's: PENDING, RETRYING, DELIVERED, FAILED.
	Status      report.Status
	Attempts    int
	LastError   *string
	DeliveredAt *time.Time
	// CaseNumber is the department's case number, once delivered.
	CaseNumber *string
	// Stage, Deadline and ClosedOn are the case as the department's fact
	// feed last showed it.
	Stage          *string
	Deadline       *time.Time
	ClosedOn       *time.Time
	StageChangedAt *time.Time
	Photos         []Photo
	CreatedAt      time.Time
	Replayed       bool
}

// Photo describes one of an event's photos (not its bytes).
type Photo struct {
	N           int
	ContentType string
	Size        int
}

// Overdue says whether the case is past its deadline on day (China time):
// open after it, or closed after it.
func (e *Event) Overdue(now time.Time) bool {
	if e.Deadline == nil {
		return false
	}
	d := *e.Deadline
	if e.ClosedOn != nil {
		return e.ClosedOn.After(d)
	}
	today := now.In(cst)
	return time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC).After(d)
}

// cst is China Standard Time: deadlines are civil dates there.
var cst = time.FixedZone("CST", 8*60*60)

// PhotoInput is an uploaded photo.
type PhotoInput struct {
	// ContentType is what the client declared; the hub believes the bytes.
	ContentType string
	Data        io.Reader
	// Size is the declared size, -1 when unknown.
	Size int64
}

// EventInput is an event to report.
type EventInput struct {
	Kind        string
	Category    string
	Description string
	Lon, Lat    float64
	Address     string
	// DiaryEntry is the diary entry the event came from (the reporter's).
	DiaryEntry     string
	Photos         []PhotoInput
	IdempotencyKey string
}

// Reporter is who reports, and whether a grid is theirs.
type Reporter struct {
	Subject string
	Roles   []string
	// InScope says whether a grid is one of the reporter's own.
	InScope func(grid string) bool
}

// Locator finds the grid a point lies in: the grid registry's index.
type Locator interface {
	Locate(lon, lat float64) (grid.Unit, bool)
}

// ReportEvent validates an event, locates its point in a grid (outside the
// reporter's own grids is allowed and flagged; outside the city is
// BAD_USER_INPUT), and stores it with its photos and one delivery job to
// the configured department, all in one transaction: nothing is stored when
// anything fails. The same idempotency key with the same event returns the
// stored one (Replayed); with another it is BAD_USER_INPUT.
func (s *Service) ReportEvent(ctx context.Context, ix Locator, in EventInput, by Reporter) (*Event, error) {
	ev := s.conf().Events
	if ev == nil {
		return nil, &apperr.Error{Code: apperr.Forbidden, Message: "no department takes events in this configuration (gridwork.yaml events)"}
	}
	if err := CheckKey(in.IdempotencyKey); err != nil {
		return nil, err
	}
	kind := ev.Kind(in.Kind)
	if kind == nil {
		var kinds []string
		for _, k := range ev.Kinds {
			kinds = append(kinds, k.Value)
		}
		return nil, apperr.BadInput("kind", "unknown", "kind must be one of %s", strings.Join(kinds, ", "))
	}
	if !slices.Contains(kind.Categories, in.Category) {
		return nil, apperr.BadInput("category", "unknown", "category must be one of the %s categories: %s", kind.Label, strings.Join(kind.Categories, "、"))
	}
	if err := checkText("description", in.Description, true); err != nil {
		return nil, err
	}
	if utf8Len(in.Address) > 200 {
		return nil, apperr.BadInput("address", "max_length", "address may hold at most 200 characters")
	}
	if math.IsNaN(in.Lon) || math.IsNaN(in.Lat) || in.Lon < -180 || in.Lon > 180 || in.Lat < -90 || in.Lat > 90 {
		return nil, apperr.BadInput("lon", "range", "lon and lat must be WGS 84 degrees")
	}
	u, ok := ix.Locate(in.Lon, in.Lat)
	if !ok || u.Level != grid.Grid {
		return nil, apperr.BadInput("lon", "outside_city", "the point (%.5f, %.5f) lies in no grid of the city", in.Lon, in.Lat)
	}
	var diary *int64
	if in.DiaryEntry != "" {
		id, err := strconv.ParseInt(in.DiaryEntry, 10, 64)
		if err != nil || id <= 0 {
			return nil, apperr.BadInput("diaryEntry", "format", "diaryEntry is not a diary entry id")
		}
		diary = &id
	}
	photos, err := readPhotos(ev.Photos, in.Photos)
	if err != nil {
		return nil, err
	}
	fp := eventFingerprint(in, by.Subject, photos)

	e := &Event{}
	var conflict bool
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if diary != nil {
			var worker string
			err := tx.QueryRow(ctx, `SELECT worker FROM diary_entries WHERE id = $1`, *diary).Scan(&worker)
			if errors.Is(err, pgx.ErrNoRows) || err == nil && worker != by.Subject {
				return apperr.BadInput("diaryEntry", "unknown", "there is no diary entry %d of yours", *diary)
			}
			if err != nil {
				return fmt.Errorf("gridwork: check diary entry: %w", err)
			}
		}
		roles := by.Roles
		if roles == nil {
			roles = []string{}
		}
		err := tx.QueryRow(ctx, `INSERT INTO grid_events (idempotency_key, fingerprint, reporter, reporter_roles, grid_code,
				outside_scope, diary_entry_id, kind, category, description, lon, lat, address, department, status)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'PENDING')
			ON CONFLICT (idempotency_key) DO NOTHING
			RETURNING id::text`,
			in.IdempotencyKey, fp, by.Subject, roles, u.Code, !by.InScope(u.Code), diary, in.Kind, in.Category,
			in.Description, in.Lon, in.Lat, optional(in.Address), ev.Department).Scan(&e.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			conflict = true
			return errRollback
		}
		if err != nil {
			return fmt.Errorf("gridwork: store event: %w", err)
		}
		for i, p := range photos {
			sum := sha256.Sum256(p.data)
			if _, err := tx.Exec(ctx, `INSERT INTO grid_event_photos (event_id, n, content_type, bytes, sha256) VALUES ($1, $2, $3, $4, $5)`,
				e.ID, i+1, p.contentType, p.data, sum[:]); err != nil {
				return fmt.Errorf("gridwork: store photo %d: %w", i+1, err)
			}
		}
		job, err := s.inserter.InsertTx(ctx, tx, DeliverEventArgs{EventID: e.ID, Department: ev.Department},
			&river.InsertOpts{Queue: report.QueueName(ev.Department), MaxAttempts: s.opts.MaxAttempts})
		if err != nil {
			return fmt.Errorf("gridwork: enqueue event delivery: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE grid_events SET job_id = $2 WHERE id = $1`, e.ID, job.Job.ID)
		return err
	})
	if conflict {
		return s.replayEvent(ctx, in.IdempotencyKey, fp)
	}
	if err != nil {
		return nil, err
	}
	return s.Event(ctx, e.ID)
}

var errRollback = errors.New("rollback")

func utf8Len(s string) int { return len([]rune(s)) }

// replayEvent answers a report whose idempotency key is stored already.
func (s *Service) replayEvent(ctx context.Context, key string, fp []byte) (*Event, error) {
	var id string
	var stored []byte
	if err := s.pool.QueryRow(ctx, `SELECT id::text, fingerprint FROM grid_events WHERE idempotency_key = $1`, key).Scan(&id, &stored); err != nil {
		return nil, fmt.Errorf("gridwork: event by key: %w", err)
	}
	if !bytes.Equal(stored, fp) {
		return nil, apperr.BadInput("idempotencyKey", "idempotency", "idempotencyKey was already used for a different event: use a new key")
	}
	e, err := s.Event(ctx, id)
	if err != nil {
		return nil, err
	}
	e.Replayed = true
	return e, nil
}

// eventFingerprint identifies an event's payload, photos included.
func eventFingerprint(in EventInput, reporter string, photos []photo) []byte {
	h := sha256.New()
	b, _ := json.Marshal(struct {
		Kind, Category, Description, Address, DiaryEntry, Reporter string
		Lon, Lat                                                   float64
	}{in.Kind, in.Category, in.Description, in.Address, in.DiaryEntry, reporter, in.Lon, in.Lat})
	h.Write(b)
	for _, p := range photos {
		sum := sha256.Sum256(p.data)
		h.Write(sum[:])
	}
	return h.Sum(nil)
}

// photo is a checked photo.
type photo struct {
	contentType string
	data        []byte
}

// readPhotos reads and checks the photos: at most Max, each at most MaxBytes
// and of one of the configured types, judged by its bytes (what the client
// declared must agree).
func readPhotos(lim Photos, in []PhotoInput) ([]photo, error) {
	if len(in) > lim.Max {
		return nil, apperr.BadInput("photos", "max_items", "an event holds at most %d photos, got %d", lim.Max, len(in))
	}
	out := make([]photo, 0, len(in))
	for i, p := range in {
		field := fmt.Sprintf("photos[%d]", i)
		if p.Size > lim.MaxBytes {
			return nil, apperr.BadInput(field, "too_large", "%s has %d bytes, more than the %d a photo may have", field, p.Size, lim.MaxBytes)
		}
		data, err := io.ReadAll(io.LimitReader(p.Data, lim.MaxBytes+1))
		if err != nil {
			return nil, fmt.Errorf("gridwork: read %s: %w", field, err)
		}
		if int64(len(data)) > lim.MaxBytes {
			return nil, apperr.BadInput(field, "too_large", "%s has more than the %d bytes a photo may have", field, lim.MaxBytes)
		}
		if len(data) == 0 {
			return nil, apperr.BadInput(field, "empty", "%s is empty", field)
		}
		sniffed := http.DetectContentType(data)
		if !slices.Contains(lim.Types, sniffed) {
			return nil, apperr.BadInput(field, "type", "%s is not a photo of a type taken (%s)", field, strings.Join(lim.Types, ", "))
		}
		if declared, _, _ := strings.Cut(p.ContentType, ";"); declared != "" && declared != "application/octet-stream" && strings.TrimSpace(declared) != sniffed {
			return nil, apperr.BadInput(field, "type", "%s is declared %s but holds %s", field, declared, sniffed)
		}
		out = append(out, photo{contentType: sniffed, data: data})
	}
	return out, nil
}

const eventColumns = `e.id::text, e.reporter, e.grid_code, e.outside_scope, e.diary_entry_id::text, e.kind, e.category,
	e.description, e.lon, e.lat, e.address, e.department, e.status, e.attempts, e.last_error, e.delivered_at, e.case_number,
	e.stage, e.deadline, e.closed_on, e.stage_changed_at, e.created_at, j.state::text,
	coalesce((SELECT json_agg(json_build_object('n', n, 'contentType', content_type, 'size', length(bytes)) ORDER BY n)
		FROM grid_event_photos WHERE event_id = e.id), '[]')`

const eventFrom = ` FROM grid_events e LEFT JOIN river_job j ON j.id = e.job_id`

func scanEvent(row pgx.CollectableRow) (*Event, error) {
	e := &Event{}
	var jobState *string
	var photos []byte
	if err := row.Scan(&e.ID, &e.Reporter, &e.GridCode, &e.OutsideScope, &e.DiaryEntryID, &e.Kind, &e.Category,
		&e.Description, &e.Lon, &e.Lat, &e.Address, &e.Department, &e.Status, &e.Attempts, &e.LastError, &e.DeliveredAt,
		&e.CaseNumber, &e.Stage, &e.Deadline, &e.ClosedOn, &e.StageChangedAt, &e.CreatedAt, &jobState, &photos); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(photos, &e.Photos); err != nil {
		return nil, err
	}
	// A job River gave up on without the worker seeing it is a failure.
	if (e.Status == report.Pending || e.Status == report.Retrying) && (jobState == nil || *jobState == "discarded" || *jobState == "cancelled") {
		e.Status = report.Failed
		if e.LastError == nil {
			msg := "its delivery job is gone"
			e.LastError = &msg
		}
	}
	return e, nil
}

// Event loads an event; an unknown id is (nil, nil), a malformed one
// BAD_USER_INPUT.
func (s *Service) Event(ctx context.Context, id string) (*Event, error) {
	if !uuidText(id) {
		return nil, apperr.BadInput("id", "format", "id is not an event id")
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+eventColumns+eventFrom+` WHERE e.id = $1`, id)
	e, err := pgx.CollectExactlyOneRow(rows, scanEvent)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gridwork: load event: %w", err)
	}
	return e, nil
}

func uuidText(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// EventListing bounds a listing of events: under the prefixes, or reported
// by Reporter (a worker sees the events they reported outside their grids).
type EventListing struct {
	Listing
	Reporter string
	// Open keeps the events whose case is not closed.
	Open bool
}

// Events lists events newest first.
func (s *Service) Events(ctx context.Context, l EventListing) (*Page[*Event], error) {
	args, err := l.args("event")
	if err != nil {
		return nil, err
	}
	closed := ""
	if s.conf().Events != nil {
		closed = s.conf().Events.Closed()
	}
	where := `(EXISTS (SELECT 1 FROM unnest($1::text[]) p WHERE e.grid_code >= p AND e.grid_code < p || '~') OR e.reporter = $4)
		AND ($2::timestamptz IS NULL OR e.created_at >= $2) AND ($3::timestamptz IS NULL OR e.created_at < $3)
		AND (NOT $5 OR e.stage IS DISTINCT FROM $6)`
	page := &Page[*Event]{}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM grid_events e WHERE `+where,
		args[0], args[1], args[2], l.Reporter, l.Open, closed).Scan(&page.TotalCount); err != nil {
		return nil, fmt.Errorf("gridwork: count events: %w", err)
	}
	// Newest first; the cursor is the creation time's microseconds.
	var after *time.Time
	if l.After != "" {
		us, err := decodeCursor("event", l.After)
		if err != nil {
			return nil, err
		}
		t := time.UnixMicro(us)
		after = &t
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+eventColumns+eventFrom+` WHERE `+where+`
		AND ($7::timestamptz IS NULL OR e.created_at < $7) ORDER BY e.created_at DESC LIMIT $8`,
		args[0], args[1], args[2], l.Reporter, l.Open, closed, after, l.First+1)
	list, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("gridwork: list events: %w", err)
	}
	if len(list) > l.First {
		list, page.HasNext = list[:l.First], true
	}
	page.Items = list
	for _, e := range list {
		page.Cursors = append(page.Cursors, encodeCursor("event", strconv.FormatInt(e.CreatedAt.UnixMicro(), 10)))
	}
	return page, nil
}

// PhotoBytes returns photo n of an event, with its type.
func (s *Service) PhotoBytes(ctx context.Context, eventID string, n int) (string, []byte, error) {
	if !uuidText(eventID) {
		return "", nil, nil
	}
	var ct string
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT content_type, bytes FROM grid_event_photos WHERE event_id = $1 AND n = $2`, eventID, n).Scan(&ct, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("gridwork: load photo: %w", err)
	}
	return ct, data, nil
}

// PhotoPath is where photo n of an event is served (GET, with the bearer
// token of a caller who may read the event).
func PhotoPath(eventID string, n int) string { return fmt.Sprintf("/events/%s/photos/%d", eventID, n) }

// EventAudit is the ledger entry of an event reported.
func EventAudit(e *Event) audit.Entry {
	fields := []string{"Event:" + e.ID, "Event.description"}
	for _, p := range e.Photos {
		fields = append(fields, fmt.Sprintf("Event.photos[%d]", p.N))
	}
	return audit.Entry{Action: audit.ActionRecord, Fields: fields}
}
