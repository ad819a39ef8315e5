package slack

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/slack/slacktest"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/store/bolt"
)

// checklistRunbook has one manual step between two automated ones.
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

// answerButtons returns the values of the answer buttons of a Slack
// message by their labels.
func answerButtons(m slacktest.Message) map[string]string {
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
			Text     struct {
				Text string `json:"text"`
			} `json:"text"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(m.Blocks, &blocks)
	out := map[string]string{}
	for _, b := range blocks {
		for _, e := range b.Elements {
			if b.Type == "actions" && strings.HasPrefix(e.ActionID, "answer_") {
				out[e.Text.Text] = e.Value
			}
		}
	}
	return out
}

// TestManualStepOverSlack: the run's live message in Slack shows the
// manual step's instruction and its buttons; two people press Done and
// Failed at once over Socket Mode; one answer counts, the other person is
// told privately who answered first, and the run goes on from the one
// that counted.
func TestManualStepOverSlack(t *testing.T) {
	h := newHarness(t, ModeSocket)
	b := commandstest.New(t, commandstest.Options{
		Roles:    map[string][]string{"sre": {"slack:UBOB"}, "dev": {"slack:UALICE"}},
		Runbooks: []string{checklistRunbook},
		Bot:      config.Bot{StreamInterval: 50 * time.Millisecond},
		Chat:     func(*bolt.Store) bot.Chat { return h.a },
	})
	h.ev.mu.Lock()
	h.ev.then = b.Bot.HandleEvent
	h.ev.mu.Unlock()

	h.command("/runbook", "run checklist", "UALICE", "C1")
	var live slacktest.Message
	eventually(t, "the live message with the answer buttons", func() bool {
		for _, m := range h.fake.Messages("C1") {
			if len(answerButtons(m)) == 3 && !m.Ephemeral {
				live = m
				return true
			}
		}
		return false
	})
	if !strings.Contains(string(live.Blocks), "Is the p99 graph under 2 s?") {
		t.Fatalf("live message lacks the instruction: %s", live.Blocks)
	}
	btns := answerButtons(live)
	var wg sync.WaitGroup
	acks := make([]<-chan slacktest.Ack, 2)
	for i, c := range []struct{ user, label string }{{"UBOB", "Done"}, {"UALICE", "Failed"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ack, err := h.fake.Send(slacktest.Envelope{Type: "interactive",
				Payload: slacktest.BlockAction(c.user, "C1", live.TS, "answer_"+strings.ToLower(c.label), btns[c.label], h.fake.ResponseURL())})
			if err != nil {
				t.Error(err)
				return
			}
			acks[i] = ack
		}()
	}
	wg.Wait()
	for _, a := range acks {
		if a == nil {
			t.FailNow()
		}
		select {
		case <-a:
		case <-time.After(10 * time.Second):
			t.Fatal("click not acknowledged")
		}
	}
	run := b.WaitFinal(b.LastRun().ID)
	if len(run.Answers) != 1 {
		t.Fatalf("answers = %+v", run.Answers)
	}
	loser := "UALICE"
	if run.Answers[0].By == "slack:UALICE" {
		loser = "UBOB"
	}
	eventually(t, "the second click told who answered first", func() bool {
		for _, r := range h.fake.Responses() {
			if r.ResponseType == "ephemeral" && strings.Contains(r.Text, "was already answered "+run.Answers[0].Answer.Label()) {
				return true
			}
		}
		for _, m := range h.fake.Messages("C1") {
			if m.Ephemeral && m.User == loser && strings.Contains(m.Text, "was already answered") {
				return true
			}
		}
		return false
	})
	want := "succeeded"
	if run.Answers[0].Answer == "failed" {
		want = "failed"
	}
	if string(run.State) != want {
		t.Errorf("run ended %s after the answer %s", run.State, run.Answers[0].Answer)
	}
	eventually(t, "final frame", func() bool {
		m, _ := h.fake.Message("C1", live.TS)
		return strings.Contains(m.Text, want)
	})
	final, _ := h.fake.Message("C1", live.TS)
	if len(answerButtons(final)) != 0 {
		t.Errorf("the final frame still offers answers: %s", final.Blocks)
	}
	for _, c := range h.fake.Calls() {
		if c.Error == "invalid_blocks" || c.Error == "msg_blocks_too_long" {
			t.Errorf("Slack refused a message: %s %s", c.Method, c.Error)
		}
	}
}
