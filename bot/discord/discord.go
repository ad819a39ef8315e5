// Package discord is Tebura's Discord adapter: it receives slash commands and
// button clicks over the gateway (a websocket opened with the bot token) or
// as signed HTTP interactions (POST /discord/interactions, Ed25519), turns
// them into bot.Command and bot.Click events, renders bot.Message as embeds
// and buttons, and offers incident channels, file uploads, health and
// doctor checks.
//
// Two Discord rules shape it. Every interaction is acknowledged within three
// seconds, deferred before anything slow (the redelivery check included);
// and an interaction token lives fifteen minutes, so long-lived messages
// (run streams, approval cards) are plain channel messages edited with the
// bot token.
//
// github.com/bwmarrin/discordgo is used only here.
package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/config"
)

// Platform is the adapter's name, the prefix of its identities
// ("discord:<user id>") and MessageRef.Platform.
const Platform = "discord"

// Modes.
const (
	ModeGateway = "gateway"
	ModeHTTP    = "http"
)

// dedupeScope and dedupeTTL key redelivered interactions in the Deduper.
const (
	dedupeScope = "discord-interaction"
	dedupeTTL   = time.Hour
)

// MetaStore is a small persistent key/value store; the adapter keeps the
// hash of its registered command definitions there so that restarts don't
// re-register (Discord allows 200 command creates a day per guild).
// store/bolt implements it.
type MetaStore interface {
	GetMeta(ctx context.Context, key string) ([]byte, error) // nil, nil if absent
	PutMeta(ctx context.Context, key string, v []byte) error
}

// Deps are what the adapter needs besides its configuration.
type Deps struct {
	// Deduper remembers interaction IDs so a redelivery is handled once.
	// Optional: without it nothing is deduplicated.
	Deduper bot.Deduper
	// Meta stores the command registration hash. Optional: without it
	// commands are registered at every start.
	Meta MetaStore
	// Clock is the time source (default time.Now).
	Clock func() time.Time
	// HTTPClient carries the REST calls (default a client with a 20 s
	// timeout); its Transport is wrapped, never modified.
	HTTPClient *http.Client
	// Commands are the command root names people type (default runbook,
	// incident, tebura).
	Commands config.BotCommands
	// Autocomplete returns runbook names starting with partial that actor
	// may run, for the /runbook name option. Optional.
	Autocomplete func(ctx context.Context, actor bot.Actor, root, partial string) []string
}

// Adapter is the Discord chat adapter.
type Adapter struct {
	cfg       config.Discord
	deps      Deps
	logger    *slog.Logger
	clock     func() time.Time
	session   *discordgo.Session
	transport *transport
	publicKey ed25519.PublicKey
	roots     roots
	commands  []*discordgo.ApplicationCommand

	// backoff is the wait before the n-th gateway reconnect attempt.
	backoff func(attempt int) time.Duration

	chanMu sync.Mutex // serializes channel creation (names are not unique server-side)

	mu      sync.Mutex
	live    *live  // set while Run runs
	up      bool   // gateway connected (always true in HTTP mode while Run runs)
	downErr error  // why the gateway is down
	botID   string // the bot's user ID, from /users/@me
	guildOf map[string]string

	lateAcks atomic.Int64
	handlers sync.WaitGroup
}

// live is the state of one Run: its handler and a channel closed when it
// ends, so that handler goroutines started from HTTP requests stop with Run.
type live struct {
	h    bot.Handler
	done chan struct{}
}

var (
	_ bot.Chat           = (*Adapter)(nil)
	_ bot.Limited        = (*Adapter)(nil)
	_ bot.ChannelManager = (*Adapter)(nil)
	_ bot.FileUploader   = (*Adapter)(nil)
	_ bot.Health         = (*Adapter)(nil)
	_ bot.Doctor         = (*Adapter)(nil)
	_ bot.Mounter        = (*Adapter)(nil)
)

// New returns an adapter for cfg. It checks the configuration but makes no
// network call; Run connects.
func New(cfg config.Discord, deps Deps, logger *slog.Logger) (*Adapter, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeGateway
	}
	if cfg.Mode != ModeGateway && cfg.Mode != ModeHTTP {
		return nil, tebura.Errorf(tebura.EINVALID, "discord.mode is %q; use gateway or http.", cfg.Mode)
	}
	if cfg.BotToken.Value() == "" {
		return nil, tebura.Errorf(tebura.EINVALID, "discord.bot_token is empty; copy the token from the Developer Portal (Bot → Reset Token).")
	}
	if cfg.ApplicationID == "" {
		return nil, tebura.Errorf(tebura.EINVALID, "discord.application_id is empty; copy the Application ID from the Developer Portal (General Information).")
	}
	if deps.Clock == nil {
		deps.Clock = time.Now
	}
	a := &Adapter{
		cfg:     cfg,
		deps:    deps,
		logger:  logger.With("platform", Platform),
		clock:   deps.Clock,
		roots:   newRoots(deps.Commands),
		backoff: defaultBackoff,
		guildOf: map[string]string{},
	}
	if cfg.Mode == ModeHTTP {
		k, err := hex.DecodeString(cfg.PublicKey)
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, tebura.Errorf(tebura.EINVALID, "discord.public_key must be the application's 64-hex-digit public key (Developer Portal → General Information) in http mode.")
		}
		a.publicKey = ed25519.PublicKey(k)
	}
	base := http.DefaultTransport
	timeout := 20 * time.Second
	if deps.HTTPClient != nil {
		if deps.HTTPClient.Transport != nil {
			base = deps.HTTPClient.Transport
		}
		timeout = deps.HTTPClient.Timeout
	}
	t, err := newTransport(base, cfg.APIURL, cfg.GatewayURL, deps.Clock, a.logger)
	if err != nil {
		return nil, err
	}
	a.transport = t

	s, err := discordgo.New("Bot " + cfg.BotToken.Value())
	if err != nil {
		return nil, tebura.Wrap(tebura.EINTERNAL, err, "The Discord client could not be set up.")
	}
	s.Client = &http.Client{Transport: t, Timeout: timeout}
	s.ShouldRetryOnRateLimit = false // transport waits, cancellably
	s.ShouldReconnectOnError = false // Run reconnects with its own backoff
	s.StateEnabled = false
	s.LogLevel = -1
	s.Identify.Intents = discordgo.IntentsGuilds
	s.Identify.Compress = false
	a.session = s
	a.commands = commandDefinitions(a.roots)
	return a, nil
}

// Name implements bot.Chat.
func (a *Adapter) Name() string { return Platform }

// Limits implements bot.Limited: the neutral message is fitted to these
// before rendering; the renderer then enforces Discord's hard limits.
func (a *Adapter) Limits() bot.Limits { return discordLimits }

// discordLimits keep one embed within Discord's limits: text and code share
// the 4096-character description, all of it within 6000 characters.
// See https://discord.com/developers/docs/resources/message#embed-object-embed-limits
var discordLimits = bot.Limits{
	Header:     MaxEmbedTitle,
	Text:       1024,
	FieldValue: MaxFieldValue,
	Fields:     MaxEmbedFields,
	Code:       2900,
	Buttons:    MaxButtonsPerRow * MaxActionRows,
	ButtonText: MaxButtonLabel,
	Total:      5800,
}

// build is the payload sent for m. Fit trims each part with its markers;
// the 6000-character total is left to the renderer, which shares it between
// description and fields instead of shrinking the log to nothing.
func build(m bot.Message) payload {
	l := discordLimits
	l.Total = 0
	return render(bot.Fit(m, l))
}

// Ready implements bot.Health: nil while the gateway is connected (HTTP
// mode: while Run runs), else why not.
func (a *Adapter) Ready() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.live == nil {
		return tebura.Errorf(tebura.ETRANSIENT, "The Discord adapter is not running.")
	}
	if !a.up {
		if a.downErr != nil {
			return tebura.Wrap(tebura.ETRANSIENT, a.downErr, "The Discord gateway is disconnected; reconnecting.")
		}
		return tebura.Errorf(tebura.ETRANSIENT, "The Discord gateway is not connected yet.")
	}
	return nil
}

func (a *Adapter) setUp(up bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.up, a.downErr = up, err
}

// Run implements bot.Chat. It checks the token, registers the commands if
// their definitions changed, then (gateway mode) keeps the gateway connected
// or (HTTP mode) serves interactions through Mount until ctx is done. An
// invalid token is a fatal error; Discord being unreachable or failing
// (network error, timeout, 429, 5xx) at start is retried with the reconnect
// backoff, not ready meanwhile, and a transient registration failure is
// retried in the background while the gateway connects.
func (a *Adapter) Run(ctx context.Context, h bot.Handler) error {
	l := &live{h: h, done: make(chan struct{})}
	a.mu.Lock()
	if a.live != nil {
		a.mu.Unlock()
		return tebura.Errorf(tebura.ECONFLICT, "The Discord adapter is already running.")
	}
	a.live = l
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.live, a.up = nil, false // no handler starts after this
		a.mu.Unlock()
		close(l.done)
		a.handlers.Wait()
	}()

	// Registration retries in the background; it stops with Run.
	var bg sync.WaitGroup
	defer bg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	me, err := a.identify(ctx)
	if err != nil || me == nil {
		return err // nil: ctx ended while Discord was unreachable
	}
	a.mu.Lock()
	a.botID = me.ID
	a.mu.Unlock()
	a.logger.Info("discord bot identified", "bot_user_id", me.ID, "mode", a.cfg.Mode)

	retry, err := a.register(ctx)
	switch {
	case err != nil && isStatus(err, http.StatusUnauthorized):
		return errBadToken(err)
	case err != nil && retry:
		a.logger.Warn("discord command registration failed, retrying in the background", "err", err)
		bg.Add(1)
		go func() {
			defer bg.Done()
			a.registerUntilDone(ctx)
		}()
	case err != nil:
		// Commands already registered keep working; say so loudly.
		a.logger.Error("discord command registration failed", "err", err)
	}

	if a.cfg.Mode == ModeHTTP {
		a.setUp(true, nil)
		<-ctx.Done()
		return nil
	}
	return a.runGateway(ctx)
}

// identify fetches the bot's own user, retrying transient failures
// (network errors, timeouts, 429, 5xx) with the reconnect backoff while
// Ready reports not-ready. A refused token is fatal at once. It returns
// nil, nil when ctx ends first.
func (a *Adapter) identify(ctx context.Context) (*discordgo.User, error) {
	for attempt := 1; ; attempt++ {
		me, err := a.session.User("@me", discordgo.WithContext(ctx))
		if err == nil {
			return me, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if isStatus(err, http.StatusUnauthorized) {
			return nil, errBadToken(err)
		}
		err = scrub(err)
		if !transient(err) {
			return nil, tebura.Wrap(tebura.EINVALID, err, "Discord refused the bot-token check (GET /users/@me); run tebura doctor.")
		}
		a.setUp(false, err)
		wait := a.backoff(attempt)
		a.logger.Warn("discord start failed, retrying", "step", "identify", "err", err, "attempt", attempt, "retry_in", wait.String())
		if sleepCtx(ctx, wait) != nil {
			return nil, nil
		}
	}
}

// registerUntilDone retries the command registration with the reconnect
// backoff until it succeeds, is refused for good, or ctx ends. The gateway
// connects meanwhile: commands registered earlier keep working.
func (a *Adapter) registerUntilDone(ctx context.Context) {
	for attempt := 1; ; attempt++ {
		wait := a.backoff(attempt)
		if sleepCtx(ctx, wait) != nil {
			return
		}
		retry, err := a.register(ctx)
		switch {
		case err == nil:
			a.logger.Info("discord command registration succeeded after retrying", "attempts", attempt+1)
			return
		case ctx.Err() != nil:
			return
		case !retry:
			a.logger.Error("discord command registration failed", "err", err)
			return
		}
		a.logger.Warn("discord command registration failed, retrying in the background", "err", err, "attempt", attempt+1)
	}
}

// transient reports whether a start-up failure is worth retrying: a
// network error or timeout, a 429 or a 5xx. Other REST refusals are not.
func transient(err error) bool {
	var rl *discordgo.RateLimitError
	if errors.As(err, &rl) {
		return true
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		c := re.Response.StatusCode
		return c == http.StatusTooManyRequests || c >= 500
	}
	var te *tebura.Error
	if errors.As(err, &te) {
		return tebura.ErrorCode(err) == tebura.ETRANSIENT
	}
	return true // dial, TLS, timeout, connection reset: the network
}

func errBadToken(err error) error {
	return tebura.Wrap(tebura.EINVALID, err,
		"Discord refused the bot token (401/4004): set discord.bot_token to the token shown under Developer Portal → Bot → Reset Token.")
}

// handlerContext is the context a handler goroutine gets, cancelled when
// Run ends, and the handler. When it returns a handler, the goroutine is
// counted in a.handlers and must call a.handlers.Done.
func (a *Adapter) handlerContext() (context.Context, context.CancelFunc, bot.Handler) {
	a.mu.Lock()
	l := a.live
	if l != nil {
		a.handlers.Add(1)
	}
	a.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	if l == nil {
		cancel()
		return ctx, cancel, nil
	}
	go func() {
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel, l.h
}

// Post implements bot.Chat: an ordinary channel message sent with the bot
// token, editable for as long as it exists.
func (a *Adapter) Post(ctx context.Context, to bot.Target, m bot.Message) (bot.MessageRef, error) {
	ch := to.Channel
	if to.Thread != "" {
		ch = to.Thread
	}
	p := build(m)
	msg, err := a.session.ChannelMessageSendComplex(ch, &discordgo.MessageSend{
		Embeds: p.Embeds, Components: p.Components, AllowedMentions: p.AllowedMentions,
	}, discordgo.WithContext(ctx))
	if err != nil {
		return bot.MessageRef{}, restErr(err, "post a message")
	}
	return bot.MessageRef{Platform: Platform, Channel: msg.ChannelID, ID: msg.ID, Thread: to.Thread}, nil
}

// Edit implements bot.Chat, through the channel message endpoint, so it
// works after the interaction token expired.
func (a *Adapter) Edit(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	ch := ref.Channel
	if ref.Thread != "" {
		ch = ref.Thread
	}
	p := build(m)
	_, err := a.session.ChannelMessageEditComplex(&discordgo.MessageEdit{
		ID: ref.ID, Channel: ch, Embeds: &p.Embeds, Components: &p.Components, AllowedMentions: p.AllowedMentions,
	}, discordgo.WithContext(ctx))
	return restErr(err, "edit a message")
}

// scrub hides the request URL of a transport error: for interaction
// routes it holds the interaction token, which must not reach a log.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			ue.URL = routeOf(u.Path)
		} else {
			ue.URL = "(url hidden)"
		}
	}
	return err
}

// restErr maps a discordgo error to the error vocabulary.
func restErr(err error, what string) error {
	if err == nil {
		return nil
	}
	err = scrub(err)
	var te *tebura.Error
	if errors.As(err, &te) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return tebura.Wrap(tebura.ETRANSIENT, err, "Discord did not answer in time to "+what+"; try again.")
	}
	var re *discordgo.RESTError
	var rl *discordgo.RateLimitError
	switch {
	case errors.As(err, &rl):
		return tebura.Wrap(tebura.ETRANSIENT, err, "Discord is rate limiting the bot; try again in a moment.")
	case errors.As(err, &re) && re.Response != nil:
		switch code := re.Response.StatusCode; {
		case code == http.StatusNotFound:
			return tebura.Wrap(tebura.ENOTFOUND, err, "Discord could not find what the bot tried to "+what+" in; it may have been deleted.")
		case code == http.StatusForbidden:
			return tebura.Wrap(tebura.EFORBIDDEN, err, "The bot lacks a Discord permission to "+what+"; run tebura doctor.")
		case code == http.StatusUnauthorized:
			return tebura.Wrap(tebura.EFORBIDDEN, err, "Discord refused the bot's credentials to "+what+"; run tebura doctor.")
		case code == http.StatusBadRequest:
			return tebura.Wrap(tebura.EINVALID, err, "Discord refused the request to "+what+".")
		case code == http.StatusTooManyRequests || code >= 500:
			return tebura.Wrap(tebura.ETRANSIENT, err, "Discord is busy; try again in a moment.")
		}
	}
	return tebura.Wrap(tebura.ETRANSIENT, err, "Discord could not be reached to "+what+"; try again.")
}

// isStatus reports whether err is a Discord REST error with that status.
func isStatus(err error, status int) bool {
	var re *discordgo.RESTError
	return errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == status
}

// apiCode is Discord's JSON error code of err (10062, 40060, 50035…), or 0.
func apiCode(err error) int {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Message != nil {
		return re.Message.Code
	}
	return 0
}

// identity returns the Tebura identity of a Discord user ID.
func identity(userID string) string { return Platform + ":" + userID }

// userOf returns the Discord user ID of a "discord:<id>" identity.
func userOf(id string) (string, bool) {
	return strings.CutPrefix(id, Platform+":")
}
