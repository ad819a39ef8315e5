package slack

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/slack/slacktest"
	"github.com/tebura/tebura/config"
)

// The tests of this file check that Run owns the goroutines the adapter
// starts: handler goroutines (slash commands, clicks, events, Socket Mode
// envelopes) and the send queues' drains. They run in synctest bubbles:
// synctest.Wait lets every goroutine of the bubble settle, so "Run has
// returned" and "nothing of the adapter is still running" are exact, and
// the stop bound passes in virtual time.

// runningAdapter is an HTTP-mode adapter running in a synctest bubble
// against fake (in process), with its routes on mux and its log kept.
type runningAdapter struct {
	a      *Adapter
	mux    *http.ServeMux
	logs   *logSink
	cancel context.CancelFunc
	done   chan error
}

// startInBubble builds and runs the adapter; call it inside the bubble,
// with fake made outside it.
func startInBubble(t *testing.T, fake *slacktest.Server, h bot.Handler) *runningAdapter {
	t.Helper()
	logs := &logSink{}
	a, err := New(config.Slack{
		Enabled: true, Mode: ModeHTTP, BotToken: slacktest.BotToken, SigningSecret: testSecret,
		APIURL: fake.URL, Channels: config.SlackChannels{Incidents: "C1"},
	}, Deps{Deduper: newMapDeduper(), HTTPClient: fake.Client()}, slog.New(teeHandler{testLogger(t).Handler(), logs}))
	if err != nil {
		t.Fatal(err)
	}
	r := &runningAdapter{a: a, mux: http.NewServeMux(), logs: logs, done: make(chan error, 1)}
	a.Mount(r.mux)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- a.Run(ctx, h) }()
	synctest.Wait()
	if err := a.Ready(); err != nil {
		t.Fatalf("not ready: %v", err)
	}
	return r
}

// serve sends a signed HTTP-mode request through the adapter's routes and
// expects 200.
func (r *runningAdapter) serve(t *testing.T, path, contentType string, body []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(testSecret, ts, body))
	rec := httptest.NewRecorder()
	r.mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: HTTP %d", path, rec.Code)
	}
}

// stop cancels Run's context and returns how long Run took to return.
func (r *runningAdapter) stop(t *testing.T) time.Duration {
	t.Helper()
	t0 := time.Now()
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	return time.Since(t0)
}

// adapterGoroutines returns the stacks of live goroutines that are inside
// a method of this package (the adapter's, its queues', its readers'),
// once every goroutine of the bubble has settled.
func adapterGoroutines() []string {
	synctest.Wait()
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "tebura/tebura/bot/slack.(*") {
			out = append(out, g)
		}
	}
	return out
}

// deliveries are the ways an event reaches a handler goroutine.
func deliveries(fake *slacktest.Server) []struct {
	name    string
	deliver func(t *testing.T, r *runningAdapter)
} {
	return []struct {
		name    string
		deliver func(t *testing.T, r *runningAdapter)
	}{
		{"slash command", func(t *testing.T, r *runningAdapter) {
			r.serve(t, PathCommands, "application/x-www-form-urlencoded",
				form(slacktest.SlashCommand("/runbook", "list", "UALICE", "C1", fake.ResponseURL())))
		}},
		{"click", func(t *testing.T, r *runningAdapter) {
			p, err := jsonString(slacktest.BlockAction("UBOB", "C1", "1700000000.000100", "approve", "cb-1", fake.ResponseURL()))
			if err != nil {
				t.Fatal(err)
			}
			r.serve(t, PathInteractions, "application/x-www-form-urlencoded", form(map[string]string{"payload": p}))
		}},
		{"event", func(t *testing.T, r *runningAdapter) {
			b, err := json.Marshal(slacktest.AppMention("Ev1", "UALICE", "C1", "runbook list"))
			if err != nil {
				t.Fatal(err)
			}
			r.serve(t, PathEvents, "application/json", b)
		}},
		{"socket envelope", func(t *testing.T, r *runningAdapter) {
			// What the Socket Mode reader does with an acknowledged
			// envelope (the websocket itself cannot live in a bubble).
			p, err := json.Marshal(slacktest.SlashCommand("/runbook", "list", "UALICE", "C1", fake.ResponseURL()))
			if err != nil {
				t.Fatal(err)
			}
			r.a.envelope(frame{Type: "slash_commands", EnvelopeID: "env-1", Payload: p})
		}},
	}
}

// TestRunWaitsForHandlers: a handler that is waiting on its context when
// Run's context is cancelled, and tidies up for a while after, has
// returned when Run returns, and nothing of the adapter is left running.
func TestRunWaitsForHandlers(t *testing.T) {
	fake := newFake(t)
	for _, d := range deliveries(fake) {
		t.Run(d.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const tidy = 100 * time.Millisecond
				entered := make(chan struct{}, 1)
				var returned atomic.Bool
				r := startInBubble(t, fake, bot.HandlerFunc(func(ctx context.Context, _ bot.Event) {
					entered <- struct{}{}
					<-ctx.Done()
					time.Sleep(tidy) // tidying up after the cancellation
					returned.Store(true)
				}))
				d.deliver(t, r)
				<-entered
				took := r.stop(t)
				if !returned.Load() {
					t.Fatalf("Run returned after %v while its handler was still running", took)
				}
				if took != tidy {
					t.Fatalf("Run returned after %v, want the handler's %v", took, tidy)
				}
				if g := adapterGoroutines(); len(g) > 0 {
					t.Fatalf("%d goroutines left after Run returned:\n%s", len(g), strings.Join(g, "\n\n"))
				}
			})
		})
	}
}

// TestRunWaitsForQueuedSends: a message a handler queued as it stopped
// (its context already cancelled, so it did not wait for the result) is
// sent before Run returns.
func TestRunWaitsForQueuedSends(t *testing.T) {
	fake := newFake(t)
	synctest.Test(t, func(t *testing.T) {
		entered := make(chan struct{}, 1)
		var a *Adapter
		r := startInBubble(t, fake, bot.HandlerFunc(func(ctx context.Context, _ bot.Event) {
			entered <- struct{}{}
			<-ctx.Done()
			_, _ = a.Post(ctx, bot.Target{Channel: "C2"}, bot.Message{Header: "stopping"})
		}))
		a = r.a
		deliveries(fake)[0].deliver(t, r)
		<-entered
		r.stop(t)
		if got := fake.Messages("C2"); len(got) != 1 || got[0].Text != "stopping" {
			t.Fatalf("messages in C2 when Run returned: %+v", got)
		}
		if g := adapterGoroutines(); len(g) > 0 {
			t.Fatalf("%d goroutines left after Run returned:\n%s", len(g), strings.Join(g, "\n\n"))
		}
	})
}

// TestStopCancelsStuckSends: a queued message that Slack's Retry-After
// holds past the stop bound is cancelled then, so Run returns after
// stopWait, not after the minute Slack asked for, and its drain is gone.
func TestStopCancelsStuckSends(t *testing.T) {
	fake := newFake(t)
	synctest.Test(t, func(t *testing.T) {
		entered := make(chan struct{}, 1)
		var a *Adapter
		r := startInBubble(t, fake, bot.HandlerFunc(func(ctx context.Context, _ bot.Event) {
			entered <- struct{}{}
			<-ctx.Done()
			_, _ = a.Post(ctx, bot.Target{Channel: "C2"}, bot.Message{Header: "stopping"})
		}))
		a = r.a
		fake.Force429("chat.postMessage", 60)
		deliveries(fake)[0].deliver(t, r)
		<-entered
		took := r.stop(t)
		if took != stopWait {
			t.Fatalf("Run returned after %v, want the stop bound %v", took, stopWait)
		}
		if got := fake.Messages("C2"); len(got) != 0 {
			t.Fatalf("a message went out after its Retry-After was cancelled: %+v", got)
		}
		if n := r.logs.count("slack messages dropped at stop"); n != 1 {
			t.Fatalf("%d drop warnings, want 1:\n%s", n, r.logs.text())
		}
		if g := adapterGoroutines(); len(g) > 0 {
			t.Fatalf("%d goroutines left after Run returned:\n%s", len(g), strings.Join(g, "\n\n"))
		}
		// Run has returned: a later Post is refused at once instead of
		// starting a queue nobody waits for.
		if _, err := a.Post(context.Background(), bot.Target{Channel: "C2"}, bot.Message{Header: "late"}); err == nil {
			t.Fatal("Post after Run returned was accepted")
		}
		if g := adapterGoroutines(); len(g) > 0 {
			t.Fatalf("a Post after Run returned left %d goroutines", len(g))
		}
	})
}

// TestStopBoundsHandlersThatIgnoreTheirContext: a handler that never looks
// at its context cannot hold shutdown: Run returns after stopWait and
// says so in the log.
func TestStopBoundsHandlersThatIgnoreTheirContext(t *testing.T) {
	fake := newFake(t)
	synctest.Test(t, func(t *testing.T) {
		entered := make(chan struct{}, 1)
		release := make(chan struct{})
		defer close(release) // the bubble ends only when every goroutine has
		r := startInBubble(t, fake, bot.HandlerFunc(func(context.Context, bot.Event) {
			entered <- struct{}{}
			<-release
		}))
		deliveries(fake)[0].deliver(t, r)
		<-entered
		took := r.stop(t)
		if took != stopWait {
			t.Fatalf("Run returned after %v, want the stop bound %v", took, stopWait)
		}
		if n := r.logs.count("slack handlers still running at stop running=1"); n != 1 {
			t.Fatalf("no error log naming the stuck handler:\n%s", r.logs.text())
		}
	})
}

// TestRunRunsOnce: the goroutines of one Run are waited for by that Run,
// so a second Run of the same adapter is refused.
func TestRunRunsOnce(t *testing.T) {
	fake := newFake(t)
	synctest.Test(t, func(t *testing.T) {
		h := bot.HandlerFunc(func(context.Context, bot.Event) {})
		r := startInBubble(t, fake, h)
		r.stop(t)
		if err := r.a.Run(context.Background(), h); tebura.ErrorCode(err) != tebura.ECONFLICT {
			t.Fatalf("second Run = %v, want a conflict", err)
		}
	})
}

// TestSocketRunWaitsForHandlers is TestRunWaitsForHandlers over a real
// Socket Mode connection to the fake: the handler's last message, sent
// after its context ended, is in Slack when Run returns, and the
// connection's reader is gone.
func TestSocketRunWaitsForHandlers(t *testing.T) {
	h := newHarness(t, ModeSocket)
	entered := make(chan struct{}, 1)
	h.ev.then = func(ctx context.Context, _ bot.Event) {
		entered <- struct{}{}
		<-ctx.Done()
		_, _ = h.a.Post(context.WithoutCancel(ctx), bot.Target{Channel: "C2"}, bot.Message{Header: "stopping"})
	}
	h.command("/runbook", "list", "UALICE", "C1")
	<-entered
	h.stop()
	if got := h.fake.Messages("C2"); len(got) != 1 {
		t.Fatalf("messages in C2 when Run returned: %+v", got)
	}
	eventually(t, "the adapter's goroutines to end", func() bool {
		buf := make([]byte, 1<<20)
		return !strings.Contains(string(buf[:runtime.Stack(buf, true)]), "tebura/tebura/bot/slack.(*")
	})
}
