package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/discord"
	"github.com/tebura/tebura/bot/discord/discordtest"
)

// checklistRunbook has one manual step between two automated ones; dev
// (alice) and sre (bob's Discord role) may run it, so both may answer.
const checklistRunbook = `
name: checklist
kind: diagnostic
allow: [dev, sre]
timeout: 1m
steps:
  - {name: before, run: [echo, automated before]}
  - {name: look, manual: "Is the p99 graph under 2 s?"}
  - {name: after, run: [echo, automated after]}
`

// TestManualStepOverDiscord: the run's message in Discord shows the
// manual step's instruction with Done, Failed and Skip; bob's Done lets
// the run go on to success, and alice's later press of the same button is
// answered privately with who answered first.
func TestManualStepOverDiscord(t *testing.T) {
	for _, mode := range []string{discord.ModeGateway, discord.ModeHTTP} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, mode, checklistRunbook)
			it := e.fake.NewCommand(alice, "runbook", "run", discordtest.Option{Name: "name", Value: "checklist"})
			e.deliver(t, it)
			var live discordtest.Stored
			labels := map[string]string{}
			if !waitFor(10*time.Second, func() bool {
				for _, m := range e.fake.Messages() {
					if m.Interaction != it.ID || m.Deleted {
						continue
					}
					clear(labels)
					for _, b := range m.Buttons() {
						labels[b.Label] = b.CustomID
					}
					if labels["Done"] != "" {
						live = m
						return true
					}
				}
				return false
			}) {
				t.Fatalf("no live message with the answer buttons; messages: %+v", e.fake.Messages())
			}
			if labels["Failed"] == "" || labels["Skip"] == "" || labels["Cancel"] == "" {
				t.Errorf("buttons = %v, want Done, Failed, Skip and Cancel", labels)
			}
			if desc := live.Embeds[0].Description; !strings.Contains(desc, "Is the p99 graph under 2 s?") {
				t.Errorf("live message lacks the instruction: %q", desc)
			}
			done := labels["Done"]
			e.deliver(t, e.fake.NewClick(bob, live.ID, done))
			var final discordtest.Stored
			if !waitFor(30*time.Second, func() bool {
				m, _ := e.fake.Message(live.ID)
				final = m
				return len(m.Embeds) > 0 && strings.Contains(m.Embeds[0].Title, "succeeded") && len(m.Buttons()) == 0
			}) {
				t.Fatalf("the run never reached a successful final frame: %+v", final.Message)
			}
			late := e.fake.NewClick(alice, live.ID, done)
			e.deliver(t, late)
			if !waitFor(10*time.Second, func() bool {
				for _, m := range e.fake.Messages() {
					if m.Interaction == late.ID && len(m.Embeds) > 0 && m.Ephemeral &&
						strings.Contains(m.Embeds[0].Description, "already answered Done by @bob") {
						return true
					}
				}
				return false
			}) {
				t.Fatalf("the late press was not told who answered; messages: %+v", e.fake.Messages())
			}
		})
	}
}
