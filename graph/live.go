package graph

import (
	"context"
	"strings"

	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/live"
)

// live is the hub's live updates, or FORBIDDEN when it has none.
func (r *Resolver) live() (*live.Hub, error) {
	if r.Live == nil {
		return nil, &apperr.Error{Code: apperr.Forbidden, Message: "this hub serves no live updates"}
	}
	return r.Live, nil
}

// untilExpiry bounds a subscription by its token: it ends when the token
// expires, as a query made then would be refused.
func untilExpiry(ctx context.Context, pr *auth.Principal) (context.Context, context.CancelFunc) {
	if pr.ExpiresAt.IsZero() {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, pr.ExpiresAt)
}

// follower is who follows events and which: grid workers and community
// staff the events they reported (as gridEvents lists them), street staff
// and admins every event under prefixes.
type follower struct {
	pr       *auth.Principal
	prefixes []string
	reporter string // "" for any
	anywhere bool   // no within named: the follower's own reports outside its grids too
}

// eventFollower checks the caller may follow events under within (nil:
// all of its scope) as gridEvents checks it may list them.
func eventFollower(ctx context.Context, within *string) (*follower, error) {
	var f follower
	if within != nil {
		pr, prefixes, err := workReader(ctx, *within)
		if err != nil {
			return nil, err
		}
		f.pr, f.prefixes = pr, prefixes
	} else {
		pr, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		if !pr.Has(auth.GridWorker) && !pr.Has(auth.CommunityAdmin) && !pr.Has(auth.StreetAdmin) && !pr.Has(auth.Admin) {
			return nil, &apperr.Error{Code: apperr.Forbidden, Message: "the daily work is read by grid, community and street staff"}
		}
		f.pr = pr
		for _, code := range pr.Scope {
			if pr.InScope(code) {
				f.prefixes = append(f.prefixes, code)
			}
		}
		if pr.Has(auth.Admin) && len(pr.Scope) == 0 {
			f.prefixes = []string{""} // an admin with no scope: every grid
		}
	}
	if f.pr.Has(auth.GridWorker) || f.pr.Has(auth.CommunityAdmin) {
		f.reporter = f.pr.Subject
	}
	f.anywhere = within == nil
	if len(f.prefixes) == 0 && (within != nil || f.reporter == "") {
		return nil, &apperr.Error{Code: apperr.Forbidden, Field: "within", Message: "within lies outside your scope"}
	}
	return &f, nil
}

// follows says whether an event in grid reported by reporter is followed:
// for grid workers and community staff their own reports (under the
// prefixes when they named a within), for street staff and admins any
// event under the prefixes.
func (f *follower) follows(grid, reporter string) bool {
	under := false
	for _, p := range f.prefixes {
		if strings.HasPrefix(grid, p) {
			under = true
		}
	}
	if f.reporter != "" {
		return reporter == f.reporter && (under || f.anywhere)
	}
	return under
}
