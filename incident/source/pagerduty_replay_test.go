package source_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/incidenttest"
	"github.com/tebura/tebura/incident/source"
)

// TestPagerDutyReplay replays captured signed v3 bodies. The signature
// covers only the body, so whoever captured one can send it again with any
// X-Webhook-Id (or none): that must change nothing, and a body older than
// PagerDuty's retry window is refused outright.
func TestPagerDutyReplay(t *testing.T) {
	now := pdNow()
	svc, err := incident.New(incidenttest.NewStore(), config.Incidents{AutoResolve: true}, nil, func() time.Time { return now }, nil)
	if err != nil {
		t.Fatal(err)
	}
	var last incident.Result
	ingested := 0
	h := source.Handler(source.NewPagerDuty(config.PagerDuty{WebhookSecret: "pdsecret"}, func() time.Time { return now }),
		source.Ingester(svc.Ingest, func(_ context.Context, r incident.Result) { last = r; ingested++ }), source.Limits{}, nil)
	send := func(body, webhookID string) (int, string) {
		t.Helper()
		hdr := map[string]string{"X-PagerDuty-Signature": "v1=" + sign("pdsecret", body)}
		if webhookID != "" {
			hdr["X-Webhook-Id"] = webhookID
		}
		last = incident.Result{}
		w := post(h, "/hooks/pagerduty", []byte(body), hdr)
		return w.Code, strings.TrimSpace(w.Body.String())
	}
	state := func() (incident.Status, int) { // status, times reopened
		t.Helper()
		inc, err := svc.Get(t.Context(), "1")
		if err != nil {
			t.Fatal(err)
		}
		return inc.Status, inc.Reopened
	}

	triggered := pdWebhook("incident.triggered", "2026-11-26T14:00:00Z")
	resolved := pdWebhook("incident.resolved", "2026-11-26T14:02:00Z")
	if code, msg := send(triggered, "wh-1"); code != 200 || len(last.Opened()) != 1 {
		t.Fatalf("triggered: %d %s %+v", code, msg, last)
	}
	if code, msg := send(resolved, "wh-2"); code != 200 || len(last.Changes) != 1 || !last.Changes[0].Resolved {
		t.Fatalf("resolved: %d %s %+v", code, msg, last)
	}
	wantStatus, wantReopened := state()
	if wantStatus != incident.StatusResolved {
		t.Fatalf("after resolved: %s", wantStatus)
	}

	// The captured "triggered" body would reopen the incident (and re-run
	// its channel and diagnostics) if the header decided what is new.
	for _, id := range []string{"wh-1", "wh-replayed", ""} {
		if code, msg := send(triggered, id); code != 200 || !last.Duplicate || len(last.Changes) != 0 {
			t.Errorf("triggered replayed with X-Webhook-Id %q: %d %s %+v; want a duplicate that changes nothing", id, code, msg, last)
		}
		if s, n := state(); s != wantStatus || n != wantReopened {
			t.Errorf("triggered replayed with X-Webhook-Id %q: incident %s reopened %d times; want %s reopened %d times", id, s, n, wantStatus, wantReopened)
		}
	}

	// Past the retry window a body is refused before ingest, however it is
	// labelled: its event.id may be forgotten by then.
	now = now.Add(source.MaxPagerDutyEventAge)
	before := ingested
	code, msg := send(pdWebhook("incident.reopened", "2026-11-26T14:05:00Z"), "wh-new")
	if code != http.StatusBadRequest || !strings.Contains(msg, "occurred_at") || ingested != before {
		t.Errorf("event older than %s: %d %q, ingested %d; want 400 naming occurred_at and nothing ingested", source.MaxPagerDutyEventAge, code, msg, ingested-before)
	}
	if s, n := state(); s != wantStatus || n != wantReopened {
		t.Errorf("after the stale event: incident %s reopened %d times; want %s reopened %d times", s, n, wantStatus, wantReopened)
	}
	// Just inside the window is still accepted (PagerDuty's last retries).
	if code, msg := send(pdWebhook("incident.reopened", "2026-11-28T14:00:00Z"), "wh-late"); code != 200 {
		t.Errorf("event inside the window: %d %s", code, msg)
	}
}

// TestPagerDutyWebhookFields refuses signed v3 incident events that lack
// what dedupe and the replay window rely on.
func TestPagerDutyWebhookFields(t *testing.T) {
	p := source.NewPagerDuty(config.PagerDuty{Insecure: true}, pdNow)
	tests := map[string]string{
		`{"event":{"event_type":"incident.triggered","resource_type":"incident","occurred_at":"2026-11-26T14:00:00Z","data":{"id":"P1"}}}`:           "event.id is missing",
		`{"event":{"id":"E1","event_type":"incident.triggered","resource_type":"incident","data":{"id":"P1"}}}`:                                      "event.occurred_at is missing",
		`{"event":{"id":"E1","event_type":"incident.triggered","resource_type":"incident","occurred_at":"2026-11-24T14:59:59Z","data":{"id":"P1"}}}`: "older than",
	}
	for body, want := range tests {
		_, err := p.Parse(http.Header{}, []byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want %q", body, err, want)
		}
	}
	b, err := p.Parse(http.Header{"X-Webhook-Id": {"w1"}}, []byte(pdWebhook("incident.triggered", "2026-11-26T14:00:00Z")))
	if err != nil || !strings.HasPrefix(b.DeliveryID, "event/01") {
		t.Errorf("DeliveryID = %q, %v; want the signed event.id", b.DeliveryID, err)
	}
}
