// Package bot is the platform-neutral chat model: the events people send
// (commands and button clicks), the message document every adapter renders,
// the Chat interface adapters implement, the optional capabilities they may
// add, and the Stream that keeps one message up to date with a run's output.
//
// Nothing here knows about Slack, Discord or runbooks: adapters (bot/slack,
// bot/discord, bot/console) translate platforms into these types, and the
// commands package decides what the bot does with them.
package bot

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// ErrUnsupported is returned by a capability helper when the adapter lacks
// the capability. Callers degrade visibly (a link instead of a file).
var ErrUnsupported = errors.New("bot: not supported by this chat platform")

// Actor is who did something: a chat identity such as "slack:U123",
// "discord:1234" or "console:alice", the display name the platform gave, and
// the groups the platform reports for them ("slack-group:S1",
// "discord-role:5678"), used by access checks.
type Actor struct {
	ID     string   `json:"id"`
	Name   string   `json:"name,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

// Mention returns how to name the actor in a message (the platform adapter
// may render it as a real mention).
func (a Actor) Mention() string {
	if a.Name != "" {
		return "@" + a.Name
	}
	return a.ID
}

// Target is where a message goes: a channel and, optionally, a thread.
type Target struct {
	Channel string `json:"channel"`
	Thread  string `json:"thread,omitempty"`
}

// MessageRef identifies a posted message so it can be edited later. It is
// plain data so it can be stored and survive restarts.
type MessageRef struct {
	Platform string `json:"platform"`
	Channel  string `json:"channel"`
	ID       string `json:"id"`
	Thread   string `json:"thread,omitempty"`
}

// IsZero reports whether the ref points nowhere.
func (r MessageRef) IsZero() bool { return r.ID == "" }

// Event is what an adapter hands to the Handler: a *Command or a *Click.
type Event interface{ event() }

// Command is a slash command or a console line. Name is the command root
// without the slash ("runbook", "incident", "tebura", after the adapter mapped
// configured names back to these), Text is everything after it, raw and
// unexpanded.
type Command struct {
	Platform string
	Actor    Actor
	Channel  string
	Thread   string
	// DirectMessage is true for a direct message without a guild/workspace
	// channel context (Discord DMs); commands that need a channel refuse it.
	DirectMessage bool
	Name          string
	Text          string
	Reply         Replier
	Received      time.Time
}

// Click is a button press. CallbackID is the opaque ID the button carried;
// its meaning is stored server-side.
type Click struct {
	Platform   string
	Actor      Actor
	ActionID   string
	CallbackID string
	Message    MessageRef
	Reply      Replier
	Received   time.Time
}

func (*Command) event() {}
func (*Click) event()   {}

// Replier answers the person who sent an event. Adapters implement it with
// whatever the platform offers (Slack response_url, Discord interaction
// follow-ups, the console's stdout).
type Replier interface {
	// Reply posts a message visible to the channel where the event came from.
	Reply(ctx context.Context, m Message) (MessageRef, error)
	// Private posts a message only the actor sees (ephemeral). Adapters that
	// cannot do that post a normal reply addressed to the actor.
	Private(ctx context.Context, m Message) error
}

// Handler receives events. Adapters acknowledge the platform inside its
// deadline before calling HandleEvent, and call it on its own goroutine:
// HandleEvent may be slow.
type Handler interface {
	HandleEvent(ctx context.Context, ev Event)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, ev Event)

// HandleEvent calls f.
func (f HandlerFunc) HandleEvent(ctx context.Context, ev Event) { f(ctx, ev) }

// Chat is what every adapter implements.
type Chat interface {
	// Name is the platform name: "slack", "discord", "console".
	Name() string
	// Run connects and delivers events to h until ctx is done; it blocks like
	// http.Server.Serve and returns nil after a clean shutdown.
	Run(ctx context.Context, h Handler) error
	// Post sends a new message.
	Post(ctx context.Context, to Target, m Message) (MessageRef, error)
	// Edit replaces a posted message.
	Edit(ctx context.Context, ref MessageRef, m Message) error
}

// Limited is implemented by adapters to declare their size limits, so that
// the message model and Stream can trim with a visible marker before
// rendering instead of failing at the platform.
type Limited interface {
	Limits() Limits
}

// ChannelSpec describes a channel to create.
type ChannelSpec struct {
	Name    string // already slugified by the caller; the adapter may suffix it on collision
	Topic   string
	Private bool
}

// Channel is a created or found channel.
type Channel struct {
	ID   string
	Name string
	URL  string
}

// ChannelManager is the optional capability to open incident channels.
type ChannelManager interface {
	// CreateChannel creates a channel; on a name collision it retries with a
	// suffix and returns the name it got.
	CreateChannel(ctx context.Context, spec ChannelSpec) (Channel, error)
	// Invite adds identities ("slack:U1", "slack-group:S1", "discord:1",
	// "discord-role:2") to a channel. Identities of another platform are skipped.
	Invite(ctx context.Context, channelID string, members []string) error
	SetTopic(ctx context.Context, channelID, topic string) error
	Archive(ctx context.Context, channelID string) error
}

// File is a file to upload, such as a run's full log.
type File struct {
	Name    string
	Title   string
	Content []byte
}

// FileUploader is the optional capability to attach files.
type FileUploader interface {
	Upload(ctx context.Context, to Target, f File) error
}

// GroupResolver is an optional capability: it expands a platform group
// ("slack-group:S1") into member identities, for invites and access checks.
type GroupResolver interface {
	GroupMembers(ctx context.Context, group string) ([]string, error)
}

// Health is an optional capability: adapters with a connection report
// whether it is up, for /readyz.
type Health interface {
	Ready() error
}

// Check is one line of `tebura doctor`: what was checked, whether it is
// fine, and in plain words what to do if not.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Doctor is an optional capability: adapters check their own setup (token,
// scopes, permissions) for `tebura doctor`.
type Doctor interface {
	Doctor(ctx context.Context) []Check
}

// Mounter is an optional capability of adapters that receive platform
// requests over HTTP (Slack HTTP mode, Discord HTTP interactions): they add
// their routes to the shared listener's mux.
type Mounter interface {
	Mount(mux *http.ServeMux)
}

// Callback is what a button's opaque callback ID stands for, stored
// server-side. The click handler resolves it and re-checks everything.
type Callback struct {
	ID      string            `json:"id"`
	Action  string            `json:"action"`  // "approve", "deny", "cancel", "ack", ...
	Subject string            `json:"subject"` // a run ID ("r42") or incident ID
	Data    map[string]string `json:"data,omitempty"`
	Created time.Time         `json:"created"`
	Expires time.Time         `json:"expires,omitempty"`
}

// Deduper remembers keys for a while so that a redelivered platform event
// (Slack event_id, Socket Mode envelope_id, Discord interaction ID) is
// handled once, across restarts. store/bolt implements it.
type Deduper interface {
	// Mark records scope/key until ttl passes. It returns true the first time
	// and false while the key is remembered. It is atomic.
	Mark(ctx context.Context, scope, key string, ttl time.Duration) (first bool, err error)
}
