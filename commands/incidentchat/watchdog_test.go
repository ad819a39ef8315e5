package incidentchat_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// TestWatchdogAnnounced: the watchdog alert opens no incident; when it
// stays away for missing_after the incidents channel hears it once, and
// once more when it is back.
func TestWatchdogAnnounced(t *testing.T) {
	clock := commandstest.NewClock(time.Now().UTC().Truncate(time.Second))
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Clock: clock, Incidents: config.Incidents{AnnounceChannel: "incidents", AutoResolve: true}})
	w, err := incident.NewWatchdog(config.Watchdog{Match: []string{`alertname="Watchdog"`}, MissingAfter: 10 * time.Minute}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	s.Svc.Watch(w)
	heartbeat := func() {
		b := alertBatch("watchdog", "prometheus", 0, 1, clock.Now().Add(-time.Hour))
		b.Labels["alertname"] = "Watchdog"
		for i := range b.Alerts {
			b.Alerts[i].Labels["alertname"] = "Watchdog"
		}
		if res := s.deliver(b); len(res.Changes) != 0 {
			t.Fatalf("the watchdog alert changed incidents: %+v", res.Changes)
		}
	}
	tick := func() {
		t.Helper()
		if err := s.Inc.Tick(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	said := func() []string {
		var out []string
		for _, m := range chat.inChannel("incidents") {
			out = append(out, bottest.Text(m.Last()))
		}
		return out
	}

	heartbeat()
	clock.Advance(5 * time.Minute)
	tick()
	if got := said(); len(got) != 0 {
		t.Fatalf("announced while the watchdog arrives: %q", got)
	}
	clock.Advance(6 * time.Minute) // 11 minutes since the last one
	tick()
	tick()
	got := said()
	if len(got) != 1 || !strings.Contains(got[0], "Watchdog alert missing") || !strings.Contains(got[0], `alertname="Watchdog"`) {
		t.Fatalf("after 11 minutes without it: %q, want one announcement naming the watchdog", got)
	}
	heartbeat()
	tick()
	got = said()
	if len(got) != 2 || !strings.Contains(got[1], "Watchdog alert back") {
		t.Fatalf("after it came back: %q, want a second announcement", got)
	}
	if list, err := s.Svc.List(context.Background(), incident.ListOptions{}); err != nil || len(list) != 0 {
		t.Errorf("incidents: %d (%v), want none", len(list), err)
	}
}
