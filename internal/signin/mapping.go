package signin

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/yamlpos"
)

// Mapping is signin.yaml of the configuration directory: how the identity
// provider's claims about a member of staff become the hub's role,
// department and grid scope. Every rule whose claim holds its value adds its
// roles, department and scope; a member of staff no rule matches is refused.
//
//	subject: preferred_username   # the claim naming staff in the access ledger (default sub)
//	rules:
//	  - claim: groups              # a string claim, or a list of strings
//	    value: gridhub-admins
//	    roles: [admin]
//	  - claim: groups
//	    value: minzheng-officers
//	    roles: [dept_officer]
//	    department: civil_affairs  # a configured department
//	  - claim: groups
//	    value: grid-workers
//	    roles: [grid_worker]
//	    scope_claim: grid_codes    # the grid codes, from the member's own claim
//	  - claim: department
//	    value: 铜官区数据资源局
//	    roles: [bi_reader]
//	    scope: ["340705"]
type Mapping struct {
	// Subject is the claim whose value names the member of staff in tokens
	// and the access ledger; "sub" when empty. It is prefixed with the
	// provider's issuer nowhere: one hub signs in through one provider.
	Subject string `yaml:"subject"`
	Rules   []Rule `yaml:"rules"`
}

// Rule is one line of the mapping.
type Rule struct {
	// Claim and Value: the rule applies when the claim is Value, or is a
	// list holding Value.
	Claim string `yaml:"claim"`
	Value string `yaml:"value"`
	// Roles the rule grants.
	Roles []auth.Role `yaml:"roles"`
	// Department, for a dept_officer: one of the configured departments.
	Department string `yaml:"department"`
	// Scope lists grid codes; ScopeClaim names a claim (a string or a list
	// of strings) holding more.
	Scope      []string `yaml:"scope"`
	ScopeClaim string   `yaml:"scope_claim"`
}

// ParseMapping reads signin.yaml strictly and checks it against the
// configured departments: every problem is "file:line: what is wrong".
func ParseMapping(name string, raw []byte, departments []string) (*Mapping, error) {
	var m Mapping
	f, err := yamlpos.Decode(name, raw, &m)
	if err != nil {
		return nil, err
	}
	var errs []error
	if len(m.Rules) == 0 {
		errs = append(errs, f.Errorf([]any{"rules"}, "no rules: nobody could sign in"))
	}
	for i, r := range m.Rules {
		at := func(key string) []any { return []any{"rules", i, key} }
		if r.Claim == "" || r.Value == "" {
			errs = append(errs, f.Errorf([]any{"rules", i}, "rule %d: claim and value are both required", i+1))
		}
		if len(r.Roles) == 0 {
			errs = append(errs, f.Errorf(at("roles"), "rule %d: no roles", i+1))
		}
		for _, role := range r.Roles {
			if !role.Valid() {
				errs = append(errs, f.Errorf(at("roles"), "rule %d: unknown role %q (one of %s)", i+1, role, roleList()))
			}
		}
		if r.Department != "" && !slices.Contains(departments, r.Department) {
			errs = append(errs, f.Errorf(at("department"), "rule %d: department %q is not configured (configured: %s)",
				i+1, r.Department, strings.Join(departments, ", ")))
		}
		if slices.Contains(r.Roles, auth.DeptOfficer) && r.Department == "" {
			errs = append(errs, f.Errorf(at("roles"), "rule %d: a dept_officer needs a department", i+1))
		}
		if r.Department != "" && !slices.Contains(r.Roles, auth.DeptOfficer) {
			errs = append(errs, f.Errorf(at("department"), "rule %d: a department is for a dept_officer only", i+1))
		}
		// The rule's own scope must fit its roles as a token's would.
		if len(r.Scope) > 0 {
			p := auth.Principal{Subject: "check", Roles: r.Roles, Department: r.Department, Scope: r.Scope}
			if err := p.Validate(); err != nil {
				errs = append(errs, f.Errorf(at("scope"), "rule %d: %v", i+1, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &m, nil
}

func roleList() string {
	var names []string
	for _, r := range auth.Roles() {
		names = append(names, string(r))
	}
	return strings.Join(names, ", ")
}

// ErrNotAuthorized is a member of staff whom no rule of the mapping grants
// anything, or whose grants do not make a valid principal.
var ErrNotAuthorized = errors.New("signin: not authorised for the hub")

// Principal maps the claims the provider gave into the hub's principal.
// The error wraps ErrNotAuthorized when no rule applies, or the rules that
// apply grant a principal the hub would refuse (two departments, grid codes
// that do not fit the roles).
func (m *Mapping) Principal(claims map[string]any) (auth.Principal, error) {
	var p auth.Principal
	subjectClaim := m.Subject
	if subjectClaim == "" {
		subjectClaim = "sub"
	}
	p.Subject, _ = claims[subjectClaim].(string)
	if p.Subject == "" {
		return p, fmt.Errorf("%w: the provider gave no %q claim", ErrNotAuthorized, subjectClaim)
	}
	matched := false
	for _, r := range m.Rules {
		if !slices.Contains(claimStrings(claims[r.Claim]), r.Value) {
			continue
		}
		matched = true
		for _, role := range r.Roles {
			if !slices.Contains(p.Roles, role) {
				p.Roles = append(p.Roles, role)
			}
		}
		if r.Department != "" {
			if p.Department != "" && p.Department != r.Department {
				return p, fmt.Errorf("%w: the rules grant two departments (%s, %s)", ErrNotAuthorized, p.Department, r.Department)
			}
			p.Department = r.Department
		}
		scope := append(slices.Clone(r.Scope), claimStrings(claims[r.ScopeClaim])...)
		for _, code := range scope {
			if !slices.Contains(p.Scope, code) {
				p.Scope = append(p.Scope, code)
			}
		}
	}
	if !matched {
		return p, fmt.Errorf("%w: no rule of the sign-in mapping applies to %s", ErrNotAuthorized, p.Subject)
	}
	if err := p.Validate(); err != nil {
		return p, fmt.Errorf("%w: %v", ErrNotAuthorized, err)
	}
	return p, nil
}

// claimStrings reads a claim that is a string or a list of strings;
// anything else holds none.
func claimStrings(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return x
	}
	return nil
}
