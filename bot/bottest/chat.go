package bottest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

// Platform is the name of the fake chat (bot.Chat.Name, MessageRef.Platform).
const Platform = "fake"

// Chat is a recording fake bot.Chat: it keeps every post and every edit of
// every message, the private replies and the uploaded files. EditHook, when
// set, runs before an edit is recorded and may block (a slow platform) or
// fail it. It is safe for concurrent use.
type Chat struct {
	limits bot.Limits

	mu       sync.Mutex
	seq      int
	msgs     map[string]*record
	order    []string
	privates []Private
	files    []Upload
	edits    int
	onPost   func(bot.MessageRef)
	editHook func(ctx context.Context, ref bot.MessageRef, m bot.Message) error
}

// record is one message and its history.
type record struct {
	ref      bot.MessageRef
	versions []bot.Message
	times    []time.Time // when each version arrived
}

// Private is a private (ephemeral) reply.
type Private struct {
	To  string
	Msg bot.Message
}

// Upload is an uploaded file.
type Upload struct {
	To   bot.Target
	File bot.File
}

// NewChat returns an empty fake chat with the given limits (zero: the
// neutral defaults).
func NewChat(l bot.Limits) *Chat {
	if l == (bot.Limits{}) {
		l = bot.LimitsOf(nil) // the neutral defaults
	}
	return &Chat{limits: l, msgs: map[string]*record{}}
}

var (
	_ bot.Chat         = (*Chat)(nil)
	_ bot.Limited      = (*Chat)(nil)
	_ bot.FileUploader = FileChat{}
)

// Name implements bot.Chat.
func (c *Chat) Name() string { return Platform }

// Run implements bot.Chat; the fake delivers events through the Harness,
// so Run only waits for ctx.
func (c *Chat) Run(ctx context.Context, _ bot.Handler) error {
	<-ctx.Done()
	return nil
}

// Limits implements bot.Limited.
func (c *Chat) Limits() bot.Limits { return c.limits }

// SetEditHook installs f to run before each edit is recorded.
func (c *Chat) SetEditHook(f func(ctx context.Context, ref bot.MessageRef, m bot.Message) error) {
	c.mu.Lock()
	c.editHook = f
	c.mu.Unlock()
}

// OnPost installs f to be called (outside the lock) after each new message.
func (c *Chat) OnPost(f func(bot.MessageRef)) {
	c.mu.Lock()
	c.onPost = f
	c.mu.Unlock()
}

// Post implements bot.Chat.
func (c *Chat) Post(ctx context.Context, to bot.Target, m bot.Message) (bot.MessageRef, error) {
	if err := ctx.Err(); err != nil {
		return bot.MessageRef{}, err
	}
	c.mu.Lock()
	c.seq++
	ref := bot.MessageRef{Platform: Platform, Channel: to.Channel, Thread: to.Thread, ID: fmt.Sprintf("m%d", c.seq)}
	c.msgs[ref.ID] = &record{ref: ref, versions: []bot.Message{m}, times: []time.Time{time.Now()}}
	c.order = append(c.order, ref.ID)
	hook := c.onPost
	c.mu.Unlock()
	if hook != nil {
		hook(ref)
	}
	return ref, nil
}

// Edit implements bot.Chat. Editing an unknown message is an ENOTFOUND
// error, like the platforms.
func (c *Chat) Edit(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	c.mu.Lock()
	hook := c.editHook
	c.mu.Unlock()
	if hook != nil {
		if err := hook(ctx, ref, m); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.msgs[ref.ID]
	if !ok {
		return tebura.Errorf(tebura.ENOTFOUND, "message %s not found", ref.ID)
	}
	r.versions = append(r.versions, m)
	r.times = append(r.times, time.Now())
	c.edits++
	return nil
}

// Messages returns handles to every posted message, oldest first.
func (c *Chat) Messages() []*Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*Msg, len(c.order))
	for i, id := range c.order {
		out[i] = &Msg{Ref: c.msgs[id].ref, chat: c}
	}
	return out
}

// Privates returns every private reply so far.
func (c *Chat) Privates() []Private {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Private(nil), c.privates...)
}

// Files returns every uploaded file so far.
func (c *Chat) Files() []Upload {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Upload(nil), c.files...)
}

// EditCount is the number of edits recorded on all messages.
func (c *Chat) EditCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.edits
}

func (c *Chat) private(to string, m bot.Message) {
	c.mu.Lock()
	c.privates = append(c.privates, Private{To: to, Msg: m})
	c.mu.Unlock()
}

// FileChat is the fake chat with the file upload capability.
type FileChat struct{ *Chat }

// Upload implements bot.FileUploader.
func (f FileChat) Upload(ctx context.Context, to bot.Target, file bot.File) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	f.files = append(f.files, Upload{To: to, File: file})
	f.mu.Unlock()
	return nil
}

// Msg is a handle to a posted message.
type Msg struct {
	Ref  bot.MessageRef
	chat *Chat
}

// Last returns the message as it is shown now.
func (m *Msg) Last() bot.Message {
	v := m.Versions()
	return v[len(v)-1]
}

// Versions returns the message as posted and after each edit.
func (m *Msg) Versions() []bot.Message {
	m.chat.mu.Lock()
	defer m.chat.mu.Unlock()
	return append([]bot.Message(nil), m.chat.msgs[m.Ref.ID].versions...)
}

// Times returns when the post and each edit arrived.
func (m *Msg) Times() []time.Time {
	m.chat.mu.Lock()
	defer m.chat.mu.Unlock()
	return append([]time.Time(nil), m.chat.msgs[m.Ref.ID].times...)
}

// Replier returns the replier of one event from actor in channel: it posts
// into the fake chat and records private replies, and tells seen (when not
// nil) about each message it posted or private reply it recorded, so that a
// harness can gather what the bot said in answer to that event.
func (c *Chat) Replier(actor bot.Actor, channel string, seen func(posted *Msg, private *bot.Message)) bot.Replier {
	if seen == nil {
		seen = func(*Msg, *bot.Message) {}
	}
	return &replier{chat: c, actor: actor, channel: channel, seen: seen}
}

// replier answers one event into the fake chat.
type replier struct {
	chat    *Chat
	actor   bot.Actor
	channel string
	seen    func(posted *Msg, private *bot.Message)
}

func (r *replier) Reply(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	ref, err := r.chat.Post(ctx, bot.Target{Channel: r.channel}, m)
	if err == nil {
		r.seen(&Msg{Ref: ref, chat: r.chat}, nil)
	}
	return ref, err
}

func (r *replier) Private(ctx context.Context, m bot.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.chat.private(r.actor.ID, m)
	r.seen(nil, &m)
	return nil
}
