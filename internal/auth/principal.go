// Package auth authenticates requests and models who is asking: bearer JWTs
// verified against a JWKS (RS256/ES256) in production or an HS256 dev key in dev
// mode, turned into a Principal that carries roles, a department and a grid scope.
//
// The Principal answers the row-scope questions the services ask (InScope,
// CoversUnit, InAggregateScope); field rules and purposes belong to the policy
// layer, which reads the same Principal from the request context.
//
// # Scope rules
//
// Grid codes are digits: district 6, township 9, community 12, grid 15, each the
// prefix of the codes below it. A principal's Scope is a list of such codes and
// everything at or under one of them is "in scope". Per role:
//
//   - admin: every record and every unit; needs no scope.
//   - dept_officer: the whole city when Scope is empty; otherwise only under the
//     scope codes (any level). Needs a Department.
//   - grid_worker: under its 15-digit grid codes.
//   - community_admin: under its 12-digit community codes.
//   - street_admin: under its 9-digit township codes (a 6-digit district code is
//     refused: a district is wider than any street office's remit).
//   - bi_reader: no record at all, only aggregates (InAggregateScope): the whole
//     city when Scope is empty, otherwise units under its scope codes (any level).
//   - auditor: no record and no aggregate; it reads the audit ledger, whose rule
//     is Has(Auditor), not a grid scope.
//
// A principal may hold several roles; one Scope claim then serves them all, each
// scope code must fit one of the roles held, and when Scope is not empty it bounds
// every role but admin (a dept_officer who is also a grid_worker sees the grid,
// not the city).
//
// Units above the scope (the community and township of a grid worker's grid) are
// visible as units, so a grid worker can see where its grid sits, but not their
// rows or figures: CoversUnit is true for them, InScope is not.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gridhub/gridhub/internal/ident"
)

// Role is what a principal may do, as carried in a token's "roles" claim.
type Role string

// The roles of the public contract.
const (
	DeptOfficer    Role = "dept_officer"    // a department's officer: shared records city-wide
	GridWorker     Role = "grid_worker"     // 网格员: persons and households of its grids
	CommunityAdmin Role = "community_admin" // 社区工作者 with a community
	StreetAdmin    Role = "street_admin"    // a township-level (街道/镇) office
	BIReader       Role = "bi_reader"       // BI tools: aggregates only
	Auditor        Role = "auditor"         // reads the access ledger
	Admin          Role = "admin"           // operators: everything
)

// Roles lists every known role, in the order of the contract.
func Roles() []Role {
	return []Role{DeptOfficer, GridWorker, CommunityAdmin, StreetAdmin, BIReader, Auditor, Admin}
}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool { return slices.Contains(Roles(), r) }

// ParseRole reads a role name, refusing unknown ones.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("unknown role %s", quote(s))
	}
	return r, nil
}

// deptCode is the form of a department code (lower_snake_case). Which codes
// exist is the configuration's to say: the verifier checks a token's
// department against the departments configured (Config.Departments), so
// that an officer of a department the hub does not know is refused rather
// than silently shown nothing.
var deptCode = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// CheckDepartment refuses a department that is not one of known.
func (p *Principal) CheckDepartment(known []string) error {
	if p.Department != "" && !slices.Contains(known, p.Department) {
		return fmt.Errorf("unknown department %s (configured: %s)", quote(p.Department), strings.Join(known, ", "))
	}
	return nil
}

// scopeLens are the code lengths a role accepts in Scope; a nil entry means the
// role takes no scope.
var scopeLens = map[Role][]int{
	DeptOfficer:    {6, 9, 12, 15},
	GridWorker:     {15},
	CommunityAdmin: {12},
	StreetAdmin:    {9},
	BIReader:       {6, 9, 12, 15},
}

// Limits on a principal, so a token cannot make every scope check expensive.
const (
	MaxScopeCodes = 256
	maxSubjectLen = 256
	maxRoles      = 16
)

// Principal is the authenticated caller of a request.
type Principal struct {
	Subject    string    // "sub": who, as the identity provider names them
	Roles      []Role    // "roles"
	Department string    // "department": for dept_officer only
	Scope      []string  // "scope": grid code prefixes
	ExpiresAt  time.Time // "exp"
	TokenID    string    // "jti", for the audit ledger and revocation
}

// Has reports whether p holds role r.
func (p *Principal) Has(r Role) bool {
	return p != nil && slices.Contains(p.Roles, r)
}

// ReadsRows reports whether p may read person-level records at all; InScope then
// says which.
func (p *Principal) ReadsRows() bool {
	return p.Has(Admin) || p.Has(DeptOfficer) || p.Has(GridWorker) || p.Has(CommunityAdmin) || p.Has(StreetAdmin)
}

// InScope reports whether records located at code (a person's, household's or
// organisation's grid, or any unit code a query is bounded by) are inside p's row
// scope. A malformed code is never in scope, so a resolver cannot widen a query
// by passing "" or a short prefix.
func (p *Principal) InScope(code string) bool {
	if p == nil || !wellFormedCode(code) {
		return false
	}
	if p.Has(Admin) {
		return true
	}
	if !p.ReadsRows() {
		return false
	}
	if len(p.Scope) == 0 {
		// Validate lets only a dept_officer hold a row role without scope.
		return p.Has(DeptOfficer)
	}
	return under(code, p.Scope)
}

// CoversUnit reports whether the grid unit code itself (its code, name, level and
// parent, not its rows or figures) is visible to p: a unit in its row or
// aggregate scope, or an ancestor of a scope code, so breadcrumbs, the map and
// indicator tables can name where a grid sits.
func (p *Principal) CoversUnit(code string) bool {
	if p.InScope(code) || p.InAggregateScope(code) {
		return true
	}
	if !(p.ReadsRows() || p.Has(BIReader)) || !wellFormedCode(code) {
		return false
	}
	for _, s := range p.Scope {
		if strings.HasPrefix(s, code) {
			return true
		}
	}
	return false
}

// InAggregateScope reports whether p may read aggregate figures (indicators)
// for the unit code: a bi_reader for the city or under its scope, any row role
// for what is in its row scope. Ancestors are excluded: a township's total holds
// other communities' people.
func (p *Principal) InAggregateScope(code string) bool {
	if p.InScope(code) {
		return true
	}
	if !p.Has(BIReader) || !wellFormedCode(code) {
		return false
	}
	return len(p.Scope) == 0 || under(code, p.Scope)
}

// WholeCity reports whether p may read figures of the whole area at once:
// an admin, or a bi_reader or dept_officer without scope codes.
func (p *Principal) WholeCity() bool {
	if p == nil {
		return false
	}
	return p.Has(Admin) || len(p.Scope) == 0 && (p.Has(BIReader) || p.Has(DeptOfficer))
}

// under reports whether code is at or below one of the scope codes.
func under(code string, scope []string) bool {
	for _, s := range scope {
		if strings.HasPrefix(code, s) {
			return true
		}
	}
	return false
}

// wellFormedCode reports whether code is a grid code at some level.
func wellFormedCode(code string) bool {
	switch len(code) {
	case 6, 9, 12, 15:
		return digits(code)
	}
	return false
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Validate checks that p makes sense as a whole: known roles, a department for a
// dept_officer, scope codes that fit the roles held. A token that fails it is
// refused outright rather than given a narrower view, because a wrong claim is
// an issuer misconfiguration that should surface at once.
func (p *Principal) Validate() error {
	if p == nil {
		return errors.New("no principal")
	}
	if strings.TrimSpace(p.Subject) == "" {
		return errors.New("no subject")
	}
	if len(p.Subject) > maxSubjectLen {
		return fmt.Errorf("subject longer than %d bytes", maxSubjectLen)
	}
	if len(p.Roles) == 0 {
		return errors.New("no roles")
	}
	if len(p.Roles) > maxRoles {
		return fmt.Errorf("more than %d roles", maxRoles)
	}
	for _, r := range p.Roles {
		if !r.Valid() {
			return fmt.Errorf("unknown role %s", quote(string(r)))
		}
	}
	switch {
	case p.Has(DeptOfficer) && p.Department == "":
		return errors.New("dept_officer needs a department")
	case p.Department != "" && !p.Has(DeptOfficer):
		// Field rules key on the department; only an officer may carry one, so a
		// grid worker's stray claim can never unlock a department's sections.
		return errors.New("a department is only for dept_officer")
	case p.Department != "" && !deptCode.MatchString(p.Department):
		return fmt.Errorf("department %s is not a department code (lower_snake_case)", quote(p.Department))
	}
	if len(p.Scope) > MaxScopeCodes {
		return fmt.Errorf("more than %d scope codes", MaxScopeCodes)
	}
	var fits []int
	for _, r := range p.Roles {
		fits = append(fits, scopeLens[r]...)
	}
	for _, c := range p.Scope {
		if !digits(c) {
			return fmt.Errorf("scope code %s is not all digits", quote(c))
		}
		if !slices.Contains(fits, len(c)) {
			return fmt.Errorf("scope code %s: %d digits fit none of the roles %s", quote(c), len(c), p.roleList())
		}
	}
	for _, need := range []struct {
		role  Role
		level string
	}{{GridWorker, "grid"}, {CommunityAdmin, "community"}, {StreetAdmin, "township"}} {
		if !p.Has(need.role) {
			continue
		}
		n := scopeLens[need.role][0]
		if !slices.ContainsFunc(p.Scope, func(c string) bool { return len(c) == n }) {
			return fmt.Errorf("%s needs at least one %d-digit %s code in scope", need.role, n, need.level)
		}
	}
	return nil
}

func (p *Principal) roleList() string {
	s := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		s[i] = string(r)
	}
	return strings.Join(s, ",")
}

// LogValue makes a Principal safe to log: the subject with any identity number
// in it masked (some identity providers use 身份证号 as the user name), the roles,
// the department and how many scope codes, never the codes or the token.
func (p *Principal) LogValue() slog.Value {
	if p == nil {
		return slog.StringValue("anonymous")
	}
	return slog.GroupValue(
		slog.String("subject", ident.Redact(p.Subject)),
		slog.String("roles", p.roleList()),
		slog.String("department", p.Department),
		slog.Int("scope", len(p.Scope)),
	)
}

// quote quotes a value for an error message that may reach the caller: capped,
// and with identity numbers masked, since claims are caller-controlled text.
func quote(s string) string {
	const max = 40
	// Redact before cutting, or a cut could leave a short run of an ID's digits
	// that Redact no longer recognises.
	s = ident.Redact(s)
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", s)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p, as the middleware does for each request.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the request's principal; ok is false for an
// unauthenticated context, which callers must treat as "no access".
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}
