package slack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/slack/slacktest"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/store/bolt"
)

// restartRunbook is a remediation that needs one approval from sre and
// prints more than a message can hold, then waits for the test's gate.
const restartRunbook = `
name: restart-api
description: Restart the API and print a long rollout log
kind: remediation
params:
  - {name: env, type: enum, values: [staging, prod], required: true}
allow: [dev, sre]
approval: {required: 1, approvers: [sre], allow_self: false, expires: 15m}
timeout: 1m
steps:
  - name: rollout
    script: |
      seq 1 3000
      until [ -e '{gate}' ]; do sleep 0.01; done
`

// slowRunbook is a diagnostic that prints a tick, waits for the test's
// gate, and prints 29 more.
const slowRunbook = `
name: slow-diag
description: Print ticks around a wait
kind: diagnostic
allow: [dev, sre]
timeout: 1m
steps:
  - name: tick
    script: |
      echo "tick 1"
      until [ -e '{gate}' ]; do sleep 0.01; done
      i=1
      while [ $i -lt 30 ]; do i=$((i+1)); echo "tick $i"; done
`

// gate is a file the runbooks above wait for: the test opens it once it
// has seen what it wants of the running run, so a run cannot end before a
// frame was streamed, however late the stream's worker gets the CPU (a
// Stream drops a frame still pending at Close: the final frame supersedes
// it).
type gate string

// open lets the waiting runs go on.
func (g gate) open(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(string(g), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startRealBot wires the real bot (router, runbook flows, bolt store,
// executor, audit, access through Slack user groups) behind the harness's
// adapter, with the runbooks above waiting for the returned gate.
func startRealBot(t *testing.T, h *harness) gate {
	t.Helper()
	g := gate(filepath.Join(t.TempDir(), "gate"))
	books := []string{strings.ReplaceAll(restartRunbook, "{gate}", string(g)), strings.ReplaceAll(slowRunbook, "{gate}", string(g))}
	// Roles granted to Slack user groups: alice is in S2 (dev), bob in S1
	// (sre). Alice is also an approver in her own name, so that only the
	// four-eyes rule stops her approving her own request.
	b := commandstest.New(t, commandstest.Options{
		Roles:    map[string][]string{"sre": {"slack-group:S1", "slack:UALICE"}, "dev": {"slack-group:S2"}},
		Runbooks: books,
		Bot:      config.Bot{StreamInterval: 50 * time.Millisecond},
		Chat:     func(*bolt.Store) bot.Chat { return h.a },
	}).Bot
	h.ev.mu.Lock()
	h.ev.then = b.HandleEvent
	h.ev.mu.Unlock()
	return g
}

// button finds a button by action_id in a message's blocks.
func button(m slacktest.Message, actionID string) (value string, ok bool) {
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(m.Blocks, &blocks)
	for _, b := range blocks {
		for _, e := range b.Elements {
			if b.Type == "actions" && e.ActionID == actionID {
				return e.Value, true
			}
		}
	}
	return "", false
}

// TestEndToEnd drives the real bot over Socket Mode and over HTTP mode:
// alice asks for a remediation, the approval card appears, her own Approve
// is refused privately, bob's Approve starts the run, the card is edited
// with output while the run waits, the final frame shows success and the
// long output arrives as an uploaded file.
func TestEndToEnd(t *testing.T) {
	for _, mode := range []string{ModeSocket, ModeHTTP} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, mode)
			g := startRealBot(t, h)

			h.command("/runbook", "run restart-api env=prod", "UALICE", "C1")
			var card slacktest.Message
			eventually(t, "approval card", func() bool {
				for _, m := range h.fake.Messages("C1") {
					if _, ok := button(m, "approve"); ok && !m.Ephemeral {
						card = m
						return true
					}
				}
				return false
			})
			approve, _ := button(card, "approve")
			ref := bot.MessageRef{Platform: Platform, Channel: "C1", ID: card.TS}

			// Alice may not approve her own request: a private refusal.
			h.click("UALICE", ref, "approve", approve)
			eventually(t, "private refusal", func() bool {
				for _, r := range h.fake.Responses() {
					if r.ResponseType == "ephemeral" && strings.Contains(r.Text, "someone else to approve") {
						return true
					}
				}
				for _, m := range h.fake.Messages("C1") {
					if m.Ephemeral && m.User == "UALICE" && strings.Contains(m.Text, "someone else to approve") {
						return true
					}
				}
				return false
			})
			if m, _ := h.fake.Message("C1", card.TS); strings.Contains(m.Text, "succeeded") || strings.Contains(m.Text, "running") {
				t.Fatalf("self-approval started the run: %q", m.Text)
			}

			// Bob approves: the card becomes the live run, streams the
			// output, and ends in success once the gate opens.
			h.click("UBOB", ref, "approve", approve)
			eventually(t, "the card streaming the run's output", func() bool {
				m, _ := h.fake.Message("C1", card.TS)
				return strings.Contains(m.Text, "running") && strings.Contains(string(m.Blocks), "3000")
			})
			g.open(t)
			eventually(t, "final frame", func() bool {
				m, _ := h.fake.Message("C1", card.TS)
				return strings.Contains(m.Text, "succeeded")
			})
			final, _ := h.fake.Message("C1", card.TS)
			if final.Edits < 2 {
				t.Errorf("card edited %d times, want the run streamed", final.Edits)
			}
			if !strings.Contains(string(final.Blocks), "3000") {
				t.Errorf("final frame lacks the output tail: %s", final.Blocks)
			}
			eventually(t, "log uploaded", func() bool { return len(h.fake.Files()) == 1 && h.fake.Files()[0].Shared })
			f := h.fake.Files()[0]
			if !strings.Contains(string(f.Content), "\n1500\n") || f.Channel != "C1" {
				t.Errorf("uploaded file %s in %s: %d bytes", f.Name, f.Channel, len(f.Content))
			}
			if n := len(h.fake.Calls("files.upload")); n != 0 {
				t.Errorf("files.upload used %d times", n)
			}
			if early := h.fake.Early(); len(early) > 0 {
				t.Errorf("requests before Retry-After:\n%s", fmtCalls(early))
			}
			for _, c := range h.fake.Calls() {
				if c.Error == "invalid_blocks" || c.Error == "msg_blocks_too_long" {
					t.Errorf("Slack refused a message: %s %s", c.Method, c.Error)
				}
			}
		})
	}
}

// TestEndToEndReconnectMidRun: Slack asks for a refresh while a run
// streams; the replacement connection takes over, events arrive on it, and
// the run's message keeps being edited to its final frame.
func TestEndToEndReconnectMidRun(t *testing.T) {
	h := newHarness(t, ModeSocket)
	g := startRealBot(t, h)
	h.command("/runbook", "run slow-diag", "UALICE", "C1")
	var live slacktest.Message
	eventually(t, "run streaming", func() bool {
		for _, m := range h.fake.Messages("C1") {
			if strings.Contains(string(m.Blocks), "tick") && !m.Ephemeral {
				live = m
				return true
			}
		}
		return false
	})
	h.fake.Disconnect("refresh_requested")
	refreshed := time.Now()
	eventually(t, "replacement connection", func() bool { return h.fake.Connections() == 2 && h.fake.OpenConnections() == 1 })

	h.command("/tebura", "whoami", "UBOB", "C1")
	if acks := h.fake.Acks(); acks[len(acks)-1].Conn != 2 {
		t.Fatalf("command acked on connection %d, want 2", acks[len(acks)-1].Conn)
	}
	g.open(t)
	eventually(t, "final frame", func() bool {
		m, _ := h.fake.Message("C1", live.TS)
		return strings.Contains(m.Text, "succeeded")
	})
	m, _ := h.fake.Message("C1", live.TS)
	if !strings.Contains(string(m.Blocks), "tick 30") {
		t.Errorf("final frame lacks the last line: %s", m.Blocks)
	}
	after := 0
	for _, c := range h.fake.Calls("chat.update") {
		if c.At.After(refreshed) && c.Form.Get("ts") == live.TS {
			after++
		}
	}
	if after == 0 {
		t.Error("no edit of the live message after the refresh")
	}
}
