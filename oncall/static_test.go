package oncall_test

import (
	"context"
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/oncall"
)

func rotation(t *testing.T, overrides ...config.RotationOverride) *oncall.Static {
	t.Helper()
	s, err := oncall.NewStatic(config.StaticRotation{
		Members: []config.RotationMember{
			{Name: "Alice", Email: "alice@example.com"}, {Name: "Bob", Email: "bob@example.com"}, {Name: "Carol", Email: "carol@example.com"},
		},
		Handoff:   config.Handoff{Weekday: "monday", Time: "09:00"},
		Timezone:  "Europe/Berlin",
		Start:     "2026-03-11", // a Wednesday: the first handoff is Monday 2026-03-16
		Overrides: overrides,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStaticHandoffAndDST: the handoff stays at 09:00 Berlin time on both
// sides of the change to summer time (2026-03-29), so the week that holds
// it lasts 167 hours; a 168-hour week would hand off an hour late.
func TestStaticHandoffAndDST(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	s := rotation(t)
	tests := []struct {
		name     string
		at       time.Time
		now      string
		next     string
		nextFrom time.Time
	}{
		{"before the first handoff is the last member's week", time.Date(2026, 3, 16, 8, 59, 0, 0, berlin), "Carol", "Alice", time.Date(2026, 3, 16, 9, 0, 0, 0, berlin)},
		{"at the handoff the next member takes over", time.Date(2026, 3, 16, 9, 0, 0, 0, berlin), "Alice", "Bob", time.Date(2026, 3, 23, 9, 0, 0, 0, berlin)},
		{"one minute before the handoff after DST", time.Date(2026, 3, 30, 8, 59, 0, 0, berlin), "Bob", "Carol", time.Date(2026, 3, 30, 9, 0, 0, 0, berlin)},
		{"at 09:00 summer time, 167 h after the last handoff", time.Date(2026, 3, 30, 9, 0, 0, 0, berlin), "Carol", "Alice", time.Date(2026, 4, 6, 9, 0, 0, 0, berlin)},
		{"back to winter time (2026-10-25): 169 h week", time.Date(2026, 10, 26, 9, 0, 0, 0, berlin), "Carol", "Alice", time.Date(2026, 11, 2, 9, 0, 0, 0, berlin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now, next, err := oncall.NowAndNext(context.Background(), s, tt.at)
			if err != nil {
				t.Fatal(err)
			}
			if len(now.People) != 1 || now.People[0].Name != tt.now {
				t.Errorf("now = %+v, want %s", now.People, tt.now)
			}
			if len(next.People) != 1 || next.People[0].Name != tt.next || !next.Start.Equal(tt.nextFrom) {
				t.Errorf("next = %+v from %s, want %s from %s", next.People, next.Start, tt.next, tt.nextFrom)
			}
		})
	}
	// The week across the change is 167 hours long.
	_, next, _ := oncall.NowAndNext(context.Background(), s, time.Date(2026, 3, 23, 9, 0, 0, 0, berlin))
	if got := next.Start.Sub(time.Date(2026, 3, 23, 9, 0, 0, 0, berlin)); got != 167*time.Hour {
		t.Errorf("week across DST lasts %s, want 167h", got)
	}
}

// TestStaticOverride: an override replaces the rotation for its span and
// the rotation resumes after it.
func TestStaticOverride(t *testing.T) {
	s := rotation(t, config.RotationOverride{Member: "carol@example.com", Start: "2026-03-18T12:00:00+01:00", End: "2026-03-19T12:00:00+01:00"})
	berlin, _ := time.LoadLocation("Europe/Berlin")
	tests := []struct {
		at   time.Time
		now  string
		next string
	}{
		{time.Date(2026, 3, 18, 11, 0, 0, 0, berlin), "Alice", "Carol"},
		{time.Date(2026, 3, 18, 12, 0, 0, 0, berlin), "Carol", "Alice"},
		{time.Date(2026, 3, 19, 12, 0, 0, 0, berlin), "Alice", "Bob"},
	}
	for _, tt := range tests {
		now, next, err := oncall.NowAndNext(context.Background(), s, tt.at)
		if err != nil {
			t.Fatal(err)
		}
		if len(now.People) != 1 || now.People[0].Name != tt.now || len(next.People) != 1 || next.People[0].Name != tt.next {
			t.Errorf("at %s: now %+v next %+v, want %s then %s", tt.at, now.People, next.People, tt.now, tt.next)
		}
	}
}
