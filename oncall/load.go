package oncall

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// Load is one responder's share of the incidents in a window: how many
// incidents they were in, how often they were paged, how many of those
// pages came outside working hours, and how long they spent in open
// incidents (from their first page, or the incident's start, to its
// resolve or now).
type Load struct {
	// Person is the chat identity, or the schedule's name for someone
	// who was paged but not reached in chat.
	Person     string
	Label      string
	Incidents  int
	Pages      int
	OutOfHours int
	InOpen     time.Duration
}

// Calendar is a weekly working-hours calendar.
type Calendar struct {
	loc        *time.Location
	days       map[time.Weekday]bool
	start, end int // minutes after midnight
}

// NewCalendar builds a calendar from its config (validated by config).
func NewCalendar(w config.WorkingHours) (*Calendar, error) {
	loc, err := time.LoadLocation(w.Timezone)
	if err != nil {
		return nil, err
	}
	c := &Calendar{loc: loc, days: map[time.Weekday]bool{}}
	for _, d := range w.Days {
		if wd, ok := config.ParseWeekday(d); ok {
			c.days[wd] = true
		}
	}
	sh, sm, _ := config.ParseClock(w.Start)
	eh, em, _ := config.ParseClock(w.End)
	c.start, c.end = sh*60+sm, eh*60+em
	return c, nil
}

// Working reports whether t falls in working hours.
func (c *Calendar) Working(t time.Time) bool {
	l := t.In(c.loc)
	m := l.Hour()*60 + l.Minute()
	return c.days[l.Weekday()] && m >= c.start && m < c.end
}

// ResponderLoad sums each responder's load over the incidents started
// since since (and those still open), as of now, busiest first.
func ResponderLoad(ctx context.Context, incs Incidents, cal *Calendar, since, now time.Time) ([]Load, error) {
	all, err := incs.List(ctx, incident.ListOptions{})
	if err != nil {
		return nil, err
	}
	loads := map[string]*Load{}
	get := func(key, label string) *Load {
		l := loads[key]
		if l == nil {
			l = &Load{Person: key, Label: label}
			loads[key] = l
		}
		if l.Label == key && label != "" {
			l.Label = label
		}
		return l
	}
	for _, inc := range all {
		if inc.StartedAt.Before(since) && !inc.Status.Open() {
			continue
		}
		end := inc.ResolvedAt
		if inc.Status.Open() || end.IsZero() {
			end = now
		}
		tl, err := incs.Timeline(ctx, inc.ID)
		if err != nil {
			return nil, err
		}
		joined := map[string]time.Time{} // person → first time in this incident
		join := func(key string, at time.Time) {
			if t, ok := joined[key]; !ok || at.Before(t) {
				joined[key] = at
			}
		}
		for _, e := range tl {
			pg, ok := PageOf(e)
			if !ok {
				continue
			}
			people := map[string]string{}
			for _, r := range pg.Reached {
				people[r.Identity] = r.Label()
			}
			for _, m := range pg.Missed {
				people[m.Label()] = m.Label()
			}
			for key, label := range people {
				l := get(key, label)
				l.Pages++
				if cal != nil && !cal.Working(pg.At) {
					l.OutOfHours++
				}
				join(key, pg.At)
			}
		}
		for _, r := range inc.Responders {
			get(r, r)
			join(r, inc.StartedAt)
		}
		for key, at := range joined {
			l := loads[key]
			l.Incidents++
			if end.After(at) {
				l.InOpen += end.Sub(at)
			}
		}
	}
	out := make([]Load, 0, len(loads))
	for _, l := range loads {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b Load) int {
		if a.Pages != b.Pages {
			return b.Pages - a.Pages
		}
		if a.InOpen != b.InOpen {
			return int((b.InOpen - a.InOpen) / time.Second)
		}
		return strings.Compare(a.Person, b.Person)
	})
	return out, nil
}
