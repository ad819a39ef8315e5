package runbookchat_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/runbooks"
)

// TestExpiredButtonDoesNothing: a callback past its Expires answers
// privately that the button expired, whatever its action, and leaves the
// run as it was. The run itself has not expired here, so only the
// callback's own expiry can stop the click.
func TestExpiredButtonDoesNothing(t *testing.T) {
	for _, action := range []string{"approve", "deny", "cancel", "view"} {
		t.Run(action, func(t *testing.T) {
			clk := commandstest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
			h := newHarness(t, commandstest.Options{Clock: clk})
			card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
			run := h.LastRun()
			if run.State != runbooks.StatePendingApproval || !run.ExpiresAt.After(clk.Now().Add(time.Minute)) {
				t.Fatalf("run %s %s expires %s; want pending past the test", run.ID, run.State, run.ExpiresAt)
			}
			cb := bot.Callback{ID: "cb_expired_" + action, Action: action, Subject: run.ID,
				Created: clk.Now().Add(-time.Hour), Expires: clk.Now().Add(-time.Second)}
			if err := h.Store.PutCallback(context.Background(), cb); err != nil {
				t.Fatal(err)
			}
			turn := h.Press(bob, card, bot.Button{Label: "x", ActionID: action, CallbackID: cb.ID})
			if p := turn.Posted(); len(p) != 0 {
				t.Errorf("the expired button posted %d message(s): %s", len(p), bottest.Text(p[0].Last()))
			}
			priv := turn.Private()
			if len(priv) != 1 || !strings.Contains(bottest.Text(priv[0]), "This button expired") {
				t.Errorf("private answer = %q; want one saying the button expired", turn.PrivateText())
			}
			if got := h.LastRun(); got.ID != run.ID || got.State != runbooks.StatePendingApproval || len(got.Approvals) != 0 {
				t.Errorf("after the expired %s button: run %s %s with %d approval(s); want it untouched", action, got.ID, got.State, len(got.Approvals))
			}

			// The same callback a second before its expiry still works.
			live := cb
			live.ID, live.Expires = "cb_live_"+action, clk.Now().Add(time.Second)
			if err := h.Store.PutCallback(context.Background(), live); err != nil {
				t.Fatal(err)
			}
			if txt := h.Press(carol, card, bot.Button{Label: "x", ActionID: action, CallbackID: live.ID}).PrivateText(); strings.Contains(txt, "expired") {
				t.Errorf("a live %s button said: %s", action, txt)
			}
			if action == "approve" {
				h.WaitFinal(run.ID)
			}
		})
	}
}
