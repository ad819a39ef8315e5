package metrics_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/metrics"
)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func alertBatch(source, delivery, key, severity string, status incident.AlertStatus) incident.Batch {
	return incident.Batch{Source: source, DeliveryID: delivery, GroupKey: key, Severity: severity,
		Labels: map[string]string{"alertname": "DiskFull"},
		Alerts: []incident.Alert{{Source: source, Fingerprint: "fp-" + key, Status: status,
			Labels: map[string]string{"alertname": "DiskFull"}, StartsAt: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}}}
}

func TestIncidentStore(t *testing.T) {
	ctx := context.Background()
	m := metrics.New(metrics.BuildInfo{})
	clk := &clock{now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
	svc, err := incident.New(m.IncidentStore(openStore(t)), config.Incidents{AutoResolve: true}, nil, clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}

	// Declared SEV1: acked after 5 minutes, resolved after an hour.
	ch, err := svc.Declare(ctx, "Checkout is failing", "SEV1", "console:alice")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(5 * time.Minute)
	if _, err := svc.Ack(ctx, ch.Incident.ID, "console:bob"); err != nil {
		t.Fatal(err)
	}
	// A refused change (acked twice) commits nothing and counts nothing.
	if _, err := svc.Ack(ctx, ch.Incident.ID, "console:bob"); tebura.ErrorCode(err) != tebura.ECONFLICT {
		t.Fatalf("second ack = %v", err)
	}
	clk.Add(55 * time.Minute)
	if _, err := svc.Resolve(ctx, ch.Incident.ID, "console:bob", "rolled back"); err != nil {
		t.Fatal(err)
	}

	// PagerDuty-style deliveries: the same delivery twice is one incident
	// and one dedupe hit; the resolve arrives 2 minutes later, never acked.
	for _, b := range []incident.Batch{
		alertBatch("pagerduty", "D1", "k1", "critical", incident.AlertFiring),
		alertBatch("pagerduty", "D1", "k1", "critical", incident.AlertFiring),
	} {
		if _, err := svc.Ingest(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(2 * time.Minute)
	if _, err := svc.Ingest(ctx, alertBatch("pagerduty", "D2", "k1", "critical", incident.AlertResolved)); err != nil {
		t.Fatal(err)
	}
	// Open without severity.
	if _, err := svc.Ingest(ctx, alertBatch("alertmanager", "", "k2", "", incident.AlertFiring)); err != nil {
		t.Fatal(err)
	}

	checks := []struct {
		family string
		want   map[string]sample
	}{
		{"tebura_incidents_opened_total", map[string]sample{
			"severity=sev1": {Value: 1}, "severity=critical": {Value: 1}, "severity=none": {Value: 1}}},
		{"tebura_incident_time_to_ack_seconds", map[string]sample{
			"severity=sev1": {Count: 1, Sum: 300}}},
		{"tebura_incident_time_to_resolve_seconds", map[string]sample{
			"severity=sev1": {Count: 1, Sum: 3600}, "severity=critical": {Count: 1, Sum: 120}}},
		{"tebura_dedupe_checks_total", map[string]sample{
			"result=miss,scope=delivery/pagerduty": {Value: 2}, "result=hit,scope=delivery/pagerduty": {Value: 1}}},
	}
	for _, c := range checks {
		if got := series(t, m, c.family); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %v, want %v", c.family, got, c.want)
		}
	}

	// ObserveIncident feeds the same histograms; negative means unknown.
	m.ObserveIncident("SEV1", 10*time.Second, -1)
	if got := series(t, m, "tebura_incident_time_to_ack_seconds")["severity=sev1"]; got.Count != 2 || got.Sum != 310 {
		t.Errorf("after ObserveIncident: mtta %+v", got)
	}
	if got := series(t, m, "tebura_incident_time_to_resolve_seconds")["severity=sev1"]; got.Count != 1 {
		t.Errorf("after ObserveIncident: mttr %+v, want unchanged", got)
	}
}

// TestSeverityBounded: alert senders choose severities; the label keeps at
// most 16 values.
func TestSeverityBounded(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{})
	for i := range 40 {
		m.ObserveIncident(string(rune('a'+i%26))+string(rune('a'+i/26)), time.Second, time.Second)
	}
	got := series(t, m, "tebura_incident_time_to_ack_seconds")
	if len(got) != 17 || got["severity=other"].Count != 24 {
		t.Errorf("%d series, other=%+v: want 16 kept and 24 as other", len(got), got["severity=other"])
	}
}

// TestGroupsFoldedCounted: each new group over the storm limits counts
// once in tebura_incident_groups_folded_total; repeats of a folded group
// do not, and the overflow incident counts as opened like any other.
func TestGroupsFoldedCounted(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{})
	svc, err := incident.New(m.IncidentStore(openStore(t)), config.Incidents{MaxOpen: 1}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"a", "b", "c", "d", "c"} {
		if _, err := svc.Ingest(t.Context(), alertBatch("alertmanager", "", key, "critical", incident.AlertFiring)); err != nil {
			t.Fatal(err)
		}
	}
	if got := value(t, m, "tebura_incident_groups_folded_total", ""); got != 3 {
		t.Errorf("folded = %v, want 3 (b, c and d; c's repeat is no new group)", got)
	}
	opened := 0.0
	for _, s := range series(t, m, "tebura_incidents_opened_total") {
		opened += s.Value
	}
	if opened != 2 {
		t.Errorf("opened = %v, want 2 (a and the overflow incident)", opened)
	}
}
