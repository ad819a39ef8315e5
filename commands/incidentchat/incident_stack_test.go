package incidentchat_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/commands/incidentchat"
	"github.com/tebura/tebura/commands/runbookchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/oncall"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
)

// cmChat is the recording fake chat plus a recording ChannelManager, like
// a platform that can open channels.
type cmChat struct {
	bottest.FileChat

	mu       sync.Mutex
	failNext int // CreateChannel calls that fail like a rate-limited platform
	created  []bot.ChannelSpec
	names    map[string]bool
	invites  map[string][]string
	archived []string
}

var _ bot.ChannelManager = (*cmChat)(nil)

func newCMChat() *cmChat {
	return &cmChat{FileChat: bottest.FileChat{Chat: bottest.NewChat(bot.Limits{})}, names: map[string]bool{}, invites: map[string][]string{}}
}

// CreateChannel suffixes a taken name like the adapters do.
func (c *cmChat) CreateChannel(ctx context.Context, spec bot.ChannelSpec) (bot.Channel, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failNext > 0 {
		c.failNext--
		return bot.Channel{}, tebura.Errorf(tebura.ETRANSIENT, "rate limited")
	}
	c.created = append(c.created, spec)
	name := spec.Name
	for k := 2; c.names[name]; k++ {
		name = fmt.Sprintf("%s-%d", spec.Name, k)
	}
	c.names[name] = true
	return bot.Channel{ID: "C-" + name, Name: name, URL: "https://chat.example/" + name}, nil
}

func (c *cmChat) Invite(ctx context.Context, channelID string, members []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.invites[channelID] = append(c.invites[channelID], members...)
	return nil
}

func (c *cmChat) SetTopic(ctx context.Context, channelID, topic string) error { return nil }

func (c *cmChat) Archive(ctx context.Context, channelID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.archived = append(c.archived, channelID)
	return nil
}

func (c *cmChat) createdCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.created)
}

func (c *cmChat) archivedList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.archived...)
}

// inChannel returns the messages posted in channel.
func (c *cmChat) inChannel(channel string) []*bottest.Msg {
	var out []*bottest.Msg
	for _, m := range c.Messages() {
		if m.Ref.Channel == channel {
			out = append(out, m)
		}
	}
	return out
}

// cards returns the incident cards posted in channel.
func (c *cmChat) cards(channel string) []*bottest.Msg {
	var out []*bottest.Msg
	for _, m := range c.inChannel(channel) {
		if strings.HasPrefix(m.Versions()[0].Header, "Incident #") {
			out = append(out, m)
		}
	}
	return out
}

// checkAPI is a diagnostic: it may run by itself. It takes only service
// of the rule's pool of params (service, env).
const checkAPI = `
name: check-api
description: Look at the API
kind: diagnostic
params:
  - {name: service, type: string, pattern: '[a-z][a-z0-9-]{0,40}', default: api}
allow: [sre]
timeout: 30s
steps:
  - name: look
    run: [echo, "checking {{ .Params.service }}"]
`

// stackOptions configure a whole incident stack.
type stackOptions struct {
	Automations []config.Automation
	Incidents   config.Incidents
	Runbooks    []string
	Chat        bot.Chat // the one chat
	Clock       *commandstest.Clock
	// StreamInterval of the bot; zero means 10ms.
	StreamInterval time.Duration
	// ReconcileTimeout and Observe go to the incident layer's Deps.
	ReconcileTimeout time.Duration
	Observe          func(incidentchat.Outcome)
	// CardParts go to the incident layer's Deps.
	CardParts []incidentchat.CardPart
	// Lead goes to the incident layer's Deps (nil: this stack leads).
	Lead func(ctx context.Context, f func(ctx context.Context)) bool
	// Hints adds the resolution hints part (after CardParts).
	Hints *config.Hints
	// OnCall and Calendar go to the incident layer's Deps.
	OnCall   incidentchat.OnCall
	Calendar *oncall.Calendar
}

// stack is the whole bot with incidents on a data dir that survives a
// rebuild, as a restart would.
type stack struct {
	t     testing.TB
	dir   string
	Store *bolt.Store
	Exec  *runbooks.Executor
	Bot   *commands.Router
	Books *runbookchat.Flows
	Inc   *incidentchat.Incidents
	Svc   *incident.Service

	cancel context.CancelFunc
	closed bool
}

func defaultAutomations() []config.Automation {
	return []config.Automation{{
		Name: "api", Match: []string{`service=~"api.*"`}, Invite: []string{"sre", "console:dave"},
		Diagnostics: []string{"check-api"}, Suggest: []string{"restart-api"},
		Params: map[string]string{"service": "{{ .Labels.service }}", "env": "prod"}, OnceWithin: time.Hour,
	}}
}

func newStack(t testing.TB, dir string, o stackOptions) *stack {
	t.Helper()
	now := time.Now
	if o.Clock != nil {
		now = o.Clock.Now
	}
	if o.Runbooks == nil {
		o.Runbooks = []string{checkAPI, restartAPI}
	}
	if o.Automations == nil {
		o.Automations = defaultAutomations()
	}
	if o.StreamInterval == 0 {
		o.StreamInterval = 10 * time.Millisecond
	}
	rbDir := filepath.Join(dir, "runbooks")
	if err := os.MkdirAll(rbDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for k, d := range o.Runbooks {
		if err := os.WriteFile(filepath.Join(rbDir, fmt.Sprintf("rb%02d.yaml", k)), []byte(d), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := bolt.Open(filepath.Join(dir, "tebura.db"), bolt.Options{Clock: now})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	pol, err := access.New(roles(), nil)
	if err != nil {
		t.Fatal(err)
	}
	reg, problems := runbooks.Load(runbooks.LoadOptions{Dirs: []string{rbDir}, KnownRole: pol.Known})
	if len(problems) > 0 {
		t.Fatalf("runbooks: %v", problems)
	}
	red, _ := runbooks.NewRedactor(nil, nil)
	exec := runbooks.NewExecutor(st, runbooks.ExecutorConfig{DataDir: dir, Clock: now}, nil)
	chats := map[string]bot.Chat{o.Chat.Name(): o.Chat}
	al := audit.New(st, red, now)
	books := runbookchat.New(runbookchat.Deps{
		Store: st, Registry: func() *runbooks.Registry { return reg }, Access: func() *access.Policy { return pol },
		Audit: al, Executor: exec, Redactor: func() *runbooks.Redactor { return red },
		Chats: chats, Config: config.Bot{StreamInterval: o.StreamInterval}, DataDir: dir, Clock: now,
		ExpiryInterval: time.Hour,
	})
	rules, err := incident.CompileRules(o.Automations)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := incident.New(st, o.Incidents, rules, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	parts := o.CardParts
	if o.Hints != nil {
		h := *o.Hints
		parts = append(parts, incidentchat.NewHints(incidentchat.HintsDeps{Incidents: svc, Changes: st,
			Runs: st.GetRun, Registry: func() *runbooks.Registry { return reg }, Config: func() config.Hints { return h }}))
	}
	inc, err := incidentchat.New(incidentchat.Deps{
		Service: svc, Runs: books.Runs(), Runbooks: books, Store: st, Registry: func() *runbooks.Registry { return reg },
		Audit: al, Chats: chats, Config: o.Incidents,
		Access: func() *access.Policy { return pol }, Clock: now, Interval: time.Hour,
		ReconcileTimeout: o.ReconcileTimeout, Observe: o.Observe, CardParts: parts, Lead: o.Lead,
		OnCall: o.OnCall, Calendar: o.Calendar,
	})
	if err != nil {
		t.Fatal(err)
	}
	b := commands.New(commands.Deps{
		Callbacks: st, Registry: func() *runbooks.Registry { return reg }, Access: func() *access.Policy { return pol },
		Runbooks: books, Incidents: inc, Clock: now,
	})
	ctx, cancel := context.WithCancel(context.Background())
	s := &stack{t: t, dir: dir, Store: st, Exec: exec, Bot: b, Books: books, Inc: inc, Svc: svc, cancel: cancel}
	if err := books.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := inc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	<-inc.FirstRound() // the tests look at what the start-up round did
	t.Cleanup(s.Close)
	return s
}

// Close stops everything like a shutdown: runs still going are cancelled,
// their last frames and timeline entries written, the store closed.
func (s *stack) Close() {
	if s.closed {
		return
	}
	s.closed = true
	s.cancel()
	now, stop := context.WithCancel(context.Background())
	stop()
	_ = s.Exec.Shutdown(now)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Books.Wait(ctx); err != nil {
		s.t.Errorf("bot wait: %v", err)
	}
	if err := s.Inc.Wait(ctx); err != nil {
		s.t.Errorf("incidents wait: %v", err)
	}
	if err := s.Store.Close(); err != nil {
		s.t.Errorf("close store: %v", err)
	}
}

// deliver ingests a batch and reacts, as the webhook handler does.
func (s *stack) deliver(b incident.Batch) incident.Result {
	s.t.Helper()
	ctx := context.Background()
	res, err := s.Svc.Ingest(ctx, b)
	if err != nil {
		s.t.Fatalf("ingest: %v", err)
	}
	s.Inc.ReactSync(ctx, res)
	return res
}

// waitRuns waits until every stored run matching keep is final and the
// incident layer recorded it, and returns them.
func (s *stack) waitRuns(keep func(*runbooks.Run) bool) []*runbooks.Run {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		runs, err := s.Store.ListRuns(context.Background(), runbooks.ListOptions{})
		if err != nil {
			s.t.Fatal(err)
		}
		var out []*runbooks.Run
		final := true
		for _, r := range runs {
			if keep(r) {
				out = append(out, r)
				final = final && r.State.Final()
			}
		}
		if final {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := s.Books.Wait(ctx); err != nil {
				s.t.Fatal(err)
			}
			if err := s.Inc.Wait(ctx); err != nil {
				s.t.Fatal(err)
			}
			return out
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("runs still going after 30s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func byRunbook(name string) func(*runbooks.Run) bool {
	return func(r *runbooks.Run) bool { return r.Runbook == name }
}

// alertBatch is one Alertmanager-like delivery of n firing alerts of a
// group, fingerprints first..first+n-1.
func alertBatch(group, service string, first, n int, startsAt time.Time) incident.Batch {
	b := incident.Batch{Source: "alertmanager", GroupKey: group,
		Labels:      map[string]string{"alertname": "HighLatency", "service": service, "severity": "critical"},
		Annotations: map[string]string{"summary": "p99 latency above 2s", "runbook_url": "https://runbooks.example/latency"}}
	for k := first; k < first+n; k++ {
		b.Alerts = append(b.Alerts, incident.Alert{Source: "alertmanager", Fingerprint: fmt.Sprintf("%s-%05d", group, k), Status: incident.AlertFiring,
			Labels:       map[string]string{"alertname": "HighLatency", "service": service, "severity": "critical", "instance": fmt.Sprintf("pod-%d", k)},
			StartsAt:     startsAt,
			GeneratorURL: "https://prometheus.example/graph"})
	}
	return b
}

// testReplier answers a command like an adapter: replies are posted in the
// channel, private ones recorded.
type testReplier struct {
	chat    bot.Chat
	channel string
	mu      sync.Mutex
	private []bot.Message
	posted  []bot.Message
}

func (r *testReplier) Reply(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	r.mu.Lock()
	r.posted = append(r.posted, m)
	r.mu.Unlock()
	return r.chat.Post(ctx, bot.Target{Channel: r.channel}, m)
}

func (r *testReplier) Private(ctx context.Context, m bot.Message) error {
	r.mu.Lock()
	r.private = append(r.private, m)
	r.mu.Unlock()
	return nil
}

func (r *testReplier) text() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, m := range append(append([]bot.Message(nil), r.posted...), r.private...) {
		b.WriteString(bottest.Text(m))
		b.WriteString("\n")
	}
	return b.String()
}

// say sends a command line as a in channel.
func (s *stack) say(chat bot.Chat, a bot.Actor, channel, line string) *testReplier {
	root, text, _ := strings.Cut(strings.TrimSpace(line), " ")
	r := &testReplier{chat: chat, channel: channel}
	s.Bot.HandleEvent(context.Background(), &bot.Command{Platform: bottest.Platform, Actor: a, Channel: channel,
		Name: strings.TrimPrefix(root, "/"), Text: text, Reply: r, Received: time.Now()})
	return r
}

// press presses the button labelled label on m as a.
func (s *stack) press(a bot.Actor, chat bot.Chat, m *bottest.Msg, label string) *testReplier {
	s.t.Helper()
	for _, b := range m.Last().Buttons {
		if b.Label == label {
			r := &testReplier{chat: chat, channel: m.Ref.Channel}
			s.Bot.HandleEvent(context.Background(), &bot.Click{Platform: bottest.Platform, Actor: a, ActionID: b.ActionID,
				CallbackID: b.CallbackID, Message: m.Ref, Reply: r, Received: time.Now()})
			return r
		}
	}
	s.t.Fatalf("message %s has no button %q:\n%s", m.Ref.ID, label, bottest.Text(m.Last()))
	return nil
}

func (s *stack) timeline(n int64) []incident.TimelineEntry {
	s.t.Helper()
	tl, err := s.Svc.Timeline(context.Background(), fmt.Sprint(n))
	if err != nil {
		s.t.Fatal(err)
	}
	return tl
}

func countKind(tl []incident.TimelineEntry, kind string) int {
	n := 0
	for _, e := range tl {
		if e.Kind == kind {
			n++
		}
	}
	return n
}
