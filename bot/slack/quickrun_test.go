package slack

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
)

// quickRunbooks end at once: one on request, one after an approval.
var quickRunbooks = []string{`
name: quick
description: Echo one line
kind: diagnostic
allow: [dev]
timeout: 1m
steps:
  - {name: hi, run: [echo, hi]}
`, `
name: quick-approved
description: Echo one line once approved
kind: remediation
allow: [dev]
approval: {required: 1, approvers: [sre], allow_self: false, expires: 15m}
timeout: 1m
steps:
  - {name: hi, run: [echo, hi]}
`}

// TestQuickRunIsOneSlackCall drives the real bot (commandstest: commands, bolt,
// executor) on the real adapter against the fake Slack: a run that ends
// within the stream's hold costs one chat.postMessage carrying its final
// frame and no chat.update (it cost a post and two updates of the
// workspace's ~50/min budget); a quick run started by an approval costs
// one chat.update of its card. The test runs in a synctest bubble: the
// run's process takes no virtual time, so it always ends within the hold.
func TestQuickRunIsOneSlackCall(t *testing.T) {
	fake := newFake(t)
	synctest.Test(t, func(t *testing.T) {
		a := newBubbleAdapter(t, fake)
		h := commandstest.New(t, commandstest.Options{
			Roles:    map[string][]string{"dev": {"slack:UALICE"}, "sre": {"slack:UBOB"}},
			Runbooks: quickRunbooks,
			Chat:     func(*bolt.Store) bot.Chat { return a },
		})
		ctx := context.Background()
		say := func(user, text string) {
			h.Bot.HandleEvent(ctx, &bot.Command{Platform: Platform, Actor: bot.Actor{ID: "slack:" + user, Name: user}, Channel: "C1",
				Name: "runbook", Text: text, Reply: a.newReplier("C1", user, "", ""), Received: time.Now()})
		}

		say("UALICE", "run quick")
		run := h.WaitFinal(h.LastRun().ID)
		posts, updates := fake.Calls("chat.postMessage"), fake.Calls("chat.update")
		if len(posts) != 1 || len(updates) != 0 {
			t.Fatalf("quick run: %d chat.postMessage and %d chat.update, want 1 and 0:\n%s", len(posts), len(updates), fmtCalls(fake.Calls()))
		}
		// The one post is the final frame (the run had ended before it).
		if text := posts[0].Form.Get("text"); run.State != runbooks.StateSucceeded || !strings.Contains(text, "succeeded") {
			t.Errorf("the run (%s) was posted as %q, want its final frame", run.State, text)
		}

		say("UALICE", "run quick-approved")
		card := h.LastRun()
		value := ""
		if m, ok := fake.Message("C1", card.Origin.Message); ok {
			value, _ = button(m, "approve")
		}
		if value == "" {
			t.Fatalf("no approval card with an Approve button for %s", card.ID)
		}
		before := len(fake.Calls("chat.update"))
		h.Bot.HandleEvent(ctx, &bot.Click{Platform: Platform, Actor: bot.Actor{ID: "slack:UBOB", Name: "UBOB"}, ActionID: "approve", CallbackID: value,
			Message: bot.MessageRef{Platform: Platform, Channel: "C1", ID: card.Origin.Message}, Reply: a.newReplier("C1", "UBOB", "", ""), Received: time.Now()})
		h.WaitFinal(card.ID)
		if n := len(fake.Calls("chat.update")) - before; n != 1 {
			t.Errorf("quick approved run: %d chat.update of its card, want 1:\n%s", n, fmtCalls(fake.Calls()))
		}
		if m, _ := fake.Message("C1", card.Origin.Message); !strings.Contains(m.Text, "succeeded") {
			t.Errorf("card after the run: %q, want its final frame", m.Text)
		}
	})
}
