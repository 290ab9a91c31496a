// Package apperr holds the domain errors that services return and the one GraphQL
// error presenter (graph/errors.go) turns into extensions.code values.
package apperr

import (
	"errors"
	"fmt"
)

// Code is the machine-readable kind of an error, as published in extensions.code.
type Code string

// The codes of the public contract.
const (
	BadUserInput          Code = "BAD_USER_INPUT"
	Unauthenticated       Code = "UNAUTHENTICATED"
	Forbidden             Code = "FORBIDDEN"
	ForbiddenField        Code = "FORBIDDEN_FIELD"
	PurposeRequired       Code = "PURPOSE_REQUIRED"
	NotFound              Code = "NOT_FOUND"
	DepartmentUnavailable Code = "DEPARTMENT_UNAVAILABLE"
	RateLimited           Code = "RATE_LIMITED"
	QueryTooComplex       Code = "QUERY_TOO_COMPLEX"
)

// Error is a domain error safe to show to the caller: its message must never hold
// personal data in clear (an ID number, a phone).
type Error struct {
	Code    Code
	Message string
	// Field is the argument or input path the error is about, if any.
	Field string
	// Rule names the validation rule that failed, for BAD_USER_INPUT.
	Rule string
	// Department names the department a DEPARTMENT_UNAVAILABLE error is about.
	Department string
}

func (e *Error) Error() string { return e.Message }

// BadInput reports an invalid argument: which field and which rule failed.
func BadInput(field, rule, format string, args ...any) *Error {
	return &Error{Code: BadUserInput, Field: field, Rule: rule, Message: fmt.Sprintf(format, args...)}
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
