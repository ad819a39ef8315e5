package commands_test

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
)

const flood = `
name: flood
description: Print 10,000 lines as fast as possible
kind: diagnostic
allow: [dev]
timeout: 1m
steps:
  - name: print
    run: [seq, 1, "10000"]
`

// A chat whose every edit takes 2s must not slow the run down: the run
// ends in about its own time, the chat sees few edits, and the last one
// holds the final state and the last lines; the full log is attached.
func TestStreamSlowChatDoesNotSlowRun(t *testing.T) {
	const editDelay = 2 * time.Second
	h := newHarness(t, bottest.Options{Runbooks: []string{flood}, Bot: config.Bot{StreamInterval: 100 * time.Millisecond}})
	h.Chat.SetEditHook(func(ctx context.Context, _ bot.MessageRef, _ bot.Message) error {
		select {
		case <-time.After(editDelay):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	began := time.Now()
	msg := h.Say(alice, "/runbook run flood").Card(t)
	id := h.LastRun().ID
	var run *runbooks.Run
	for {
		r, err := h.Store.GetRun(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State.Final() {
			run = r
			break
		}
		if time.Since(began) > 30*time.Second {
			t.Fatalf("run still %s after 30s", r.State)
		}
		time.Sleep(2 * time.Millisecond)
	}
	runTook := time.Since(began)
	if runTook >= editDelay {
		t.Errorf("the run took %v to end: the %v edits slowed it down", runTook, editDelay)
	}
	h.WaitFinal(id)
	if run.State != runbooks.StateSucceeded {
		t.Fatalf("state = %s (%s)", run.State, run.Reason)
	}
	edits := len(msg.Versions()) - 1
	t.Logf("run ended after %v; %d edits of the message", runTook, edits)
	if edits < 1 || edits > 4 {
		t.Errorf("%d edits, want a few (the final included)", edits)
	}
	last := msg.Last()
	text := bottest.Text(last)
	mustContain(t, "last edit", text, "flood — succeeded")
	mustContain(t, "last edit", last.Code.Text, "\n10000\n")
	mustContain(t, "last edit", text, "full log attached as flood-"+id+".log")
	if len(last.Buttons) != 0 {
		t.Errorf("final frame has buttons %v", last.Buttons)
	}
	files := h.Chat.Files()
	if len(files) != 1 || !strings.Contains(string(files[0].File.Content), "\n1\n2\n3\n") || !strings.Contains(string(files[0].File.Content), "\n9999\n10000\n") {
		t.Fatalf("uploaded files = %d, want the full log with every line", len(files))
	}
	mustContain(t, "logs", h.Say(alice, "/runbook logs "+id).PrivateText(), "\n9999\n10000")
	if n := len(h.Chat.Files()); n != 1 {
		t.Errorf("/runbook logs of a long log: %d files, want no upload into the channel", n)
	}
}

// Without the upload capability the final frame says where the full log is.
func TestStreamWithoutFilesPointsToLogs(t *testing.T) {
	h := newHarness(t, bottest.Options{Runbooks: []string{flood}, NoFiles: true})
	msg := h.Say(alice, "/runbook run flood").Card(t)
	id := h.LastRun().ID
	h.WaitFinal(id)
	mustContain(t, "final", bottest.Text(msg.Last()), "full log: `/runbook logs "+id+"`")
	logs := h.Say(alice, "/runbook logs "+id).PrivateText()
	mustContain(t, "logs", logs, "\n9999\n10000\n")
}

// Edits of one message never come closer than the stream interval.
func TestStreamEditsRespectThrottle(t *testing.T) {
	const interval = 100 * time.Millisecond
	ticker := `
name: ticker
kind: diagnostic
allow: [dev]
timeout: 1m
steps:
  - name: tick
    script: |
      i=0
      while [ $i -lt 100 ]; do echo "tick $i"; i=$((i+1)); sleep 0.01; done
`
	h := newHarness(t, bottest.Options{Runbooks: []string{ticker}, Bot: config.Bot{StreamInterval: interval}})
	var mu sync.Mutex
	var starts []time.Time
	h.Chat.SetEditHook(func(context.Context, bot.MessageRef, bot.Message) error {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		return nil
	})
	h.Say(alice, "/runbook run ticker").Card(t)
	h.WaitFinal(h.LastRun().ID)
	mu.Lock()
	defer mu.Unlock()
	if len(starts) < 3 {
		t.Fatalf("only %d edits for a 1s run; the stream did not update", len(starts))
	}
	// The final frame is exempt from the interval (it is sent at once).
	var gaps []time.Duration
	for i := 1; i < len(starts)-1; i++ {
		gaps = append(gaps, starts[i].Sub(starts[i-1]))
	}
	minGap := slices.Min(gaps)
	span := starts[len(starts)-2].Sub(starts[0]).Seconds()
	rate := float64(len(starts)-2) / span
	t.Logf("%d edits, smallest gap %v, %.1f edits/s (limit %.1f)", len(starts), minGap, rate, float64(time.Second)/float64(interval))
	// The hook timestamps an edit a little after the stream decided to send
	// it; 2ms absorbs that scheduling noise, far below the interval.
	const noise = 2 * time.Millisecond
	if minGap < interval-noise {
		t.Errorf("two edits %v apart, closer than the %v throttle", minGap, interval)
	}
	if limit := float64(time.Second) / float64(interval); rate > limit*1.02 {
		t.Errorf("%.2f edits/s, above the throttle's %.2f", rate, limit)
	}
}

// BenchmarkCommandToFirstFrame measures from HandleEvent of /runbook run
// (no approval) to the first message the chat receives.
func BenchmarkCommandToFirstFrame(b *testing.B) {
	quick := `
name: quick
kind: diagnostic
allow: [dev]
timeout: 1m
steps:
  - name: hi
    run: [echo, hi]
`
	h := bottest.New(b, bottest.Options{Roles: roles(), Runbooks: []string{quick}})
	lat := make([]time.Duration, 0, b.N)
	for b.Loop() {
		lat = append(lat, h.FirstPost(alice, "/runbook run quick"))
		b.StopTimer()
		h.WaitFinal(h.LastRun().ID)
		b.StartTimer()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
