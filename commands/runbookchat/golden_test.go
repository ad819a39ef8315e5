package runbookchat_test

import (
	"flag"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands/commandstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares the console rendering of m with testdata/name.golden.
func golden(t *testing.T, name string, m bot.Message) {
	t.Helper()
	commandstest.Golden(t, name, m, *update)
}

// goldenBooks are the runbooks the golden conversations use: each ends in
// a known way, and output is known before any frame is taken.
var goldenBooks = []string{restartAPI, `
name: show-disk
description: Show disk usage
kind: diagnostic
params:
  - {name: path, type: string, default: /var}
  - {name: token, type: string, secret: true, default: s3cr3t-t0ken}
allow: [dev, sre]
timeout: 1m
steps:
  - name: usage
    script: |
      echo "Filesystem  Size  Used Avail Use%"
      echo "/dev/sda1    50G   31G   19G  62% $TEBURA_PARAM_PATH"
      echo "token is $TEBURA_PARAM_TOKEN"
`, `
name: fail-check
description: A check that fails
kind: diagnostic
allow: [dev]
timeout: 1m
steps:
  - name: check
    script: |
      echo "checking replication"
      echo "replica lag 340s > 60s" >&2
      exit 3
`, `
name: hang
description: A step that never ends
kind: diagnostic
allow: [dev]
timeout: 1s
steps:
  - name: wait
    script: |
      echo "waiting for the lock"
      sleep 30
`, `
name: tail-logs
description: Follow a log until cancelled
kind: diagnostic
allow: [dev]
lock: logs
timeout: 1m
steps:
  - name: follow
    script: |
      echo "line 1"
      echo "line 2"
      sleep 30
`}

func goldenHarness(t *testing.T) *commandstest.Harness {
	clock := commandstest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	return newHarness(t, commandstest.Options{Clock: clock, Runbooks: goldenBooks})
}

func TestGoldenApprovalCard(t *testing.T) {
	h := goldenHarness(t)
	card := h.Say(alice, "/runbook run restart-api env=prod").Card(t)
	golden(t, "approval_card", card.Versions()[0])
}

func TestGoldenSucceeded(t *testing.T) {
	h := goldenHarness(t)
	msg := h.Say(alice, "/runbook run show-disk").Card(t)
	h.WaitFinal(h.LastRun().ID)
	golden(t, "succeeded", msg.Last())
}

func TestGoldenFailed(t *testing.T) {
	h := goldenHarness(t)
	msg := h.Say(alice, "/runbook fail-check").Card(t)
	h.WaitFinal(h.LastRun().ID)
	golden(t, "failed", msg.Last())
}

func TestGoldenTimedOut(t *testing.T) {
	h := goldenHarness(t)
	msg := h.Say(alice, "/runbook run hang").Card(t)
	h.WaitFinal(h.LastRun().ID)
	golden(t, "timed_out", msg.Last())
}

func TestGoldenRunningThenCancelled(t *testing.T) {
	h := goldenHarness(t)
	msg := h.Say(alice, "/runbook run tail-logs").Card(t)
	running := h.WaitText(msg, "line 2")
	golden(t, "running", running)

	lock := h.Say(alice, "/runbook run tail-logs")
	if len(lock.Private()) != 1 {
		t.Fatalf("lock answer: %d private replies, want 1", len(lock.Private()))
	}
	golden(t, "lock_held", lock.Private()[0])

	// bob may neither run nor approve tail-logs: his click changes nothing.
	mustContain(t, "bob cancels", h.Click(bob, msg, "Cancel").PrivateText(), "no run `r1` you may see")
	h.Click(alice, msg, "Cancel")
	h.WaitFinal(h.LastRun().ID)
	golden(t, "cancelled", msg.Last())
}

func TestGoldenHelp(t *testing.T) {
	h := goldenHarness(t)
	turn := h.Say(alice, "/tebura help")
	if len(turn.Private()) != 1 {
		t.Fatalf("help: %d private replies, want 1", len(turn.Private()))
	}
	golden(t, "help", turn.Private()[0])
}
