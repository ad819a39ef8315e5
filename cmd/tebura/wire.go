package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/console"
	"github.com/tebura/tebura/bot/discord"
	"github.com/tebura/tebura/bot/slack"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/commands/incidentchat"
	"github.com/tebura/tebura/commands/runbookchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
	"github.com/tebura/tebura/metrics"
	"github.com/tebura/tebura/runbooks"
)

// redrawInterruptedTimeout bounds redrawing the messages of the runs a
// previous process left interrupted: a chat that is down at start-up gets
// that long, then the redraws are given up (logged).
const redrawInterruptedTimeout = time.Minute

// pruneEvery is how often expired dedupe keys, callbacks and incident marks
// are removed from the store.
const pruneEvery = time.Hour

// consoleMode says which chats wire builds.
type consoleMode int

const (
	// consoleFromConfig follows console.enabled: "true", or "auto" with
	// neither Slack nor Discord enabled.
	consoleFromConfig consoleMode = iota
	// consoleOnly builds the console and no other chat (tebura console).
	consoleOnly
)

// wireOptions are what the wiring takes besides the App.
type wireOptions struct {
	// ConfigPath is the file a reload reads again ("" for defaults and
	// environment only).
	ConfigPath string
	Console    consoleMode
	// In and Out are the console's streams (stdin and stdout).
	In  io.Reader
	Out io.Writer
	// JSON switches the console to one JSON event per line.
	JSON bool
	// User is the console's acting user; "" means console.user, else $USER.
	User string
	// Logs is the logger's output (stderr). When the console and Logs are
	// both terminals, log lines go through the console so that redrawing a
	// message in place never draws over them; nil leaves the log alone.
	Logs   *logOutput
	Getenv func(string) string
	// ExpiryInterval and IncidentInterval override the bot's approval
	// expiry loop and the incident reconcile loop (tests); zero keeps the
	// defaults.
	ExpiryInterval   time.Duration
	IncidentInterval time.Duration
}

// live is what a reload replaces, all together: the configuration it came
// from, the runbooks, the access policy and the redactor.
type live struct {
	cfg      config.Config
	registry *runbooks.Registry
	policy   *access.Policy
	redactor *runbooks.Redactor
}

// server is the wired bot: the App with the chat adapters, the bot, the
// incident layer and the webhooks plugged in. wire builds it; App.Run runs
// it.
type server struct {
	app      *App
	opts     wireOptions
	log      *slog.Logger
	cur      atomic.Pointer[live]
	reloadMu sync.Mutex // one reload at a time

	bot     *commands.Router
	books   *runbookchat.Flows
	inc     *incidentchat.Incidents
	svc     *incident.Service
	chats   map[string]bot.Chat
	console *console.Adapter
	hooks   []string // webhook paths mounted
	names   commands.Names
	// consoleDone is closed when the console's input has ended.
	consoleDone chan struct{}
}

// wire plugs the bot into app: the chats the configuration enables (or only
// the console), the bot with its approval expiry, the incident layer with
// its rules and reconcile loop, the webhook sources, the store's pruning,
// and the start-up reconciliation (interrupted runs redrawn, incidents
// reconciled). It starts nothing; app.Run does.
func wire(app *App, o wireOptions) (*server, error) {
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	cfg := app.Config
	s := &server{app: app, opts: o, log: app.Logger, chats: map[string]bot.Chat{}, consoleDone: make(chan struct{})}
	s.cur.Store(&live{cfg: cfg, registry: app.Registry, policy: app.Policy, redactor: app.Redactor})
	s.names = commands.NamesOf(cfg.Bot.Commands)

	var slackA *slack.Adapter
	var discordA *discord.Adapter
	if o.Console == consoleOnly || consoleEnabled(cfg) {
		s.console = s.newConsole(cfg)
		s.chats[console.Platform] = s.console
	}
	if o.Console != consoleOnly && cfg.Slack.Enabled {
		a, err := slack.New(cfg.Slack, slack.Deps{Deduper: app.Data,
			HTTPClient: &http.Client{Timeout: 30 * time.Second, Transport: app.Metrics.Transport(slack.Platform, nil)}, MaxBody: cfg.HTTP.MaxBody}, s.log)
		if err != nil {
			return nil, err
		}
		slackA = a
		s.chats[a.Name()] = s.outbox(a)
	}
	if o.Console != consoleOnly && cfg.Discord.Enabled {
		a, err := discord.New(cfg.Discord, discord.Deps{Deduper: app.Data, Meta: app.Data,
			HTTPClient: &http.Client{Timeout: 20 * time.Second, Transport: app.Metrics.Transport(discord.Platform, nil)},
			Commands:   cfg.Bot.Commands, Autocomplete: s.autocomplete}, s.log)
		if err != nil {
			return nil, err
		}
		discordA = a
		s.chats[a.Name()] = s.outbox(a)
	}

	botCfg := cfg.Bot
	if slackA != nil {
		botCfg.StreamInterval = max(botCfg.StreamInterval, slackA.StreamInterval())
	}
	if discordA != nil {
		botCfg.StreamInterval = max(botCfg.StreamInterval, cfg.Discord.StreamInterval)
	}
	// Built in the order they depend on each other: the run service
	// (app.Runs), the runbook chat flows, the incident chat flows, and
	// the router in front of both.
	runLink, cardParts := webLinks(cfg)
	s.books = runbookchat.New(runbookchat.Deps{
		Store: app.Data, Registry: s.registry, Access: s.policy, Redactor: s.redactor,
		Audit: app.Audit, Executor: app.Executor, Runs: app.Runs, Chats: s.chats, Config: botCfg, DataDir: cfg.DataDir,
		Logger: s.log, ExpiryInterval: o.ExpiryInterval, StreamObserver: app.Metrics.StreamObserver(), RunLink: runLink, Lead: app.Elector.Do,
	})

	rules, err := incident.CompileRules(cfg.Automations)
	if err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, "The automation rules do not compile; run `tebura validate`.")
	}
	s.svc, err = incident.New(app.Data, cfg.Incidents, rules, nil, s.log)
	if err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, "The incidents section is not valid; run `tebura validate`.")
	}
	s.svc.GuardDiagnostics(s.isRemediation)
	s.svc.MaskWith(func(v string) string { return s.redactor().Mask(v) })
	app.Metrics.WatchIncidents(metrics.OpenIncidents(s.svc))
	if err := s.watch(cfg.Watchdog); err != nil {
		return nil, err
	}
	announce, private := map[string]string{}, map[string]bool{}
	if c := cfg.Slack.Channels.Incidents; c != "" && slackA != nil {
		announce[slack.Platform] = c
	}
	if c := cfg.Discord.Channels.Incidents; c != "" && discordA != nil {
		announce[discord.Platform] = c
	}
	if slackA != nil {
		private[slack.Platform] = cfg.Slack.Channels.Private
	}
	if s.console != nil && cfg.Incidents.AnnounceChannel == "" {
		// The console cannot create channels: incidents are worked in its
		// one channel.
		announce[console.Platform] = cmp.Or(cfg.Console.Channel, console.DefaultChannel)
	}
	var hooks *http.ServeMux
	if o.Console != consoleOnly {
		hooks = http.NewServeMux()
	}
	hintsPart := s.mountHints(hooks, app.Admin)
	oc, cal, err := onCall(cfg, slackA, s.log)
	if err != nil {
		return nil, err
	}
	parts, err := s.wireTickets(app, cfg)
	if err != nil {
		return nil, err
	}
	s.inc, err = incidentchat.New(incidentchat.Deps{
		Service: s.svc, Runs: app.Runs, Runbooks: s.books, Store: app.Data, Registry: s.registry, Audit: app.Audit,
		Commands: cfg.Bot.Commands, Chats: s.chats, Config: cfg.Incidents,
		AnnounceChannels: announce, PrivateChannels: private, Access: s.policy, Logger: s.log,
		Interval: o.IncidentInterval, Observe: func(o incidentchat.Outcome) { app.Metrics.ObserveReconcile(string(o)) },
		Lead:   app.Elector.Do,
		OnCall: oc, Calendar: cal, ObservePage: app.Metrics.ObservePage,
		CardParts: append(append(parts, hintsPart), cardParts...),
	})
	if err != nil {
		return nil, err
	}
	startEscalation(app, cfg, s.svc, s.inc, s.log)
	watchLoad(app, cfg, s.svc, cal)

	login, err := s.mountWeb(app)
	if err != nil {
		return nil, err
	}
	s.bot = commands.New(commands.Deps{
		Callbacks: app.Data, Registry: s.registry, Access: s.policy, Commands: cfg.Bot.Commands,
		Runbooks: s.books, Incidents: s.inc, Reload: s.reloadSummary, Logger: s.log, Login: login,
	})

	if o.Console != consoleOnly {
		// Validation refused a source present without authentication, so
		// every configured source is mounted; an absent one stays off.
		// The webhook handlers live on their own mux behind the metrics
		// middleware (source label from the path, 404s as "unknown").
		app.Mux.Handle("/hooks/", app.Metrics.Webhooks(hooks))
		s.hooks, err = source.Mount(hooks, cfg.Sources, source.Ingester(s.svc.Ingest, s.inc.React), s.log,
			source.Limits{MaxBody: cfg.HTTP.MaxBody})
		if err != nil {
			return nil, tebura.Wrap(tebura.EINVALID, err, "A webhook source cannot be built; run `tebura validate`.")
		}
		s.log.Info("webhook sources", "mounted", strings.Join(s.hooks, ","), "off", strings.Join(offSources(cfg.Sources), ","))
	}
	if slackA != nil {
		slackA.Mount(app.Mux) // HTTP mode only; Socket Mode mounts nothing
	}
	if discordA != nil {
		discordA.Mount(app.Mux) // HTTP interactions only
	}

	s.mountAdmin(app.Admin)

	// Before serving, what needs only the store: the run service already
	// marked interrupted runs (App.start), so the runbook flows' Recover
	// finds none and only expires overdue approvals and starts the expiry
	// loop. Everything that waits for a chat catches up in the background.
	app.AddStartup(func(ctx context.Context, _ []*runbooks.Run) error {
		if err := s.books.Recover(ctx); err != nil {
			return fmt.Errorf("bot recover: %w", err)
		}
		return nil
	})
	app.AddCatchUp(CatchUp{Name: "runs", Detail: "redrawing the messages of interrupted runs",
		Run: func(ctx context.Context, interrupted []*runbooks.Run) error {
			if len(interrupted) == 0 {
				return nil
			}
			ctx, cancel := context.WithTimeout(ctx, redrawInterruptedTimeout)
			defer cancel()
			var wg sync.WaitGroup
			for _, r := range interrupted {
				wg.Add(1)
				go func() { defer wg.Done(); s.books.ShowInterrupted(ctx, []*runbooks.Run{r}) }()
			}
			wg.Wait()
			return nil
		}})
	app.AddCatchUp(CatchUp{Name: "incidents", Detail: "starting the reconcile loop",
		Run: func(ctx context.Context, _ []*runbooks.Run) error { return s.inc.Recover(ctx) }})
	app.Metrics.WatchReconcilePending(func() int { return s.inc.Progress().Pending })
	app.AddReadyCheck(ReadyCheck{Name: "incidents", CatchingUp: true, Check: func(context.Context) error {
		if p := s.inc.Progress(); !p.CaughtUp() {
			return errors.New(p.String())
		}
		return nil
	}})
	app.AddStop(func(ctx context.Context) error {
		return errors.Join(s.books.Wait(ctx), s.inc.Wait(ctx))
	})
	app.AddService(Service{Name: "prune", Run: s.pruneLoop})
	app.AddService(Service{Name: "lost replicas", Run: s.sweepLost})
	if slackA != nil {
		// Through the outbox: replies to events survive an outage too.
		app.AddService(Service{Name: "slack", Run: func(ctx context.Context) error { return s.chats[slack.Platform].Run(ctx, s.bot) }})
		app.AddReadyCheck(ReadyCheck{Name: "slack", CatchingUp: true, Check: func(context.Context) error { return slackA.Ready() }})
		app.Metrics.WatchChatConnected(slack.Platform, slackA.Ready)
	}
	if discordA != nil {
		app.AddService(Service{Name: "discord", Run: func(ctx context.Context) error { return s.chats[discord.Platform].Run(ctx, s.bot) }})
		app.AddReadyCheck(ReadyCheck{Name: "discord", CatchingUp: true, Check: func(context.Context) error { return discordA.Ready() }})
		app.Metrics.WatchChatConnected(discord.Platform, discordA.Ready)
	}
	if s.console != nil {
		app.AddService(Service{Name: "console", Run: func(ctx context.Context) error {
			defer close(s.consoleDone)
			err := s.console.Run(ctx, s.bot)
			if err == nil && ctx.Err() == nil && o.Console != consoleOnly {
				s.log.Info("console input ended; serving until SIGTERM")
			}
			return err
		}})
	}
	return s, nil
}

// consoleEnabled applies console.enabled: "true", or "auto" when neither
// Slack nor Discord is enabled.
func consoleEnabled(cfg config.Config) bool {
	switch cfg.Console.Enabled {
	case "true":
		return true
	case "auto", "":
		return !cfg.Slack.Enabled && !cfg.Discord.Enabled
	}
	return false
}

// newConsole builds the terminal chat on the options' streams.
func (s *server) newConsole(cfg config.Config) *console.Adapter {
	user := s.opts.User
	if user == "" {
		user = cfg.Console.User
	}
	if user == "" {
		user = s.opts.Getenv("USER")
	}
	tty, width := false, 0
	if !s.opts.JSON {
		tty, width = console.Terminal(s.opts.Out)
	}
	hint := ""
	if tty {
		hint = fmt.Sprintf("Type /%s help to see what you can do; !help lists the console keys.", s.names.Tebura)
	}
	a := console.New(console.Options{In: s.opts.In, Out: s.opts.Out, User: user, Channel: cfg.Console.Channel,
		JSON: s.opts.JSON, TTY: tty, Width: width, Hint: hint, Logger: s.log.With("platform", console.Platform)})
	if tty && s.opts.Logs != nil {
		if logTTY, _ := console.Terminal(s.opts.Logs.base); logTTY {
			s.opts.Logs.route(a.Interleave(s.opts.Logs.base))
		}
	}
	return a
}

// logOutput is the logger's writer. The logger is built before the console
// exists; once it does, route sends the log through it (see
// console.Adapter.Interleave). Safe for concurrent use.
type logOutput struct {
	base io.Writer
	w    atomic.Pointer[io.Writer] // nil: base
}

// newLogOutput returns a logOutput writing to base until routed.
func newLogOutput(base io.Writer) *logOutput { return &logOutput{base: base} }

// route makes every later Write go to w.
func (l *logOutput) route(w io.Writer) { l.w.Store(&w) }

// Write writes p to the current writer.
func (l *logOutput) Write(p []byte) (int, error) {
	if w := l.w.Load(); w != nil {
		return (*w).Write(p)
	}
	return l.base.Write(p)
}

func (s *server) registry() *runbooks.Registry { return s.cur.Load().registry }
func (s *server) policy() *access.Policy       { return s.cur.Load().policy }
func (s *server) redactor() *runbooks.Redactor { return s.cur.Load().redactor }

// isRemediation is the incident service's guard: a runbook that needs
// approval, or is a remediation, never runs unattended.
func (s *server) isRemediation(name string) (remediation, known bool) {
	rb, ok := s.registry().Get(name)
	if !ok {
		return false, false
	}
	return rb.NeedsApproval() || rb.Kind == runbooks.KindRemediation, true
}

// autocomplete lists the runbooks starting with partial that actor may run
// (Discord's /runbook name option).
func (s *server) autocomplete(_ context.Context, actor bot.Actor, root, partial string) []string {
	pol := s.policy()
	who := access.Subject{ID: actor.ID, Groups: actor.Groups}
	var out []string
	for _, rb := range s.registry().List() {
		if strings.HasPrefix(rb.Name, strings.ToLower(partial)) && pol.Allowed(who, access.ActionRun, rb) {
			out = append(out, rb.Name)
		}
	}
	return out
}

// pruneLoop removes expired dedupe keys and callbacks and forgets old
// incident marks, now and then every pruneEvery.
func (s *server) pruneLoop(ctx context.Context) error {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		s.app.Elector.Do(ctx, s.pruneShared) // the store is shared: its leader prunes it
		s.pruneLogs()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// pruneShared removes expired dedupe keys and callbacks and forgets old
// incident marks.
func (s *server) pruneShared(ctx context.Context) {
	if st, err := pruneStore(ctx, s.app.Store, time.Now()); err != nil && ctx.Err() == nil {
		s.log.Error("store prune failed", "err", err)
	} else if err == nil {
		s.log.Debug("store pruned", "stats", st)
	}
	if n, err := s.svc.PruneMarks(ctx); err != nil && ctx.Err() == nil {
		s.log.Error("incident marks prune failed", "err", err)
	} else if err == nil && n > 0 {
		s.log.Debug("incident marks pruned", "count", n)
	}
	s.pruneChanges(ctx, time.Now())
	s.pruneSharedLogs(ctx, time.Now())
}

// watch wires the watchdog section: the watchdog alert taken out of the
// incident flow and exported, and the chat reachability threshold.
func (s *server) watch(cfg config.Watchdog) error {
	s.app.Metrics.WatchChat(cfg.ChatUnreachableAfter, s.log, nil)
	w, err := incident.NewWatchdog(cfg, time.Now())
	if err != nil {
		return tebura.Wrap(tebura.EINVALID, err, "The watchdog section is not valid; run `tebura validate`.")
	}
	if w == nil {
		return nil
	}
	s.svc.Watch(w)
	s.app.Metrics.WatchWatchdog(func() (time.Time, bool) { return w.Status(time.Now()) })
	return nil
}

// pruneLogs deletes run logs beyond runbooks.log_retention and
// runbooks.log_total_bytes (as configured now: a reload applies) and
// counts them.
func (s *server) pruneLogs() {
	rb := s.cur.Load().cfg.Runbooks
	p, err := s.app.Executor.PruneLogs(runbooks.LogRetention{MaxAge: rb.LogRetention, MaxTotalBytes: rb.LogTotalBytes})
	if err != nil {
		s.log.Error("run logs prune failed", "err", err)
	}
	s.app.Metrics.LogsPruned(p.Files, p.Bytes)
}

// restartKeys are the top-level configuration keys a reload does not
// apply: the listener, the data dir, chat connections and tokens, webhook
// sources, the secrets key, incident rules and the executor's limits are
// fixed at start-up.
var restartKeys = []string{"data_dir", "shutdown_grace", "http", "log", "bot", "chat", "console", "slack", "discord",
	"secrets", "sources", "incidents", "automations", "runbooks.max_concurrent", "runbooks.log_cap_bytes", "runbooks.kill_grace", "watchdog", "oncall", "tickets", "kubernetes"}

// Reload loads the configuration file, the runbooks and the access roles
// again and swaps them in at once. A configuration with any problem is
// refused and the old one keeps serving. It returns what changed that
// needs a restart to take effect (sorted keys).
func (s *server) Reload(ctx context.Context, by string) (restart []string, err error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	w, ps, _ := loadWorld(s.opts.ConfigPath)
	if len(ps) > 0 {
		config.SortProblems(ps)
		lines := make([]string, 0, len(ps))
		for _, p := range ps {
			lines = append(lines, p.String())
		}
		s.log.Error("reload refused; the running configuration stays", "by", by, "problems", len(ps), "first", lines[0])
		return nil, tebura.Wrap(tebura.EINVALID, errors.New(strings.Join(lines, "; ")),
			fmt.Sprintf("The new configuration has %d problem(s), so it was not loaded; the running one stays. Run `tebura validate` to see them.", len(ps)))
	}
	red, err := runbooks.NewRedactor(w.Config.Secrets(), w.Config.Redact.Patterns)
	if err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, "redact.patterns cannot be compiled; the running configuration stays.")
	}
	old := s.cur.Load()
	restart = changedKeys(old.cfg, w.Config)
	next := &live{cfg: w.Config, registry: w.Registry, policy: w.Policy, redactor: red}
	s.cur.Store(next)
	s.app.SetRedactor(red)
	if s.app.SSH != nil { // the registry's inventory and the runner's change together
		s.app.SSH.Update(sshConfig(w.Config))
	}
	if s.app.Ansible != nil {
		s.app.Ansible.Update(ansibleConfig(w.Config))
	}
	detail := map[string]string{"runbooks": fmt.Sprint(len(w.Registry.List())), "restart_needed": strings.Join(restart, ",")}
	if err := s.app.Audit.Record(ctx, by, audit.ActionConfigReload, "config", detail); err != nil {
		s.log.Error("audit record failed", "action", "config.reload", "err", err)
	}
	s.log.Info("configuration reloaded", "by", by, "runbooks", len(w.Registry.List()), "restart_needed", strings.Join(restart, ","))
	return restart, nil
}

// changedKeys lists the restart-only keys whose value differs.
func changedKeys(a, b config.Config) []string {
	am, bm := a.Map(), b.Map()
	var out []string
	for _, k := range restartKeys {
		if fmt.Sprint(lookup(am, k)) != fmt.Sprint(lookup(bm, k)) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func lookup(m map[string]any, key string) any {
	var v any = m
	for _, part := range strings.Split(key, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[part]
	}
	return v
}

// reloadSummary is Reload as `/tebura reload` answers it (commands.Deps.Reload;
// the bot checks that the caller is an admin): one sentence of what was
// loaded or what needs a restart, or a refusal that names the problems.
func (s *server) reloadSummary(ctx context.Context, by string) (string, error) {
	restart, err := s.Reload(ctx, by)
	switch {
	case err != nil && tebura.ErrorCode(err) == tebura.EINVALID:
		return "", tebura.Errorf(tebura.EINVALID, "%s (%s)", tebura.ErrorMessage(err), detailOf(err))
	case err != nil:
		return "", err
	case len(restart) > 0:
		return fmt.Sprintf("Reloaded runbooks, access and redaction. These keys changed but take effect only after a restart: %s.", strings.Join(restart, ", ")), nil
	}
	return fmt.Sprintf("Reloaded: %d runbook(s).", len(s.registry().List())), nil
}

// detailOf is the operator detail of a tebura error (the problems found).
func detailOf(err error) string {
	var te *tebura.Error
	if errors.As(err, &te) && te.Err != nil {
		return te.Err.Error()
	}
	return err.Error()
}

// outbox wraps a remote chat so that an outage of its API loses nothing:
// posts, edits and replies the platform cannot take are kept in the store
// (in order per channel, edits folded into their pending post) and
// delivered when it is back, after a restart too, until
// chat.delivery_deadline. What the last run kept is queued again here,
// before the start-up steps edit any message; the outbox stops with the
// services, keeping what is left for the next start. The console needs
// none.
func (s *server) outbox(c bot.Chat) bot.Chat {
	chat := bot.NewOutbox(c, bot.OutboxOptions{Logger: s.log, Store: s.app.Store, Deadline: s.app.Config.Chat.DeliveryDeadline})
	ob, _ := bot.OutboxOf(chat)
	s.app.Metrics.WatchOutbox(c.Name(), ob.Stats)
	if err := ob.Resume(context.Background()); err != nil {
		s.log.Error("chat messages kept before the restart could not be read", "platform", c.Name(), "err", err)
	}
	s.app.AddService(Service{Name: c.Name() + " outbox", Run: func(ctx context.Context) error {
		<-ctx.Done()
		ob.Stop()
		return nil
	}})
	return chat
}

// offSources names the webhook sources the configuration leaves off: the
// built-in ones it does not enable, and "generic" when it names none.
func offSources(src config.Sources) []string {
	var off []string
	if !src.Alertmanager.Enabled() {
		off = append(off, "alertmanager")
	}
	if !src.Grafana.Enabled() {
		off = append(off, "grafana")
	}
	if !src.PagerDuty.Enabled() {
		off = append(off, "pagerduty")
	}
	if len(src.Generic) == 0 {
		off = append(off, "generic")
	}
	return off
}
