package pagerduty_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/oncall"
	"github.com/tebura/tebura/oncall/pagerduty"
	"github.com/tebura/tebura/oncall/pagerduty/pagerdutytest"
)

var at = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

func client(t *testing.T, slept *[]time.Duration) *http.Client {
	t.Helper()
	return &http.Client{Transport: &oncall.RetryTransport{Sleep: func(_ context.Context, d time.Duration) error {
		*slept = append(*slept, d)
		return nil
	}}}
}

// TestNowAndNextAcrossPages: 130 hourly shifts need two pages of 100; the
// shift on at is now and the one after is next; the same shift at two
// escalation levels counts once.
func TestNowAndNextAcrossPages(t *testing.T) {
	srv := pagerdutytest.New("tok")
	defer srv.Close()
	base := at.Truncate(time.Hour)
	for k := range 130 {
		who := fmt.Sprintf("user%d", k%3)
		oc := pagerdutytest.OnCall{ScheduleID: "PSCHED", Level: 1, UserID: "P" + who, Name: who, Email: who + "@example.com",
			Start: base.Add(time.Duration(k) * time.Hour), End: base.Add(time.Duration(k+1) * time.Hour)}
		srv.Add(oc)
		if k < 2 {
			oc.Level = 2
			srv.Add(oc)
		}
	}
	srv.Add(pagerdutytest.OnCall{ScheduleID: "OTHER", UserID: "PX", Name: "x", Email: "x@example.com", Start: base, End: base.Add(time.Hour)})
	var slept []time.Duration
	s := pagerduty.New(config.OnCallPagerDuty{Token: "tok", ScheduleID: "PSCHED", APIURL: srv.URL}, client(t, &slept))
	shifts, err := s.Shifts(context.Background(), at, at.Add(200*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(shifts) != 130 {
		t.Fatalf("got %d shifts, want 130 (two pages, duplicates and other schedules dropped)", len(shifts))
	}
	if srv.Requests() != 2 {
		t.Errorf("requests = %d, want 2 pages", srv.Requests())
	}
	now, next, err := oncall.NowAndNext(context.Background(), s, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(now.People) != 1 || now.People[0].Email != "user0@example.com" || !now.End.Equal(base.Add(time.Hour)) {
		t.Errorf("now = %+v, want user0 until %s", now, base.Add(time.Hour))
	}
	if len(next.People) != 1 || next.People[0].Name != "user1" {
		t.Errorf("next = %+v, want user1", next)
	}
}

// TestRateLimitRetriesAfter: a 429 is retried after its Retry-After.
func TestRateLimitRetriesAfter(t *testing.T) {
	srv := pagerdutytest.New("tok")
	defer srv.Close()
	srv.Add(pagerdutytest.OnCall{ScheduleID: "PSCHED", UserID: "PA", Name: "Alice", Email: "alice@example.com", Start: at.Add(-time.Hour), End: at.Add(time.Hour)})
	srv.RateLimit(2)
	var slept []time.Duration
	s := pagerduty.New(config.OnCallPagerDuty{Token: "tok", ScheduleID: "PSCHED", APIURL: srv.URL}, client(t, &slept))
	shifts, err := s.Shifts(context.Background(), at, at.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(shifts) != 1 || shifts[0].People[0].Email != "alice@example.com" {
		t.Fatalf("shifts = %+v", shifts)
	}
	if len(slept) != 2 || slept[0] != pagerdutytest.RetryAfter {
		t.Errorf("waited %v, want twice %s", slept, pagerdutytest.RetryAfter)
	}
}

// TestErrors: a wrong token and a rate limit that does not end come back
// as their error kinds.
func TestErrors(t *testing.T) {
	srv := pagerdutytest.New("tok")
	defer srv.Close()
	var slept []time.Duration
	tests := []struct {
		name  string
		token string
		limit int
		want  string
	}{
		{"wrong token", "nope", 0, tebura.EUNAUTHENTICATED},
		{"rate limited beyond retries", "tok", oncall.MaxRetries + 1, tebura.ETRANSIENT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.RateLimit(tt.limit)
			s := pagerduty.New(config.OnCallPagerDuty{Token: config.Secret(tt.token), ScheduleID: "PSCHED", APIURL: srv.URL}, client(t, &slept))
			_, err := s.Shifts(context.Background(), at, at.Add(time.Hour))
			if got := tebura.ErrorCode(err); got != tt.want {
				t.Errorf("error %v has kind %q, want %q", err, got, tt.want)
			}
		})
	}
}
