// Package tebura holds the vocabulary every other package shares: the error
// kinds that are turned into a chat reply or an HTTP status in exactly one
// place each (commands for chat, the HTTP layer for webhooks).
//
// The layout follows benbjohnson/wtf: domain packages return *Error values
// with a user-safe Message; adapters map the Code, and logs get the wrapped
// detail.
package tebura

import (
	"errors"
	"fmt"
)

// Error codes. They are deliberately few: each maps to one chat phrasing and
// one HTTP status.
const (
	EINVALID   = "invalid"   // the input is wrong; the message says what to type instead (HTTP 400)
	ENOTFOUND  = "not_found" // the thing named does not exist (HTTP 404)
	EFORBIDDEN = "forbidden" // the caller may not do this (HTTP 403)
	ECONFLICT  = "conflict"  // the state changed under the caller: already approved, lock held (HTTP 409)
	ETRANSIENT = "transient" // try again later: rate limits, a platform outage, disk full (HTTP 503)
	EINTERNAL  = "internal"  // a bug or an unexpected failure; the user sees a generic sentence (HTTP 500)
)

// Error is the one error type with a user-safe message. Message is shown to
// people as is; Err carries the operator detail and is only logged.
type Error struct {
	Code    string
	Message string
	Err     error
}

// Error implements error. It includes the wrapped detail for logs.
func (e *Error) Error() string {
	switch {
	case e.Err != nil && e.Message != "":
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	case e.Err != nil:
		return fmt.Sprintf("%s: %v", e.Code, e.Err)
	default:
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
}

// Unwrap returns the operator detail.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted user-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error whose user-safe message is msg and whose detail is err.
func Wrap(code string, err error, msg string) *Error {
	return &Error{Code: code, Message: msg, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of the first *Error in err's
// chain, or a generic sentence that leaks nothing.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "Something went wrong on our side; the operators can find the details in the bot's log."
}
