package runbookchat_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/runbooks"
)

// checklist mixes an automated step with a manual one; sre and dev may
// run it, so they answer its manual step, and nobody else.
const checklist = `
name: failover-check
kind: diagnostic
allow: [sre, dev]
timeout: 1m
steps:
  - name: before
    run: [echo, automated before]
  - name: check replication
    manual: "Open the DB dashboard; is replication lag under 5 s?"
  - name: after
    run: [echo, automated after]
`

// waitPrompt runs the checklist as alice and returns its live message
// once it shows the manual step's buttons.
func waitPrompt(t *testing.T, h *commandstest.Harness) *bottest.Msg {
	t.Helper()
	msg := h.Say(alice, "/runbook run failover-check").Card(t)
	h.WaitFor(msg, "the answer buttons", func(m bot.Message) bool { return hasButton(m, "Done") })
	return msg
}

func hasButton(m bot.Message, label string) bool {
	for _, b := range m.Buttons {
		if b.Label == label {
			return true
		}
	}
	return false
}

// TestManualStepInChat: the live message shows the instruction with
// [Done] [Failed] [Skip] (and [Cancel]); someone who may not run the
// runbook is told why and changes nothing; an allowed answer is recorded
// on the audit chain and the run goes on.
func TestManualStepInChat(t *testing.T) {
	h := newHarness(t, commandstest.Options{Runbooks: []string{checklist}})
	msg := waitPrompt(t, h)
	shown := msg.Last()
	text := bottest.Text(shown)
	if !strings.Contains(text, "Step 2, check replication, waits for an answer") || !strings.Contains(text, "is replication lag under 5 s?") {
		t.Errorf("live message does not show the step's instruction:\n%s", text)
	}
	var labels []string
	for _, b := range shown.Buttons {
		labels = append(labels, b.Label)
	}
	if got := strings.Join(labels, " "); got != "Done Failed Skip Cancel" {
		t.Errorf("buttons = %s, want Done Failed Skip Cancel", got)
	}
	id := h.LastRun().ID
	doneButton := h.Button(msg, "Done")

	refused := h.Click(dave, msg, "Done")
	if !strings.Contains(refused.PrivateText(), "You may not answer the steps of `failover-check`") {
		t.Errorf("dave was told %q", refused.PrivateText())
	}
	if run := h.LastRun(); len(run.Answers) != 0 || run.State != runbooks.StateRunning {
		t.Fatalf("dave's click changed the run: %+v", run)
	}

	ok := h.Click(bob, msg, "Skip")
	if !strings.Contains(ok.PrivateText(), "You answered Skipped to step 2 of run "+id) {
		t.Errorf("bob was told %q", ok.PrivateText())
	}
	run := h.WaitFinal(id)
	if run.State != runbooks.StateSucceeded || len(run.Answers) != 1 || run.Answers[0].By != bob.ID || run.Answers[0].Answer != runbooks.AnswerSkipped {
		t.Fatalf("run ended %s with answers %+v", run.State, run.Answers)
	}
	final := msg.Last()
	if len(final.Buttons) != 0 || !strings.Contains(bottest.Text(final), "automated after") {
		t.Errorf("final message:\n%s", bottest.Text(final))
	}
	var answers []audit.Entry
	for _, e := range h.AuditEntries() {
		if e.Action == audit.ActionRunAnswer {
			answers = append(answers, e)
		}
	}
	if len(answers) != 1 || answers[0].Actor != bob.ID || answers[0].Detail["answer"] != "skipped" {
		t.Errorf("run.answer entries = %+v", answers)
	}

	// The button as it was shown, pressed after the answer: told who.
	late := h.Press(carol, msg, doneButton)
	if !strings.Contains(late.PrivateText(), "already answered Skipped by @bob") {
		t.Errorf("a late click was told %q", late.PrivateText())
	}
}

// TestManualStepConcurrentClicks: two people click at once on the same
// step; exactly one answer counts and the other is told who answered
// first.
func TestManualStepConcurrentClicks(t *testing.T) {
	h := newHarness(t, commandstest.Options{Runbooks: []string{checklist}})
	msg := waitPrompt(t, h)
	done, failed := h.Button(msg, "Done"), h.Button(msg, "Failed")
	gate := make(chan struct{})
	turns := make([]*commandstest.Turn, 2)
	var wg sync.WaitGroup
	for i, click := range []struct {
		who bot.Actor
		b   bot.Button
	}{{bob, done}, {carol, failed}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			turns[i] = h.Press(click.who, msg, click.b)
		}()
	}
	close(gate)
	wg.Wait()
	run := h.WaitFinal(h.LastRun().ID)
	if len(run.Answers) != 1 {
		t.Fatalf("%d answers stored, want 1: %+v", len(run.Answers), run.Answers)
	}
	first := run.Answers[0]
	winner, loser := turns[0], turns[1]
	if first.By == carol.ID {
		winner, loser = loser, winner
	}
	if !strings.Contains(winner.PrivateText(), "You answered "+first.Answer.Label()) {
		t.Errorf("the first click was told %q", winner.PrivateText())
	}
	if want := "already answered " + first.Answer.Label() + " by @" + first.ByName; !strings.Contains(loser.PrivateText(), want) {
		t.Errorf("the second click was told %q, want %q", loser.PrivateText(), want)
	}
	want := runbooks.StateSucceeded
	if first.Answer == runbooks.AnswerFailed {
		want = runbooks.StateFailed
	}
	if run.State != want {
		t.Errorf("run ended %s after %s", run.State, first.Answer)
	}
}

// TestGoldenWaitingOnManualStep: how a run waiting on a manual step reads.
func TestGoldenWaitingOnManualStep(t *testing.T) {
	clock := commandstest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	h := newHarness(t, commandstest.Options{Clock: clock, Runbooks: []string{checklist}})
	msg := h.Say(alice, "/runbook run failover-check").Card(t)
	waiting := h.WaitFor(msg, "the prompt with its log line", func(m bot.Message) bool {
		return hasButton(m, "Done") && strings.Contains(bottest.Text(m), "==> waiting for an answer")
	})
	golden(t, "waiting_manual", waiting)
}
