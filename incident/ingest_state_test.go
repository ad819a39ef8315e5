package incident_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/incidenttest"
)

// stateBatch is a batch of a source that reports state (PagerDuty).
func stateBatch(alerts ...incident.Alert) incident.Batch {
	b := batch("events/k", alerts...)
	b.Source, b.StatusOnly = "pagerduty", true
	return b
}

// snapshot is everything stored about incident #1, to tell that a delivery
// wrote nothing.
func snapshot(t *testing.T, svc *incident.Service) string {
	t.Helper()
	inc, err := svc.Get(t.Context(), "1")
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := svc.Alerts(t.Context(), "1")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := svc.Timeline(t.Context(), "1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal([]any{inc, alerts, tl})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStatusOnlyRepeats: for a source that reports state, repeating the
// state an alert is in changes nothing (no write, no Change for the chat
// layer to redraw its card from), whatever the times of the notice; a
// change of state still counts.
func TestStatusOnlyRepeats(t *testing.T) {
	cs := &countingStore{Store: incidenttest.NewStore()}
	c := newClock()
	svc, err := incident.New(cs, config.Incidents{AutoResolve: true, ReopenWithin: time.Hour}, nil, c.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := c.Now().Add(-time.Minute)
	steps := []struct {
		name       string
		status     incident.AlertStatus
		starts     time.Time // each notice carries the time of its event
		wantChange bool
		wantStatus incident.Status
	}{
		{"triggered", incident.AlertFiring, t0, true, incident.StatusTriggered},
		{"triggered again, later", incident.AlertFiring, t0.Add(10 * time.Second), false, incident.StatusTriggered},
		{"resolved", incident.AlertResolved, t0.Add(20 * time.Second), true, incident.StatusResolved},
		{"resolved again, later", incident.AlertResolved, t0.Add(30 * time.Second), false, incident.StatusResolved},
		{"resolved again, earlier", incident.AlertResolved, t0.Add(-time.Hour), false, incident.StatusResolved},
		{"reopened", incident.AlertFiring, t0.Add(40 * time.Second), true, incident.StatusTriggered},
		{"resolved after the reopen, with an earlier time", incident.AlertResolved, t0.Add(-time.Hour), true, incident.StatusResolved},
	}
	before := ""
	for _, st := range steps {
		writes := cs.count()
		res := mustIngest(t, svc, stateBatch(alert("k", st.status, st.starts)))
		if got := len(res.Changes) > 0; got != st.wantChange {
			t.Fatalf("%s: changed %v (%+v), want %v", st.name, got, res, st.wantChange)
		}
		after := snapshot(t, svc)
		if !st.wantChange && (cs.count() != writes || after != before) {
			t.Errorf("%s: %d writes, stored state changed %v; want a no-op", st.name, cs.count()-writes, after != before)
		}
		if inc, _ := svc.Get(t.Context(), "1"); inc.Status != st.wantStatus {
			t.Errorf("%s: incident %s, want %s", st.name, inc.Status, st.wantStatus)
		}
		before = after
	}
}

// TestResolvedBy: a source that says who resolved the incident gets the
// credit (not "tebura … automatically"), with auto_resolve on or off; a
// second resolve by someone else changes nothing.
func TestResolvedBy(t *testing.T) {
	for _, auto := range []bool{true, false} {
		svc, _, c := newService(t, config.Incidents{AutoResolve: auto}, nil)
		t0 := c.Now().Add(-time.Minute)
		mustIngest(t, svc, stateBatch(alert("k", incident.AlertFiring, t0)))
		resolved := stateBatch(alert("k", incident.AlertResolved, t0.Add(time.Minute)))
		resolved.ResolvedBy = "pagerduty:Alice"
		ch := one(t, mustIngest(t, svc, resolved))
		if !ch.Resolved || ch.Incident.Status != incident.StatusResolved || ch.Incident.ResolvedBy != "pagerduty:Alice" {
			t.Fatalf("auto_resolve %v: resolved %v, %s by %q; want resolved by pagerduty:Alice", auto, ch.Resolved, ch.Incident.Status, ch.Incident.ResolvedBy)
		}
		tl, err := svc.Timeline(t.Context(), "1")
		if err != nil {
			t.Fatal(err)
		}
		var resolves []string
		for _, e := range tl {
			if e.Kind == incident.KindResolved {
				resolves = append(resolves, e.Actor+": "+e.Text)
			}
		}
		if want := "pagerduty:Alice: Resolved in pagerduty by pagerduty:Alice"; len(resolves) != 1 || resolves[0] != want {
			t.Errorf("auto_resolve %v: resolve entries %q, want [%q]", auto, resolves, want)
		}
		resolved.ResolvedBy = "pagerduty:Bob"
		if res := mustIngest(t, svc, resolved); len(res.Changes) != 0 {
			t.Errorf("auto_resolve %v: a repeated resolve changed %+v", auto, res)
		}
	}
}

// TestDefaultSeverity: a severity outside config.Severities becomes the
// batch's DefaultSeverity, noted on the timeline; the labels keep what was
// sent. A batch without DefaultSeverity keeps any severity.
func TestDefaultSeverity(t *testing.T) {
	tests := []struct {
		name         string
		batchSev     string // Batch.Severity
		labelSev     string // the alerts' common severity label
		def          string
		wantSeverity string
		wantNote     string // substring of the timeline note; "" for none
	}{
		{"known", "critical", "", "warning", "critical", ""},
		{"unknown", "page", "", "warning", "warning", `Severity "page" from alertmanager is not one of critical, error, warning, info; the incident is warning`},
		{"unknown from the labels", "", "P1", "error", "error", `Severity "P1"`},
		{"case matters", "Critical", "", "info", "info", `Severity "Critical"`},
		{"none", "", "", "warning", "", ""},
		{"no default: kept as sent", "sev1", "", "", "sev1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _, c := newService(t, defaultCfg, nil)
			b := batch("g", alert("a1", incident.AlertFiring, c.Now()))
			b.Severity, b.DefaultSeverity = tt.batchSev, tt.def
			delete(b.Labels, "severity")
			if tt.labelSev != "" {
				b.Labels["severity"] = tt.labelSev
			}
			ch := one(t, mustIngest(t, svc, b))
			if ch.Incident.Severity != tt.wantSeverity {
				t.Errorf("severity %q, want %q", ch.Incident.Severity, tt.wantSeverity)
			}
			if ch.Incident.Labels["severity"] != tt.labelSev {
				t.Errorf("severity label %q, want it kept as sent (%q)", ch.Incident.Labels["severity"], tt.labelSev)
			}
			tl, err := svc.Timeline(t.Context(), "1")
			if err != nil {
				t.Fatal(err)
			}
			var notes []string
			for _, e := range tl {
				if e.Kind == incident.KindSeverity {
					notes = append(notes, e.Text)
				}
			}
			switch {
			case tt.wantNote == "" && len(notes) != 0:
				t.Errorf("notes %q, want none", notes)
			case tt.wantNote != "" && (len(notes) != 1 || !strings.Contains(notes[0], tt.wantNote)):
				t.Errorf("notes %q, want one with %q", notes, tt.wantNote)
			}
		})
	}
}

// TestTitleFollowsSource: a title the source words itself (a PagerDuty
// event's summary) follows its latest firing notice.
func TestTitleFollowsSource(t *testing.T) {
	svc, _, c := newService(t, defaultCfg, nil)
	t0 := c.Now().Add(-time.Minute)
	b := stateBatch(alert("k", incident.AlertFiring, t0))
	b.Title = "Disk 90% on db-1"
	mustIngest(t, svc, b)
	b.Title = "Disk 95% on db-1"
	if ch := one(t, mustIngest(t, svc, b)); ch.Incident.Title != "Disk 95% on db-1" {
		t.Errorf("title %q after a new summary, want the new one", ch.Incident.Title)
	}
	if res := mustIngest(t, svc, b); len(res.Changes) != 0 {
		t.Errorf("the same title again changed %+v", res)
	}
	resolved := stateBatch(alert("k", incident.AlertResolved, t0))
	resolved.Title = "Disk back to 40% on db-1"
	if ch := one(t, mustIngest(t, svc, resolved)); ch.Incident.Title != "Disk 95% on db-1" {
		t.Errorf("title %q after the resolve, want the last firing one", ch.Incident.Title)
	}
}
