package auth

import "github.com/gridhub/gridhub/internal/apperr"

// Error is an authentication failure. Reason is safe to show to the caller and
// to log: it never holds the token or any part of it. The underlying library
// error, which may quote header values, is kept for errors.Unwrap but left out
// of Error().
type Error struct {
	Reason string
	cause  error
}

// Error returns the Reason alone, so logging or showing the error cannot leak
// what the library said about the token.
func (e *Error) Error() string { return e.Reason }

// Unwrap returns the library error behind the failure, for server-side
// diagnosis only.
func (e *Error) Unwrap() error { return e.cause }

// Is matches errors with the same Reason, so callers can test
// errors.Is(err, auth.ErrTokenExpired) whatever the cause.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// AppError converts e to the domain error the GraphQL error presenter knows,
// with extensions.code UNAUTHENTICATED.
func (e *Error) AppError() *apperr.Error {
	return &apperr.Error{Code: apperr.Unauthenticated, Message: e.Reason}
}

// The failures callers may want to tell apart; compare with errors.Is.
var (
	ErrMissingToken     = &Error{Reason: "missing bearer token"}
	ErrMalformedToken   = &Error{Reason: "malformed token"}
	ErrBadSignature     = &Error{Reason: "bad signature"}
	ErrUnsupportedAlg   = &Error{Reason: "unsupported token algorithm"}
	ErrUnknownKey       = &Error{Reason: "unknown signing key"}
	ErrTokenExpired     = &Error{Reason: "token expired"}
	ErrNoExpiry         = &Error{Reason: "token has no expiry"}
	ErrNotYetValid      = &Error{Reason: "token not yet valid"}
	ErrIssuedInFuture   = &Error{Reason: "token issued in the future"}
	ErrWrongIssuer      = &Error{Reason: "token from another issuer"}
	ErrWrongAudience    = &Error{Reason: "token for another audience"}
	ErrMalformedClaims  = &Error{Reason: "malformed token claims"}
	ErrDuplicateHeaders = &Error{Reason: "more than one Authorization header"}
	ErrWrongScheme      = &Error{Reason: "authorization scheme is not Bearer"}
)

// fail returns a copy of sentinel carrying cause.
func fail(sentinel *Error, cause error) *Error {
	return &Error{Reason: sentinel.Reason, cause: cause}
}
