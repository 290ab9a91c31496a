package connectors

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNotConnected means the source could not be reached at all (refused,
// unresolvable, closed): worth retrying later, and a reason to open the breaker.
var ErrNotConnected = errors.New("not connected")

// PermanentError is a failure that a retry will not heal: a rejected API key, an
// answer that is not what the mapping expects (garbage), a missing table.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as permanent.
func Permanent(err error) error { return &PermanentError{Err: err} }

// Permanentf formats a permanent error.
func Permanentf(format string, args ...any) error {
	return &PermanentError{Err: fmt.Errorf(format, args...)}
}

// RetryAfterError is a refusal that names when to come back (HTTP 429 or 503
// with Retry-After).
type RetryAfterError struct {
	Wait time.Duration
	Err  error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("retry after %s: %v", e.Wait, e.Err)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// PartialError is a batch that succeeded for some items only: Failed names the
// keys (or idempotency keys) that did not go through.
type PartialError struct {
	Failed []string
	Err    error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("partial: %d failed: %v", len(e.Failed), e.Err)
}
func (e *PartialError) Unwrap() error { return e.Err }

// Retryable tells whether an operation that failed with err may succeed if tried
// again: not for permanent errors, not for a cancelled or expired context of the
// caller; yes for everything else (timeouts, refused connections, 5xx).
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var p *PermanentError
	return !errors.As(err, &p)
}
