package incident_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/incidenttest"
	"github.com/tebura/tebura/store/storetest"
)

// clock is a manual clock.
type clock = storetest.Clock

func newClock() *clock { return storetest.NewClock(storetest.Epoch()) }

var defaultCfg = config.Incidents{AutoResolve: true, ReopenWithin: 30 * time.Minute}

func newService(t *testing.T, cfg config.Incidents, autos []config.Automation) (*incident.Service, *incidenttest.Store, *clock) {
	t.Helper()
	rules, err := incident.CompileRules(autos)
	if err != nil {
		t.Fatal(err)
	}
	st := incidenttest.NewStore()
	c := newClock()
	svc, err := incident.New(st, cfg, rules, c.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	return svc, st, c
}

func alert(fp string, status incident.AlertStatus, starts time.Time, labels ...string) incident.Alert {
	ls := map[string]string{"alertname": "HighLatency", "service": "api", "instance": fp}
	for i := 0; i+1 < len(labels); i += 2 {
		ls[labels[i]] = labels[i+1]
	}
	return incident.Alert{Source: "alertmanager", Fingerprint: fp, Status: status, Labels: ls, StartsAt: starts}
}

func batch(key string, alerts ...incident.Alert) incident.Batch {
	return incident.Batch{Source: "alertmanager", GroupKey: key,
		Labels: map[string]string{"alertname": "HighLatency", "service": "api", "severity": "critical"}, Alerts: alerts}
}

func mustIngest(t *testing.T, svc *incident.Service, b incident.Batch) incident.Result {
	t.Helper()
	res, err := svc.Ingest(t.Context(), b)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	return res
}

func one(t *testing.T, res incident.Result) incident.Change {
	t.Helper()
	if len(res.Changes) != 1 {
		t.Fatalf("got %d changes, want 1: %+v", len(res.Changes), res)
	}
	return res.Changes[0]
}

func TestIngestLifecycle(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, nil)
	t0 := clk.Now().Add(-time.Minute)

	c := one(t, mustIngest(t, svc, batch("g1", alert("a1", incident.AlertFiring, t0))))
	if !c.Opened || c.Incident.Number != 1 || c.Incident.ID != "i1" || len(c.NewAlerts) != 1 || !c.Actions.OpenChannel {
		t.Fatalf("first alert: %+v", c)
	}
	if c.Incident.Title != "HighLatency on api" || c.Incident.Severity != "critical" || !c.Incident.DetectedAt.Equal(t0) {
		t.Errorf("derived fields: title %q sev %q detected %v", c.Incident.Title, c.Incident.Severity, c.Incident.DetectedAt)
	}
	if c.Actions.ChannelName != "inc-1-highlatency-on-api" {
		t.Errorf("channel name %q", c.Actions.ChannelName)
	}

	clk.Advance(time.Minute)
	c = one(t, mustIngest(t, svc, batch("g1", alert("a1", incident.AlertFiring, t0), alert("a2", incident.AlertFiring, t0))))
	if c.Opened || len(c.NewAlerts) != 1 || c.NewAlerts[0].Fingerprint != "a2" || c.Actions.OpenChannel || c.Incident.AlertCount != 2 {
		t.Fatalf("grouped alert must join: %+v", c)
	}

	// The same payload again changes nothing.
	if res := mustIngest(t, svc, batch("g1", alert("a1", incident.AlertFiring, t0), alert("a2", incident.AlertFiring, t0))); len(res.Changes) != 0 {
		t.Fatalf("repeat changed something: %+v", res)
	}

	clk.Advance(time.Minute)
	c = one(t, mustIngest(t, svc, batch("g1", alert("a1", incident.AlertResolved, t0), alert("a2", incident.AlertFiring, t0))))
	if c.Resolved || len(c.ResolvedAlerts) != 1 || c.Incident.FiringCount != 1 || c.Incident.Status != incident.StatusTriggered {
		t.Fatalf("partial resolve: %+v", c)
	}

	clk.Advance(time.Minute)
	c = one(t, mustIngest(t, svc, batch("g1", alert("a2", incident.AlertResolved, t0))))
	if !c.Resolved || c.Incident.Status != incident.StatusResolved || c.Incident.ResolvedBy != incident.ActorTebura {
		t.Fatalf("all resolved must auto-resolve: %+v", c)
	}

	// A late firing notice of the same cycle is stale: nothing changes.
	if res := mustIngest(t, svc, batch("g1", alert("a2", incident.AlertFiring, t0))); len(res.Changes) != 0 {
		t.Fatalf("stale firing changed something: %+v", res)
	}

	// A re-fire within reopen_within reopens.
	clk.Advance(10 * time.Minute)
	t1 := clk.Now()
	c = one(t, mustIngest(t, svc, batch("g1", alert("a1", incident.AlertFiring, t1))))
	if !c.Reopened || c.Incident.Number != 1 || c.Incident.Reopened != 1 || len(c.Refired) != 1 || c.Incident.Status != incident.StatusTriggered {
		t.Fatalf("re-fire must reopen: %+v", c)
	}
	if !c.Actions.OpenChannel {
		t.Errorf("reopened incident without channel should ask for one")
	}
	if !c.Incident.ResolvedAt.IsZero() || c.Incident.ResolvedBy != "" {
		t.Errorf("reopened incident still carries its resolve: %v by %q", c.Incident.ResolvedAt, c.Incident.ResolvedBy)
	}
	alerts, err := svc.Alerts(t.Context(), "#1")
	if err != nil || len(alerts) != 2 || alerts[0].Fires != 2 || alerts[1].Fires != 1 {
		t.Fatalf("alerts after re-fire: %+v %v", alerts, err)
	}

	// Resolve, then a re-fire long after: a new incident.
	c = one(t, mustIngest(t, svc, batch("g1", alert("a1", incident.AlertResolved, t1))))
	if !c.Resolved {
		t.Fatalf("second resolve: %+v", c)
	}
	clk.Advance(31 * time.Minute)
	c = one(t, mustIngest(t, svc, batch("g1", alert("a1", incident.AlertFiring, clk.Now()))))
	if !c.Opened || c.Incident.Number != 2 {
		t.Fatalf("re-fire after reopen_within must open a new incident: %+v", c)
	}

	tl, err := svc.Timeline(t.Context(), "1")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range tl {
		kinds = append(kinds, e.Kind)
	}
	want := "incident.opened alerts.fired alerts.fired alerts.resolved alerts.resolved incident.resolved incident.reopened alerts.refired alerts.resolved incident.resolved"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("timeline kinds\n got %s\nwant %s", got, want)
	}
	if last := tl[len(tl)-1]; !strings.Contains(last.Text, "resolved automatically") {
		t.Errorf("auto-resolve entry must say so: %q", last.Text)
	}
}

func TestClassifyIdempotence(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	tests := []struct {
		name    string
		first   []incident.Alert
		then    incident.Alert
		changes int
	}{
		{"same firing", []incident.Alert{alert("a", incident.AlertFiring, t0)}, alert("a", incident.AlertFiring, t0), 0},
		{"older firing", []incident.Alert{alert("a", incident.AlertFiring, t1)}, alert("a", incident.AlertFiring, t0), 0},
		{"newer firing is a re-fire", []incident.Alert{alert("a", incident.AlertFiring, t0)}, alert("a", incident.AlertFiring, t1), 1},
		{"resolve", []incident.Alert{alert("a", incident.AlertFiring, t0), alert("b", incident.AlertFiring, t0)}, alert("a", incident.AlertResolved, t0), 1},
		{"same resolved", []incident.Alert{alert("b", incident.AlertFiring, t0), alert("a", incident.AlertResolved, t0)}, alert("a", incident.AlertResolved, t0), 0},
		{"zero start re-fire after resolve", []incident.Alert{alert("b", incident.AlertFiring, time.Time{}), alert("a", incident.AlertResolved, time.Time{})}, alert("a", incident.AlertFiring, time.Time{}), 1},
		{"zero start repeat", []incident.Alert{alert("a", incident.AlertFiring, time.Time{})}, alert("a", incident.AlertFiring, time.Time{}), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _, _ := newService(t, defaultCfg, nil)
			mustIngest(t, svc, batch("g", tt.first...))
			res := mustIngest(t, svc, batch("g", tt.then))
			if len(res.Changes) != tt.changes {
				t.Errorf("changes = %d, want %d: %+v", len(res.Changes), tt.changes, res)
			}
		})
	}
}

// TestAlertCycles runs deliveries of one alert through the service, in the
// orders the senders produce, and checks what each one does and that a
// delivery that changes nothing writes nothing (the read-only fast path
// agrees with the write path). Alert times are relative to the injected
// clock: the cycle starts ten minutes before the first delivery.
func TestAlertCycles(t *testing.T) {
	type step struct {
		a      func(t0 time.Time) incident.Alert
		want   string // opened, joined, resolved, reopened, refired, nothing
		writes int    // write transactions the delivery takes
	}
	firing := func(start time.Duration) func(time.Time) incident.Alert {
		return func(t0 time.Time) incident.Alert {
			var s time.Time
			if start >= 0 {
				s = t0.Add(start)
			}
			return alert("a", incident.AlertFiring, s)
		}
	}
	resolved := func(start, end time.Duration) func(time.Time) incident.Alert {
		return func(t0 time.Time) incident.Alert {
			a := alert("a", incident.AlertResolved, time.Time{})
			if start >= 0 {
				a.StartsAt = t0.Add(start)
			}
			if end >= 0 {
				a.EndsAt = t0.Add(end)
			}
			return a
		}
	}
	const none = -1 // no time: generic sources send none
	// The HA pair: replica B's startsAt is t0, replica A's 30 s later;
	// Alertmanager notifies A's first, then keeps B's (the earliest).
	haA, haB := 30*time.Second, time.Duration(0)
	tests := []struct {
		name  string
		steps []step
	}{
		{"same notification again", []step{
			{firing(haA), "opened", 1},
			{firing(haA), "nothing", 0},
			{resolved(haA, 5*time.Minute), "resolved", 1},
			{resolved(haA, 5*time.Minute), "nothing", 0},
		}},
		{"HA: the resolve carries the earlier startsAt", []step{
			{firing(haA), "opened", 1},
			{firing(haB), "nothing", 0}, // the repeat with the earliest startsAt
			{resolved(haB, 5*time.Minute), "resolved", 1},
			{resolved(haA, 5*time.Minute), "nothing", 0}, // the other replica's start again
			{firing(haA), "nothing", 0},                  // a late firing of the resolved cycle
		}},
		{"stale resolve of the old cycle after the refire", []step{
			{firing(0), "opened", 1},
			{resolved(0, 5*time.Minute), "resolved", 1},
			{firing(8 * time.Minute), "reopened", 1},
			{resolved(0, 5*time.Minute), "nothing", 0},
			{resolved(8*time.Minute, 9*time.Minute), "resolved", 1},
		}},
		{"refire with a newer startsAt after the resolve", []step{
			{firing(0), "opened", 1},
			{resolved(0, 5*time.Minute), "resolved", 1},
			{firing(6 * time.Minute), "reopened", 1},
			{firing(6 * time.Minute), "nothing", 0},
		}},
		{"late firing of a cycle already resolved", []step{
			{firing(0), "opened", 1},
			{resolved(0, 5*time.Minute), "resolved", 1},
			{firing(0), "nothing", 0},
		}},
		{"resolve with zero startsAt (generic sources)", []step{
			{firing(none), "opened", 1},
			{firing(none), "nothing", 0},
			{resolved(none, none), "resolved", 1},
			{resolved(none, none), "nothing", 0},
			{firing(none), "reopened", 1},
		}},
		{"resolve without times over a dated firing (PagerDuty Events API)", []step{
			{firing(0), "opened", 1},
			{resolved(none, none), "resolved", 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := &countingStore{Store: incidenttest.NewStore()}
			clk := newClock()
			svc, err := incident.New(cs, defaultCfg, nil, clk.Now, nil)
			if err != nil {
				t.Fatal(err)
			}
			t0 := clk.Now().Add(-10 * time.Minute)
			for i, st := range tt.steps {
				clk.Advance(time.Minute)
				before := cs.count()
				res := mustIngest(t, svc, batch("g", st.a(t0)))
				got := "nothing"
				if len(res.Changes) == 1 {
					switch c := res.Changes[0]; {
					case c.Opened:
						got = "opened"
					case c.Reopened:
						got = "reopened"
					case c.Resolved:
						got = "resolved"
					case len(c.Refired) > 0:
						got = "refired"
					default:
						got = "joined"
					}
				}
				if got != st.want || cs.count()-before != st.writes {
					t.Errorf("step %d: %s with %d writes, want %s with %d", i, got, cs.count()-before, st.want, st.writes)
				}
			}
		})
	}
}

func TestResolvedOnlyForUnknownGroupOpensNothing(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, nil)
	res := mustIngest(t, svc, batch("g", alert("a", incident.AlertResolved, clk.Now())))
	if len(res.Changes) != 0 {
		t.Fatalf("resolved-only batch opened something: %+v", res)
	}
	if list, _ := svc.List(t.Context(), incident.ListOptions{}); len(list) != 0 {
		t.Fatalf("incidents: %+v", list)
	}
}

func TestAutoResolveOff(t *testing.T) {
	svc, _, clk := newService(t, config.Incidents{}, nil)
	mustIngest(t, svc, batch("g", alert("a", incident.AlertFiring, clk.Now())))
	c := one(t, mustIngest(t, svc, batch("g", alert("a", incident.AlertResolved, clk.Now()))))
	if c.Resolved || c.Incident.Status != incident.StatusTriggered || c.Incident.FiringCount != 0 {
		t.Fatalf("auto_resolve off must leave the incident open: %+v", c)
	}
}

func TestDeliveryIDDedupe(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, nil)
	b := batch("g", alert("a", incident.AlertFiring, clk.Now()))
	b.DeliveryID = "wh-1"
	if res := mustIngest(t, svc, b); res.Duplicate || len(res.Changes) != 1 {
		t.Fatalf("first delivery: %+v", res)
	}
	b.Alerts = []incident.Alert{alert("b", incident.AlertFiring, clk.Now())}
	if res := mustIngest(t, svc, b); !res.Duplicate || len(res.Changes) != 0 {
		t.Fatalf("redelivery must be a duplicate: %+v", res)
	}
}

func TestIngestIsAtomic(t *testing.T) {
	svc, st, clk := newService(t, defaultCfg, nil)
	crash := errors.New("disk gone")
	st.FailCommit = func() error { return crash }
	b := batch("g", alert("a", incident.AlertFiring, clk.Now()), alert("b", incident.AlertFiring, clk.Now()))
	b.DeliveryID = "d1"
	if _, err := svc.Ingest(t.Context(), b); !errors.Is(err, crash) {
		t.Fatalf("err = %v", err)
	}
	st.FailCommit = nil
	c := one(t, mustIngest(t, svc, b)) // the retry is not a duplicate and opens #1
	if !c.Opened || c.Incident.Number != 1 || c.Incident.AlertCount != 2 {
		t.Fatalf("retry after a failed commit: %+v", c)
	}
}

func TestInvalidBatch(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, nil)
	for _, b := range []incident.Batch{
		{Source: "x"},
		{Source: "x", GroupKey: "g", Alerts: []incident.Alert{{Status: incident.AlertFiring}}},
		{Source: "x", GroupKey: "g", Alerts: []incident.Alert{{Fingerprint: "f", Status: "weird", StartsAt: clk.Now()}}},
	} {
		if _, err := svc.Ingest(t.Context(), b); tebura.ErrorCode(err) != tebura.EINVALID {
			t.Errorf("Ingest(%+v) = %v, want EINVALID", b, err)
		}
	}
}

func TestLifecycleCommands(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, nil)
	ctx := t.Context()
	ch, err := svc.Declare(ctx, "Checkout is failing", "sev1", "slack:U1")
	if err != nil || !ch.Opened || !ch.Actions.OpenChannel || ch.Actions.ChannelName != "inc-1-checkout-is-failing" {
		t.Fatalf("Declare = %+v, %v", ch, err)
	}
	if _, err := svc.Declare(ctx, "  ", "", "slack:U1"); tebura.ErrorCode(err) != tebura.EINVALID {
		t.Errorf("empty title: %v", err)
	}
	clk.Advance(2 * time.Minute)
	inc, err := svc.Ack(ctx, "#1", "slack:U2")
	if err != nil || inc.Status != incident.StatusAcknowledged || inc.AckedBy != "slack:U2" {
		t.Fatalf("Ack = %+v, %v", inc, err)
	}
	if _, err := svc.Ack(ctx, "1", "slack:U3"); tebura.ErrorCode(err) != tebura.ECONFLICT || !strings.Contains(tebura.ErrorMessage(err), "slack:U2") {
		t.Errorf("second Ack = %v", err)
	}
	if _, err := svc.SetCommander(ctx, "i1", "slack:U1", "slack:U4"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Note(ctx, "1", "slack:U4", "rolled back"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Note(ctx, "1", "slack:U4", " "); tebura.ErrorCode(err) != tebura.EINVALID {
		t.Errorf("empty note = %v", err)
	}
	inc, attached, err := svc.AttachChannel(ctx, "1", incident.Channel{Platform: "slack", ID: "C1", Name: "inc-1"})
	if err != nil || !attached || inc.Channel.ID != "C1" {
		t.Fatalf("AttachChannel = %+v %v %v", inc, attached, err)
	}
	inc, attached, err = svc.AttachChannel(ctx, "1", incident.Channel{Platform: "slack", ID: "C2"})
	if err != nil || attached || inc.Channel.ID != "C1" {
		t.Fatalf("second AttachChannel must keep C1: %+v %v %v", inc, attached, err)
	}
	if got, err := svc.ByChannel(ctx, "slack", "C1"); err != nil || got.Number != 1 {
		t.Fatalf("ByChannel = %+v, %v", got, err)
	}
	if _, err := svc.ByChannel(ctx, "slack", "C9"); tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Errorf("ByChannel unknown = %v", err)
	}
	clk.Advance(10 * time.Minute)
	inc, err = svc.Resolve(ctx, "#1", "slack:U4", "rollback fixed it")
	if err != nil || inc.Status != incident.StatusResolved {
		t.Fatalf("Resolve = %+v, %v", inc, err)
	}
	if _, err := svc.Resolve(ctx, "#1", "slack:U4", ""); tebura.ErrorCode(err) != tebura.ECONFLICT {
		t.Errorf("second Resolve = %v", err)
	}
	if _, err := svc.Ack(ctx, "#1", "slack:U4"); tebura.ErrorCode(err) != tebura.ECONFLICT {
		t.Errorf("Ack resolved = %v", err)
	}
	if err := svc.AddTimeline(ctx, "#1", incident.TimelineEntry{Actor: "slack:U4", Kind: incident.KindRun, Text: "r7 succeeded"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, "#99"); tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Errorf("Get #99 = %v", err)
	}
	if _, err := svc.Get(ctx, "abc"); tebura.ErrorCode(err) != tebura.EINVALID {
		t.Errorf("Get abc = %v", err)
	}
	tl, _ := svc.Timeline(ctx, "#1")
	var kinds []string
	for _, e := range tl {
		kinds = append(kinds, e.Kind)
	}
	if got := strings.Join(kinds, " "); got != "incident.opened incident.acknowledged commander note channel incident.resolved run" {
		t.Errorf("timeline: %s", got)
	}
	open, _ := svc.List(ctx, incident.ListOptions{OpenOnly: true})
	all, _ := svc.List(ctx, incident.ListOptions{})
	if len(open) != 0 || len(all) != 1 {
		t.Errorf("List open=%d all=%d", len(open), len(all))
	}
}

func TestAttachChannelConcurrent(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, nil)
	mustIngest(t, svc, batch("g", alert("a", incident.AlertFiring, clk.Now())))
	var wg sync.WaitGroup
	attached := make(chan string, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ok, err := svc.AttachChannel(context.Background(), "#1", incident.Channel{Platform: "slack", ID: fmt.Sprintf("C%d", i)})
			if err != nil {
				t.Error(err)
			}
			if ok {
				attached <- fmt.Sprint(i)
			}
		}()
	}
	wg.Wait()
	close(attached)
	if n := len(attached); n != 1 {
		t.Fatalf("%d callers attached a channel, want exactly 1", n)
	}
}

func TestStats(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, nil)
	ctx := t.Context()
	start := clk.Now()
	// #1 critical api: acked after 2m, resolved after 10m.
	mustIngest(t, svc, batch("g1", alert("a", incident.AlertFiring, clk.Now())))
	clk.Advance(2 * time.Minute)
	if _, err := svc.Ack(ctx, "1", "u"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(8 * time.Minute)
	if _, err := svc.Resolve(ctx, "1", "u", ""); err != nil {
		t.Fatal(err)
	}
	// #2 critical api: acked after 4m, resolved after 30m.
	mustIngest(t, svc, batch("g2", alert("b", incident.AlertFiring, clk.Now())))
	clk.Advance(4 * time.Minute)
	if _, err := svc.Ack(ctx, "2", "u"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(26 * time.Minute)
	if _, err := svc.Resolve(ctx, "2", "u", ""); err != nil {
		t.Fatal(err)
	}
	// #3 warning db, open.
	b := batch("g3", alert("c", incident.AlertFiring, clk.Now(), "service", "db"))
	b.Labels = map[string]string{"service": "db", "severity": "warning"}
	mustIngest(t, svc, b)

	st, err := svc.Stats(ctx, start)
	if err != nil {
		t.Fatal(err)
	}
	if st.All.Count != 3 || st.Open != 1 || st.All.MTTA != 3*time.Minute || st.All.MTTR != 20*time.Minute {
		t.Errorf("all: %+v open %d", st.All, st.Open)
	}
	if f := st.BySeverity["critical"]; f.Count != 2 || f.MTTR != 20*time.Minute {
		t.Errorf("critical: %+v", f)
	}
	if f := st.ByService["db"]; f.Count != 1 || f.Resolved != 0 {
		t.Errorf("db: %+v", f)
	}
	if st2, _ := svc.Stats(ctx, clk.Now().Add(time.Minute)); st2.All.Count != 0 {
		t.Errorf("window excludes older incidents: %+v", st2.All)
	}
	if got := incident.Keys(st.ByService); strings.Join(got, ",") != "api,db" {
		t.Errorf("Keys = %v", got)
	}
}

func TestArchiveDue(t *testing.T) {
	cfg := defaultCfg
	cfg.ArchiveAfter = time.Hour
	cfg.ReopenWithin = 2 * time.Hour
	svc, _, clk := newService(t, cfg, nil)
	ctx := t.Context()
	mustIngest(t, svc, batch("g", alert("a", incident.AlertFiring, clk.Now())))
	mustIngest(t, svc, batch("h", alert("b", incident.AlertFiring, clk.Now())))
	if _, _, err := svc.AttachChannel(ctx, "#1", incident.Channel{Platform: "slack", ID: "C1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Resolve(ctx, "#1", "u", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Resolve(ctx, "#2", "u", ""); err != nil { // no channel: nothing to archive
		t.Fatal(err)
	}
	if due, _ := svc.ArchiveDue(ctx); len(due) != 0 {
		t.Fatalf("due too early: %+v", due)
	}
	clk.Advance(time.Hour)
	due, err := svc.ArchiveDue(ctx)
	if err != nil || len(due) != 1 || due[0].Number != 1 {
		t.Fatalf("ArchiveDue = %+v, %v", due, err)
	}
	if _, err := svc.MarkArchived(ctx, "#1"); err != nil {
		t.Fatal(err)
	}
	if due, _ := svc.ArchiveDue(ctx); len(due) != 0 {
		t.Fatalf("archived incident still due: %+v", due)
	}
	if _, err := svc.MarkArchived(ctx, "#1"); err != nil {
		t.Errorf("MarkArchived twice: %v", err)
	}
	c := one(t, mustIngest(t, svc, batch("g", alert("a", incident.AlertFiring, clk.Now()))))
	if !c.Reopened || !c.Actions.UnarchiveChannel || c.Actions.OpenChannel || !c.Incident.ArchivedAt.IsZero() {
		t.Errorf("reopening an archived incident: %+v", c)
	}
}

func TestLabelsStayCommon(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, nil)
	b := batch("g", alert("a1", incident.AlertFiring, clk.Now()))
	b.Labels = map[string]string{"alertname": "HighLatency", "service": "api", "instance": "a1"}
	b.Annotations = map[string]string{"summary": "slow on a1", "runbook_url": "https://r"}
	mustIngest(t, svc, b)
	b.Alerts = append(b.Alerts, alert("a2", incident.AlertFiring, clk.Now()))
	b.Labels = map[string]string{"alertname": "HighLatency", "service": "api"}
	b.Annotations = map[string]string{"runbook_url": "https://r"}
	c := one(t, mustIngest(t, svc, b))
	if len(c.Incident.Labels) != 2 || c.Incident.Labels["instance"] != "" || len(c.Incident.Annotations) != 1 {
		t.Errorf("labels %v annotations %v; want only what every alert shares", c.Incident.Labels, c.Incident.Annotations)
	}
}

func TestSharedChannel(t *testing.T) {
	cfg := defaultCfg
	cfg.ArchiveAfter = time.Hour
	svc, _, clk := newService(t, cfg, nil)
	ctx := t.Context()
	mustIngest(t, svc, batch("g1", alert("a", incident.AlertFiring, clk.Now())))
	mustIngest(t, svc, batch("g2", alert("b", incident.AlertFiring, clk.Now())))
	mustIngest(t, svc, batch("g3", alert("c", incident.AlertFiring, clk.Now())))
	for _, id := range []string{"#1", "#2"} {
		if _, ok, err := svc.AttachChannel(ctx, id, incident.Channel{Platform: "console", ID: "ops", Shared: true}); !ok || err != nil {
			t.Fatalf("shared attach %s: %v %v", id, ok, err)
		}
	}
	// The most recent open incident of the shared channel, and the others.
	got, others, err := svc.ChannelIncidents(ctx, "console", "ops")
	if err != nil || got.Number != 2 || len(others) != 1 || others[0].Number != 1 {
		t.Fatalf("ChannelIncidents on a shared channel = %v, %v, %v; want #2 and others [#1]", got, others, err)
	}
	if _, err := svc.Resolve(ctx, "#2", "console:bob", ""); err != nil {
		t.Fatal(err)
	}
	if got, err := svc.ByChannel(ctx, "console", "ops"); err != nil || got.Number != 1 {
		t.Errorf("after #2 resolved, ByChannel = %v, %v; want the open #1", got, err)
	}
	if _, err := svc.Resolve(ctx, "#1", "console:bob", ""); err != nil {
		t.Fatal(err)
	}
	if got, others, err := svc.ChannelIncidents(ctx, "console", "ops"); err != nil || got.Number != 2 || len(others) != 0 {
		t.Errorf("none open: %v, %v, %v; want the most recent, #2", got, others, err)
	}
	clk.Advance(2 * time.Hour)
	if due, err := svc.ArchiveDue(ctx); err != nil || len(due) != 0 {
		t.Errorf("shared channels due for archiving: %+v, %v; a shared channel is never archived", due, err)
	}
	if _, err := svc.ByChannel(ctx, "console", "elsewhere"); tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Errorf("ByChannel on an unused channel = %v, want ENOTFOUND", err)
	}
	if _, _, err := svc.AttachChannel(ctx, "#1", incident.Channel{Platform: "slack", ID: "C1"}); err != nil { // #1 already has one: no-op
		t.Fatal(err)
	}
	if _, _, err := svc.AttachChannel(ctx, "#3", incident.Channel{Platform: "console", ID: "ops"}); err != nil {
		t.Fatal(err)
	}
	mustIngest(t, svc, batch("g4", alert("d", incident.AlertFiring, clk.Now())))
	if _, _, err := svc.AttachChannel(ctx, "#4", incident.Channel{Platform: "console", ID: "ops"}); tebura.ErrorCode(err) != tebura.ECONFLICT {
		t.Errorf("own channel of #3 attached to #4: %v, want ECONFLICT", err)
	}
}

func TestPruneMarks(t *testing.T) {
	svc, _, clk := newService(t, defaultCfg, []config.Automation{{Name: "r", Match: []string{`alertname="HighLatency"`}, OnceWithin: time.Hour}})
	b := batch("g", alert("a", incident.AlertFiring, clk.Now()))
	b.DeliveryID = "d1"
	mustIngest(t, svc, b) // a delivery mark and a throttle mark
	clk.Advance(2 * time.Hour)
	if n, err := svc.PruneMarks(t.Context()); err != nil || n != 1 {
		t.Fatalf("PruneMarks after 2h = %d, %v; want the throttle only", n, err)
	}
	clk.Advance(incident.DeliveryMemory)
	if n, err := svc.PruneMarks(t.Context()); err != nil || n != 1 {
		t.Fatalf("PruneMarks after DeliveryMemory = %d, %v; want the delivery ID", n, err)
	}
	if res := mustIngest(t, svc, b); res.Duplicate {
		t.Error("a forgotten delivery ID is still a duplicate")
	}
}

// countingStore counts write transactions.
type countingStore struct {
	incident.Store
	mu     sync.Mutex
	writes int
}

func (s *countingStore) UpdateIncidents(ctx context.Context, fn func(tx incident.Tx) error) error {
	s.mu.Lock()
	s.writes++
	s.mu.Unlock()
	return s.Store.UpdateIncidents(ctx, fn)
}

func (s *countingStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// TestRepeatNeedsNoWrite: a delivery that repeats what is stored is
// answered from a read-only transaction (no queue behind the writer); one
// that changes something, or carries a delivery ID, still writes.
func TestRepeatNeedsNoWrite(t *testing.T) {
	cs := &countingStore{Store: incidenttest.NewStore()}
	c := newClock()
	svc, err := incident.New(cs, defaultCfg, nil, c.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := c.Now()
	b := batch("g", alert("a1", incident.AlertFiring, t0), alert("a2", incident.AlertFiring, t0))
	mustIngest(t, svc, b)
	if cs.count() != 1 {
		t.Fatalf("first delivery: %d writes, want 1", cs.count())
	}
	if res := mustIngest(t, svc, b); len(res.Changes) != 0 || cs.count() != 1 {
		t.Fatalf("repeat: %+v with %d writes, want no change and no new write", res, cs.count())
	}
	b.Alerts[1].Status = incident.AlertResolved
	if res := mustIngest(t, svc, b); len(res.Changes) != 1 || cs.count() != 2 {
		t.Fatalf("a resolve: %+v with %d writes, want one change and one write", res, cs.count())
	}
	b.DeliveryID = "d1"
	mustIngest(t, svc, b)
	if res := mustIngest(t, svc, b); !res.Duplicate || cs.count() != 4 {
		t.Fatalf("delivery IDs are checked in the write transaction (metrics count them there): %+v, %d writes", res, cs.count())
	}
}

func TestMTTAMTTR(t *testing.T) {
	start := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	cases := []struct {
		name       string
		inc        incident.Incident
		mtta, mttr time.Duration
		acked, res bool
	}{
		{"open", incident.Incident{Status: incident.StatusTriggered, StartedAt: start}, 0, 0, false, false},
		{"acknowledged", incident.Incident{Status: incident.StatusAcknowledged, StartedAt: start, AckedAt: start.Add(3 * time.Minute)},
			3 * time.Minute, 0, true, false},
		{"resolved without ack", incident.Incident{Status: incident.StatusResolved, StartedAt: start, ResolvedAt: start.Add(time.Hour)},
			0, time.Hour, false, true},
		{"acked and resolved", incident.Incident{Status: incident.StatusResolved, StartedAt: start, AckedAt: start.Add(time.Minute),
			ResolvedAt: start.Add(20 * time.Minute)}, time.Minute, 20 * time.Minute, true, true},
		{"clock went back", incident.Incident{Status: incident.StatusAcknowledged, StartedAt: start, AckedAt: start.Add(-time.Second)},
			0, 0, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, aok := tc.inc.MTTA()
			r, rok := tc.inc.MTTR()
			if a != tc.mtta || aok != tc.acked || r != tc.mttr || rok != tc.res {
				t.Errorf("MTTA = %v, %v; MTTR = %v, %v; want %v, %v; %v, %v", a, aok, r, rok, tc.mtta, tc.acked, tc.mttr, tc.res)
			}
		})
	}
}
