// Package tebura holds the vocabulary every other package shares: the error
// kinds, turned into a chat reply or an HTTP status in exactly one place
// each (PublicMessage for what people read, HTTPStatus for what HTTP
// senders see), and the shape of a channel name (Slug).
//
// The layout follows benbjohnson/wtf: domain packages return *Error values
// with a user-safe Message; adapters map the Code, and logs get the wrapped
// detail.
package tebura

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Error codes. They are deliberately few: each maps to one chat phrasing and
// one HTTP status (see HTTPStatus).
const (
	EINVALID         = "invalid"         // the input is wrong; the message says what to send instead (HTTP 400)
	EUNAUTHENTICATED = "unauthenticated" // missing or wrong credentials: a webhook's token or signature (HTTP 401)
	EFORBIDDEN       = "forbidden"       // the caller may not do this (HTTP 403)
	ENOTFOUND        = "not_found"       // the thing named does not exist (HTTP 404)
	EMETHOD          = "method"          // the HTTP method is not one the endpoint takes (HTTP 405)
	ECONFLICT        = "conflict"        // the state changed under the caller: already approved, lock held (HTTP 409)
	ETOOLARGE        = "too_large"       // the request is over a size limit (HTTP 413)
	ETRANSIENT       = "transient"       // try again later: rate limits, a platform outage, disk full (HTTP 503)
	EINTERNAL        = "internal"        // a bug or an unexpected failure; people see a generic sentence (HTTP 500)
)

// Sentences for an error that carries no Message of its own.
const (
	internalMessage  = "Something went wrong on our side. The operators can find the details in the bot's log; try again in a minute."
	transientMessage = "The chat platform or the disk is busy right now. Try again in a minute."
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
// chain, or, when it has none, a sentence for its code that leaks nothing.
// It is what the operators read on the terminal and in the console; people
// on the other side of an edge get PublicMessage.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	if ErrorCode(err) == ETRANSIENT {
		return transientMessage
	}
	return internalMessage
}

// PublicMessage is ErrorMessage for people who are not the operators: chat
// users and HTTP senders. An internal error's Message is written for the
// operators (who find it in the log), so those people get the generic
// sentence instead.
func PublicMessage(err error) string {
	if ErrorCode(err) == EINTERNAL {
		return internalMessage
	}
	return ErrorMessage(err)
}

// HTTPStatus is the one table from error codes to HTTP statuses: every HTTP
// edge (webhook sources, Slack and Discord HTTP mode, the health endpoints)
// answers through it. An unknown code is 500.
func HTTPStatus(code string) int {
	switch code {
	case EINVALID:
		return http.StatusBadRequest
	case EUNAUTHENTICATED:
		return http.StatusUnauthorized
	case EFORBIDDEN:
		return http.StatusForbidden
	case ENOTFOUND:
		return http.StatusNotFound
	case EMETHOD:
		return http.StatusMethodNotAllowed
	case ECONFLICT:
		return http.StatusConflict
	case ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case ETRANSIENT:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// HTTPError answers err at an HTTP edge as plain text: the status of its
// code and its PublicMessage on one line, so that a sender's log shows the
// reason whole. An edge whose senders read another format (PagerDuty's
// JSON) writes its own body with the same HTTPStatus.
func HTTPError(w http.ResponseWriter, err error) {
	http.Error(w, OneLine(PublicMessage(err)), HTTPStatus(ErrorCode(err)))
}

// OneLine turns s into one line: a reason sent back over HTTP lands in a
// sender's log, where a newline would start a forged entry.
func OneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// ReadBody reads r's body up to max bytes, as every HTTP edge must before
// it can check a signature over the raw body. A body over the limit is an
// ETOOLARGE error that says the limit, any other read failure an EINVALID
// one; the connection is closed after an oversized body (see
// http.MaxBytesReader).
func ReadBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			return nil, Wrap(ETOOLARGE, err, fmt.Sprintf("body larger than %d bytes", max))
		}
		return nil, Wrap(EINVALID, err, "could not read the body")
	}
	return body, nil
}
