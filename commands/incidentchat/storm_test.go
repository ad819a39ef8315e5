package incidentchat_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// TestStormFoldsInChat: beyond incidents.max_open, new groups join the
// overflow incident in chat too: one channel and one announcement for it,
// none for the folded groups, no diagnostics or proposals for them, and
// its card says how many groups were folded.
func TestStormFoldsInChat(t *testing.T) {
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Incidents: config.Incidents{AnnounceChannel: "incidents", AutoResolve: true, MaxOpen: 2}})
	start := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	for g := range 5 {
		s.deliver(alertBatch(fmt.Sprintf("group-%d", g), fmt.Sprintf("api-%d", g), 0, 2, start))
	}
	if runs := s.waitRuns(byRunbook("check-api")); len(runs) != 2 {
		t.Errorf("%d diagnostics ran, want 2 (none for folded groups)", len(runs))
	}
	all, err := s.Store.ListRuns(context.Background(), runbooks.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	proposed := 0
	for _, r := range all {
		if r.Runbook == "restart-api" {
			proposed++
		}
	}
	if proposed != 2 {
		t.Errorf("%d remediations proposed, want 2 (none for folded groups)", proposed)
	}
	if n := chat.createdCount(); n != 3 {
		t.Errorf("%d channels created, want 3 (two incidents and the overflow)", n)
	}
	if n := len(chat.inChannel("incidents")); n != 3 {
		t.Errorf("%d announcements, want 3", n)
	}
	list, err := s.Svc.List(context.Background(), incident.ListOptions{})
	if err != nil || len(list) != 3 {
		t.Fatalf("incidents: %d (%v), want 3", len(list), err)
	}
	overflow := list[0]
	if overflow.Key != incident.OverflowKey || overflow.Folded != 3 || overflow.AlertCount != 6 {
		t.Fatalf("newest incident = %+v, want the overflow with 3 groups and 6 alerts", overflow)
	}
	var card string
	for _, m := range chat.inChannel(overflow.Channel.ID) {
		if txt := bottest.Text(m.Last()); strings.Contains(txt, "Incident "+overflow.Ref()) {
			card = txt
		}
	}
	if !strings.Contains(card, "Folded groups") || !strings.Contains(card, "3 new alert group(s) joined this incident") {
		t.Errorf("overflow card = %q, want it to say 3 groups were folded", card)
	}
}
