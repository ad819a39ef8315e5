package incident_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/incident"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestPostmortemGolden scripts an incident from alert to auto-resolve and
// compares its postmortem with testdata/postmortem.golden.
func TestPostmortemGolden(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, testAutomations)
	ctx := t.Context()
	t0 := clk.Now().Add(-3 * time.Minute)
	b := batch("{}:{alertname=\"HighLatency\", service=\"api\"}",
		alert("055f8b388da2667a", incident.AlertFiring, t0, "env", "prod"),
		alert("79a867af62fa774d", incident.AlertFiring, t0, "env", "prod"))
	b.Labels["env"] = "prod"
	b.Annotations = map[string]string{"runbook_url": "https://runbooks.example.com/high-latency", "dashboard": "https://grafana.example.com/d/api"}
	mustIngest(t, svc, b)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(5 * time.Second)
	_, _, err := svc.AttachChannel(ctx, "#1", incident.Channel{Platform: "slack", ID: "C042", Name: "inc-1-api-latency"})
	must(err)
	// The reaction layer's bookkeeping: stored, but not in the postmortem.
	must(svc.AddTimeline(ctx, "#1", incident.TimelineEntry{Actor: incident.ActorTebura, Kind: incident.KindBookkeeping + "channel",
		Text: "Channel inc-1-api-latency created", Data: map[string]string{"channel": "C042", "mode": "created"}}))
	must(svc.AddTimeline(ctx, "#1", incident.TimelineEntry{Actor: incident.ActorTebura, Kind: incident.KindBookkeeping + "card",
		Text: "Incident card posted", Data: map[string]string{"message": "1700000000.000100"}}))
	clk.Advance(10 * time.Second)
	must(svc.AddTimeline(ctx, "#1", incident.TimelineEntry{Actor: "automation:api-latency", Kind: incident.KindRun,
		Text: "r1 api-health succeeded in 4s", Data: map[string]string{"run": "r1", "log": "https://tebura.example.com/runs/r1/log"}}))
	clk.Advance(90 * time.Second)
	_, err = svc.Ack(ctx, "#1", "slack:U02ALICE")
	must(err)
	_, err = svc.SetCommander(ctx, "#1", "slack:U02ALICE", "slack:U02ALICE")
	must(err)
	clk.Advance(time.Minute)
	must(svc.AddTimeline(ctx, "#1", incident.TimelineEntry{Actor: "slack:U02ALICE", Kind: incident.KindCommand, Text: "/runbook run restart-api env=prod"}))
	clk.Advance(30 * time.Second)
	must(svc.AddTimeline(ctx, "#1", incident.TimelineEntry{Actor: "slack:U03BOB", Kind: incident.KindApproval, Text: "Approved r2 restart-api"}))
	clk.Advance(40 * time.Second)
	must(svc.AddTimeline(ctx, "#1", incident.TimelineEntry{Actor: "slack:U02ALICE", Kind: incident.KindRun,
		Text: "r2 restart-api succeeded in 38s", Data: map[string]string{"run": "r2", "log": "https://tebura.example.com/runs/r2/log"}}))
	must(svc.Note(ctx, "#1", "slack:U02ALICE", "Latency back to normal | p99 0.4s"))
	clk.Advance(2 * time.Minute)
	resolved := batch(b.GroupKey,
		alert("055f8b388da2667a", incident.AlertResolved, t0), alert("79a867af62fa774d", incident.AlertResolved, t0))
	resolved.Labels["env"] = "prod"
	mustIngest(t, svc, resolved)

	inc, err := svc.Get(ctx, "#1")
	must(err)
	tl, err := svc.Timeline(ctx, "#1")
	must(err)
	base := time.Date(2026, 3, 1, 9, 30, 15, 0, time.UTC)
	runs := []incident.RunSummary{
		{ID: "r1", Runbook: "api-health", Kind: "diagnostic", State: "succeeded", RequestedBy: "automation:api-latency",
			StartedAt: base, EndedAt: base.Add(4 * time.Second), LogURL: "https://tebura.example.com/runs/r1/log"},
		{ID: "r2", Runbook: "restart-api", Kind: "remediation", State: "succeeded", RequestedBy: "slack:U02ALICE",
			ApprovedBy: []string{"slack:U03BOB"}, StartedAt: base.Add(4 * time.Minute), EndedAt: base.Add(4*time.Minute + 38*time.Second),
			LogCommand: "/runbook logs r2"},
		{ID: "r3", Runbook: "api-health", Kind: "diagnostic", State: "failed", RequestedBy: "slack:U03BOB", ExitCode: 2,
			StartedAt: base.Add(5 * time.Minute), EndedAt: base.Add(5*time.Minute + time.Second)},
	}
	if incident.Bookkeeping(incident.KindRun) || !incident.Bookkeeping(incident.KindBookkeeping+"card") {
		t.Fatal("Bookkeeping misclassifies kinds")
	}
	got := incident.Postmortem(inc, tl, runs)
	if strings.Contains(got, "Incident card posted") || strings.Contains(got, incident.KindBookkeeping) {
		t.Errorf("the postmortem shows the reaction layer's bookkeeping:\n%s", got)
	}
	path := filepath.Join("testdata", "postmortem.golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("postmortem differs from %s (run with -update after checking):\n%s", path, got)
	}
}
