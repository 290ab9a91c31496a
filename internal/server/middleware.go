package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gridhub/gridhub/graph"
	"github.com/gridhub/gridhub/internal/apperr"
	"github.com/gridhub/gridhub/internal/auth"
	"github.com/gridhub/gridhub/internal/config"
	"github.com/gridhub/gridhub/internal/ratelimit"
)

// rateLimit refuses a caller over its budget with 429, Retry-After and
// RATE_LIMITED. The budget is per caller (the token's subject); a limiter that
// fails lets the request through rather than taking the hub down with it.
func rateLimit(l ratelimit.Limiter, next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.RemoteAddr
		if pr, ok := auth.FromContext(r.Context()); ok {
			key = "sub:" + pr.Subject
		}
		ok, wait, err := l.Allow(r.Context(), key)
		if err == nil && !ok {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			writeError(w, r, http.StatusTooManyRequests, string(apperr.RateLimited),
				fmt.Sprintf("too many requests: retry after %s", wait.Round(time.Millisecond)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// withPurpose reads the stated purpose (X-Purpose) into the request context,
// with the policy in force when the request arrived: the request runs under
// that one even if a reload swaps it meanwhile. An unknown purpose is refused
// at once: a typo must not read as "no purpose".
func withPurpose(live *config.Live, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := live.Get().Policy
		pu, err := p.Purpose(r.Header.Get("X-Purpose"))
		if err != nil {
			writeError(w, r, http.StatusBadRequest, string(apperr.BadUserInput), err.Error())
			return
		}
		next.ServeHTTP(w, r.WithContext(graph.WithPurpose(r.Context(), p, pu)))
	})
}

// timeout bounds a request's work: its context ends after d, and the resolvers
// and connector calls under it stop.
func timeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
