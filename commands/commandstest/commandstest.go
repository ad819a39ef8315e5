// Package commandstest builds the whole bot — the command router, the
// runbook chat flows, a temp bolt store, the runbook executor, the audit
// chain and an access policy — around the recording fake chat of
// bot/bottest, so that a test reads like a conversation:
//
//	h := commandstest.New(t, commandstest.Options{Roles: ..., Runbooks: ...})
//	card := h.Say(alice, "/runbook run restart-api env=prod").Card()
//	h.Click(bob, card, "Approve")
//	run := h.WaitFinal(h.LastRun().ID)
//
// It is for tests only, but a normal package so that tests of other
// packages (adapters, cmd/tebura) can drive the same bot.
package commandstest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/commands/runbookchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
	"github.com/tebura/tebura/store/storetest"
)

// Options describe the bot to build.
type Options struct {
	// Roles maps role names to members, e.g. "sre": {"console:bob"}.
	Roles  map[string][]string
	Admins []string
	// People links identities to one person (access.people), e.g.
	// "bob": {"console:bob", "slack:UBOB"}.
	People map[string][]string
	// Runbooks are YAML documents, one or more runbooks each.
	Runbooks []string
	// Clock, when set, is the time of the bot, the store, the audit chain
	// and the executor; nil means real time.
	Clock *Clock
	// NoFiles builds a chat without the file upload capability.
	NoFiles bool
	// Chat, when set, builds the chat the bot talks to in place of the
	// recording fake: an adapter under test, or a wrapper around a fake. It
	// is given the harness's store, which adapters use as their Deduper and
	// MetaStore, and is registered under its Name. Harness.Chat is then nil:
	// events arrive through that chat, not through Say, Click or Press.
	Chat func(st *bolt.Store) bot.Chat
	// Limits of the fake chat; zero means bot.DefaultLimits.
	Limits bot.Limits
	// Bot is the chat behaviour; a zero StreamInterval becomes 20ms so
	// tests are quick.
	Bot config.Bot
	// Executor tuning; DataDir is always a temp dir.
	Executor runbooks.ExecutorConfig
	// Redact are configured secret values masked everywhere.
	Redact []string
	// Logger, nil for a discarding one.
	Logger *slog.Logger
	// ExpiryInterval is how often the bot's expiry loop runs; zero means
	// an hour, so tests expire explicitly with Runbooks.ExpireNow.
	ExpiryInterval time.Duration
	// Lead, when set, is the runbook flows' Deps.Lead: it says whether this
	// bot leads, as replica.Elector.Do does with several replicas.
	Lead func(ctx context.Context, f func(ctx context.Context)) bool
}

// Harness is a running bot with its parts exposed for assertions.
type Harness struct {
	T testing.TB
	// Bot is the router every event enters by, as the chats deliver them.
	Bot *commands.Router
	// Runbooks are the runbook chat flows behind it (StartRun, ExpireNow,
	// WaitRun...).
	Runbooks *runbookchat.Flows
	Chat     *bottest.Chat // nil when Options.Chat built the chat
	Store    *bolt.Store
	Executor *runbooks.Executor
	Audit    *audit.Log
	Policy   *access.Policy
	DataDir  string
	Clock    *Clock

	dir string
	reg atomic.Pointer[runbooks.Registry]
	red *runbooks.Redactor
}

// New builds and starts the bot; everything is shut down when the test
// ends.
func New(t testing.TB, o Options) *Harness {
	t.Helper()
	dir := t.TempDir()
	h := &Harness{T: t, DataDir: filepath.Join(dir, "data"), dir: filepath.Join(dir, "runbooks"), Clock: o.Clock}
	now := time.Now
	if o.Clock != nil {
		now = o.Clock.Now
	}
	for _, d := range []string{h.DataDir, h.dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	st, err := bolt.Open(filepath.Join(h.DataDir, "tebura.db"), bolt.Options{Clock: now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	h.Store = st
	pol, err := access.New(o.Roles, o.Admins)
	if err == nil {
		pol, err = pol.WithPeople(o.People)
	}
	if err != nil {
		t.Fatalf("access policy: %v", err)
	}
	h.Policy = pol
	h.red, err = runbooks.NewRedactor(o.Redact, nil)
	if err != nil {
		t.Fatalf("redactor: %v", err)
	}
	h.SetRunbooks(o.Runbooks...)
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ecfg := o.Executor
	ecfg.DataDir = h.DataDir
	ecfg.Clock = now
	h.Executor = runbooks.NewExecutor(st, ecfg, logger)
	h.Audit = audit.New(st, h.red, now)
	var chat bot.Chat
	switch {
	case o.Chat != nil:
		chat = o.Chat(st)
	case o.NoFiles:
		h.Chat = bottest.NewChat(o.Limits)
		chat = h.Chat
	default:
		h.Chat = bottest.NewChat(o.Limits)
		chat = bottest.FileChat{Chat: h.Chat}
	}
	cfg := o.Bot
	if cfg.StreamInterval == 0 {
		cfg.StreamInterval = 20 * time.Millisecond
	}
	expiry := o.ExpiryInterval
	if expiry == 0 {
		expiry = time.Hour
	}
	// The run service is built here, as tebura serve builds it, so that
	// the harness stops its subscribers when the test ends.
	runs := runbooks.NewService(runbooks.ServiceConfig{Store: st, Executor: h.Executor, Audit: h.Audit,
		Redactor: func() *runbooks.Redactor { return h.red }, Clock: now, Logger: logger})
	h.Runbooks = runbookchat.New(runbookchat.Deps{
		Runs:           runs,
		Store:          st,
		Registry:       h.reg.Load,
		Access:         func() *access.Policy { return h.Policy },
		Audit:          h.Audit,
		Executor:       h.Executor,
		Redactor:       func() *runbooks.Redactor { return h.red },
		Chats:          map[string]bot.Chat{chat.Name(): chat},
		Config:         cfg,
		DataDir:        h.DataDir,
		Clock:          now,
		Logger:         logger,
		ExpiryInterval: expiry,
		Lead:           o.Lead,
	})
	h.Bot = commands.New(commands.Deps{
		Callbacks: st,
		Registry:  h.reg.Load,
		Access:    func() *access.Policy { return h.Policy },
		Commands:  cfg.Commands,
		Runbooks:  h.Runbooks,
		Clock:     now,
		Logger:    logger,
	})
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.Runbooks.Recover(ctx); err != nil {
		t.Fatalf("recover: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		// Runs still going when the test ends are cancelled at once (the
		// error only says so); the wait below covers their final frames.
		now, stop := context.WithCancel(context.Background())
		stop()
		_ = h.Executor.Shutdown(now)
		sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer scancel()
		if err := h.Runbooks.Wait(sctx); err != nil {
			t.Errorf("bot wait: %v", err)
		}
		runs.Stop()
		if err := st.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return h
}

// SetRunbooks replaces the registry with the runbooks in docs, as a config
// reload would. Load problems fail the test.
func (h *Harness) SetRunbooks(docs ...string) {
	h.T.Helper()
	old, _ := filepath.Glob(filepath.Join(h.dir, "*.yaml"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			h.T.Fatal(err)
		}
	}
	for i, d := range docs {
		if err := os.WriteFile(filepath.Join(h.dir, fmt.Sprintf("rb%02d.yaml", i)), []byte(d), 0o600); err != nil {
			h.T.Fatal(err)
		}
	}
	reg, problems := runbooks.Load(runbooks.LoadOptions{Dirs: []string{h.dir}, KnownRole: h.Policy.Known})
	if len(problems) > 0 {
		var lines []string
		for _, p := range problems {
			lines = append(lines, p.String())
		}
		h.T.Fatalf("runbooks do not load:\n%s", strings.Join(lines, "\n"))
	}
	h.reg.Store(reg)
}

// Turn is what the bot said in answer to one event.
type Turn struct {
	mu      sync.Mutex
	posted  []*bottest.Msg
	private []bot.Message
}

func (t *Turn) add(m *bottest.Msg, p *bot.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m != nil {
		t.posted = append(t.posted, m)
	}
	if p != nil {
		t.private = append(t.private, *p)
	}
}

// Posted returns the channel messages posted in answer.
func (t *Turn) Posted() []*bottest.Msg {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*bottest.Msg(nil), t.posted...)
}

// Private returns the private replies.
func (t *Turn) Private() []bot.Message {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]bot.Message(nil), t.private...)
}

// PrivateText joins the text of every private reply, for Contains checks.
func (t *Turn) PrivateText() string {
	var b strings.Builder
	for _, m := range t.Private() {
		b.WriteString(bottest.Text(m))
		b.WriteString("\n")
	}
	return b.String()
}

// Card returns the last message posted in answer, failing the test if
// there is none.
func (t *Turn) Card(tb testing.TB) *bottest.Msg {
	tb.Helper()
	p := t.Posted()
	if len(p) == 0 {
		tb.Fatalf("the bot posted nothing; private replies: %q", t.PrivateText())
	}
	return p[len(p)-1]
}

// Settle waits until every run transition published so far has reached
// its subscribers: the cards redrawn from transitions (a denial, an expiry,
// a withdrawal) are drawn when it returns. Say and Press settle before they
// return; call it after driving the run flows directly (Runbooks.ExpireNow).
// It never fails the test, so it may be called from many goroutines; a
// subscriber stuck for 10s is reported as an error.
func (h *Harness) Settle() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Runbooks.Runs().Flush(ctx); err != nil {
		h.T.Errorf("run transitions not delivered within 10s: %v", err)
	}
}

// Say sends a command line ("/runbook run x env=prod") as a and waits until
// the bot has handled it, the transitions it caused included (Settle).
func (h *Harness) Say(a bot.Actor, line string) *Turn {
	root, text, _ := strings.Cut(strings.TrimSpace(line), " ")
	turn := &Turn{}
	h.Bot.HandleEvent(context.Background(), &bot.Command{
		Platform: bottest.Platform, Actor: a, Channel: bottest.Channel,
		Name: strings.TrimPrefix(root, "/"), Text: text,
		Reply:    h.Chat.Replier(a, bottest.Channel, turn.add),
		Received: time.Now(),
	})
	h.Settle()
	return turn
}

// FirstPost sends line as a, like Say, and returns how long the bot took to
// post its first message in answer: the command-to-first-frame latency
// that benchmarks measure. It fails the test if the bot posted nothing.
func (h *Harness) FirstPost(a bot.Actor, line string) time.Duration {
	h.T.Helper()
	var mu sync.Mutex
	var first time.Time
	h.Chat.OnPost(func(bot.MessageRef) {
		mu.Lock()
		if first.IsZero() {
			first = time.Now()
		}
		mu.Unlock()
	})
	defer h.Chat.OnPost(nil)
	t0 := time.Now()
	h.Say(a, line)
	mu.Lock()
	got := first
	mu.Unlock()
	if got.IsZero() {
		h.T.Fatal("no message posted")
	}
	return got.Sub(t0)
}

// Button finds the button labelled label on m as it is shown now, failing
// the test if there is none.
func (h *Harness) Button(m *bottest.Msg, label string) bot.Button {
	h.T.Helper()
	last := m.Last()
	for _, b := range last.Buttons {
		if b.Label == label {
			return b
		}
	}
	h.T.Fatalf("message %s has no button %q; it shows:\n%s", m.Ref.ID, label, bottest.Text(last))
	return bot.Button{}
}

// Click presses the button labelled label on m as a and waits until the
// bot has handled it, the transitions it caused included (Settle).
func (h *Harness) Click(a bot.Actor, m *bottest.Msg, label string) *Turn {
	h.T.Helper()
	return h.Press(a, m, h.Button(m, label))
}

// Press presses b on m as a. Unlike Click it never fails the test, so it
// may be called from many goroutines at once.
func (h *Harness) Press(a bot.Actor, m *bottest.Msg, b bot.Button) *Turn {
	turn := &Turn{}
	h.Bot.HandleEvent(context.Background(), &bot.Click{
		Platform: bottest.Platform, Actor: a, ActionID: b.ActionID, CallbackID: b.CallbackID, Message: m.Ref,
		Reply:    h.Chat.Replier(a, bottest.Channel, turn.add),
		Received: time.Now(),
	})
	h.Settle()
	return turn
}

// WaitFor waits (up to 10s) until m, as shown now, satisfies ok, and
// returns that version; it fails the test with the last version otherwise.
func (h *Harness) WaitFor(m *bottest.Msg, what string, ok func(bot.Message) bool) bot.Message {
	h.T.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		last := m.Last()
		if ok(last) {
			return last
		}
		if time.Now().After(deadline) {
			h.T.Fatalf("message %s never showed %s; it shows:\n%s", m.Ref.ID, what, bottest.Text(last))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// WaitText waits until m shows text (see bottest.Text).
func (h *Harness) WaitText(m *bottest.Msg, text string) bot.Message {
	h.T.Helper()
	return h.WaitFor(m, fmt.Sprintf("%q", text), func(last bot.Message) bool { return strings.Contains(bottest.Text(last), text) })
}

// LastRun returns the newest run, failing the test if there is none.
func (h *Harness) LastRun() *runbooks.Run {
	h.T.Helper()
	runs, err := h.Store.ListRuns(context.Background(), runbooks.ListOptions{Limit: 1})
	if err != nil || len(runs) == 0 {
		h.T.Fatalf("no run stored (err %v)", err)
	}
	return runs[0]
}

// Runs returns every stored run, newest first.
func (h *Harness) Runs() []*runbooks.Run {
	h.T.Helper()
	runs, err := h.Store.ListRuns(context.Background(), runbooks.ListOptions{})
	if err != nil {
		h.T.Fatal(err)
	}
	return runs
}

// WaitFinal waits (up to 30s) until run id is in a final state and its
// live message has its final frame, and returns the stored run.
func (h *Harness) WaitFinal(id string) *runbooks.Run {
	h.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		run, err := h.Store.GetRun(ctx, id)
		if err != nil {
			h.T.Fatalf("get run %s: %v", id, err)
		}
		if run.State.Final() {
			if err := h.Runbooks.WaitRun(ctx, id); err != nil {
				h.T.Fatalf("run %s ended but its message was not finished: %v", id, err)
			}
			return run
		}
		select {
		case <-ctx.Done():
			h.T.Fatalf("run %s still %s after 30s", id, run.State)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// AuditEntries returns the audit chain.
func (h *Harness) AuditEntries() []audit.Entry {
	h.T.Helper()
	var out []audit.Entry
	if err := h.Store.AuditEntries(context.Background(), func(e audit.Entry) error {
		out = append(out, e)
		return nil
	}); err != nil {
		h.T.Fatal(err)
	}
	return out
}

// Clock is a settable clock for tests of expiry and elapsed time: the
// manual clock of store/storetest, since the harness opens its store on it
// too.
type Clock = storetest.Clock

// NewClock returns a clock stopped at t.
func NewClock(t time.Time) *Clock { return storetest.NewClock(t) }
