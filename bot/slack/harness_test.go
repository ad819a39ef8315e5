package slack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/slack/slacktest"
	"github.com/tebura/tebura/config"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// clock is an adjustable clock for signatures and response_url expiry.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// events is a bot.Handler that records what it gets, plus an optional
// scripted behaviour.
type events struct {
	mu   sync.Mutex
	got  []bot.Event
	ch   chan bot.Event
	then func(ctx context.Context, ev bot.Event)
}

func newEvents() *events { return &events{ch: make(chan bot.Event, 256)} }

func (e *events) HandleEvent(ctx context.Context, ev bot.Event) {
	e.mu.Lock()
	e.got = append(e.got, ev)
	then := e.then
	e.mu.Unlock()
	if then != nil {
		then(ctx, ev)
	}
	e.ch <- ev
}

func (e *events) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.got)
}

func (e *events) next(t *testing.T) bot.Event {
	t.Helper()
	select {
	case ev := <-e.ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event delivered")
		return nil
	}
}

// harness runs an Adapter against the fake.
type harness struct {
	t     testing.TB
	fake  *slacktest.Server
	a     *Adapter
	ev    *events
	clock *clock
	srv   *httptest.Server // HTTP mode: the shared listener
	cfg   config.Slack
	deps  Deps
	logs  *logSink // every record of the adapter, debug included

	cancel context.CancelFunc
	done   chan error
}

type option func(*config.Slack, *Deps)

// newFake starts the fake Slack of the tests: channels C1 and C2 with the
// bot, CNOBOT without, user groups S1 (bob, carol) and S2 (alice).
func newFake(t testing.TB) *slacktest.Server {
	t.Helper()
	fake := slacktest.New()
	t.Cleanup(fake.Close)
	fake.AddChannel("C1", "ops", true)
	fake.AddChannel("C2", "other", true)
	fake.AddChannel("CNOBOT", "private-stuff", false)
	fake.AddGroup("S1", "UBOB", "UCAROL")
	fake.AddGroup("S2", "UALICE")
	return fake
}

// newBubbleAdapter builds an HTTP-mode adapter that reaches fake in
// process (slacktest.Server.Client), for a test inside a testing/synctest
// bubble: call it in the bubble, with fake made outside it. Rate-limit
// waits then cost virtual time only. The adapter is not Run: Post and Edit
// need no connection.
func newBubbleAdapter(t *testing.T, fake *slacktest.Server) *Adapter {
	t.Helper()
	a, err := New(config.Slack{
		Enabled: true, Mode: ModeHTTP, BotToken: slacktest.BotToken, SigningSecret: testSecret,
		APIURL: fake.URL, Channels: config.SlackChannels{Incidents: "C1"},
	}, Deps{Deduper: newMapDeduper(), HTTPClient: fake.Client()}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newHarness(t testing.TB, mode string, opts ...option) *harness {
	t.Helper()
	fake := newFake(t)
	h := &harness{t: t, fake: fake, ev: newEvents(), clock: &clock{}, logs: &logSink{}}
	h.cfg = config.Slack{
		Enabled:       true,
		Mode:          mode,
		BotToken:      slacktest.BotToken,
		AppToken:      slacktest.AppToken,
		SigningSecret: testSecret,
		APIURL:        fake.URL,
		Channels:      config.SlackChannels{Incidents: "C1"},
	}
	h.deps = Deps{Deduper: newMapDeduper(), Clock: h.clock.Now, WatchdogTimeout: 3 * time.Second, ReconnectBackoff: 50 * time.Millisecond}
	for _, o := range opts {
		o(&h.cfg, &h.deps)
	}
	h.start()
	return h
}

// start builds a fresh Adapter (a restart) and runs it.
func (h *harness) start() {
	h.t.Helper()
	a, err := New(h.cfg, h.deps, slog.New(teeHandler{testLogger(h.t).Handler(), h.logs}))
	if err != nil {
		h.t.Fatal(err)
	}
	h.a = a
	if h.cfg.Mode == ModeHTTP {
		mux := http.NewServeMux()
		a.Mount(mux)
		if h.srv != nil {
			h.srv.Close()
		}
		h.srv = httptest.NewServer(mux)
		h.t.Cleanup(h.srv.Close)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- a.Run(ctx, h.ev) }()
	h.t.Cleanup(h.stop)
	h.waitReady()
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		h.t.Error("Run did not return after cancel")
	}
}

func (h *harness) waitReady() {
	h.t.Helper()
	eventually(h.t, "adapter ready", func() bool { return h.a.Ready() == nil })
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// signed sends a signed HTTP-mode request; mutate may tamper with it.
func (h *harness) signed(path, contentType string, body []byte, mutate func(r *http.Request)) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(string(body)))
	if err != nil {
		h.t.Fatal(err)
	}
	ts := h.clock.Now().Unix()
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(testSecret, ts, body))
	if mutate != nil {
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func form(m map[string]string) []byte {
	v := url.Values{}
	for k, x := range m {
		v.Set(k, x)
	}
	return []byte(v.Encode())
}

// command delivers a slash command in the harness's mode.
func (h *harness) command(cmd, text, user, channel string) {
	h.t.Helper()
	p := slacktest.SlashCommand(cmd, text, user, channel, h.fake.ResponseURL())
	if h.cfg.Mode == ModeHTTP {
		if code, _ := h.signed(PathCommands, "application/x-www-form-urlencoded", form(p), nil); code != http.StatusOK {
			h.t.Fatalf("slash command: HTTP %d", code)
		}
		return
	}
	h.send(slacktest.Envelope{Type: "slash_commands", Payload: p})
}

// click delivers a button click in the harness's mode.
func (h *harness) click(user string, ref bot.MessageRef, actionID, value string) {
	h.t.Helper()
	p := slacktest.BlockAction(user, ref.Channel, ref.ID, actionID, value, h.fake.ResponseURL())
	if h.cfg.Mode == ModeHTTP {
		b, _ := jsonString(p)
		if code, _ := h.signed(PathInteractions, "application/x-www-form-urlencoded", form(map[string]string{"payload": b}), nil); code != http.StatusOK {
			h.t.Fatalf("click: HTTP %d", code)
		}
		return
	}
	h.send(slacktest.Envelope{Type: "interactive", Payload: p})
}

func (h *harness) send(e slacktest.Envelope) slacktest.Ack {
	h.t.Helper()
	ack, err := h.fake.Send(e)
	if err != nil {
		h.t.Fatal(err)
	}
	select {
	case a := <-ack:
		return a
	case <-time.After(10 * time.Second):
		h.t.Fatal("envelope not acknowledged")
		return slacktest.Ack{}
	}
}

// mapDeduper is a bot.Deduper whose memory outlives an Adapter, like the
// bolt store's, and which counts its calls.
type mapDeduper struct {
	mu    sync.Mutex
	seen  map[string]bool
	marks int
}

func newMapDeduper() *mapDeduper { return &mapDeduper{seen: map[string]bool{}} }

func (d *mapDeduper) Mark(_ context.Context, scope, key string, ttl time.Duration) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.marks++
	if ttl < time.Hour {
		return false, errors.New("ttl shorter than an hour")
	}
	k := scope + "/" + key
	if d.seen[k] {
		return false, nil
	}
	d.seen[k] = true
	return true, nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func jsonString(v any) (string, error) {
	b, err := jsonMarshal(v)
	return string(b), err
}

func fmtCalls(cs []slacktest.Call) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%s %s status=%d err=%s early=%v\n", c.At.Format("15:04:05.000"), c.Method, c.Status, c.Error, c.Early)
	}
	return b.String()
}

// logSink is a slog.Handler that keeps every record as text, so that tests
// can wait for a log line and check that nothing secret was logged.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (s *logSink) Enabled(context.Context, slog.Level) bool { return true }

func (s *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(at slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", at.Key, at.Value)
		return true
	})
	s.mu.Lock()
	s.lines = append(s.lines, b.String())
	s.mu.Unlock()
	return nil
}

func (s *logSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *logSink) WithGroup(string) slog.Handler      { return s }

// count returns how many lines contain sub.
func (s *logSink) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, l := range s.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

func (s *logSink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// teeHandler sends each record to two handlers.
type teeHandler struct{ a, b slog.Handler }

func (t teeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return t.a.Enabled(ctx, l) || t.b.Enabled(ctx, l)
}

func (t teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if t.a.Enabled(ctx, r.Level) {
		_ = t.a.Handle(ctx, r.Clone())
	}
	return t.b.Handle(ctx, r)
}

func (t teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{t.a.WithAttrs(as), t.b.WithAttrs(as)}
}

func (t teeHandler) WithGroup(g string) slog.Handler {
	return teeHandler{t.a.WithGroup(g), t.b.WithGroup(g)}
}
