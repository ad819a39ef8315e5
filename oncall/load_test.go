package oncall_test

import (
	"context"
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/oncall"
)

// history is a fixed set of incidents and timelines.
type history struct {
	incs []*incident.Incident
	tl   map[string][]incident.TimelineEntry
}

func (h history) List(context.Context, incident.ListOptions) ([]*incident.Incident, error) {
	return h.incs, nil
}

func (h history) Timeline(_ context.Context, id string) ([]incident.TimelineEntry, error) {
	return h.tl[id], nil
}

func (h history) AddTimeline(context.Context, string, incident.TimelineEntry) error { return nil }

func page(at time.Time, reached []string, missed ...string) incident.TimelineEntry {
	pg := oncall.Page{Schedule: "primary", At: at}
	for _, id := range reached {
		pg.Reached = append(pg.Reached, oncall.Reached{Person: oncall.Person{Name: id}, Identity: "slack:" + id})
	}
	for _, m := range missed {
		pg.Missed = append(pg.Missed, oncall.Missed{Person: oncall.Person{Name: m}, Reason: "no account"})
	}
	return pg.Entry()
}

// TestResponderLoad: pages per person, those outside working hours
// (Berlin, Monday to Friday 09–18), incidents per person and the time
// from their page to the resolve (or now, while open); incidents before
// the window do not count unless still open.
func TestResponderLoad(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	now := time.Date(2026, 3, 13, 12, 0, 0, 0, berlin) // a Friday
	monday10 := time.Date(2026, 3, 9, 10, 0, 0, 0, berlin)
	tuesday3 := time.Date(2026, 3, 10, 3, 0, 0, 0, berlin)
	saturday := time.Date(2026, 3, 7, 11, 0, 0, 0, berlin)
	h := history{
		incs: []*incident.Incident{
			{ID: "i1", Number: 1, Status: incident.StatusResolved, StartedAt: monday10, ResolvedAt: monday10.Add(time.Hour)},
			{ID: "i2", Number: 2, Status: incident.StatusTriggered, StartedAt: tuesday3, Responders: []string{"slack:carol"}},
			{ID: "i3", Number: 3, Status: incident.StatusResolved, StartedAt: now.AddDate(0, 0, -40), ResolvedAt: now.AddDate(0, 0, -40).Add(time.Hour)},
			{ID: "i4", Number: 4, Status: incident.StatusResolved, StartedAt: saturday, ResolvedAt: saturday.Add(30 * time.Minute)},
		},
		tl: map[string][]incident.TimelineEntry{
			"i1": {page(monday10, []string{"alice"}), page(monday10.Add(20*time.Minute), []string{"alice", "bob"})},
			"i2": {page(tuesday3, []string{"alice"}, "Dan")},
			"i3": {page(now.AddDate(0, 0, -40), []string{"alice"})},
			"i4": {page(saturday, []string{"bob"})},
		},
	}
	cal, err := oncall.NewCalendar(config.WorkingHours{Timezone: "Europe/Berlin", Days: []string{"mon", "tue", "wed", "thu", "fri"}, Start: "09:00", End: "18:00"})
	if err != nil {
		t.Fatal(err)
	}
	loads, err := oncall.ResponderLoad(context.Background(), h, cal, now.AddDate(0, 0, -30), now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]oncall.Load{}
	for _, l := range loads {
		got[l.Person] = l
	}
	sinceTue3 := now.Sub(tuesday3)
	want := map[string]oncall.Load{
		"slack:alice": {Incidents: 2, Pages: 3, OutOfHours: 1, InOpen: time.Hour + sinceTue3},
		"slack:bob":   {Incidents: 2, Pages: 2, OutOfHours: 1, InOpen: 40*time.Minute + 30*time.Minute},
		"slack:carol": {Incidents: 1, Pages: 0, OutOfHours: 0, InOpen: sinceTue3},
		"Dan":         {Incidents: 1, Pages: 1, OutOfHours: 1, InOpen: sinceTue3},
	}
	if len(got) != len(want) {
		t.Errorf("got load for %d people, want %d: %+v", len(got), len(want), loads)
	}
	for who, w := range want {
		g := got[who]
		if g.Incidents != w.Incidents || g.Pages != w.Pages || g.OutOfHours != w.OutOfHours || g.InOpen != w.InOpen {
			t.Errorf("%s: got %d incidents, %d pages, %d out of hours, %s in open; want %d, %d, %d, %s",
				who, g.Incidents, g.Pages, g.OutOfHours, g.InOpen, w.Incidents, w.Pages, w.OutOfHours, w.InOpen)
		}
	}
	if loads[0].Person != "slack:alice" {
		t.Errorf("busiest first: got %s first", loads[0].Person)
	}
}
