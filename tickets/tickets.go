// Package tickets opens a ticket in the team's ticketing system when an
// incident opens, and comments the postmortem on it and resolves it when
// the incident resolves. It declares what it needs of a ticketing system
// (System); tickets/jira and tickets/servicenow implement it.
//
// A ticketing outage never blocks or delays the incident: the Service works
// in the background, retries with backoff (honouring a 429's Retry-After),
// and the card says "pending" until the ticket exists. What it did is kept
// on the incident's timeline, so a restart neither loses nor duplicates a
// ticket: before creating, it looks the ticket up by the incident's marker
// (a Jira label, a ServiceNow correlation_id) in case an earlier attempt
// created it without hearing the answer.
package tickets

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tebura/tebura/incident"
)

// Ticket is one ticket of the ticketing system.
type Ticket struct {
	// Key is what people read and type: "OPS-7", "INC0010001".
	Key string
	// ID is the system's own identifier (Jira issue id, ServiceNow sys_id),
	// used in its API.
	ID  string
	URL string
}

// Request is what a new ticket says about its incident.
type Request struct {
	// Marker identifies the incident in the ticketing system, so that a
	// ticket created by an attempt whose answer was lost is found again
	// (see Marker).
	Marker string
	// Incident is the incident's reference, "#12".
	Incident string
	Title    string
	Severity string
	Labels   map[string]string
	// Summary is the alert's summary annotation, if any.
	Summary    string
	Channel    string // "#inc-12-api-down", or "" before the channel exists
	ChannelURL string
	Bridge     string
	Opened     time.Time
}

// Resolution is what a ticket is closed with.
type Resolution struct {
	Incident   string
	ResolvedBy string
	// Notes is the closing text: who resolved it, when, and the note
	// given, if any.
	Notes string
}

// System is a ticketing system. Every method is one or two requests and
// returns a *Throttled error when the system asked to wait, a tebura
// ETRANSIENT error for an outage, and other errors for what retrying will
// not fix soon (a refused token, a missing project); the Service retries
// all of them, with backoff, and shows the last one on the card.
type System interface {
	// Name is the system's name for people: "Jira", "ServiceNow".
	Name() string
	// Find returns the ticket carrying marker, if one exists.
	Find(ctx context.Context, marker string) (Ticket, bool, error)
	// Create creates a ticket for req and returns it.
	Create(ctx context.Context, req Request) (Ticket, error)
	// Comment adds text (the postmortem, Markdown) to the ticket.
	Comment(ctx context.Context, t Ticket, text string) error
	// Resolve moves the ticket to its resolved state. A ticket already
	// resolved is not an error.
	Resolve(ctx context.Context, t Ticket, r Resolution) error
}

// Checker is a System that can check its setting with one harmless call
// (`tebura doctor`): the credentials, and that the project or table is
// there.
type Checker interface {
	Check(ctx context.Context) (detail string, err error)
}

// Throttled is a system's request to wait before the next call (HTTP 429
// with Retry-After). The Service never calls again sooner.
type Throttled struct {
	After time.Duration
	Err   error
}

// Error implements error.
func (e *Throttled) Error() string {
	return fmt.Sprintf("throttled, retry after %s: %v", e.After, e.Err)
}

// Unwrap returns the underlying error.
func (e *Throttled) Unwrap() error { return e.Err }

// RetryAfter returns how long err asks to wait, if it does.
func RetryAfter(err error) (time.Duration, bool) {
	var t *Throttled
	if errors.As(err, &t) {
		return t.After, true
	}
	return 0, false
}

// ParseRetryAfter reads a Retry-After header (seconds or an HTTP date) as
// a wait from now; 0 and false when it is absent or unreadable.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := time.Parse(time.RFC1123, v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// Marker is the idempotency marker of inc: "tebura-i12-<opened>", where
// <opened> is when it opened, in base 36 seconds. Incident numbers restart
// with a new store; the opening time tells two incidents #12 apart.
func Marker(inc *incident.Incident) string {
	return "tebura-" + inc.ID + "-" + strconv.FormatInt(inc.StartedAt.Unix(), 36)
}
