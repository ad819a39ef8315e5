// Package runbookchat is the runbook side of the chat: /runbook (list,
// describe, run, status, cancel, logs), approval cards and their buttons,
// and the live message of every run, streamed from the executor and
// finished when the run ends. It is a client of the run service
// (runbooks.Service), which requests, decides and starts runs; the cards of
// runs decided elsewhere (denied, expired, closed, ended) are redrawn from
// the service's transitions. commands routes commands and clicks to it.
package runbookchat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
)

// Store is the storage the runbook flows need: runs and locks (runbooks.Store) and
// the server-side meaning of buttons. store/bolt implements it.
type Store interface {
	runbooks.Store
	PutCallback(ctx context.Context, cb bot.Callback) error
	// GetCallback returns a tebura ENOTFOUND error for an unknown ID.
	GetCallback(ctx context.Context, id string) (bot.Callback, error)
}

// Deps are what the runbook flows are built from. Registry, Access and Redactor are
// functions so a config reload can swap them; each event reads them once.
type Deps struct {
	Store    Store
	Registry func() *runbooks.Registry
	Access   func() *access.Policy
	Audit    *audit.Log
	Executor *runbooks.Executor
	// Runs is the run service every run request, decision and start goes
	// through. Nil: New builds one from Store, Executor, Audit and
	// Redactor (tests that build the flows alone).
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
	// ExpiryInterval is how often pending approvals are checked for expiry
	// once Recover started the loop (default 10s).
	ExpiryInterval time.Duration
	// Lead, when set, runs the expiry of approvals only while this replica
	// leads (replica.Elector.Do), so that several replicas on one database
	// expire each request once; nil expires here (one process).
	Lead func(ctx context.Context, f func(ctx context.Context)) bool
	// StreamObserver, when set, receives each live message's stream
	// statistics (frames sent, dropped, failed) when its stream closes; the
	// metrics package counts them.
	StreamObserver func(bot.StreamStats)
	// RunLink, when set, is the address of a run's web page: every
	// message of a run (approval card, live message) links to it. Nil:
	// the web view is off and messages carry no link.
	RunLink func(runID string) string
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

// Flows are the runbook chat flows. They implement commands.RunbookHandler.
type Flows struct {
	d      Deps
	names  commands.Names
	log    *slog.Logger
	now    func() time.Time
	budget map[string]*bot.EditBudget // per platform, shared by all its streams

	streams sync.WaitGroup // live-message followers

	mu        sync.Mutex
	expiring  bool                     // the expiry loop runs
	following map[string]chan struct{} // run ID → closed when its final frame is out
}

var _ commands.RunbookHandler = (*Flows)(nil)

// New builds the runbook flows. They start nothing: call Recover once at start-up,
// before the chats deliver events.
func New(d Deps) *Flows {
	b := &Flows{d: d, names: commands.NamesOf(d.Config.Commands), log: d.Logger, now: d.Clock,
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
	b.d.Runs.Subscribe(b.onTransition)
	return b
}

// redrawTimeout bounds one card redraw made from a transition.
const redrawTimeout = 30 * time.Second

// onTransition redraws the card of a request that ended without starting:
// denied, expired, withdrawn or closed, whoever decided it (a click, the
// expiry loop, an incident that resolved, another client of the run
// service). The card is drawn from the transition's run, the state it
// was stored in, so the subscriber needs no read. The person who clicked
// gets their own answer from the click handler, at once; the card follows
// from here. It runs on the subscription's goroutine, one transition at a
// time, in the order they were stored.
//
// A run's start and end are not redrawn here: the live message is the
// executor's stream, which holds a quick run's first post until its end is
// committed so that it is one message (see start), and Recover's
// interrupted runs are redrawn by ShowInterrupted because the service
// recovers before these flows subscribe.
func (b *Flows) onTransition(t runbooks.Transition) {
	if t.Refused || t.From != runbooks.StatePendingApproval {
		return
	}
	switch t.To {
	case runbooks.StateDenied, runbooks.StateExpired, runbooks.StateCancelled:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), redrawTimeout)
	defer cancel()
	b.show(ctx, t.Run.ID, refOf(t.Run.Origin), decidedCard(t.Run, b.storedMasker(t.Run)))
}

// Runs is the run service these flows are a client of: the incident flows
// subscribe to its transitions.
func (b *Flows) Runs() *runbooks.Service { return b.d.Runs }

// HandleCommand answers /runbook.
func (b *Flows) HandleCommand(ctx context.Context, c *bot.Command, req commands.Request) error {
	switch req.Verb {
	case commands.VerbList:
		return b.list(ctx, c)
	case commands.VerbDescribe:
		return b.describe(ctx, c, req.Name)
	case commands.VerbRun:
		return b.request(ctx, c, req)
	case commands.VerbStatus:
		return b.status(ctx, c.Reply, c.Actor, req.Run)
	case commands.VerbCancel:
		return b.cancel(ctx, c.Reply, c.Actor, req.Run)
	case commands.VerbLogs:
		return b.logs(ctx, c, req.Run)
	}
	return tebura.Errorf(tebura.EINTERNAL, "unhandled verb %q", req.Verb)
}

// Owns reports whether action is one of the buttons these flows post.
func (b *Flows) Owns(action string) bool {
	switch action {
	case actionApprove, actionDeny, actionCancel, actionView, actionAnswer:
		return true
	}
	return false
}

// HandleClick resolves the buttons of approval cards and live messages.
func (b *Flows) HandleClick(ctx context.Context, c *bot.Click, cb bot.Callback) error {
	switch cb.Action {
	case actionApprove:
		return b.approve(ctx, c, cb.Subject)
	case actionDeny:
		return b.deny(ctx, c, cb.Subject)
	case actionCancel:
		return b.cancel(ctx, c.Reply, c.Actor, cb.Subject)
	case actionView:
		return b.status(ctx, c.Reply, c.Actor, cb.Subject)
	case actionAnswer:
		return b.answer(ctx, c, cb)
	}
	return tebura.Errorf(tebura.ENOTFOUND, "This button no longer works. Type `%s status` to see where things stand.", b.names.Typed(commands.RootRunbook))
}

func (b *Flows) registry() *runbooks.Registry {
	if b.d.Registry == nil {
		return runbooks.NewRegistry()
	}
	if r := b.d.Registry(); r != nil {
		return r
	}
	return runbooks.NewRegistry()
}

// policy returns the access policy; a nil policy denies everything.
func (b *Flows) policy() *access.Policy {
	if b.d.Access == nil {
		return nil
	}
	return b.d.Access()
}

func (b *Flows) redactor() *runbooks.Redactor {
	if b.d.Redactor == nil {
		return nil
	}
	return b.d.Redactor()
}

// decisionCallbacks stores the Approve and Deny callbacks of run's approval
// card; both expire with the request.
func (b *Flows) decisionCallbacks(ctx context.Context, run *runbooks.Run) (approve, deny string, err error) {
	if approve, err = b.newCallback(ctx, actionApprove, run.ID, run.ExpiresAt); err != nil {
		return "", "", err
	}
	if deny, err = b.newCallback(ctx, actionDeny, run.ID, run.ExpiresAt); err != nil {
		return "", "", err
	}
	return approve, deny, nil
}

// newCallback stores a button's meaning and returns its opaque ID.
func (b *Flows) newCallback(ctx context.Context, action, runID string, expires time.Time) (string, error) {
	cb, err := b.callback(action, runID, expires)
	if err != nil {
		return "", err
	}
	if err := b.d.Store.PutCallback(ctx, cb); err != nil {
		return "", err
	}
	return cb.ID, nil
}

// callback makes a button's meaning with a new opaque ID, not stored yet.
func (b *Flows) callback(action, runID string, expires time.Time) (bot.Callback, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return bot.Callback{}, tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	return bot.Callback{ID: "cb_" + hex.EncodeToString(raw[:]), Action: action, Subject: runID, Created: b.now(), Expires: expires}, nil
}

func (b *Flows) record(ctx context.Context, actor string, action audit.Action, subj string, detail map[string]string) {
	if b.d.Audit == nil {
		return
	}
	if err := b.d.Audit.Record(ctx, actor, action, subj, detail); err != nil {
		b.log.Error("audit record failed", "action", action, "subject", subj, "err", err)
	}
}

// chat returns the adapter of a platform, or nil.
func (b *Flows) chat(platform string) bot.Chat { return b.d.Chats[platform] }

// WaitRun blocks until the live message of run id has received its final
// frame (at once if the bot is not following that run), or ctx ends.
// Tests use it; it also lets a caller of StartRun wait for the outcome.
func (b *Flows) WaitRun(ctx context.Context, id string) error {
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

// Wait blocks until every live message the flows are updating has
// received its final frame and the cards of the transitions published so
// far are redrawn, or ctx ends. Serve calls it after the executor's
// Shutdown; tests call it before they read the chat.
func (b *Flows) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { b.streams.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.d.Runs.Flush(ctx)
}
