package source_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/incidenttest"
	"github.com/tebura/tebura/incident/source"
)

// pdEvent is a signed v3 webhook body of an event of the PagerDuty incident
// PGR0VU2, occurred at at, by agent (nil for none), with its own event.id.
func pdEvent(id, eventType string, at time.Time, agent map[string]string) string {
	ev := map[string]any{"event": map[string]any{
		"id": id, "event_type": eventType, "resource_type": strings.SplitN(eventType, ".", 2)[0],
		"occurred_at": at.UTC().Format(time.RFC3339), "agent": agent,
		"data": map[string]any{"id": "PGR0VU2", "type": "incident", "title": "API 5xx above 5%", "urgency": "high",
			"html_url": "https://acme.pagerduty.com/incidents/PGR0VU2", "service": map[string]string{"id": "PSVC", "summary": "checkout-api"}},
	}}
	b, _ := json.Marshal(ev)
	return string(b)
}

// pdWebhookHarness is the PagerDuty source's handler over the incident
// service, with a clock the events are stamped against.
type pdWebhookHarness struct {
	t    *testing.T
	now  time.Time
	svc  *incident.Service
	h    http.Handler
	last incident.Result
}

func newPDWebhookHarness(t *testing.T) *pdWebhookHarness {
	x := &pdWebhookHarness{t: t, now: time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return x.now }
	svc, err := incident.New(incidenttest.NewStore(), config.Incidents{AutoResolve: true}, nil, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	x.svc = svc
	x.h = source.Handler(source.NewPagerDuty(config.PagerDuty{WebhookSecret: "pdsecret"}, clock),
		source.Ingester(svc.Ingest, func(_ context.Context, r incident.Result) { x.last = r }), source.Limits{}, nil)
	return x
}

func (x *pdWebhookHarness) send(body string) (int, string) {
	x.t.Helper()
	x.last = incident.Result{}
	w := post(x.h, "/hooks/pagerduty", []byte(body), map[string]string{"X-PagerDuty-Signature": "v1=" + sign("pdsecret", body)})
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		x.t.Errorf("v3 webhook answered with Content-Type %q; want the handler's text", ct)
	}
	return w.Code, strings.TrimSpace(w.Body.String())
}

var alice = map[string]string{"id": "PAGENT", "summary": "Alice", "type": "user_reference"}

// TestPagerDutyResolvedByAgent: incident.resolved credits the agent who
// resolved it in PagerDuty, not Tebura.
func TestPagerDutyResolvedByAgent(t *testing.T) {
	x := newPDWebhookHarness(t)
	x.send(pdEvent("E1", "incident.triggered", x.now.Add(-2*time.Minute), nil))
	if code, msg := x.send(pdEvent("E2", "incident.resolved", x.now.Add(-time.Minute), alice)); code != 200 || msg != "ok" {
		t.Fatalf("resolved: %d %q", code, msg)
	}
	c := x.last.Changes
	if len(c) != 1 || !c[0].Resolved || c[0].Incident.ResolvedBy != "pagerduty:Alice" {
		t.Fatalf("resolved: %+v; want the incident resolved by pagerduty:Alice", x.last)
	}
	if c[0].Incident.Severity != "critical" || c[0].Incident.Labels["urgency"] != "high" {
		t.Errorf("severity %q, labels %v: want urgency high read as critical and kept as a label", c[0].Incident.Severity, c[0].Incident.Labels)
	}
}

// TestPagerDutyOldIgnorableEvents: the age check applies to the events that
// change something; an old event of a type Tebura does not follow is
// answered 200 and ignored, not refused (PagerDuty counts a 4xx against
// the subscription).
func TestPagerDutyOldIgnorableEvents(t *testing.T) {
	x := newPDWebhookHarness(t)
	old := x.now.Add(-3 * 24 * time.Hour)
	tests := []struct {
		name, body string
		code       int
		msg        string
	}{
		{"service event", pdEvent("E1", "service.updated", old, alice), 200, "ignored"},
		{"incident event not followed", pdEvent("E2", "incident.annotated", old, alice), 200, "ignored"},
		{"priority update", pdEvent("E3", "incident.priority_updated", old, alice), 200, "ignored"},
		{"followed event", pdEvent("E4", "incident.triggered", old, alice), 400, "older than 48h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, msg := x.send(tt.body)
			if code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Errorf("%d %q, want %d with %q", code, msg, tt.code, tt.msg)
			}
		})
	}
	if list, _ := x.svc.List(t.Context(), incident.ListOptions{}); len(list) != 0 {
		t.Errorf("old events opened %d incidents", len(list))
	}
}

// TestPagerDutyRepeatedState: an event that repeats the state the incident
// is in (acknowledged twice, resolved twice, unacknowledged while
// triggered) writes nothing about the incident and returns no Change, so
// the chat layer does not edit the card.
func TestPagerDutyRepeatedState(t *testing.T) {
	x := newPDWebhookHarness(t)
	at := x.now.Add(-10 * time.Minute)
	steps := []struct {
		body       string
		wantChange bool
	}{
		{pdEvent("E1", "incident.triggered", at, nil), true},
		{pdEvent("E2", "incident.unacknowledged", at.Add(time.Minute), nil), false},
		{pdEvent("E3", "incident.acknowledged", at.Add(2*time.Minute), alice), true},
		{pdEvent("E4", "incident.acknowledged", at.Add(3*time.Minute), map[string]string{"summary": "Bob"}), false},
		{pdEvent("E5", "incident.resolved", at.Add(4*time.Minute), alice), true},
		{pdEvent("E6", "incident.resolved", at.Add(5*time.Minute), map[string]string{"summary": "Bob"}), false},
		{pdEvent("E7", "incident.resolved", at.Add(6*time.Minute), nil), false},
	}
	before := ""
	for i, st := range steps {
		if code, msg := x.send(st.body); code != 200 {
			t.Fatalf("step %d: %d %s", i, code, msg)
		}
		if got := len(x.last.Changes) > 0; got != st.wantChange {
			t.Errorf("step %d: changed %v (%+v), want %v", i, got, x.last, st.wantChange)
		}
		after := stored(t, x.svc)
		if !st.wantChange && after != before {
			t.Errorf("step %d: a repeat changed what is stored:\n%s\nwas\n%s", i, after, before)
		}
		before = after
	}
	inc, _ := x.svc.Get(t.Context(), "1")
	if inc.Status != incident.StatusResolved || inc.AckedBy != "pagerduty:Alice" || inc.ResolvedBy != "pagerduty:Alice" {
		t.Errorf("incident %s acked by %q resolved by %q; want both by pagerduty:Alice", inc.Status, inc.AckedBy, inc.ResolvedBy)
	}
}

// stored is the incident #1, its alerts and its timeline as JSON.
func stored(t *testing.T, svc *incident.Service) string {
	t.Helper()
	inc, err := svc.Get(t.Context(), "1")
	if err != nil {
		t.Fatal(err)
	}
	alerts, _ := svc.Alerts(t.Context(), "1")
	tl, _ := svc.Timeline(t.Context(), "1")
	b, _ := json.Marshal([]any{inc, alerts, tl})
	return string(b)
}
