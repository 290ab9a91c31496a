package graph

import (
	"context"
	"strconv"
	"strings"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/grid"
	"github.com/gridhub/gridhub/internal/ident"
	"github.com/gridhub/gridhub/internal/people"
)

// Row scope is checked here, where records are read; field policy is the
// Enforcer's. Out-of-scope records answer exactly as records that do not exist
// (null, or absent from a list), so scope never tells what lies outside it.

// principal is the caller; the auth middleware guarantees one on every request.
func principal(ctx context.Context) (*auth.Principal, error) {
	pr, ok := auth.FromContext(ctx)
	if !ok {
		return nil, &apperr.Error{Code: apperr.Unauthenticated, Message: "no authenticated caller"}
	}
	return pr, nil
}

// rowReader is the caller when it may read person-level records at all.
func rowReader(ctx context.Context) (*auth.Principal, error) {
	pr, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !pr.ReadsRows() {
		return nil, &apperr.Error{Code: apperr.Forbidden, Message: "this role reads aggregates only, not personal records"}
	}
	return pr, nil
}

// scopedPrefixes cuts a query's `within` code to the caller's row scope: within
// itself when it lies inside the scope, else the caller's scope codes under it
// (an officer asking for a district sees its own grids of it).
func scopedPrefixes(pr *auth.Principal, within string) []string {
	if pr.InScope(within) {
		return []string{within}
	}
	var out []string
	for _, code := range pr.Scope {
		if strings.HasPrefix(code, within) && pr.InScope(code) {
			out = append(out, code)
		}
	}
	return out
}

// visibleUnits keeps the units the caller may see named.
func visibleUnits(pr *auth.Principal, units []grid.Unit) []grid.Unit {
	out := make([]grid.Unit, 0, len(units))
	for _, u := range units {
		if pr.CoversUnit(u.Code) {
			out = append(out, u)
		}
	}
	return out
}

// visible is the one decision on whether the caller may read a record placed
// in grid (a person, a household, an organisation, a submission's subject):
// every query and mutation that takes one asks it, and answers a record it
// refuses exactly as one that does not exist.
func visible(pr *auth.Principal, grid string) bool { return grid != "" && pr.InScope(grid) }

// personInScope is p when the caller may read it, else nil.
func personInScope(pr *auth.Principal, p *people.Person) *people.Person {
	if p == nil || !visible(pr, p.GridCode) {
		return nil
	}
	return p
}

// noSuchSubject is the answer for a report subject that does not exist or
// lies outside the caller's scope: the same bytes for both, so that the
// dense surrogate ids cannot be probed for existence.
func noSuchSubject() error {
	return &apperr.Error{Code: apperr.NotFound, Field: "subject", Message: "no person with this id in your scope"}
}

// ledgerPerson turns auditLog's person argument into the surrogate id the ledger
// records: a resident ID number is looked up whoever holds it, since the auditor
// asks about accesses, not about the record; "" when nobody holds it.
func (r *Resolver) ledgerPerson(ctx context.Context, person string) (string, error) {
	if _, err := strconv.ParseInt(person, 10, 64); err == nil && len(person) < 15 {
		return person, nil
	}
	if _, err := ident.ParseResidentID(person); err != nil {
		return "", apperr.BadInput("person", "format", "person must be a person id or a resident ID number")
	}
	p, err := r.Master.PersonByIDNumber(ctx, person, people.Read{})
	if err != nil || p == nil {
		return "", err
	}
	return p.ID, nil
}
