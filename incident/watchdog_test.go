package incident_test

import (
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// TestWatchdog: the watchdog alert opens no incident and runs no rule,
// even a rule matching everything; it keeps the watchdog fed. Missing it
// for missing_after is reported once, and its return once.
func TestWatchdog(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, []config.Automation{{Name: "all", Match: []string{`alertname=~".+"`}, Diagnostics: []string{"check"}}})
	w, err := incident.NewWatchdog(config.Watchdog{Source: "alertmanager", Match: []string{`alertname="Watchdog"`}, MissingAfter: 10 * time.Minute}, clk.Now())
	if err != nil || w == nil {
		t.Fatalf("NewWatchdog = %v, %v", w, err)
	}
	svc.Watch(w)
	watchdog := func(status incident.AlertStatus) incident.Batch {
		b := batch("{}:{alertname=\"Watchdog\"}", alert("wd", status, clk.Now().Add(-time.Hour), "alertname", "Watchdog"))
		b.Labels = map[string]string{"alertname": "Watchdog"}
		return b
	}

	if got := w.Check(clk.Now()); got != incident.WatchdogSame {
		t.Fatalf("at start: %v, want nothing to report", got)
	}
	clk.Advance(11 * time.Minute)
	if _, missing := w.Status(clk.Now()); !missing {
		t.Fatal("never seen in 11 minutes, not missing")
	}
	if got := w.Check(clk.Now()); got != incident.WatchdogMissing {
		t.Fatalf("11 minutes without it: %v, want missing", got)
	}
	if got := w.Check(clk.Now()); got != incident.WatchdogSame {
		t.Fatalf("missing reported twice: %v", got)
	}

	if res := mustIngest(t, svc, watchdog(incident.AlertFiring)); len(res.Changes) != 0 {
		t.Fatalf("the watchdog alert changed incidents: %+v", res.Changes)
	}
	if seen, missing := w.Status(clk.Now()); missing || !seen.Equal(clk.Now().UTC()) {
		t.Errorf("after it arrived: seen %v missing %v", seen, missing)
	}
	if got := w.Check(clk.Now()); got != incident.WatchdogBack {
		t.Errorf("after it arrived: %v, want back", got)
	}

	// Beside another alert of the same batch, only the other one counts.
	b := watchdog(incident.AlertFiring)
	b.GroupKey = "{}:{}"
	b.Labels = nil
	b.Alerts = append(b.Alerts, alert("real", incident.AlertFiring, clk.Now()))
	c := one(t, mustIngest(t, svc, b))
	if !c.Opened || c.Incident.AlertCount != 1 || len(c.NewAlerts) != 1 || c.NewAlerts[0].Fingerprint != "real" {
		t.Errorf("mixed batch: %+v, want an incident of the other alert alone", c)
	}

	// A resolved watchdog notice is no heartbeat, and opens nothing.
	clk.Advance(11 * time.Minute)
	if res := mustIngest(t, svc, watchdog(incident.AlertResolved)); len(res.Changes) != 0 {
		t.Fatalf("a resolved watchdog alert changed incidents: %+v", res.Changes)
	}
	if got := w.Check(clk.Now()); got != incident.WatchdogMissing {
		t.Errorf("resolved only: %v, want missing", got)
	}
	list, err := svc.List(t.Context(), incident.ListOptions{})
	if err != nil || len(list) != 1 {
		t.Errorf("incidents: %d (%v), want the one of the other alert", len(list), err)
	}

	// From another source it is an alert like any other.
	b = watchdog(incident.AlertFiring)
	b.Source = "grafana"
	if c := one(t, mustIngest(t, svc, b)); !c.Opened {
		t.Errorf("a Watchdog alert from grafana is not the configured one: %+v", c)
	}
}
