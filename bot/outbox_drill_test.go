package bot_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
)

// drillRunbooks: diag writes output, then waits for a gate file (so the
// outage can start while it runs) and ends; quick ends at once; fix needs
// an approval.
const drillRunbooks = `name: diag
description: Diagnostic that waits for a gate
kind: diagnostic
allow: [sre]
timeout: 1m
steps:
  - name: look
    script: |
      i=0; while [ $i -lt 50 ]; do echo "line $i"; i=$((i+1)); done
      while [ ! -e '%s' ]; do sleep 0.01; done
      echo gate open
---
name: quick
description: Diagnostic that ends at once
kind: diagnostic
allow: [sre]
steps:
  - {name: hello, run: [echo, hello]}
---
name: fix
description: Remediation behind an approval
kind: remediation
allow: [sre]
approval: {required: 1, approvers: [sre], allow_self: false, expires: 15m}
steps:
  - {name: fix, run: ["true"]}
`

// chatReplier answers in the channel through the (outboxed) chat, as an
// adapter whose replies are ordinary posts does.
type chatReplier struct {
	chat    bot.Chat
	channel string
}

func (r chatReplier) Reply(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	return r.chat.Post(ctx, bot.Target{Channel: r.channel}, m)
}

func (r chatReplier) Private(ctx context.Context, m bot.Message) error {
	_, err := r.chat.Post(ctx, bot.Target{Channel: r.channel}, m)
	return err
}

// TestChatOutageDrill is issue 7's chat outage drill: the chat API fails
// (500s and timeouts) for 60 s of clock time in the middle of an incident.
// A run that was going keeps going and ends; an approval card and a new
// run's message requested during the outage wait in the outbox; when the
// API returns, everything arrives in the order it was made, every final
// frame included.
func TestChatOutageDrill(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	logger := slog.New(slog.DiscardHandler)
	clock := newVirtualClock()
	fake := newFlakyChat(clock)
	// The fault switch sits between the outbox and the recording chat.
	chat := bot.NewOutbox(faultyFiles{fake}, bot.OutboxOptions{Clock: clock, Logger: logger})
	ob, _ := bot.OutboxOf(chat)
	h := commandstest.New(t, commandstest.Options{
		Roles:    map[string][]string{"sre": {"console:alice", "console:bob"}},
		Runbooks: []string{fmt.Sprintf(drillRunbooks, gate)},
		Bot:      config.Bot{StreamInterval: 10 * time.Millisecond},
		Logger:   logger,
		Chat:     func(*bolt.Store) bot.Chat { return chat },
	})
	b, st := h.Bot, h.Store
	say := func(who, line string) {
		b.HandleEvent(context.Background(), &bot.Command{
			Platform: bottest.Platform, Actor: bottest.User(who), Channel: bottest.Channel,
			Name: "runbook", Text: line, Reply: chatReplier{chat, bottest.Channel}, Received: time.Now(),
		})
	}
	runOf := func(name string) *runbooks.Run {
		runs, err := st.ListRuns(context.Background(), runbooks.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			if r.Runbook == name {
				return r
			}
		}
		return nil
	}

	// Before the outage: diag starts and streams.
	say("alice", "run diag")
	waitUntil(t, "diag streams output", func() bool {
		msgs := fake.Messages()
		return len(msgs) == 1 && strings.Contains(bottest.Text(msgs[0].Last()), "line 49")
	})
	diag := runOf("diag")

	// The API goes down for 60 s.
	clock.Freeze()
	start := clock.Now()
	fake.Outage(60 * time.Second)

	var requests sync.WaitGroup
	request := func(who, line string) {
		requests.Add(1)
		go func() { defer requests.Done(); say(who, line) }()
	}
	request("alice", "run fix") // approval card
	waitUntil(t, "the approval card waits in the outbox", func() bool { p, _ := ob.Pending(bottest.Channel); return p == 1 })
	request("bob", "run quick") // a new run's message
	waitUntil(t, "the second post waits in the outbox", func() bool { p, _ := ob.Pending(bottest.Channel); return p == 2 })

	// The run keeps going and ends while the chat is down.
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "diag ends in the store", func() bool {
		r, err := st.GetRun(context.Background(), diag.ID)
		return err == nil && r.State.Final()
	})
	if r, _ := st.GetRun(context.Background(), diag.ID); r.State != runbooks.StateSucceeded {
		t.Fatalf("diag ended %s during the outage, want succeeded", r.State)
	}
	if got := bottest.Text(fake.Messages()[0].Last()); strings.Contains(got, "gate open") {
		t.Fatal("the final frame went out while the chat was down")
	}
	if n := len(fake.Messages()); n != 1 {
		t.Fatalf("%d messages reached the chat during the outage, want 1", n)
	}
	if fake.Failures() == 0 {
		t.Fatal("nothing tried the chat during the outage")
	}

	// The API comes back once the minute has passed.
	clock.Thaw()
	requests.Wait()
	waitUntil(t, "every final frame arrives", func() bool {
		msgs := fake.Messages()
		return len(msgs) == 3 &&
			strings.Contains(bottest.Text(msgs[0].Last()), "gate open") && strings.Contains(bottest.Text(msgs[0].Last()), "succeeded") &&
			strings.Contains(bottest.Text(msgs[2].Last()), "succeeded")
	})
	if waited := clock.Now().Sub(start); waited < 60*time.Second {
		t.Errorf("the outbox got through after %v of clock time, before the outage ended", waited)
	}
	msgs := fake.Messages()
	card := bottest.Text(msgs[1].Last())
	if !strings.Contains(card, "fix") || !strings.Contains(card, "[Approve]") {
		t.Errorf("second message is not fix's approval card:\n%s", card)
	}
	if quick := bottest.Text(msgs[2].Last()); !strings.Contains(quick, "quick") || !strings.Contains(quick, "hello") {
		t.Errorf("third message is not quick's final frame:\n%s", quick)
	}
	s := ob.Stats()
	if s.Refused != 0 || s.Failed != 0 || s.Queued != 0 || s.Retries == 0 {
		t.Errorf("outbox stats %+v: want retries, nothing refused, failed or left", s)
	}
	t.Logf("outage drill: %d failed calls during %v of clock time; outbox %+v", fake.Failures(), clock.Now().Sub(start), s)
}

// faultyFiles is the flaky chat with the fake's upload capability, so the
// bot attaches logs as it would on a real platform.
type faultyFiles struct{ *flakyChat }

func (f faultyFiles) Upload(ctx context.Context, to bot.Target, file bot.File) error {
	if err := f.fault(); err != nil {
		return err
	}
	return bottest.FileChat{Chat: f.Chat}.Upload(ctx, to, file)
}
