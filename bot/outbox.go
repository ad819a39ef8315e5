package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tebura/tebura"
)

// Outbox defaults, used when OutboxOptions leaves a field zero.
const (
	// DefaultOutboxMaxQueued bounds the posts (and, separately, the
	// distinct messages with a pending edit) waiting in one channel. A
	// minute-long outage in a busy incident channel queues a few dozen.
	DefaultOutboxMaxQueued = 200
	// DefaultOutboxCallTimeout bounds one attempt, so a platform that hangs
	// counts as a failed attempt and is retried.
	DefaultOutboxCallTimeout = 15 * time.Second
	outboxRetryFirst         = 500 * time.Millisecond
	outboxRetryMax           = 15 * time.Second
)

// OutboxOptions configure an Outbox. The zero value is usable.
type OutboxOptions struct {
	// MaxQueued is the most posts waiting in one channel; beyond it Post
	// fails at once with ETRANSIENT. The same bound applies to messages
	// with a pending edit. Zero means DefaultOutboxMaxQueued.
	MaxQueued int
	// CallTimeout bounds each attempt; zero means DefaultOutboxCallTimeout.
	CallTimeout time.Duration
	// RetryFirst and RetryMax bound the backoff between attempts (zero:
	// 500ms doubling up to 15s).
	RetryFirst, RetryMax time.Duration
	// Clock drives the backoff; nil means real time.
	Clock Clock
	// Logger receives retries and refusals; nil discards.
	Logger *slog.Logger
}

// OutboxStats count what an Outbox did, for metrics and tests.
type OutboxStats struct {
	Delivered int // posts and edits the platform accepted
	Retries   int // failed attempts that were retried
	Coalesced int // pending edits replaced by a newer edit of the same message
	Refused   int // posts and edits refused because a channel's queue was full
	Failed    int // posts and edits given up (permanent error or the caller's ctx ended)
	Queued    int // posts and edits waiting or in flight right now
}

// Outbox is a Chat decorator that rides out chat platform outages: Post and
// Edit retry transient failures (ETRANSIENT, 5xx, timeouts) with backoff
// until they succeed, the error is permanent (invalid, forbidden, not
// found, conflict) or the caller's ctx ends.
//
// Each channel has two FIFO lanes, one for posts and one for edits, each
// worked by one goroutine: posts reach a channel in the order they were
// made even across an outage, and an edit waiting for the platform's edit
// rate limit never holds up a post (edits change messages already shown,
// so their order against posts does not matter). A pending edit of a
// message is replaced by a newer edit of the same message (the older
// caller gets nil: the newer frame supersedes it), so a stream that keeps
// producing frames during an outage costs one queue slot; posts are never
// coalesced or dropped. Each lane is bounded: once MaxQueued posts
// wait, further posts fail at once with ETRANSIENT and a log line, rather
// than holding memory without end.
//
// Post and Edit block their caller until the platform accepted the call
// (or gave up), so the returned MessageRef is real. Callers that must not
// wait, such as run executors, do not call the chat: runs keep going, and
// their Stream coalesces frames while its edit waits here.
//
// Channel management, uploads and group lookups pass straight through:
// retrying a channel creation after a timeout could create two.
type Outbox struct {
	inner   Chat
	max     int
	timeout time.Duration
	first   time.Duration
	most    time.Duration
	clock   Clock
	log     *slog.Logger

	mu    sync.Mutex
	lanes map[laneKey]*lane
	stats OutboxStats
}

// laneKey names a channel's post lane or edit lane.
type laneKey struct {
	channel string
	edit    bool
}

// lane is one queue of a channel.
type lane struct {
	queue []*outboxOp
	posts int
	edits int
}

// outboxOp is one waiting Post or Edit. It carries its caller's context
// because the lane's goroutine makes the call on the caller's behalf while
// the caller waits on done; the call ends when the caller gives up.
type outboxOp struct {
	ctx      context.Context
	edit     bool
	to       Target
	ref      MessageRef
	msg      Message
	inflight bool
	done     chan outboxResult // capacity 1
}

type outboxResult struct {
	ref MessageRef
	err error
}

// NewOutbox wraps c. The returned Chat also implements each of
// ChannelManager, FileUploader and GroupResolver exactly when c does, so
// callers' capability checks see the adapter's real abilities; Limited,
// Health, Doctor and Mounter are always implemented and pass through (with
// the neutral answer when c lacks them: LimitsOf defaults, ready, no
// checks, no routes). Use Unwrap to reach c.
func NewOutbox(c Chat, opt OutboxOptions) Chat {
	return wrapCapabilities(newOutbox(c, opt))
}

func newOutbox(c Chat, opt OutboxOptions) *Outbox {
	if opt.MaxQueued <= 0 {
		opt.MaxQueued = DefaultOutboxMaxQueued
	}
	if opt.CallTimeout <= 0 {
		opt.CallTimeout = DefaultOutboxCallTimeout
	}
	if opt.RetryFirst <= 0 {
		opt.RetryFirst = outboxRetryFirst
	}
	if opt.RetryMax <= 0 {
		opt.RetryMax = outboxRetryMax
	}
	if opt.Clock == nil {
		opt.Clock = realClock{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Outbox{
		inner: c, max: opt.MaxQueued, timeout: opt.CallTimeout, first: opt.RetryFirst, most: opt.RetryMax,
		clock: opt.Clock, log: opt.Logger.With("platform", c.Name()), lanes: map[laneKey]*lane{},
	}
}

// OutboxOf returns the Outbox inside c, if c was made by NewOutbox.
func OutboxOf(c Chat) (*Outbox, bool) {
	if w, ok := c.(interface{ outbox() *Outbox }); ok {
		return w.outbox(), true
	}
	return nil, false
}

// Unwrap returns the wrapped chat.
func (o *Outbox) Unwrap() Chat { return o.inner }

// Stats returns the counts so far.
func (o *Outbox) Stats() OutboxStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.stats
}

// Pending returns how many posts and edits wait (or are in flight) for
// channel: the queue depth an operator watches during an outage.
func (o *Outbox) Pending(channel string) (posts, edits int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if l := o.lanes[laneKey{channel, false}]; l != nil {
		posts = l.posts
	}
	if l := o.lanes[laneKey{channel, true}]; l != nil {
		edits = l.edits
	}
	return posts, edits
}

// Name implements Chat.
func (o *Outbox) Name() string { return o.inner.Name() }

// Run implements Chat; events do not pass through the Outbox.
func (o *Outbox) Run(ctx context.Context, h Handler) error { return o.inner.Run(ctx, h) }

// Post implements Chat: it queues m behind the channel's earlier posts and
// waits until the platform accepted it.
func (o *Outbox) Post(ctx context.Context, to Target, m Message) (MessageRef, error) {
	op := &outboxOp{ctx: ctx, to: to, msg: m, done: make(chan outboxResult, 1)}
	if err := o.enqueue(to.Channel, op); err != nil {
		return MessageRef{}, err
	}
	r := o.wait(to.Channel, op)
	return r.ref, r.err
}

// Edit implements Chat: it queues the edit, replacing a pending edit of the
// same message, and waits until the platform accepted it or a newer edit
// superseded it.
func (o *Outbox) Edit(ctx context.Context, ref MessageRef, m Message) error {
	op := &outboxOp{ctx: ctx, edit: true, ref: ref, msg: m, done: make(chan outboxResult, 1)}
	if err := o.enqueue(ref.Channel, op); err != nil {
		return err
	}
	return o.wait(ref.Channel, op).err
}

// enqueue adds op to its channel's lane, coalescing edits, and starts the
// lane's goroutine when the lane was idle.
func (o *Outbox) enqueue(channel string, op *outboxOp) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	key := laneKey{channel, op.edit}
	l := o.lanes[key]
	if l == nil {
		l = &lane{}
		o.lanes[key] = l
	}
	if op.edit {
		for i, q := range l.queue {
			if q.edit && !q.inflight && q.ref.ID == op.ref.ID {
				l.queue[i] = op
				o.stats.Coalesced++
				q.done <- outboxResult{}
				return nil
			}
		}
	}
	if n := l.count(op.edit); n >= o.max {
		o.stats.Refused++
		what := "post"
		if op.edit {
			what = "edit"
		}
		o.log.Error("chat outbox full, refusing", "channel", channel, "kind", what, "queued", n, "limit", o.max)
		return tebura.Errorf(tebura.ETRANSIENT, "The chat platform has not accepted messages for a while and %d are waiting for this channel; this one was not sent. Try again once the platform is back.", n)
	}
	l.add(op.edit, 1)
	o.stats.Queued++
	l.queue = append(l.queue, op)
	if len(l.queue) == 1 {
		go o.drain(key, l)
	}
	return nil
}

func (l *lane) count(edit bool) int {
	if edit {
		return l.edits
	}
	return l.posts
}

func (l *lane) add(edit bool, n int) {
	if edit {
		l.edits += n
	} else {
		l.posts += n
	}
}

// wait waits for op's result. When the caller's ctx ends while op is still
// queued, op leaves the queue; an op in flight is finished by the lane (its
// call uses the same ctx, so it ends soon).
func (o *Outbox) wait(channel string, op *outboxOp) outboxResult {
	select {
	case r := <-op.done:
		return r
	case <-op.ctx.Done():
	}
	o.mu.Lock()
	if l := o.lanes[laneKey{channel, op.edit}]; l != nil && !op.inflight {
		for i, q := range l.queue {
			if q == op {
				l.queue = append(l.queue[:i], l.queue[i+1:]...)
				l.add(op.edit, -1)
				o.stats.Queued--
				o.stats.Failed++
				o.mu.Unlock()
				return outboxResult{err: fmt.Errorf("bot: outbox: %w", op.ctx.Err())}
			}
		}
	}
	o.mu.Unlock()
	return <-op.done // in flight, or already answered
}

// drain works a lane until it is empty: one call at a time, in order.
func (o *Outbox) drain(key laneKey, l *lane) {
	for {
		o.mu.Lock()
		if len(l.queue) == 0 {
			if o.lanes[key] == l {
				delete(o.lanes, key)
			}
			o.mu.Unlock()
			return
		}
		op := l.queue[0]
		op.inflight = true
		o.mu.Unlock()

		r := o.deliver(key.channel, op)

		o.mu.Lock()
		l.queue = l.queue[1:]
		l.add(op.edit, -1)
		o.stats.Queued--
		if r.err == nil {
			o.stats.Delivered++
		} else {
			o.stats.Failed++
		}
		o.mu.Unlock()
		op.done <- r
	}
}

// deliver makes op's call, retrying transient failures with backoff.
func (o *Outbox) deliver(channel string, op *outboxOp) outboxResult {
	wait := o.first
	for attempt := 1; ; attempt++ {
		r := o.attempt(op)
		if r.err == nil {
			if attempt > 1 {
				o.log.Info("chat call delivered after retries", "channel", channel, "attempts", attempt)
			}
			return r
		}
		if op.ctx.Err() != nil || !Transient(r.err) {
			return r
		}
		o.mu.Lock()
		o.stats.Retries++
		o.mu.Unlock()
		o.log.Warn("chat call failed, retrying", "channel", channel, "attempt", attempt, "retry_in", wait, "err", r.err)
		select {
		case <-o.clock.After(wait):
		case <-op.ctx.Done():
			return outboxResult{err: fmt.Errorf("bot: outbox gave up: %w (last error: %w)", op.ctx.Err(), r.err)}
		}
		wait = min(2*wait, o.most)
	}
}

func (o *Outbox) attempt(op *outboxOp) outboxResult {
	ctx, cancel := context.WithTimeout(op.ctx, o.timeout)
	defer cancel()
	if op.edit {
		return outboxResult{err: o.inner.Edit(ctx, op.ref, op.msg)}
	}
	ref, err := o.inner.Post(ctx, op.to, op.msg)
	return outboxResult{ref: ref, err: err}
}

// Transient reports whether retrying err may help: tebura ETRANSIENT, a
// deadline or network timeout, or an error carrying an HTTP status of 429
// or 5xx. Invalid, forbidden, not found and conflict errors are permanent,
// and so is any other failure.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	var te *tebura.Error
	if errors.As(err, &te) {
		return te.Code == tebura.ETRANSIENT
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) {
		s := sc.StatusCode()
		return s == http.StatusTooManyRequests || s >= 500
	}
	return false
}

// Limits implements Limited with the wrapped chat's limits.
func (o *Outbox) Limits() Limits { return LimitsOf(o.inner) }

// Ready implements Health: the wrapped chat's answer, nil when it has none.
func (o *Outbox) Ready() error {
	if h, ok := o.inner.(Health); ok {
		return h.Ready()
	}
	return nil
}

// Doctor implements Doctor: the wrapped chat's checks, none when it has none.
func (o *Outbox) Doctor(ctx context.Context) []Check {
	if d, ok := o.inner.(Doctor); ok {
		return d.Doctor(ctx)
	}
	return nil
}

// Mount implements Mounter: the wrapped chat's routes, none when it has none.
func (o *Outbox) Mount(mux *http.ServeMux) {
	if m, ok := o.inner.(Mounter); ok {
		m.Mount(mux)
	}
}

func (o *Outbox) outbox() *Outbox { return o }
