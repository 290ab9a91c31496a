package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/yamlpos"
)

// 准入 (the 社区工作准入制): before a department may push a new form down
// to communities, the street must approve it. A template a department
// drafts (DraftTemplate) is stored in Postgres, not in the configuration
// directory; the department submits it (SubmitTemplate); each street it
// targets approves or rejects it, a rejection with a reason
// (DecideTemplate). Only then is it offered (TemplatesFor) and accepted
// (Draft, Submit) for the communities of the streets that approved it. A
// new version goes through the same steps again; until it is approved in a
// street, the street keeps the version it approved before. Each step out of
// order is BAD_USER_INPUT with rule "order".
//
// The templates of the configuration directory are approved in every
// street, unless SetConfiguredAdmission says which streets approved them.

// The steps of a drafted template version.
const (
	// StepDraft: the department may still change it.
	StepDraft = "DRAFT"
	// StepSubmitted: the streets it targets decide.
	StepSubmitted = "SUBMITTED"
)

// A street's decision on a submitted version.
const (
	DecisionPending  = "PENDING"
	DecisionApproved = "APPROVED"
	DecisionRejected = "REJECTED"
)

// MaxReason bounds a rejection's reason, in characters.
const MaxReason = 500

// TemplateDraft is a drafted template version with the streets' decisions.
type TemplateDraft struct {
	ID          string
	Version     int
	Department  string
	Title       string
	Sections    []Section
	Streets     []string
	Status      string
	DraftedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	SubmittedAt *time.Time
	Decisions   []*Decision
}

// Decision is one street's decision on a version.
type Decision struct {
	Street    string
	Decision  string
	Reason    *string
	DecidedBy string
	DecidedAt time.Time
}

// StreetDecision is a targeted street's decision (DecisionPending when it
// has not decided), "" for a street the version does not target.
func (d *TemplateDraft) StreetDecision(street string) string {
	if !slices.Contains(d.Streets, street) {
		return ""
	}
	for _, x := range d.Decisions {
		if x.Street == street {
			return x.Decision
		}
	}
	return DecisionPending
}

// DraftTemplateInput is a template a department drafts.
type DraftTemplateInput struct {
	ID       string
	Title    string
	Streets  []string
	Sections []Section
}

// definition is a drafted template as stored: the shape of a
// report/templates file.
type definition struct {
	ID       string    `json:"id"`
	Version  int       `json:"version"`
	Title    string    `json:"title"`
	Subject  string    `json:"subject"`
	Sections []Section `json:"sections"`
}

var streetCode = regexp.MustCompile(`^[0-9]{9}$`)

// SetConfiguredAdmission says which streets approved the templates of the
// configuration directory (gridwork.yaml's admission): approved(template,
// street). Without it they are approved in every street.
func (s *Service) SetConfiguredAdmission(approved func(template, street string) bool) {
	s.configured.Store(&approved)
}

func (s *Service) configuredApproved(template, street string) bool {
	f := s.configured.Load()
	return f == nil || *f == nil || (*f)(template, street)
}

// resolve checks a drafted definition against the catalogue in force, as a
// template file is checked.
func (s *Service) resolve(def definition) (*Template, error) {
	raw, err := json.Marshal(def)
	if err != nil {
		return nil, err
	}
	cat := s.Catalogue()
	key := fmt.Sprintf("%p/%s/%d/%x", cat, def.ID, def.Version, raw)
	if t, ok := s.resolved.Load(key); ok {
		return t.(*Template), nil
	}
	t, err := parseTemplate(fmt.Sprintf("template %s version %d", def.ID, def.Version), raw, cat)
	if err != nil {
		return nil, err
	}
	t.Drafted = true
	s.resolved.Store(key, t)
	return t, nil
}

// DraftTemplate stores a template drafted by dept: a new version of id, or,
// while the newest version is still a DRAFT, that version changed. Its
// fields must be in the catalogue and be dept's own or core fields; its
// streets 9-digit codes of the grid. An id of the configuration's templates,
// or one another department drafts, is refused.
func (s *Service) DraftTemplate(ctx context.Context, in DraftTemplateInput, dept, actor string) (*TemplateDraft, error) {
	if !templateID.MatchString(in.ID) || len(in.ID) > 64 {
		return nil, apperr.BadInput("id", "format", "id must be lower_snake_case, at most 64 characters")
	}
	if s.forms.Load().templates.byID[in.ID] != nil {
		return nil, apperr.BadInput("id", "configured", "%s is a template of the configuration directory: draft under another id", in.ID)
	}
	if strings.TrimSpace(in.Title) == "" || utf8.RuneCountInString(in.Title) > 100 {
		return nil, apperr.BadInput("title", "required", "title is required (at most 100 characters)")
	}
	if len(in.Streets) == 0 || len(in.Streets) > 100 {
		return nil, apperr.BadInput("streets", "required", "a template targets 1 to 100 streets")
	}
	streets := slices.Clone(in.Streets)
	slices.Sort(streets)
	streets = slices.Compact(streets)
	for i, st := range streets {
		if !streetCode.MatchString(st) {
			return nil, apperr.BadInput(fmt.Sprintf("streets[%d]", i), "format", "streets[%d] is not a 9-digit street code", i)
		}
	}
	var known []string
	rows, _ := s.pool.Query(ctx, `SELECT code FROM grid_units WHERE code = ANY($1) AND level = 2`, streets)
	known, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("report: check streets: %w", err)
	}
	for i, st := range streets {
		if !slices.Contains(known, st) {
			return nil, apperr.BadInput(fmt.Sprintf("streets[%d]", i), "unknown", "there is no street %s", st)
		}
	}
	var out *TemplateDraft
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			version      int
			owner, state string
		)
		err := tx.QueryRow(ctx, `SELECT version, department, status FROM report_template_drafts WHERE template = $1
			ORDER BY version DESC LIMIT 1 FOR UPDATE`, in.ID).Scan(&version, &owner, &state)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			version, state = 0, ""
		case err != nil:
			return fmt.Errorf("report: load template draft: %w", err)
		case owner != dept:
			return apperr.BadInput("id", "owner", "template %s is another department's: draft under another id", in.ID)
		}
		if state != StepDraft {
			version++
		}
		def := definition{ID: in.ID, Version: version, Title: in.Title, Subject: SubjectPerson, Sections: in.Sections}
		t, err := s.resolve(def)
		if err != nil {
			return apperr.BadInput("sections", "invalid", "%s", firstProblem(err))
		}
		for _, f := range t.Fields {
			if f.Department != dept && f.Department != Core {
				return apperr.BadInput("sections", "department", "%s is %s's field: a department drafts forms of its own and core fields", f.Key, f.Department)
			}
		}
		raw, err := json.Marshal(def)
		if err != nil {
			return err
		}
		if state == StepDraft {
			_, err = tx.Exec(ctx, `UPDATE report_template_drafts SET title = $3, definition = $4, streets = $5, updated_at = now()
				WHERE template = $1 AND version = $2`, in.ID, version, in.Title, raw, streets)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO report_template_drafts (template, version, department, title, definition, streets, status, drafted_by)
				VALUES ($1, $2, $3, $4, $5, $6, 'DRAFT', $7)`, in.ID, version, dept, in.Title, raw, streets, actor)
		}
		if err != nil {
			return fmt.Errorf("report: store template draft: %w", err)
		}
		out, err = loadDraft(ctx, tx, in.ID, version)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// firstProblem is the first problem of a template's check, without the file
// name a template file's error carries.
func firstProblem(err error) string {
	if list := yamlpos.Flatten(err); len(list) > 0 {
		var e *yamlpos.Error
		if errors.As(list[0], &e) {
			return e.Msg
		}
		return list[0].Error()
	}
	return err.Error()
}

// SubmitTemplate submits a DRAFT version of dept's for the streets to
// decide; any other step is out of order.
func (s *Service) SubmitTemplate(ctx context.Context, id string, version int, dept string) (*TemplateDraft, error) {
	var out *TemplateDraft
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		d, err := loadDraftForUpdate(ctx, tx, id, version)
		if err != nil {
			return err
		}
		if d == nil || d.Department != dept {
			return noDraft(id, version)
		}
		if d.Status != StepDraft {
			return apperr.BadInput("version", "order", "version %d of %s is %s already: draft a new version to change it", version, id, d.Status)
		}
		if _, err := s.resolve(definition{ID: id, Version: version, Title: d.Title, Subject: SubjectPerson, Sections: d.Sections}); err != nil {
			return apperr.BadInput("sections", "invalid", "%s", firstProblem(err))
		}
		if _, err := tx.Exec(ctx, `UPDATE report_template_drafts SET status = 'SUBMITTED', submitted_at = now(), updated_at = now()
			WHERE template = $1 AND version = $2`, id, version); err != nil {
			return fmt.Errorf("report: submit template: %w", err)
		}
		out, err = loadDraft(ctx, tx, id, version)
		return err
	})
	return out, err
}

func noDraft(id string, version int) error {
	return &apperr.Error{Code: apperr.NotFound, Field: "version", Message: fmt.Sprintf("there is no drafted template %q version %d of yours", clip(id, 64), version)}
}

// DecideTemplate records street's decision on a SUBMITTED version: approve,
// or reject with a reason. The caller checks that the actor speaks for the
// street. A street the version does not target, a version not submitted
// (or still a draft), and a second decision are refused.
func (s *Service) DecideTemplate(ctx context.Context, id string, version int, street string, approve bool, reason, actor string) (*TemplateDraft, error) {
	if !streetCode.MatchString(street) {
		return nil, apperr.BadInput("street", "format", "street is not a 9-digit street code")
	}
	reason = strings.TrimSpace(reason)
	if !approve && reason == "" {
		return nil, apperr.BadInput("reason", "required", "a rejection needs its reason")
	}
	if utf8.RuneCountInString(reason) > MaxReason {
		return nil, apperr.BadInput("reason", "max_length", "reason may hold at most %d characters", MaxReason)
	}
	var out *TemplateDraft
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		d, err := loadDraftForUpdate(ctx, tx, id, version)
		if err != nil {
			return err
		}
		if d == nil {
			return &apperr.Error{Code: apperr.NotFound, Field: "version", Message: fmt.Sprintf("there is no template %q version %d", clip(id, 64), version)}
		}
		switch {
		case !slices.Contains(d.Streets, street):
			return apperr.BadInput("street", "not_targeted", "version %d of %s is not meant for street %s: only the streets it targets decide", version, id, street)
		case d.Status != StepSubmitted:
			return apperr.BadInput("version", "order", "version %d of %s is a %s: the department submits it before a street decides", version, id, d.Status)
		case d.StreetDecision(street) != DecisionPending:
			return apperr.BadInput("street", "decided", "street %s has %s version %d of %s already", street, strings.ToLower(d.StreetDecision(street)), version, id)
		}
		decision := DecisionRejected
		if approve {
			decision = DecisionApproved
		}
		var why *string
		if reason != "" {
			why = &reason
		}
		if _, err := tx.Exec(ctx, `INSERT INTO report_template_decisions (template, version, street, decision, reason, decided_by)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, version, street, decision, why, actor); err != nil {
			return fmt.Errorf("report: store decision: %w", err)
		}
		out, err = loadDraft(ctx, tx, id, version)
		return err
	})
	return out, err
}

const draftColumns = `d.template, d.version, d.department, d.title, d.definition, d.streets, d.status, d.drafted_by,
	d.created_at, d.updated_at, d.submitted_at,
	coalesce((SELECT json_agg(json_build_object('street', x.street, 'decision', x.decision, 'reason', x.reason,
		'decidedBy', x.decided_by, 'decidedAt', x.decided_at) ORDER BY x.street)
		FROM report_template_decisions x WHERE x.template = d.template AND x.version = d.version), '[]')`

func scanDraft(row pgx.CollectableRow) (*TemplateDraft, error) {
	d := &TemplateDraft{}
	var def, decisions []byte
	if err := row.Scan(&d.ID, &d.Version, &d.Department, &d.Title, &def, &d.Streets, &d.Status, &d.DraftedBy,
		&d.CreatedAt, &d.UpdatedAt, &d.SubmittedAt, &decisions); err != nil {
		return nil, err
	}
	var dd definition
	if err := json.Unmarshal(def, &dd); err != nil {
		return nil, fmt.Errorf("template %s version %d: %w", d.ID, d.Version, err)
	}
	d.Sections = dd.Sections
	var ds []struct {
		Street, Decision, DecidedBy string
		Reason                      *string
		DecidedAt                   time.Time
	}
	if err := json.Unmarshal(decisions, &ds); err != nil {
		return nil, err
	}
	for _, x := range ds {
		d.Decisions = append(d.Decisions, &Decision{Street: x.Street, Decision: x.Decision, Reason: x.Reason, DecidedBy: x.DecidedBy, DecidedAt: x.DecidedAt})
	}
	return d, nil
}

type rowQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func loadDraft(ctx context.Context, q rowQuerier, id string, version int) (*TemplateDraft, error) {
	rows, _ := q.Query(ctx, `SELECT `+draftColumns+` FROM report_template_drafts d WHERE d.template = $1 AND d.version = $2`, id, version)
	d, err := pgx.CollectExactlyOneRow(rows, scanDraft)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("report: load template draft: %w", err)
	}
	return d, nil
}

func loadDraftForUpdate(ctx context.Context, tx pgx.Tx, id string, version int) (*TemplateDraft, error) {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM report_template_drafts WHERE template = $1 AND version = $2 FOR UPDATE`, id, version); err != nil {
		return nil, fmt.Errorf("report: lock template draft: %w", err)
	}
	return loadDraft(ctx, tx, id, version)
}

// DraftFilter selects drafted templates: a department's, those targeting
// some streets (nil: any), of one id ("" for all), with a step ("" for
// all).
type DraftFilter struct {
	Department string
	Streets    []string
	ID         string
	Status     string
}

// TemplateDrafts lists drafted template versions, newest first.
func (s *Service) TemplateDrafts(ctx context.Context, f DraftFilter) ([]*TemplateDraft, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+draftColumns+` FROM report_template_drafts d
		WHERE ($1 = '' OR d.department = $1) AND ($2::text[] IS NULL OR d.streets && $2)
		  AND ($3 = '' OR d.template = $3) AND ($4 = '' OR d.status = $4)
		ORDER BY d.updated_at DESC, d.template, d.version DESC LIMIT 500`, f.Department, f.Streets, f.ID, f.Status)
	out, err := pgx.CollectRows(rows, scanDraft)
	if err != nil {
		return nil, fmt.Errorf("report: list template drafts: %w", err)
	}
	return out, nil
}

// approvedVersion is the newest version of a drafted template approved by
// one of streets (nil: by any), 0 when none is.
func (s *Service) approvedVersion(ctx context.Context, id string, streets []string) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM report_template_decisions
		WHERE template = $1 AND decision = 'APPROVED' AND ($2::text[] IS NULL OR street = ANY($2))`, id, streets).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("report: approved version: %w", err)
	}
	return v, nil
}

// ResolveDraft reads a drafted version against the catalogue in force.
func (s *Service) ResolveDraft(d *TemplateDraft) (*Template, error) {
	return s.resolve(definition{ID: d.ID, Version: d.Version, Title: d.Title, Subject: SubjectPerson, Sections: d.Sections})
}

// drafted returns version of a drafted template resolved against the
// catalogue, nil when there is none or it is still a draft.
func (s *Service) drafted(ctx context.Context, id string, version int) (*Template, error) {
	d, err := loadDraft(ctx, s.pool, id, version)
	if err != nil || d == nil || d.Status != StepSubmitted {
		return nil, err
	}
	t, err := s.resolve(definition{ID: d.ID, Version: d.Version, Title: d.Title, Subject: SubjectPerson, Sections: d.Sections})
	if err != nil {
		return nil, apperr.BadInput("template", "invalid", "report template %s version %d no longer fits the field catalogue: %s", id, version, firstProblem(err))
	}
	t.Department = d.Department
	return t, nil
}

// lookup finds a template version without regard to streets: the
// configuration's (Template), or a submitted drafted one. Version 0 is the
// newest (for a drafted template, the newest approved anywhere).
func (s *Service) lookup(ctx context.Context, id string, version int, forSubmit bool) (*Template, error) {
	if s.forms.Load().templates.byID[id] != nil {
		return s.Template(id, version, forSubmit)
	}
	if !templateID.MatchString(id) || len(id) > 64 {
		return nil, apperr.BadInput("template", "unknown", "there is no report template %q", clip(id, 64))
	}
	if version == 0 {
		v, err := s.approvedVersion(ctx, id, nil)
		if err != nil {
			return nil, err
		}
		if v == 0 {
			return nil, apperr.BadInput("template", "unknown", "there is no report template %q", id)
		}
		version = v
	}
	t, err := s.drafted(ctx, id, version)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, apperr.BadInput("version", "unknown", "report template %q has no version %d", id, version)
	}
	return t, nil
}

// admitted checks that a template version may be filled for a subject in
// grid: approved by the grid's street, and (for a drafted template) the
// newest version the street approved.
func (s *Service) admitted(ctx context.Context, t *Template, grid string) error {
	if len(grid) < 9 {
		return apperr.BadInput("template", "not_approved", "report template %s has no street to approve it", t.ID)
	}
	street := grid[:9]
	if !t.Drafted {
		if !s.configuredApproved(t.ID, street) {
			return apperr.BadInput("template", "not_approved", "report template %s is not approved by street %s: it is not filled there", t.ID, street)
		}
		return nil
	}
	v, err := s.approvedVersion(ctx, t.ID, []string{street})
	if err != nil {
		return err
	}
	switch {
	case v == 0 || v < t.Version:
		return apperr.BadInput("template", "not_approved", "version %d of report template %s is not approved by street %s: it is not filled there", t.Version, t.ID, street)
	case v > t.Version:
		return apperr.BadInput("version", "retired", "street %s approved version %d of report template %s since: reload the form", street, v, t.ID)
	}
	return nil
}

// resolveFor is the template version to fill for a subject in grid: version
// 0 is the newest the grid's street approved.
func (s *Service) resolveFor(ctx context.Context, id string, version int, grid string) (*Template, error) {
	if version == 0 && s.forms.Load().templates.byID[id] == nil && len(grid) >= 9 {
		v, err := s.approvedVersion(ctx, id, []string{grid[:9]})
		if err != nil {
			return nil, err
		}
		version = v
		if v == 0 {
			if _, err := s.lookup(ctx, id, 0, false); err != nil {
				return nil, err
			}
			return nil, apperr.BadInput("template", "not_approved", "report template %s is not approved by street %s: it is not filled there", id, grid[:9])
		}
	}
	t, err := s.lookup(ctx, id, version, false)
	if err != nil {
		return nil, err
	}
	if err := s.admitted(ctx, t, grid); err != nil {
		return nil, err
	}
	return t, nil
}

// TemplatesFor lists the templates offered in streets (nil: everywhere):
// the configuration's current ones approved in one of them, and of each
// drafted template the newest version one of them approved.
func (s *Service) TemplatesFor(ctx context.Context, streets []string) ([]*Template, error) {
	var out []*Template
	for _, t := range s.Templates() {
		if streets == nil || slices.ContainsFunc(streets, func(st string) bool { return s.configuredApproved(t.ID, st) }) {
			out = append(out, t)
		}
	}
	rows, _ := s.pool.Query(ctx, `SELECT template, max(version) FROM report_template_decisions
		WHERE decision = 'APPROVED' AND ($1::text[] IS NULL OR street = ANY($1)) GROUP BY template ORDER BY template`, streets)
	type idv struct {
		ID      string
		Version int
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[idv])
	if err != nil {
		return nil, fmt.Errorf("report: offered templates: %w", err)
	}
	for _, x := range list {
		t, err := s.drafted(ctx, x.ID, x.Version)
		if err != nil || t == nil {
			continue // no longer fits the catalogue: not offered
		}
		out = append(out, t)
	}
	return out, nil
}
