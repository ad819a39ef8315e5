// Package slack is Tebura's Slack adapter: it turns slash commands, button
// clicks and app mentions into bot events, and bot messages into Block Kit.
//
// It speaks Socket Mode (the default: an outbound websocket, no public URL)
// or HTTP mode (signed requests on the shared listener), acknowledges every
// delivery inside Slack's 3 s deadline before the handler does slow work,
// drops redelivered events and replayed HTTP-mode requests (by trigger_id)
// through the persistent bot.Deduper, and keeps
// inside Slack's rate limits with one limiter per Web API method, one queue
// per channel and latest-wins coalescing of message edits. Run owns every
// goroutine the adapter starts and waits for them, within a bound, when it
// stops (stop.go).
//
// slack-go (github.com/slack-go/slack) is used only in this package.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slack-go/slack"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/config"
)

// Platform is the adapter's name, the prefix of its identities ("slack:U1")
// and the Platform of its events and message refs.
const Platform = "slack"

// GroupPrefix is the prefix of Slack user group identities ("slack-group:S1").
const GroupPrefix = "slack-group:"

// Modes.
const (
	ModeSocket = "socket"
	ModeHTTP   = "http"
)

// DefaultAPIURL is Slack's Web API base URL.
const DefaultAPIURL = "https://slack.com/api/"

// Defaults for zero Deps and config values.
const (
	defaultGroupCacheTTL = 5 * time.Minute
	defaultMaxBody       = 1 << 20
	// dedupeTTL is how long delivery IDs are remembered: Slack retries
	// events for about 5 minutes; an hour leaves a wide margin.
	dedupeTTL = time.Hour
	// opTimeout bounds one queued Web API call, waits for rate limits included.
	opTimeout = 5 * time.Minute
)

// neutralRoots returns the command roots the bot understands, in the order
// of config slack.commands.
func neutralRoots() []string { return []string{"runbook", "incident", "tebura"} }

// Deps are the adapter's collaborators.
type Deps struct {
	// Deduper remembers delivery IDs across restarts (store/bolt). When nil
	// an in-memory one is used and a warning is logged.
	Deduper bot.Deduper
	// Clock is used for signature timestamps and response_url expiry.
	Clock func() time.Time
	// HTTPClient is used for every Web API call, response_url and the
	// Socket Mode dial. nil means a client with a 30 s timeout.
	HTTPClient *http.Client
	// MaxBody bounds HTTP-mode request bodies; 0 means 1 MiB.
	MaxBody int64
	// WatchdogTimeout is how long a Socket Mode connection may stay silent
	// (no frame, no ping) before it is considered dead; 0 means 45 s.
	WatchdogTimeout time.Duration
	// ReconnectBackoff is the first wait after a failed connection attempt,
	// doubled up to 30 s; 0 means 1 s.
	ReconnectBackoff time.Duration
}

// Adapter is the Slack chat adapter. Create it with New.
type Adapter struct {
	cfg     config.Slack
	log     *slog.Logger
	api     *slack.Client
	app     *slack.Client // app-level token: apps.connections.open only
	http    *http.Client
	dedupe  bot.Deduper
	now     func() time.Time
	maxBody int64
	roots   map[string]string // "/runbook" → "runbook"
	limits  *limiter
	out     *outbox
	groups  *groupCache
	sock    *socketState

	watchdog time.Duration
	backoff  time.Duration

	createMu sync.Mutex // serializes conversations.create

	handler  atomic.Pointer[handlerBox]
	started  atomic.Bool // Run was called: it runs once
	handlers *group      // handler goroutines, waited for when Run stops

	// life ends (endLife) when Run stops; it cancels the handlers' contexts.
	life    context.Context
	endLife context.CancelFunc

	authOK  atomic.Bool
	botUser atomic.Pointer[string] // the bot's own user ID, from auth.test
	scopes  atomic.Pointer[string] // X-OAuth-Scopes of the last Web API answer
}

type handlerBox struct{ h bot.Handler }

var (
	_ bot.Chat           = (*Adapter)(nil)
	_ bot.Limited        = (*Adapter)(nil)
	_ bot.ChannelManager = (*Adapter)(nil)
	_ bot.FileUploader   = (*Adapter)(nil)
	_ bot.GroupResolver  = (*Adapter)(nil)
	_ bot.Health         = (*Adapter)(nil)
	_ bot.Doctor         = (*Adapter)(nil)
	_ bot.Mounter        = (*Adapter)(nil)
)

// New checks the configuration and builds an adapter. It does no I/O: Run
// connects, Doctor checks the setup.
func New(cfg config.Slack, deps Deps, logger *slog.Logger) (*Adapter, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("platform", Platform)
	if cfg.Mode == "" {
		cfg.Mode = ModeSocket
	}
	var problems []string
	switch cfg.Mode {
	case ModeSocket:
		if !strings.HasPrefix(cfg.AppToken.Value(), "xapp-") {
			problems = append(problems, "slack.app_token must be an app-level token (xapp-…) with connections:write for Socket Mode")
		}
	case ModeHTTP:
		if cfg.SigningSecret.Value() == "" {
			problems = append(problems, "slack.signing_secret is required in HTTP mode")
		}
	default:
		problems = append(problems, fmt.Sprintf("slack.mode must be %q or %q, not %q", ModeSocket, ModeHTTP, cfg.Mode))
	}
	if cfg.BotToken.Value() == "" {
		problems = append(problems, "slack.bot_token is required (xoxb-…)")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/" // slack-go appends method names to it
	}
	if len(cfg.Commands) == 0 {
		cfg.Commands = []string{"/runbook", "/incident", "/tebura"}
	}
	if len(cfg.Commands) > len(neutralRoots()) {
		problems = append(problems, fmt.Sprintf("slack.commands lists %d names; give at most %d (runbook, incident, tebura)", len(cfg.Commands), len(neutralRoots())))
	}
	roots := make(map[string]string, len(cfg.Commands))
	for i, c := range cfg.Commands {
		if i >= len(neutralRoots()) {
			break
		}
		name := "/" + strings.TrimPrefix(strings.TrimSpace(c), "/")
		if name == "/" {
			problems = append(problems, fmt.Sprintf("slack.commands[%d] is empty", i))
			continue
		}
		roots[name] = neutralRoots()[i]
	}
	if len(problems) > 0 {
		return nil, tebura.Errorf(tebura.EINVALID, "Slack configuration: %s.", strings.Join(problems, "; "))
	}
	if cfg.GroupCacheTTL <= 0 {
		cfg.GroupCacheTTL = defaultGroupCacheTTL
	}
	if deps.Clock == nil {
		deps.Clock = time.Now
	}
	if deps.HTTPClient == nil {
		deps.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if deps.MaxBody <= 0 {
		deps.MaxBody = defaultMaxBody
	}
	if deps.WatchdogTimeout <= 0 {
		deps.WatchdogTimeout = 45 * time.Second
	}
	if deps.ReconnectBackoff <= 0 {
		deps.ReconnectBackoff = time.Second
	}
	if deps.Deduper == nil {
		logger.Warn("slack deduper missing; redeliveries are recognized only until restart")
		deps.Deduper = newMemDeduper(deps.Clock)
	}
	a := &Adapter{
		cfg:      cfg,
		log:      logger,
		http:     deps.HTTPClient,
		dedupe:   deps.Deduper,
		now:      deps.Clock,
		maxBody:  deps.MaxBody,
		roots:    roots,
		limits:   newLimiter(),
		watchdog: deps.WatchdogTimeout,
		backoff:  deps.ReconnectBackoff,
		sock:     &socketState{},
		handlers: newGroup(),
	}
	a.life, a.endLife = context.WithCancel(context.Background())
	a.api = slack.New(cfg.BotToken.Value(),
		slack.OptionAPIURL(cfg.APIURL),
		slack.OptionHTTPClient(deps.HTTPClient),
		slack.OptionOnResponseHeaders(a.sawHeaders),
	)
	a.app = slack.New(cfg.BotToken.Value(),
		slack.OptionAPIURL(cfg.APIURL),
		slack.OptionHTTPClient(deps.HTTPClient),
		slack.OptionAppLevelToken(cfg.AppToken.Value()),
	)
	a.out = newOutbox(a)
	a.groups = newGroupCache(a, cfg.GroupCacheTTL)
	return a, nil
}

// Name returns "slack".
func (a *Adapter) Name() string { return Platform }

// Limits declares Slack's sizes so that bot.Fit trims before rendering.
func (a *Adapter) Limits() bot.Limits { return limits() }

// sawHeaders keeps the granted scopes Slack reports on every answer.
func (a *Adapter) sawHeaders(_ string, h http.Header) {
	if s := h.Get("X-OAuth-Scopes"); s != "" {
		a.scopes.Store(&s)
	}
}

// Run connects and delivers events to h until ctx is done. In Socket Mode
// it keeps a websocket open; in HTTP mode the routes added by Mount deliver
// and Run only checks the token and waits. An invalid token is a fatal
// error, returned at once.
//
// Run owns the goroutines the adapter starts: it returns only after the
// handler goroutines and the send queues have ended, or after the bounds
// of stopWait and cancelWait (see stop.go). An adapter runs once; messages
// posted after Run returned are refused.
func (a *Adapter) Run(ctx context.Context, h bot.Handler) error {
	if h == nil {
		return tebura.Errorf(tebura.EINVALID, "Slack adapter started without a handler.")
	}
	if !a.started.CompareAndSwap(false, true) {
		return tebura.Errorf(tebura.ECONFLICT, "The Slack adapter runs once; build a new one to run it again.")
	}
	a.handler.Store(&handlerBox{h})
	defer a.shutdown()

	if err := a.checkAuth(ctx); err != nil {
		return err
	}
	if a.cfg.Mode == ModeHTTP {
		a.log.Info("slack ready", "mode", ModeHTTP)
		<-ctx.Done()
		return nil
	}
	return a.runSocket(ctx)
}

// checkAuth calls auth.test, retrying transient failures, and turns a bad
// token into a fatal error.
func (a *Adapter) checkAuth(ctx context.Context) error {
	wait := a.backoff
	for {
		var resp *slack.AuthTestResponse
		err := a.call(ctx, "auth.test", "", func(ctx context.Context) error {
			var err error
			resp, err = a.api.AuthTestContext(ctx)
			return err
		})
		if err == nil {
			a.authOK.Store(true)
			a.botUser.Store(&resp.UserID)
			a.log.Info("slack authenticated", "team_id", resp.TeamID, "bot_user_id", resp.UserID)
			return nil
		}
		if fatal := fatalAuth(err, "slack.bot_token"); fatal != nil {
			a.log.Error("slack token refused", "err", scrub(err))
			return fatal
		}
		a.log.Warn("slack auth.test failed; retrying", "err", scrub(err), "wait", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// fatalAuth returns the error Run ends with when Slack says the token is no
// good: retrying would only hammer Slack.
func fatalAuth(err error, key string) error {
	switch slackError(err) {
	case "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type":
		return tebura.Wrap(tebura.EINVALID, err, fmt.Sprintf("Slack refused %s (%s): check the token in the Slack app settings, fix %s and restart.", key, slackError(err), key))
	}
	return nil
}

// slackError returns Slack's error string ("name_taken") of a Web API error.
func slackError(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// Post sends a message to a channel (and thread when threads are enabled).
func (a *Adapter) Post(ctx context.Context, to bot.Target, m bot.Message) (bot.MessageRef, error) {
	if to.Channel == "" {
		return bot.MessageRef{}, tebura.Errorf(tebura.EINVALID, "No Slack channel to post to.")
	}
	thread := ""
	if a.cfg.Threads {
		thread = to.Thread
	}
	ts, err := a.out.submit(ctx, to.Channel, &op{kind: opPost, thread: thread, msg: Render(m)})
	if err != nil {
		return bot.MessageRef{}, wrapAPI(err, "post a message")
	}
	return bot.MessageRef{Platform: Platform, Channel: to.Channel, ID: ts, Thread: thread}, nil
}

// Edit replaces a posted message. Edits of one message that wait behind a
// rate limit coalesce: the latest frame wins and superseded callers get the
// result of the frame that was sent.
func (a *Adapter) Edit(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	if ref.Channel == "" || ref.ID == "" {
		return tebura.Errorf(tebura.EINVALID, "This Slack message cannot be edited: it has no channel or timestamp.")
	}
	_, err := a.out.submit(ctx, ref.Channel, &op{kind: opUpdate, ts: ref.ID, msg: Render(m)})
	return wrapAPI(err, "update a message")
}

// postEphemeral shows m to one user in a channel.
func (a *Adapter) postEphemeral(ctx context.Context, channel, user, thread string, m bot.Message) error {
	_, err := a.out.submit(ctx, channel, &op{kind: opEphemeral, user: user, thread: thread, msg: Render(m)})
	return wrapAPI(err, "send a private reply")
}

// wrapAPI turns a Web API failure into the shared error vocabulary.
func wrapAPI(err error, what string) error {
	if err == nil {
		return nil
	}
	var te *tebura.Error
	if errors.As(err, &te) {
		return err // already says what happened (errStopped)
	}
	err = scrub(err) // an upload URL is a capability
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return tebura.Wrap(tebura.ETRANSIENT, err, fmt.Sprintf("Slack did not answer in time to %s; try again.", what))
	}
	switch code := slackError(err); code {
	case "channel_not_found", "message_not_found", "user_not_found":
		return tebura.Wrap(tebura.ENOTFOUND, err, fmt.Sprintf("Slack could not %s: %s.", what, strings.ReplaceAll(code, "_", " ")))
	case "not_in_channel", "is_archived", "restricted_action", "missing_scope", "cant_update_message", "edit_window_closed":
		return tebura.Wrap(tebura.EFORBIDDEN, err, fmt.Sprintf("Slack refused to %s (%s); invite the bot to the channel or check its scopes.", what, code))
	case "invalid_auth", "not_authed", "account_inactive", "token_revoked":
		return tebura.Wrap(tebura.EINTERNAL, err, "Slack refused the bot token; an operator must fix slack.bot_token.")
	case "":
		return tebura.Wrap(tebura.ETRANSIENT, err, fmt.Sprintf("Slack could not %s right now; try again.", what))
	default:
		return tebura.Wrap(tebura.EINTERNAL, err, fmt.Sprintf("Slack could not %s (%s).", what, code))
	}
}

// memDeduper is the fallback bot.Deduper when none is given: it forgets on
// restart.
type memDeduper struct {
	mu   sync.Mutex
	now  func() time.Time
	seen map[string]time.Time
}

func newMemDeduper(now func() time.Time) *memDeduper {
	return &memDeduper{now: now, seen: map[string]time.Time{}}
}

// Mark implements bot.Deduper.
func (d *memDeduper) Mark(_ context.Context, scope, key string, ttl time.Duration) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	k := scope + "\x00" + key
	if exp, ok := d.seen[k]; ok && now.Before(exp) {
		return false, nil
	}
	if len(d.seen) > 10000 {
		for k, exp := range d.seen {
			if !now.Before(exp) {
				delete(d.seen, k)
			}
		}
	}
	d.seen[k] = now.Add(ttl)
	return true, nil
}

// StreamInterval is slack.stream_interval: the least time between two edits
// of one live message that the wiring should give bot.Stream for Slack.
func (a *Adapter) StreamInterval() time.Duration { return a.cfg.StreamInterval }
