package oncall

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
)

// Static is a weekly rotation kept in the config: member k of n is on call
// in week w when w ≡ k (mod n), a week running from one handoff to the
// next. Handoffs are wall-clock times in the rotation's time zone, so a
// week that contains a DST change is an hour shorter or longer, and the
// handoff stays at 09:00. Overrides win over the rotation.
type Static struct {
	members   []Person
	loc       *time.Location
	first     time.Time // the first handoff: members[0] starts here
	overrides []override
}

type override struct {
	who        Person
	start, end time.Time
}

// NewStatic builds a rotation from its config (validated by config).
func NewStatic(c config.StaticRotation) (*Static, error) {
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil || c.Timezone == "" {
		return nil, tebura.Errorf(tebura.EINVALID, "The rotation's time zone %q is not known.", c.Timezone)
	}
	wd, ok := config.ParseWeekday(c.Handoff.Weekday)
	if !ok {
		return nil, tebura.Errorf(tebura.EINVALID, "The rotation's handoff weekday %q is not a weekday.", c.Handoff.Weekday)
	}
	h, m, ok := config.ParseClock(c.Handoff.Time)
	if !ok {
		return nil, tebura.Errorf(tebura.EINVALID, "The rotation's handoff time %q is not HH:MM.", c.Handoff.Time)
	}
	day, err := time.ParseInLocation(time.DateOnly, c.Start, loc)
	if err != nil {
		return nil, tebura.Errorf(tebura.EINVALID, "The rotation's start %q is not a date (YYYY-MM-DD).", c.Start)
	}
	if len(c.Members) == 0 {
		return nil, tebura.Errorf(tebura.EINVALID, "The rotation has no members.")
	}
	s := &Static{loc: loc}
	for _, mb := range c.Members {
		s.members = append(s.members, Person{Name: mb.Name, Email: mb.Email, Chat: mb.Chat})
	}
	// The first handoff is on the first handoff weekday on or after Start.
	shift := (int(wd) - int(day.Weekday()) + 7) % 7
	s.first = time.Date(day.Year(), day.Month(), day.Day()+shift, h, m, 0, 0, loc)
	for _, o := range c.Overrides {
		who, ok := s.member(o.Member)
		if !ok {
			return nil, tebura.Errorf(tebura.EINVALID, "The override names %q, who is not a member of the rotation.", o.Member)
		}
		start, err1 := time.Parse(time.RFC3339, o.Start)
		end, err2 := time.Parse(time.RFC3339, o.End)
		if err1 != nil || err2 != nil || !end.After(start) {
			return nil, tebura.Errorf(tebura.EINVALID, "The override of %s needs an RFC 3339 start before its end.", o.Member)
		}
		s.overrides = append(s.overrides, override{who: who, start: start, end: end})
	}
	return s, nil
}

func (s *Static) member(name string) (Person, bool) {
	for _, p := range s.members {
		if name != "" && (strings.EqualFold(p.Email, name) || strings.EqualFold(p.Name, name)) {
			return p, true
		}
	}
	return Person{}, false
}

// handoff is the start of week w (week 0 starts at the first handoff).
func (s *Static) handoff(w int) time.Time {
	return time.Date(s.first.Year(), s.first.Month(), s.first.Day()+7*w, s.first.Hour(), s.first.Minute(), 0, 0, s.loc)
}

// week is the week at t: handoff(w) ≤ t < handoff(w+1).
func (s *Static) week(t time.Time) int {
	w := int(t.Sub(s.first) / (7 * 24 * time.Hour))
	if t.Before(s.first) {
		w--
	}
	for s.handoff(w).After(t) {
		w--
	}
	for !s.handoff(w + 1).After(t) {
		w++
	}
	return w
}

// Shifts implements Schedule: the weeks overlapping [from, to), with the
// overrides cut into them.
func (s *Static) Shifts(_ context.Context, from, to time.Time) ([]Shift, error) {
	if !to.After(from) {
		return nil, fmt.Errorf("empty range %s to %s", from, to)
	}
	var base []Shift
	for w := s.week(from); s.handoff(w).Before(to); w++ {
		n := len(s.members)
		base = append(base, Shift{People: []Person{s.members[((w%n)+n)%n]}, Start: s.handoff(w), End: s.handoff(w + 1)})
	}
	// An override replaces the rotation for its span: cut it out of the
	// weeks, then add it.
	var out []Shift
	for _, sh := range base {
		parts := []Shift{sh}
		for _, o := range s.overrides {
			var cut []Shift
			for _, p := range parts {
				if !o.start.Before(p.End) || !o.end.After(p.Start) {
					cut = append(cut, p)
					continue
				}
				if o.start.After(p.Start) {
					cut = append(cut, Shift{People: p.People, Start: p.Start, End: o.start})
				}
				if o.end.Before(p.End) {
					cut = append(cut, Shift{People: p.People, Start: o.end, End: p.End})
				}
			}
			parts = cut
		}
		out = append(out, parts...)
	}
	for _, o := range s.overrides {
		if o.start.Before(to) && o.end.After(from) {
			out = append(out, Shift{People: []Person{o.who}, Start: o.start, End: o.end})
		}
	}
	return out, nil
}
