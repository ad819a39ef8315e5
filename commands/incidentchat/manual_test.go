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
	live := waitAnswerButtons(t, chat, inc.Channel.ID)
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

// waitAnswerButtons returns the message of channel that shows [Done].
func waitAnswerButtons(t *testing.T, chat *cmChat, channel string) *bottest.Msg {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, m := range chat.inChannel(channel) {
			for _, b := range m.Last().Buttons {
				if b.Label == "Done" {
					return m
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no live message with the answer buttons")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestManualStepAcrossRestart: the bot stops while a run waits on a manual
// step; the run ends interrupted, as every running run does, its message
// loses the buttons, and after the restart a press of the old button
// changes nothing and says why.
func TestManualStepAcrossRestart(t *testing.T) {
	chat := newCMChat()
	dir := t.TempDir()
	o := stackOptions{Chat: chat, Automations: []config.Automation{}, Runbooks: []string{lookBook}}
	s := newStack(t, dir, o)
	s.say(chat, alice, "general", "/runbook run look")
	live := waitAnswerButtons(t, chat, "general")
	asked := len(live.Versions()) - 1
	id := s.Runs()[0].ID
	s.Close()
	if last := live.Last(); len(last.Buttons) != 0 || !strings.Contains(bottest.Text(last), "interrupted") {
		t.Errorf("after the stop the message shows:\n%s", bottest.Text(last))
	}

	s = newStack(t, dir, o)
	r := s.pressVersion(bob, chat, live, asked, "Done")
	if want := "Run " + id + " is interrupted, so its step 1 can no longer be answered."; !strings.Contains(r.text(), want) {
		t.Errorf("the old button said %q, want %q", r.text(), want)
	}
	run, err := s.Store.GetRun(context.Background(), id)
	if err != nil || run.State != runbooks.StateInterrupted || len(run.Answers) != 0 {
		t.Errorf("run after the press = %+v, %v", run, err)
	}
}
