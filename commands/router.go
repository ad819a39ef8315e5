// Package commands is the front of the bot: it parses what people type
// (the grammar of /runbook, /incident and /tebura), dispatches each
// command root and each button to the handler it was given at
// construction, answers /tebura itself (help, whoami, reload), and turns
// every error into one private reply sentence, chosen in one place
// (reply.go). What a command does lives with its handler:
// commands/runbookchat for /runbook and its cards, commands/incidentchat
// for /incident and the incident reactions.
//
// The package is platform-neutral: it speaks bot.Event and bot.Message, and
// the adapters (bot/slack, bot/discord, bot/console) render them.
package commands

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
)

// Callbacks is where the router reads the server-side meaning of a button.
// store/bolt implements it.
type Callbacks interface {
	// GetCallback returns a tebura ENOTFOUND error for an unknown ID.
	GetCallback(ctx context.Context, id string) (bot.Callback, error)
}

// Handler answers the commands of one root and the buttons it posted.
// Errors it returns are answered like every other command error.
type Handler interface {
	HandleCommand(ctx context.Context, c *bot.Command, req Request) error
	// HandleClick receives a click whose stored callback is cb; the router
	// has checked that the button exists and has not expired.
	HandleClick(ctx context.Context, c *bot.Click, cb bot.Callback) error
}

// RunbookHandler is the /runbook handler: it also says which callback
// actions are its buttons, so that every other click goes to incidents.
type RunbookHandler interface {
	Handler
	Owns(action string) bool
}

// Deps are what the router is built from. Registry and Access are
// functions so a config reload can swap them; each event reads them once.
type Deps struct {
	Callbacks Callbacks
	Registry  func() *runbooks.Registry
	Access    func() *access.Policy
	// Commands are the configured command names.
	Commands config.BotCommands
	// Runbooks handles /runbook and the buttons of runbook cards.
	Runbooks RunbookHandler
	// Incidents handles /incident and the incident buttons; nil: incidents
	// are not enabled, and /incident says so.
	Incidents Handler
	// Reload, when set, reloads the configuration, the runbooks and the
	// access policy at once, for `/tebura reload` (admins only). by is the
	// identity that asked, for the audit chain and the log. It returns a
	// one-sentence summary for the admin (what was loaded, what needs a
	// restart), or a tebura error whose message says why the new
	// configuration was refused while the running one stays. Nil: the
	// command answers that reloading from chat is not available.
	Reload func(ctx context.Context, by string) (summary string, err error)
	// Login, when set, answers `/tebura login` with a private one-time
	// link to the web view. Nil: the web view is not enabled.
	Login  func(ctx context.Context, c *bot.Command) error
	Clock  func() time.Time
	Logger *slog.Logger
}

// Router is the platform-neutral bot.Handler: every command and click
// enters here and leaves as a handler's answer or one private error reply.
type Router struct {
	d     Deps
	names Names
	log   *slog.Logger
	now   func() time.Time
}

var _ bot.Handler = (*Router)(nil)

// New builds the router around its handlers.
func New(d Deps) *Router {
	r := &Router{d: d, names: NamesOf(d.Commands), log: d.Logger, now: d.Clock}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// HandleEvent routes a command or a click. Every error becomes one private
// reply through fail.
// A panic in a handler is a bug: it is logged with its stack and answered
// like an internal error, and the process keeps serving everyone else.
func (b *Router) HandleEvent(ctx context.Context, ev bot.Event) {
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

func (b *Router) command(ctx context.Context, c *bot.Command) error {
	reg, pol := b.registry(), b.policy()
	req, err := b.names.Parse(c.Name, c.Text, Runnable(reg, pol, Subject(c.Actor)))
	if err != nil {
		return err
	}
	switch req.Root {
	case RootIncident:
		if b.d.Incidents == nil {
			return tebura.Errorf(tebura.EINVALID, "Incidents are not enabled on this bot. Ask an operator to configure them, or type `%s help` for what you can do.", b.names.Typed(RootTebura))
		}
		return b.d.Incidents.HandleCommand(ctx, c, req)
	case RootTebura:
		switch req.Verb {
		case VerbWhoami:
			return b.whoami(ctx, c)
		case VerbReload:
			return b.reload(ctx, c)
		case VerbLogin:
			if b.d.Login == nil {
				return tebura.Errorf(tebura.EINVALID, "The web view is not enabled on this bot, so there is nothing to sign in to. Ask an operator to set web.enabled.")
			}
			return b.d.Login(ctx, c)
		}
		return b.help(ctx, c)
	}
	return b.d.Runbooks.HandleCommand(ctx, c, req)
}

func (b *Router) click(ctx context.Context, c *bot.Click) error {
	cb, err := b.d.Callbacks.GetCallback(ctx, c.CallbackID)
	if tebura.ErrorCode(err) == tebura.ENOTFOUND {
		return tebura.Errorf(tebura.ENOTFOUND, "This button no longer works. Type `%s status` to see where things stand.", b.names.Typed(RootRunbook))
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
			cb.Expires.UTC().Format("2006-01-02 15:04 UTC"), b.names.Typed(RootRunbook))}})
	}
	if cb.Action == ActionWebLogin {
		if b.d.Login == nil {
			return tebura.Errorf(tebura.EINVALID, "The web view is not enabled on this bot any more, so there is nothing to sign in to.")
		}
		return b.d.Login(ctx, &bot.Command{Platform: c.Platform, Actor: c.Actor, Channel: c.Message.Channel, Thread: c.Message.Thread, Reply: c.Reply, Received: c.Received})
	}
	if b.d.Runbooks.Owns(cb.Action) {
		return b.d.Runbooks.HandleClick(ctx, c, cb)
	}
	if b.d.Incidents != nil {
		return b.d.Incidents.HandleClick(ctx, c, cb)
	}
	return tebura.Errorf(tebura.ENOTFOUND, "This button no longer works: incidents are not enabled on this bot.")
}

func (b *Router) registry() *runbooks.Registry {
	if b.d.Registry == nil {
		return runbooks.NewRegistry()
	}
	if r := b.d.Registry(); r != nil {
		return r
	}
	return runbooks.NewRegistry()
}

// policy returns the access policy; a nil policy denies everything.
func (b *Router) policy() *access.Policy {
	if b.d.Access == nil {
		return nil
	}
	return b.d.Access()
}
