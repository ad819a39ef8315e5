package runbookchat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/config"
)

// lockedLog is a bytes.Buffer safe for the concurrent writes of a logger.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *lockedLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *lockedLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tickingUntilGate prints a line every 10 ms until the test creates the
// gate file.
const tickingUntilGate = `
name: ticking
description: Print a tick every 10 ms until a gate opens
kind: diagnostic
allow: [dev]
timeout: 1m
steps:
  - name: tick
    script: |
      until [ -e '{gate}' ]; do echo tick; sleep 0.01; done
`

// TestFailedEditLogCarriesRunID makes the chat refuse the first edits of a
// run's live message: every log line about those edits names the run with
// run_id, so an operator can tell which run's message is stale.
func TestFailedEditLogCarriesRunID(t *testing.T) {
	var logs lockedLog
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The run prints until the chat has refused two edits, so it outlives
	// the stream's hold and its message is edited, however slow the machine.
	gate := filepath.Join(t.TempDir(), "gate")
	h := newHarness(t, commandstest.Options{Runbooks: []string{strings.ReplaceAll(tickingUntilGate, "{gate}", gate)},
		Bot: config.Bot{StreamInterval: 10 * time.Millisecond}, Logger: logger})
	var failed atomic.Int32
	h.Chat.SetEditHook(func(context.Context, bot.MessageRef, bot.Message) error {
		n := failed.Add(1)
		if n == 2 {
			if err := os.WriteFile(gate, nil, 0o600); err != nil {
				t.Error(err)
			}
		}
		if n <= 2 {
			return errors.New("chat refused the edit")
		}
		return nil
	})
	h.Say(alice, "/runbook run ticking")
	id := h.LastRun().ID
	h.WaitFinal(id)
	if failed.Load() < 2 {
		t.Fatalf("only %d edits were tried", failed.Load())
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["err"] != "chat refused the edit" {
			continue
		}
		n++
		if rec["run_id"] != id {
			t.Errorf("log line about a failed edit of run %s lacks run_id: %s", id, line)
		}
	}
	if n == 0 {
		t.Fatalf("no failed edit was logged:\n%s", logs.String())
	}
}
