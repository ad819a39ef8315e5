package incident_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// TestStormHonoursCaps: 2,000 new alert groups arrive 100 ms apart (200 s
// of storm). Opened incidents never exceed incidents.max_new_per_minute in
// any minute nor incidents.max_open in all; every other group is folded
// into one overflow incident, which counts them, and folded groups open no
// channel and run no automation. A folded group's later deliveries keep
// joining the overflow incident; once all of its alerts resolve, it
// resolves, and a group that fires again afterwards opens its own
// incident like a new one.
func TestStormHonoursCaps(t *testing.T) {
	const groups, maxOpen, perMinute = 2000, 50, 20
	cfg := defaultCfg
	cfg.MaxOpen, cfg.MaxNewPerMinute = maxOpen, perMinute
	svc, _, clk := newService(t, cfg, []config.Automation{{Name: "diag", Match: []string{`alertname="Storm"`}, Diagnostics: []string{"check-disk"}}})
	stormBatch := func(g int, status incident.AlertStatus, starts time.Time) incident.Batch {
		return incident.Batch{Source: "alertmanager", GroupKey: fmt.Sprintf("{}:{host=\"h%d\"}", g),
			Labels: map[string]string{"alertname": "Storm", "host": fmt.Sprint("h", g)},
			Alerts: []incident.Alert{{Source: "alertmanager", Fingerprint: fmt.Sprintf("fp%d", g), Status: status,
				Labels: map[string]string{"alertname": "Storm", "host": fmt.Sprint("h", g)}, StartsAt: starts}}}
	}

	var opened []time.Time
	isFolded := map[int]bool{}
	var overflow *incident.Incident
	channels, diagnostics, folded := 0, 0, 0
	starts := clk.Now()
	for g := range groups {
		clk.Advance(100 * time.Millisecond)
		c := one(t, mustIngest(t, svc, stormBatch(g, incident.AlertFiring, starts)))
		if c.Actions.OpenChannel {
			channels++
		}
		diagnostics += len(c.Actions.Diagnostics) + len(c.Actions.Suggest)
		switch {
		case c.Folded:
			folded++
			isFolded[g] = true
			if c.Incident.Key != incident.OverflowKey {
				t.Fatalf("group %d folded into %s (key %q), not the overflow incident", g, c.Incident.Ref(), c.Incident.Key)
			}
			if overflow != nil && c.Incident.Number != overflow.Number {
				t.Fatalf("a second overflow incident %s while %s is open", c.Incident.Ref(), overflow.Ref())
			}
			if len(c.Actions.Rules)+len(c.Actions.Diagnostics)+len(c.Actions.Invite) > 0 || (c.Actions.OpenChannel && !c.Opened) {
				t.Fatalf("folded group %d has actions %+v", g, c.Actions)
			}
			overflow = c.Incident
		case c.Opened:
			opened = append(opened, c.Incident.StartedAt)
			if len(c.Actions.Diagnostics) != 1 {
				t.Fatalf("group %d opened its own incident without its automation: %+v", g, c.Actions)
			}
		default:
			t.Fatalf("group %d neither opened nor was folded: %+v", g, c)
		}
	}

	if len(opened) != maxOpen {
		t.Errorf("%d incidents opened, want max_open = %d (nothing resolved)", len(opened), maxOpen)
	}
	for i := range opened {
		in := 0
		for _, o := range opened[i:] {
			if o.Sub(opened[i]) < time.Minute {
				in++
			}
		}
		if in > perMinute {
			t.Fatalf("%d incidents opened in the minute after %s, want at most %d", in, opened[i].Sub(starts), perMinute)
		}
	}
	if overflow == nil || folded != groups-maxOpen || overflow.Folded != folded {
		t.Fatalf("folded %d, overflow %+v; want %d folded and counted", folded, overflow, groups-maxOpen)
	}
	if channels != maxOpen+1 {
		t.Errorf("%d channels asked for, want %d (one per incident and one overflow)", channels, maxOpen+1)
	}
	if diagnostics != maxOpen {
		t.Errorf("%d diagnostics started, want %d (none for folded groups)", diagnostics, maxOpen)
	}
	if overflow.AlertCount != folded || overflow.FiringCount != folded {
		t.Errorf("overflow holds %d alerts (%d firing), want %d", overflow.AlertCount, overflow.FiringCount, folded)
	}

	// Alertmanager re-sends a folded group: it joins, nothing opens.
	last := groups - 1
	clk.Advance(5 * time.Minute)
	if res := mustIngest(t, svc, stormBatch(last, incident.AlertFiring, starts)); len(res.Opened()) != 0 {
		t.Fatalf("a folded group's repeat opened %+v", res.Opened())
	}

	// Every folded group resolves: the overflow incident resolves with them.
	var c incident.Change
	for g := range groups {
		if !isFolded[g] {
			continue
		}
		b := stormBatch(g, incident.AlertResolved, starts)
		b.Alerts[0].EndsAt = clk.Now()
		c = one(t, mustIngest(t, svc, b))
	}
	if !c.Resolved || c.Incident.Key != incident.OverflowKey || c.Incident.Status != incident.StatusResolved {
		t.Fatalf("last resolve: %+v (%d/%d firing), want the overflow incident resolved", c, c.Incident.FiringCount, c.Incident.AlertCount)
	}

	// Later, with room again (the 50 resolve), a folded group fires anew
	// and opens its own incident.
	for g := range groups {
		if isFolded[g] {
			continue
		}
		b := stormBatch(g, incident.AlertResolved, starts)
		b.Alerts[0].EndsAt = clk.Now()
		mustIngest(t, svc, b)
	}
	clk.Advance(2 * time.Minute)
	c = one(t, mustIngest(t, svc, stormBatch(last, incident.AlertFiring, clk.Now())))
	if !c.Opened || c.Folded || c.Incident.Key == incident.OverflowKey || len(c.Actions.Diagnostics) != 1 {
		t.Errorf("a formerly folded group firing again: %+v, want its own incident with its automation", c)
	}
}
