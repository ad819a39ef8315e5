package incidenttest_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/incidenttest"
	"github.com/tebura/tebura/incident/source"
)

func TestRestamp(t *testing.T) {
	now := time.Date(2031, 5, 4, 3, 2, 1, 0, time.UTC)
	tests := []struct {
		name, in, want string
	}{
		{"latest becomes now, spacing kept",
			`{"startsAt":"2026-11-26T14:59:19Z","endsAt":"2026-11-26T15:00:27Z"}`,
			`{"startsAt":"2031-05-04T03:00:53Z","endsAt":"2031-05-04T03:02:01Z"}`},
		{"zero time kept",
			`{"startsAt":"2026-11-26T14:59:19Z","endsAt":"0001-01-01T00:00:00Z"}`,
			`{"startsAt":"2031-05-04T03:02:01Z","endsAt":"0001-01-01T00:00:00Z"}`},
		{"precision kept, offsets to UTC",
			`{"occurred_at": "2026-11-26T14:00:00.000Z", "created_at": "2026-11-26T15:00:00+01:00"}`,
			`{"occurred_at": "2031-05-04T03:02:01.000Z", "created_at": "2031-05-04T03:02:01Z"}`},
		{"no times", `{"state":"down"}`, `{"state":"down"}`},
		{"not a time", `{"id":"2026-11-26"}`, `{"id":"2026-11-26"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(incidenttest.Restamp([]byte(tt.in), now)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestRestampedExampleAnyDate sends the PagerDuty example of examples/,
// restamped, to a source whose clock is years past the date written in
// the file: its 48 h age check passes, which is what lets the tests that
// send it pass on any date.
func TestRestampedExampleAnyDate(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "examples", "pagerduty", "webhook-triggered.json"))
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().AddDate(7, 0, 0)
	for _, tt := range []struct {
		name string
		now  time.Time
		body []byte
		ok   bool
	}{
		{"restamped", time.Now(), incidenttest.Restamp(raw, time.Now()), true},
		{"restamped, years later", later, incidenttest.Restamp(raw, later), true},
		{"as written, years later", later, raw, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pd := source.NewPagerDuty(config.PagerDuty{WebhookSecret: "pd-secret"}, func() time.Time { return tt.now })
			if !json.Valid(tt.body) {
				t.Fatal("not JSON")
			}
			mac := hmac.New(sha256.New, []byte("pd-secret"))
			mac.Write(tt.body)
			req := httptest.NewRequest(http.MethodPost, "/hooks/pagerduty", bytes.NewReader(tt.body))
			req.Header.Set("X-PagerDuty-Signature", "v1="+hex.EncodeToString(mac.Sum(nil)))
			req.Header.Set("X-Webhook-Id", "w1")
			ingested := 0
			w := httptest.NewRecorder()
			source.Handler(pd, func(context.Context, incident.Batch) error { ingested++; return nil }, source.Limits{}, nil).ServeHTTP(w, req)
			if ok := w.Code == http.StatusOK && ingested == 1; ok != tt.ok {
				t.Errorf("at %s: %d %q, %d ingested; want accepted=%v", tt.now.Format(time.DateOnly), w.Code, w.Body, ingested, tt.ok)
			}
		})
	}
}
