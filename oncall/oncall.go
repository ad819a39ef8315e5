// Package oncall knows who is on call: schedules (PagerDuty, Grafana
// OnCall, a static rotation) answer who is on call now and next, people are
// matched to chat accounts by email, escalation pages the next level when
// nobody acknowledges, and responder load says who carried the pager.
//
// The package says what; the adapters say how: the PagerDuty and Grafana
// OnCall clients live in oncall/pagerduty and oncall/grafana, each behind
// Schedule, and the chat lookups behind bot.UserDirectory.
package oncall

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Person is someone a schedule names. Email is how a person is matched to
// a chat account; Chat, when the schedule knows it (a static rotation may
// say), is used as it is.
type Person struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Chat  string `json:"chat,omitempty"`
}

// Label is how a person is named in chat: "Alice <alice@example.com>",
// or whichever half is known.
func (p Person) Label() string {
	switch {
	case p.Name != "" && p.Email != "":
		return p.Name + " <" + p.Email + ">"
	case p.Name != "":
		return p.Name
	case p.Email != "":
		return p.Email
	}
	return p.Chat
}

// key identifies a person across shifts: the email, else the name.
func (p Person) key() string {
	if p.Email != "" {
		return strings.ToLower(p.Email)
	}
	if p.Name != "" {
		return "name:" + p.Name
	}
	return "chat:" + p.Chat
}

// Shift is who is on call from Start until End.
type Shift struct {
	People []Person
	Start  time.Time
	End    time.Time
}

// Empty reports whether nobody is on the shift.
func (s Shift) Empty() bool { return len(s.People) == 0 }

// Schedule is one on-call schedule, whatever keeps it.
type Schedule interface {
	// Shifts returns the shifts that overlap [from, to), in any order;
	// shifts may overlap each other (several people on call at once).
	Shifts(ctx context.Context, from, to time.Time) ([]Shift, error)
}

// Lookahead is how far ahead a schedule is read to find the next shift.
const Lookahead = 14 * 24 * time.Hour

// NowAndNext reads who is on call at at and who takes over after.
func NowAndNext(ctx context.Context, s Schedule, at time.Time) (now, next Shift, err error) {
	shifts, err := s.Shifts(ctx, at, at.Add(Lookahead))
	if err != nil {
		return Shift{}, Shift{}, err
	}
	now = covering(shifts, at)
	boundary := now.End
	if now.Empty() {
		boundary = time.Time{}
		for _, sh := range shifts {
			if sh.Start.After(at) && (boundary.IsZero() || sh.Start.Before(boundary)) {
				boundary = sh.Start
			}
		}
	}
	if !boundary.IsZero() {
		next = covering(shifts, boundary)
	}
	return now, next, nil
}

// covering merges the shifts on at at: everyone on them, from the latest
// start to the earliest end (when the set of people next changes, at the
// latest).
func covering(shifts []Shift, at time.Time) Shift {
	var out Shift
	seen := map[string]bool{}
	for _, sh := range shifts {
		if sh.Start.After(at) || !sh.End.After(at) {
			continue
		}
		if out.Start.IsZero() || sh.Start.After(out.Start) {
			out.Start = sh.Start
		}
		if out.End.IsZero() || sh.End.Before(out.End) {
			out.End = sh.End
		}
		for _, p := range sh.People {
			if !seen[p.key()] {
				seen[p.key()] = true
				out.People = append(out.People, p)
			}
		}
	}
	// A shift that starts later than at but before out.End also changes
	// who is on call: the merged shift ends there.
	for _, sh := range shifts {
		if sh.Start.After(at) && sh.Start.Before(out.End) {
			out.End = sh.Start
		}
	}
	slices.SortFunc(out.People, func(a, b Person) int { return strings.Compare(a.Label(), b.Label()) })
	return out
}
