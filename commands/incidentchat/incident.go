package incidentchat

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/commands/runbookchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/oncall"
	"github.com/tebura/tebura/runbooks"
)

// Runbooks is what the incident flows use of the runbook chat flows:
// starting a diagnostic with its live message, and proposing a remediation
// behind its approval card (for an automation, or for the person who
// asked). Closing a request whose incident resolved needs no card work
// here: the run service closes it and the runbook flows redraw its card
// from the transition. runbookchat.Flows implements it.
type Runbooks interface {
	StartRun(ctx context.Context, req runbookchat.RunRequest) (*runbooks.Run, error)
	ProposeRun(ctx context.Context, req runbookchat.RunRequest) (*runbooks.Run, error)
	ProposeFor(ctx context.Context, asker bot.Actor, req runbookchat.RunRequest) (*runbooks.Run, error)
}

// Store is the storage the incident flows read runs from and keep the
// meaning of their buttons in. store/bolt implements it.
type Store interface {
	runbooks.Store
	PutCallback(ctx context.Context, cb bot.Callback) error
}

// Deps are what the incident flows are built from.
type Deps struct {
	Service *incident.Service
	// Runs is the run service: the flows follow its transitions onto the
	// timelines, link runs to their incident and close the requests of a
	// resolved incident.
	Runs *runbooks.Service
	// Runbooks start and propose runs and close requests.
	Runbooks Runbooks
	Store    Store
	// Registry is read once per use, so a config reload swaps it.
	Registry func() *runbooks.Registry
	Audit    *audit.Log
	// Commands are the configured command names, for the commands that
	// replies and cards suggest.
	Commands config.BotCommands
	// Chats are the connected chat platforms by name.
	Chats map[string]bot.Chat
	// Platform is the chat where alert incidents open their channel. Empty:
	// the only chat, else the first by name that can create channels.
	Platform string
	// Config is the incidents section.
	Config config.Incidents
	// AnnounceChannels override incidents.announce_channel per platform
	// (slack.channels.incidents, discord.channels.incidents).
	AnnounceChannels map[string]string
	// PrivateChannels create a platform's incident channels private
	// (slack.channels.private).
	PrivateChannels map[string]bool
	Access          func() *access.Policy
	Clock           func() time.Time
	Logger          *slog.Logger
	// Interval is how often Recover's loop reconciles open incidents,
	// archives due channels and records ended runs (default 30s).
	Interval time.Duration
	// ReconcileTimeout bounds the chat work of one incident in a round of
	// the loop, and of one reaction (default 30s): a platform that hangs
	// costs that much per incident, never more.
	ReconcileTimeout time.Duration
	// Observe, when set, is told the outcome of every incident the loop
	// reconciles (metrics).
	Observe func(Outcome)
	// Lead, when set, runs the loop's rounds only while this replica leads
	// (replica.Elector.Do), so that with several replicas on one database
	// channels are created, cards redrawn and channels archived once; nil
	// runs them here (one process). Reactions to this replica's own
	// webhooks and runs do not wait for it.
	Lead func(ctx context.Context, f func(ctx context.Context)) bool
	// CardParts add each feature's part to the incident card (bridge,
	// ticket, hints...), in this order.
	CardParts []CardPart
	// OnCall pages schedules (oncall:NAME) and shows who is on call; nil
	// when none is configured. Calendar counts out-of-hours pages in
	// /incident stats; ObservePage is told every page (metrics).
	OnCall      OnCall
	Calendar    *oncall.Calendar
	ObservePage func(oncall.Page)
}

// Incidents is the chat side of incidents: the /incident commands, the
// incident buttons, and the reaction to what the incident domain reports
// (React). It implements commands.Handler.
//
// # Durability of reactions
//
// A webhook is answered 2xx once the ingest is stored; the reaction runs
// after that and may be lost in a crash. So every reaction is re-derivable
// from stored state and idempotent, and Recover (at start-up, then every
// Interval) re-runs it for every open incident:
//   - channel: an open incident without a channel gets one; AttachChannel is
//     called right after creation, before anything is posted, so a retry
//     reuses the stored channel. A shared channel (the console's, or an
//     existing channel a rule names) is attached as Shared: it takes no
//     one-incident index, and a command typed there is about the most
//     recent open incident using it (the reply says which when several
//     are open; #N names another). The timeline keeps how the channel came
//     (entry kind "reaction.channel", mode=created or shared). Nothing else
//     is posted or started before the channel exists;
//   - card: its message ref is stored on the incident's timeline (entry kind
//     "reaction.card", Data platform/channel/message) when it is posted;
//     later changes edit that message, never re-post;
//   - diagnostics and suggestions: the rules that fired are stored with the
//     incident (Incident.Fired, in the ingest's transaction, together with
//     the once_within marks); each runbook started or proposed writes a
//     timeline entry (kind "automation", Data reaction/rule/runbook/run), and
//     a fired rule's runbook without such an entry since the incident
//     (re)opened is started now. A crash between a start and its entry can
//     repeat a diagnostic (at least once); a suggestion may be proposed twice.
//   - run results: runs carry the incident in Run.Origin. The run service
//     publishes every transition (an approval, a denial, an expiry, a
//     close, a start, an end, whoever made it) and this layer subscribes:
//     all land on the timeline as they happen. What a crash lost (a
//     transition published but not yet written here) is caught once, at
//     start-up (Recover): an ended run without a "run" entry on the
//     timeline gets one. Entries carry run_end (and approved_by for
//     approvals), so nothing is written twice;
//   - approvals: a resolved incident's pending approval requests are
//     closed when the resolve reaches the chat (ensure); the loop closes
//     those of any incident no longer open that a crash left pending;
//   - archive: due when resolved_at + archive_after has passed, for
//     channels the bot created ("reaction.channel" mode=created) and not yet
//     archived ("channel.archived").
type Incidents struct {
	svc       *incident.Service
	parts     []CardPart
	runs      *runbooks.Service
	runbooks  Runbooks
	store     Store
	reg       func() *runbooks.Registry
	audit     *audit.Log
	names     commands.Names
	chats     map[string]bot.Chat
	platform  string
	cfg       config.Incidents
	announces map[string]string
	private   map[string]bool
	access    func() *access.Policy
	now       func() time.Time
	log       *slog.Logger
	interval  time.Duration
	timeout   time.Duration
	observe   func(Outcome)
	lead      func(ctx context.Context, f func(ctx context.Context)) bool
	// On-call (see Deps.OnCall).
	oncall      OnCall
	calendar    *oncall.Calendar
	observePage func(oncall.Page)

	mu     sync.Mutex
	locks  map[int64]*sync.Mutex
	states map[int64]*incState
	// recorded are the runs whose end is on their incident's timeline, so
	// that the start-up catch-up skips them without taking the incident's
	// lock.
	recorded map[string]bool
	running  bool
	// life ends when Recover's context does: reactions stop with it (what
	// they did not do, the next start's rounds do).
	life     context.Context
	progress Progress
	settled  map[int64]bool // open incidents whose last reconcile succeeded
	first    chan struct{}  // closed when the loop's first round ended

	reactions sync.WaitGroup // React's goroutines
	loops     sync.WaitGroup // Recover's loop
}

var _ commands.Handler = (*Incidents)(nil)

// New builds the incident flows and subscribes them to the run service's
// transitions. It starts nothing: call Recover once at start-up.
func New(d Deps) (*Incidents, error) {
	if d.Service == nil || d.Runs == nil || d.Runbooks == nil || d.Store == nil {
		return nil, tebura.Errorf(tebura.EINVALID, "The incident layer needs the incident service, the run service, the runbook flows and the store.")
	}
	i := &Incidents{svc: d.Service, runs: d.Runs, runbooks: d.Runbooks, store: d.Store, reg: d.Registry, audit: d.Audit,
		names: commands.NamesOf(d.Commands), chats: d.Chats, platform: d.Platform, cfg: d.Config,
		announces: d.AnnounceChannels, private: d.PrivateChannels, parts: d.CardParts,
		access: d.Access, now: d.Clock, log: d.Logger, interval: d.Interval, timeout: d.ReconcileTimeout, observe: d.Observe, lead: d.Lead,
		locks: map[int64]*sync.Mutex{}, states: map[int64]*incState{}, recorded: map[string]bool{}, life: context.Background(),
		first: make(chan struct{}), oncall: d.OnCall, calendar: d.Calendar, observePage: d.ObservePage}
	i.parts = append([]CardPart{CardPartFunc(i.bridgePart)}, i.parts...)
	if d.OnCall != nil {
		i.parts = append([]CardPart{CardPartFunc(i.onCallPart)}, i.parts...)
	}
	if i.now == nil {
		i.now = time.Now
	}
	if i.log == nil {
		i.log = slog.New(slog.DiscardHandler)
	}
	if i.interval <= 0 {
		i.interval = 30 * time.Second
	}
	if i.timeout <= 0 {
		i.timeout = defaultReconcileTimeout
	}
	if i.platform == "" {
		i.platform = defaultPlatform(i.chats)
	}
	d.Runs.Subscribe(i.onTransition)
	return i, nil
}

// defaultPlatform is the only chat, or the first by name that can create
// channels, or the first by name.
func defaultPlatform(chats map[string]bot.Chat) string {
	names := make([]string, 0, len(chats))
	for n := range chats {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := chats[n].(bot.ChannelManager); ok {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return ""
}

// lock serializes the reaction of one incident: a webhook, a command, a
// click and the reconcile loop never act on the same incident at once.
func (i *Incidents) lock(n int64) func() {
	i.mu.Lock()
	l := i.locks[n]
	if l == nil {
		l = &sync.Mutex{}
		i.locks[n] = l
	}
	i.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Recover starts the reconcile loop and returns at once: its first round
// records the ends of runs that a previous process did not get onto their
// timeline, then reconciles every open incident (channels, cards,
// diagnostics and suggestions lost in a crash or a restart) and archives
// due channels; later rounds, every Interval until ctx ends, do the same
// except the run catch-up. The rounds run in the background, so that the
// webhooks and the chats are served while a backlog is worked off (see
// Round and Progress for the bounds); every reaction is idempotent and
// serialized per incident, so a round and a webhook never step on each
// other. Reactions end with ctx too. Call it once at start-up, after the
// runbook flows' Recover.
func (i *Incidents) Recover(ctx context.Context) error {
	i.mu.Lock()
	running := i.running
	i.running = true
	i.life = ctx
	i.mu.Unlock()
	if !running {
		i.loops.Add(1)
		go i.loop(ctx)
	}
	return nil
}

func (i *Incidents) loop(ctx context.Context) {
	defer i.loops.Done()
	defer func() { i.mu.Lock(); i.running = false; i.mu.Unlock() }()
	if err := i.catchUpRuns(ctx); err != nil && ctx.Err() == nil {
		i.log.Error("incident run catch-up failed", "err", err)
	}
	t := time.NewTicker(i.interval)
	defer t.Stop()
	var once sync.Once
	defer once.Do(func() { close(i.first) })
	for {
		if err := i.round(ctx); err != nil && ctx.Err() == nil {
			i.log.Error("incident reconcile failed", "err", err)
		}
		once.Do(func() { close(i.first) })
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round is one round of the loop: Tick when this replica leads (or no
// leader is elected); a follower only notes that it follows, for /readyz.
func (i *Incidents) round(ctx context.Context) error {
	if i.lead == nil {
		return i.Tick(ctx)
	}
	var err error
	led := i.lead(ctx, func(ctx context.Context) { err = i.Tick(ctx) })
	i.setProgress(func(p *Progress) { p.Following = !led })
	return err
}

// FirstRound is closed once the first round after Recover has ended (or
// Recover's context did): tests and tools that need the start-up
// reconciliation done wait for it; the server does not.
func (i *Incidents) FirstRound() <-chan struct{} { return i.first }

// Tick does one round of the loop: reconcile open incidents, close the
// approvals of resolved ones, archive due channels. Run results need no
// round: they come as transitions. Tests with an injected clock call it.
//
// A round is bounded: each incident's chat work has ReconcileTimeout, and
// once unreachableAfter incidents in a row failed because the platform did
// not answer, the rest of the round is deferred to the next one (an
// unreachable platform costs a few timeouts per round, not one per open
// incident). An incident whose work failed is retried every round; the
// first failure is noted on its timeline. Progress says how far it got.
func (i *Incidents) Tick(ctx context.Context) error {
	i.checkWatchdog(ctx)
	open, err := i.svc.List(ctx, incident.ListOptions{OpenOnly: true})
	if err != nil {
		return err
	}
	// Pending are the open incidents not known to be in line: those this
	// process has not reconciled yet, and those whose last try failed. An
	// incident in line stays so until a try says otherwise, so a round
	// over a settled backlog does not show it pending again.
	i.mu.Lock()
	settled := make(map[int64]bool, len(open))
	pending := map[int64]bool{}
	for _, inc := range open {
		if i.settled[inc.Number] {
			settled[inc.Number] = true
		} else {
			pending[inc.Number] = true
		}
	}
	i.settled = settled
	i.progress.Open, i.progress.Pending, i.progress.Deferred = len(open), len(pending), 0
	i.mu.Unlock()
	streak, deferred := 0, 0
	var last error
	for k, inc := range open {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if streak >= unreachableAfter {
			deferred = len(open) - k
			i.log.Warn("chat unreachable; incidents deferred to the next round", "deferred", deferred, "next_in", i.interval, "err", last)
			for range deferred {
				i.observed(OutcomeDeferred)
			}
			break
		}
		err := i.reconcileBounded(ctx, inc.Number)
		switch {
		case err == nil:
			streak = 0
			i.observed(OutcomeDone)
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			last = err
			if bot.Transient(err) {
				streak++
				i.observed(OutcomeUnreachable)
			} else {
				streak = 0
				i.observed(OutcomeFailed)
			}
		}
		i.mu.Lock()
		i.settled[inc.Number] = err == nil
		if err == nil {
			delete(pending, inc.Number)
		} else {
			pending[inc.Number] = true
		}
		i.progress.Pending = len(pending)
		i.mu.Unlock()
	}
	i.setProgress(func(p *Progress) {
		p.Pending, p.Deferred, p.Rounds = len(pending), deferred, p.Rounds+1
		p.LastError = ""
		if last != nil {
			p.LastError = last.Error()
		}
	})
	if err := i.sweepApprovals(ctx); err != nil && ctx.Err() == nil {
		i.log.Error("incident approval sweep failed", "err", err)
	}
	return i.archiveDue(ctx)
}

// Bounds of the reconcile loop (see Tick).
const (
	defaultReconcileTimeout = 30 * time.Second
	// unreachableAfter is how many incidents in a row must fail for lack
	// of an answer from the chat before a round gives up on the rest.
	unreachableAfter = 3
)

// Outcome is what one incident's reconciliation came to, for metrics.
type Outcome string

// Outcomes of Deps.Observe.
const (
	OutcomeDone        Outcome = "done"        // in line with the chat
	OutcomeUnreachable Outcome = "unreachable" // the chat did not answer in time, or refused the connection
	OutcomeFailed      Outcome = "failed"      // the chat refused the work (a permanent error)
	OutcomeDeferred    Outcome = "deferred"    // not tried: the round stopped, the chat being unreachable
)

func (i *Incidents) observed(o Outcome) {
	if i.observe != nil {
		i.observe(o)
	}
}

// Progress is how far the reconcile loop got, for /readyz and the logs.
type Progress struct {
	// Rounds counts finished rounds; 0 while the first one runs.
	Rounds int
	// Open is how many incidents were open when the last round began.
	Open int
	// Pending are the open incidents not known to be in line with the
	// chat: not reconciled by this process yet (not reached in the
	// running round, or deferred), or whose last try failed.
	Pending int
	// Deferred of them were not tried in the last round (see Tick).
	Deferred int
	// LastError is the last failure of the last round.
	LastError string
	// Following is true while another replica leads and does the rounds
	// (Deps.Lead): this one has nothing to catch up.
	Following bool
}

// CaughtUp reports whether a round finished with nothing left to do, or
// another replica does the rounds.
func (p Progress) CaughtUp() bool { return p.Following || (p.Rounds > 0 && p.Pending == 0) }

// String says what is still being done, for /readyz.
func (p Progress) String() string {
	switch {
	case p.Following:
		return "another replica leads and reconciles the incidents"
	case p.CaughtUp():
		return fmt.Sprintf("%d open incidents in line with the chat", p.Open)
	case p.Rounds == 0 && p.Open == 0:
		return "starting"
	}
	s := fmt.Sprintf("reconciling %d of %d open incidents", p.Pending, p.Open)
	if p.Deferred > 0 {
		s += fmt.Sprintf(" (%d deferred: the chat is unreachable)", p.Deferred)
	}
	if p.LastError != "" {
		s += "; last failure: " + p.LastError
	}
	return s
}

// Progress returns how far the reconcile loop got.
func (i *Incidents) Progress() Progress {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.progress
}

func (i *Incidents) setProgress(f func(*Progress)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	f(&i.progress)
}

// Wait blocks until React's reactions are done, the loop has stopped (when
// Recover's context has ended) and the run transitions published so far are on
// the timelines, or ctx ends. Call it after the HTTP server stopped and
// the executor's Shutdown.
func (i *Incidents) Wait(ctx context.Context) error {
	i.mu.Lock()
	stopping := i.life.Err() != nil
	i.mu.Unlock()
	done := make(chan struct{})
	go func() {
		i.reactions.Wait()
		if stopping {
			i.loops.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return i.runs.Flush(ctx)
}

// mayAct reports whether a may declare, acknowledge, resolve and annotate
// incidents: anyone with any role, and admins.
func (i *Incidents) mayAct(a bot.Actor) bool {
	var p *access.Policy
	if i.access != nil {
		p = i.access()
	}
	if p == nil {
		return false
	}
	s := commands.Subject(a)
	return p.IsAdmin(s) || len(p.Roles(s)) > 0
}

func (i *Incidents) policy() *access.Policy {
	if i.access == nil {
		return nil
	}
	return i.access()
}

// expand turns roles into their members; identities pass as they are.
func (i *Incidents) expand(list []string) []string {
	p := i.policy()
	var out []string
	seen := map[string]bool{}
	add := func(m string) {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	for _, x := range list {
		if p != nil && p.Known(x) {
			for _, m := range p.Members(x) {
				add(m)
			}
			continue
		}
		add(x)
	}
	return out
}

// announce is where a platform's new incidents are announced, and the
// channel incidents use where the platform cannot create channels.
func (i *Incidents) announce(platform string) string {
	if c := i.announces[platform]; c != "" {
		return c
	}
	return i.cfg.AnnounceChannel
}

// registry returns the runbooks as loaded now.
func (i *Incidents) registry() *runbooks.Registry {
	if i.reg == nil {
		return runbooks.NewRegistry()
	}
	if r := i.reg(); r != nil {
		return r
	}
	return runbooks.NewRegistry()
}

// record appends to the audit chain; a failure is logged, not returned:
// the incident's own timeline already has what happened.
func (i *Incidents) record(ctx context.Context, actor string, action audit.Action, subj string, detail map[string]string) {
	if i.audit == nil {
		return
	}
	if err := i.audit.Record(ctx, actor, action, subj, detail); err != nil {
		i.log.Error("audit record failed", "action", action, "subject", subj, "err", err)
	}
}
