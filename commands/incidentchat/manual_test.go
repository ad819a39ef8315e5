package incidentchat_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

const lookBook = `
name: look
kind: diagnostic
allow: [sre, dev]
timeout: 1m
steps:
  - {name: graphs, manual: "Is the p99 graph back under 2 s?"}
`

// TestManualAnswerOnTimeline: an answer to a manual step of a run typed
// in an incident's channel lands on the incident's timeline, once, with
// who answered what.
func TestManualAnswerOnTimeline(t *testing.T) {
	chat := newCMChat()
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Automations: []config.Automation{}, Runbooks: []string{lookBook}})
	s.say(chat, bob, "general", `/incident declare Checkout is failing sev=2`)
	inc, err := s.Svc.ByNumber(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	s.say(chat, alice, inc.Channel.ID, "/runbook run look")
	var live *bottest.Msg
	deadline := time.Now().Add(10 * time.Second)
	for live == nil {
		for _, m := range chat.inChannel(inc.Channel.ID) {
			for _, b := range m.Last().Buttons {
				if b.Label == "Done" {
					live = m
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no live message with the answer buttons")
		}
		time.Sleep(5 * time.Millisecond)
	}
	mustContain(t, "live message", bottest.Text(live.Last()), "Is the p99 graph back under 2 s?")
	if r := s.press(carol, chat, live, "Done"); !strings.Contains(r.text(), "You answered Done") {
		t.Fatalf("carol was told %q", r.text())
	}
	runs := s.waitRuns(byRunbook("look"))
	if len(runs) != 1 || runs[0].State != runbooks.StateSucceeded {
		t.Fatalf("runs = %+v", runs)
	}
	s.settle()
	var answers []incident.TimelineEntry
	for _, e := range s.timeline(1) {
		if e.Data["answer"] != "" {
			answers = append(answers, e)
		}
	}
	if len(answers) != 1 || answers[0].Actor != carol.ID || answers[0].Data["run"] != runs[0].ID ||
		!strings.Contains(answers[0].Text, "@carol answered Done to step 1 (graphs) of run "+runs[0].ID) {
		t.Errorf("answer entries on the timeline:\n%s", dumpTimeline(answers))
	}
}

// TestManualStepOnConsole: on the console the answer buttons are pressed
// like any other ("!1" is Done): someone without a role is refused, an
// allowed Skip lets the run end.
func TestManualStepOnConsole(t *testing.T) {
	_, out, say := consoleStack(t, stackOptions{Automations: []config.Automation{}, Runbooks: []string{lookBook}})
	say("/runbook run look")
	waitOut(t, out, "[1] Done  [2] Failed  [3] Skip  [4] Cancel")
	waitOut(t, out, "Is the p99 graph back under 2 s?")
	say("!as dave")
	say("!1")
	waitOut(t, out, "You may not answer the steps of `look`")
	say("!as bob")
	say("!3")
	waitOut(t, out, "You answered Skipped to step 1 of run")
	waitOut(t, out, "look — succeeded")
}
