package grafana_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/oncall"
	"github.com/tebura/tebura/oncall/grafana"
	"github.com/tebura/tebura/oncall/grafana/grafanatest"
)

var at = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

func client(slept *[]time.Duration) *http.Client {
	return &http.Client{Transport: &oncall.RetryTransport{Sleep: func(_ context.Context, d time.Duration) error {
		*slept = append(*slept, d)
		return nil
	}}}
}

// TestNowAndNextFollowsNext: 8-hour shifts over two weeks span several
// pages; every page is read by its "next" link.
func TestNowAndNextFollowsNext(t *testing.T) {
	srv := grafanatest.New("key")
	srv.PageSize = 10
	defer srv.Close()
	base := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for k := range 45 {
		who := []string{"alice", "bob", "carol"}[k%3]
		srv.Add(grafanatest.Shift{ScheduleID: "SCHED", UserPK: "U" + who, Email: who + "@example.com", Username: who,
			Start: base.Add(time.Duration(k) * 8 * time.Hour), End: base.Add(time.Duration(k+1) * 8 * time.Hour)})
	}
	var slept []time.Duration
	s := grafana.New(config.OnCallGrafana{APIURL: srv.URL, Token: "key", ScheduleID: "SCHED"}, client(&slept))
	now, next, err := oncall.NowAndNext(context.Background(), s, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(now.People) != 1 || now.People[0].Email != "alice@example.com" || !now.End.Equal(base.Add(8*time.Hour)) {
		t.Errorf("now = %+v, want alice until 16:00", now)
	}
	if len(next.People) != 1 || next.People[0].Name != "bob" {
		t.Errorf("next = %+v, want bob", next)
	}
	if srv.Requests() != 5 {
		t.Errorf("requests = %d, want 5 pages of 10", srv.Requests())
	}
}

func TestRateLimitAndErrors(t *testing.T) {
	srv := grafanatest.New("key")
	defer srv.Close()
	srv.Add(grafanatest.Shift{ScheduleID: "SCHED", UserPK: "UA", Email: "alice@example.com", Username: "alice", Start: at.Add(-time.Hour), End: at.Add(time.Hour)})
	var slept []time.Duration
	s := grafana.New(config.OnCallGrafana{APIURL: srv.URL, Token: "key", ScheduleID: "SCHED"}, client(&slept))
	srv.RateLimit(1)
	shifts, err := s.Shifts(context.Background(), at, at.Add(time.Hour))
	if err != nil || len(shifts) != 1 {
		t.Fatalf("shifts = %v, %v", shifts, err)
	}
	if fmt.Sprint(slept) != fmt.Sprint([]time.Duration{grafanatest.RetryAfter}) {
		t.Errorf("waited %v, want %s", slept, grafanatest.RetryAfter)
	}
	srv.ServiceAccountToken, srv.StackURL = "glsa_token", "https://ops.grafana.net"
	tests := []struct {
		name, token, stack, id, want string
	}{
		{"wrong token", "nope", "", "SCHED", tebura.EUNAUTHENTICATED},
		{"unknown schedule", "key", "", "SNONE", tebura.ENOTFOUND},
		{"service account token without the stack", "glsa_token", "", "SCHED", tebura.EUNAUTHENTICATED},
		{"service account token with the stack", "glsa_token", "https://ops.grafana.net", "SCHED", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := grafana.New(config.OnCallGrafana{APIURL: srv.URL, Token: config.Secret(tt.token), StackURL: tt.stack, ScheduleID: tt.id}, client(&slept))
			_, err := s.Shifts(context.Background(), at, at.Add(time.Hour))
			if got := tebura.ErrorCode(err); got != tt.want && !(tt.want == "" && err == nil) {
				t.Errorf("error %v has kind %q, want %q", err, got, tt.want)
			}
		})
	}
}
