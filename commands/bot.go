// Package commands is what the bot does with an input: it parses commands,
// answers /runbook and /tebura, posts approval cards and resolves their
// buttons, has the run service (runbooks.Service) request, decide and
// start runs, and streams their output into the conversation. Everything
// that can go wrong ends as one private reply sentence, chosen in one
// place (reply.go).
//
// The package is platform-neutral: it speaks bot.Event and bot.Message, and
// the adapters (bot/slack, bot/discord, bot/console) render them.
package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
)

// Store is the storage the bot needs: runs and locks (runbooks.Store) and
// the server-side meaning of buttons. store/bolt implements it.
type Store interface {
	runbooks.Store
	PutCallback(ctx context.Context, cb bot.Callback) error
	// GetCallback returns a tebura ENOTFOUND error for an unknown ID.
	GetCallback(ctx context.Context, id string) (bot.Callback, error)
}

// IncidentCommands handles the incident command root and incident buttons.
// It is optional: with none, /incident answers that incidents are not
// enabled. Errors it returns are answered like every other command error.
type IncidentCommands interface {
	HandleIncident(ctx context.Context, c *bot.Command, req Request) error
	// HandleIncidentClick receives clicks whose callback action the runbook
	// side does not know ("ack", "resolve", ...).
	HandleIncidentClick(ctx context.Context, c *bot.Click, cb bot.Callback) error
}

// Deps are what the bot is built from. Registry, Access and Redactor are
// functions so a config reload can swap them; each event reads them once.
type Deps struct {
	Store    Store
	Registry func() *runbooks.Registry
	Access   func() *access.Policy
	Audit    *audit.Log
	Executor *runbooks.Executor
	// Runs is the run service every run request, decision and start goes
	// through. Nil: New builds one from Store, Executor, Audit and
	// Redactor (tests that build a Bot alone).
	Runs *runbooks.Service
	// Redactor masks configured secrets; nil or returning nil masks nothing
	// beyond secret params.
	Redactor func() *runbooks.Redactor
	// Chats are the connected chat platforms by name ("slack", "console"):
	// live messages are edited and automation runs posted through them.
	Chats map[string]bot.Chat
	// Config is the platform-neutral chat behaviour: command names, stream
	// interval, edit budget.
	Config config.Bot
	// DataDir is where the executor keeps full run logs.
	DataDir string
	Clock   func() time.Time
	Logger  *slog.Logger
	// Incidents handles /incident; nil until incidents are enabled.
	Incidents IncidentCommands
	// ExpiryInterval is how often pending approvals are checked for expiry
	// once Recover started the loop (default 10s).
	ExpiryInterval time.Duration
	// Reload, when set, reloads the configuration, the runbooks and the
	// access policy at once, for `/tebura reload` (admins only). by is the
	// identity that asked, for the audit chain and the log. It returns a
	// one-sentence summary for the admin (what was loaded, what needs a
	// restart), or a tebura error whose message says why the new
	// configuration was refused while the running one stays. Nil: the
	// command answers that reloading from chat is not available.
	Reload func(ctx context.Context, by string) (summary string, err error)
	// StreamObserver, when set, receives each live message's stream
	// statistics (frames sent, dropped, failed) when its stream closes; the
	// metrics package counts them.
	StreamObserver func(bot.StreamStats)
}

// Callback actions of the buttons this package posts.
const (
	actionApprove = "approve"
	actionDeny    = "deny"
	actionCancel  = "cancel"
	actionView    = "view"
)

// defaultApprovalExpiry applies when a runbook sets no approval expiry.
const defaultApprovalExpiry = 15 * time.Minute

// Bot is the platform-neutral bot. It implements bot.Handler.
type Bot struct {
	d      Deps
	names  Names
	log    *slog.Logger
	now    func() time.Time
	budget map[string]*bot.EditBudget // per platform, shared by all its streams

	streams sync.WaitGroup // live-message followers

	mu        sync.Mutex
	expiring  bool                     // the expiry loop runs
	following map[string]chan struct{} // run ID → closed when its final frame is out
}

var _ bot.Handler = (*Bot)(nil)

// New builds the bot. It starts nothing: call Recover once at start-up,
// before the chats deliver events.
func New(d Deps) *Bot {
	b := &Bot{d: d, names: NamesOf(d.Config.Commands), log: d.Logger, now: d.Clock,
		budget: map[string]*bot.EditBudget{}, following: map[string]chan struct{}{}}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.d.Runs == nil {
		b.d.Runs = runbooks.NewService(runbooks.ServiceConfig{Store: d.Store, Executor: d.Executor, Audit: d.Audit,
			Redactor: d.Redactor, Clock: b.now, Logger: b.log})
	}
	if d.Config.EditBudget > 0 {
		for name, chat := range d.Chats {
			if bot.IsEditLimited(chat) {
				b.budget[name] = bot.NewEditBudget(d.Config.EditBudget, max(1, int(d.Config.EditBudget)))
			}
		}
	}
	return b
}

// Runs is the run service the bot is a client of: the incident layer
// subscribes to its transitions.
func (b *Bot) Runs() *runbooks.Service { return b.d.Runs }

// HandleEvent routes a command or a click. Every error becomes one private
// reply through fail.
// A panic in a handler is a bug: it is logged with its stack and answered
// like an internal error, and the process keeps serving everyone else.
func (b *Bot) HandleEvent(ctx context.Context, ev bot.Event) {
	var (
		reply bot.Replier
		actor bot.Actor
		err   error
	)
	defer func() {
		if p := recover(); p != nil {
			b.log.Error("handler panicked", "actor", actor.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = tebura.Errorf(tebura.EINTERNAL, "handler panicked")
		}
		if err != nil {
			b.fail(ctx, reply, actor, err)
		}
	}()
	switch e := ev.(type) {
	case *bot.Command:
		reply, actor = e.Reply, e.Actor
		err = b.command(ctx, e)
	case *bot.Click:
		reply, actor = e.Reply, e.Actor
		err = b.click(ctx, e)
	}
}

func (b *Bot) command(ctx context.Context, c *bot.Command) error {
	reg, pol := b.registry(), b.policy()
	who := subject(c.Actor)
	req, err := b.names.Parse(c.Name, c.Text, runnable(reg, pol, who))
	if err != nil {
		return err
	}
	switch req.Root {
	case RootIncident:
		if b.d.Incidents == nil {
			return tebura.Errorf(tebura.EINVALID, "Incidents are not enabled on this bot. Ask an operator to configure them, or type `%s help` for what you can do.", b.names.typed(RootTebura))
		}
		return b.d.Incidents.HandleIncident(ctx, c, req)
	case RootTebura:
		switch req.Verb {
		case VerbWhoami:
			return b.whoami(ctx, c)
		case VerbReload:
			return b.reload(ctx, c)
		}
		return b.help(ctx, c)
	}
	switch req.Verb {
	case VerbList:
		return b.list(ctx, c)
	case VerbDescribe:
		return b.describe(ctx, c, req.Name)
	case VerbRun:
		return b.request(ctx, c, req)
	case VerbStatus:
		return b.status(ctx, c.Reply, c.Actor, req.Run)
	case VerbCancel:
		return b.cancel(ctx, c.Reply, c.Actor, req.Run)
	case VerbLogs:
		return b.logs(ctx, c, req.Run)
	}
	return tebura.Errorf(tebura.EINTERNAL, "unhandled verb %q", req.Verb)
}

func (b *Bot) click(ctx context.Context, c *bot.Click) error {
	cb, err := b.d.Store.GetCallback(ctx, c.CallbackID)
	if tebura.ErrorCode(err) == tebura.ENOTFOUND {
		return tebura.Errorf(tebura.ENOTFOUND, "This button no longer works. Type `%s status` to see where things stand.", b.names.typed(RootRunbook))
	}
	if err != nil {
		return err
	}
	if !cb.Expires.IsZero() && !b.now().Before(cb.Expires) {
		// An expired button does nothing, whatever it was for: the request
		// it belongs to has run out (the expiry loop settles that), or the
		// answer it came with is stale.
		return c.Reply.Private(ctx, bot.Message{Level: bot.LevelWarning, Text: []string{fmt.Sprintf(
			"This button expired at %s and does nothing any more. Type `%s status` to see where things stand.",
			cb.Expires.UTC().Format("2006-01-02 15:04 UTC"), b.names.typed(RootRunbook))}})
	}
	switch cb.Action {
	case actionApprove:
		return b.approve(ctx, c, cb.Subject)
	case actionDeny:
		return b.deny(ctx, c, cb.Subject)
	case actionCancel:
		return b.cancel(ctx, c.Reply, c.Actor, cb.Subject)
	case actionView:
		return b.status(ctx, c.Reply, c.Actor, cb.Subject)
	}
	if b.d.Incidents != nil {
		return b.d.Incidents.HandleIncidentClick(ctx, c, cb)
	}
	return tebura.Errorf(tebura.ENOTFOUND, "This button no longer works: incidents are not enabled on this bot.")
}

func (b *Bot) registry() *runbooks.Registry {
	if b.d.Registry == nil {
		return runbooks.NewRegistry()
	}
	if r := b.d.Registry(); r != nil {
		return r
	}
	return runbooks.NewRegistry()
}

// policy returns the access policy; a nil policy denies everything.
func (b *Bot) policy() *access.Policy {
	if b.d.Access == nil {
		return nil
	}
	return b.d.Access()
}

func (b *Bot) redactor() *runbooks.Redactor {
	if b.d.Redactor == nil {
		return nil
	}
	return b.d.Redactor()
}

func subject(a bot.Actor) access.Subject { return access.Subject{ID: a.ID, Groups: a.Groups} }

func allowed(p *access.Policy, s access.Subject, a access.Action, rb *runbooks.Runbook) bool {
	return p != nil && p.Allowed(s, a, rb)
}

// runnable lists the runbooks s may run.
func runnable(reg *runbooks.Registry, p *access.Policy, s access.Subject) []string {
	var names []string
	for _, rb := range reg.List() {
		if allowed(p, s, access.ActionRun, rb) {
			names = append(names, rb.Name)
		}
	}
	return names
}

// decisionCallbacks stores the Approve and Deny callbacks of run's approval
// card; both expire with the request.
func (b *Bot) decisionCallbacks(ctx context.Context, run *runbooks.Run) (approve, deny string, err error) {
	if approve, err = b.newCallback(ctx, actionApprove, run.ID, run.ExpiresAt); err != nil {
		return "", "", err
	}
	if deny, err = b.newCallback(ctx, actionDeny, run.ID, run.ExpiresAt); err != nil {
		return "", "", err
	}
	return approve, deny, nil
}

// newCallback stores a button's meaning and returns its opaque ID.
func (b *Bot) newCallback(ctx context.Context, action, runID string, expires time.Time) (string, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	cb := bot.Callback{ID: "cb_" + hex.EncodeToString(raw[:]), Action: action, Subject: runID, Created: b.now(), Expires: expires}
	if err := b.d.Store.PutCallback(ctx, cb); err != nil {
		return "", err
	}
	return cb.ID, nil
}

func (b *Bot) record(ctx context.Context, actor string, action audit.Action, subj string, detail map[string]string) {
	if b.d.Audit == nil {
		return
	}
	if err := b.d.Audit.Record(ctx, actor, action, subj, detail); err != nil {
		b.log.Error("audit record failed", "action", action, "subject", subj, "err", err)
	}
}

// chat returns the adapter of a platform, or nil.
func (b *Bot) chat(platform string) bot.Chat { return b.d.Chats[platform] }

// WaitRun blocks until the live message of run id has received its final
// frame (at once if the bot is not following that run), or ctx ends.
// Tests use it; it also lets a caller of StartRun wait for the outcome.
func (b *Bot) WaitRun(ctx context.Context, id string) error {
	b.mu.Lock()
	done, ok := b.following[id]
	b.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Wait blocks until every live message the bot is updating has received its
// final frame, or ctx ends. Serve calls it after the executor's Shutdown;
// tests call it before they read the chat.
func (b *Bot) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { b.streams.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
