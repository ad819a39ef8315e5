package main

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/bot/console"
)

// TestLogOutputRoute: the logger's writer can be routed through the console
// while other goroutines log (race-free), and after that a log line breaks
// the console's in-place redraw.
func TestLogOutputRoute(t *testing.T) {
	term := &bottest.SyncBuffer{}
	logs := newLogOutput(term)
	logger := newLoggerLevel("text", "info", logs)
	a := console.New(console.Options{Out: term, TTY: true})

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			logger.Info("before or after routing")
		}
	}()
	logs.route(a.Interleave(term))
	wg.Wait()

	ctx := context.Background()
	ref, _ := a.Post(ctx, bot.Target{}, bot.Message{Header: "job"})
	logger.Info("run ended", "run_id", "r2")
	_ = a.Edit(ctx, ref, bot.Message{Header: "job done"})
	got := term.String()
	if n := strings.Count(got, `msg="before or after routing"`); n != 20 {
		t.Errorf("%d of 20 log lines written:\n%s", n, got)
	}
	i := strings.Index(got, `msg="run ended" run_id=r2`)
	if i < 0 {
		t.Fatalf("log line missing:\n%q", got)
	}
	if after := got[i:]; strings.Contains(after, "\x1b[") || !strings.HasSuffix(after, "── m1 (update 1) ──\njob done\n") {
		t.Errorf("the update after the log line is not re-printed below it:\n%q", got)
	}
}
