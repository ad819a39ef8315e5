package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
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
	// DefaultDeliveryDeadline is how long a message the platform has not
	// accepted is retried before it is dropped (chat.delivery_deadline).
	DefaultDeliveryDeadline = time.Hour
	// OutboxRefRetention is how long the provisional ID of a post
	// delivered late still names the posted message, so that a card or a
	// run's message stored under it can be edited for that long.
	OutboxRefRetention = 30 * 24 * time.Hour
	outboxRetryFirst   = 500 * time.Millisecond
	outboxRetryMax     = 15 * time.Second
	// provisionalPrefix starts the ID of a post not delivered yet; no
	// platform's message IDs (Slack timestamps, Discord snowflakes,
	// console "m1") look like it.
	provisionalPrefix = "outbox:"
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
	// Deadline is how long a post or edit is retried, from when it was
	// made, before it is dropped with a log line (chat.delivery_deadline);
	// zero means DefaultDeliveryDeadline.
	Deadline time.Duration
	// Store keeps the posts and edits the platform has not accepted, so
	// that they are delivered after a restart (see Resume); nil keeps them
	// in memory only.
	Store OutboxStore
	// Clock drives the backoff and the deadline; nil means real time.
	Clock Clock
	// Logger receives retries, drops and refusals; nil discards.
	Logger *slog.Logger
}

// OutboxStats count what an Outbox did, for metrics and tests.
type OutboxStats struct {
	Delivered int // posts and edits the platform accepted
	Retries   int // failed attempts that were retried
	Coalesced int // pending edits replaced by a newer edit of the same message (or folded into its pending post)
	Refused   int // posts and edits refused because a channel's queue was full
	Failed    int // posts and edits given up on a permanent error
	Kept      int // posts and edits whose caller was answered before delivery: kept (stored) and delivered later
	Dropped   int // kept posts and edits given up at the delivery deadline
	Queued    int // posts and edits waiting or in flight right now
}

// Delivery is a post or edit the platform has not accepted yet, as an
// OutboxStore keeps it; or, with Posted set, a post delivered late whose
// provisional ID still names the message it became.
type Delivery struct {
	Platform string     `json:"platform"`
	ID       string     `json:"id"` // the provisional message ID of a post, a unique ID of an edit
	Edit     bool       `json:"edit,omitempty"`
	To       Target     `json:"to"`
	Ref      MessageRef `json:"ref"` // the message an edit replaces (possibly provisional)
	Message  Message    `json:"message"`
	Created  time.Time  `json:"created"`
	Posted   MessageRef `json:"posted"` // set once the post was delivered
}

// OutboxStore keeps undelivered messages across restarts. store/bolt
// implements it; the conformance tests are in store/storetest.
type OutboxStore interface {
	// PutDelivery stores d, replacing the one with its platform and ID.
	PutDelivery(ctx context.Context, d Delivery) error
	// DeleteDelivery forgets platform's delivery id; an unknown one is no error.
	DeleteDelivery(ctx context.Context, platform, id string) error
	// Deliveries lists platform's deliveries in the order they were made
	// (Created, then ID).
	Deliveries(ctx context.Context, platform string) ([]Delivery, error)
}

// Outbox is a Chat decorator that rides out chat platform outages: Post and
// Edit retry transient failures (ETRANSIENT, 5xx, timeouts) with backoff
// until they succeed, the error is permanent (invalid, forbidden, not
// found, conflict), or the delivery deadline passes.
//
// Each channel has two FIFO lanes, one for posts and one for edits, each
// worked by one goroutine: posts reach a channel in the order they were
// made even across an outage, and an edit waiting for the platform's edit
// rate limit never holds up a post (edits change messages already shown,
// so their order against posts does not matter). A pending edit of a
// message is replaced by a newer edit of the same message (the older
// caller gets nil: the newer frame supersedes it), and an edit of a post
// still waiting is folded into that post, so a message made and updated
// during an outage is posted once, with its latest content. Posts are
// never coalesced. Each lane is bounded: once MaxQueued posts wait,
// further posts fail at once with ETRANSIENT and a log line.
//
// Post and Edit wait while the platform answers normally, so the returned
// MessageRef is real and a permanent refusal reaches the caller. Once an
// attempt fails transiently (or the caller's ctx ends first) the call is
// kept: written to the Store, answered with nil (a Post with a
// provisional ref, whose edits the Outbox resolves), and delivered by the
// lane when the platform is back, after a restart too (Resume). While any
// channel's calls fail, new calls on every channel are kept at once.
//
// Channel management, uploads and group lookups pass straight through:
// retrying a channel creation after a timeout could create two.
type Outbox struct {
	inner    Chat
	max      int
	timeout  time.Duration
	first    time.Duration
	most     time.Duration
	deadline time.Duration
	store    OutboxStore
	clock    Clock
	log      *slog.Logger
	boot     string // makes provisional IDs unique across restarts

	ctx  context.Context // delivery attempts; ended by Stop
	halt context.CancelFunc

	mu      sync.Mutex
	lanes   map[laneKey]*lane
	posts   map[string]*outboxOp  // provisional ID → its post, not delivered yet
	posted  map[string]MessageRef // provisional ID → the message it became
	seq     uint64
	failing int // lanes whose head's last attempt failed transiently: the platform is down
	stopped bool
	stats   OutboxStats
}

// laneKey names a channel's post lane or edit lane.
type laneKey struct {
	channel string
	edit    bool
}

// lane is one queue of a channel.
type lane struct {
	queue   []*outboxOp
	posts   int
	edits   int
	failing bool // the head's last attempt failed transiently (counted in Outbox.failing)
	running bool // a drain goroutine works it
}

// outboxOp is one waiting Post or Edit. Its delivery does not depend on
// its caller: the lane makes the call with the Outbox's context, and the
// caller waits only until the op is done or kept.
type outboxOp struct {
	id       string
	edit     bool
	to       Target
	ref      MessageRef
	msg      Message
	created  time.Time
	inflight bool
	tried    chan struct{}     // closed when the attempt in flight ends
	kept     bool              // the caller was answered before delivery
	finished bool              // off the lane: delivered, refused or dropped
	keptC    chan struct{}     // closed when kept
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
// checks, no routes). Use OutboxOf to reach the Outbox.
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
	if opt.Deadline <= 0 {
		opt.Deadline = DefaultDeliveryDeadline
	}
	if opt.Clock == nil {
		opt.Clock = realClock{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, halt := context.WithCancel(context.Background())
	return &Outbox{
		inner: c, max: opt.MaxQueued, timeout: opt.CallTimeout, first: opt.RetryFirst, most: opt.RetryMax,
		deadline: opt.Deadline, store: opt.Store, clock: opt.Clock, log: opt.Logger.With("platform", c.Name()),
		boot: strconv.FormatInt(time.Now().UnixNano(), 36), ctx: ctx, halt: halt,
		lanes: map[laneKey]*lane{}, posts: map[string]*outboxOp{}, posted: map[string]MessageRef{},
	}
}

// OutboxOf returns the Outbox inside c, if c was made by NewOutbox.
func OutboxOf(c Chat) (*Outbox, bool) {
	if w, ok := c.(interface{ outbox() *Outbox }); ok {
		return w.outbox(), true
	}
	return nil, false
}

// IsProvisional reports whether ref names a post an Outbox accepted but
// the platform has not shown yet (or showed late): only the Outbox that
// made it can edit it.
func IsProvisional(ref MessageRef) bool { return strings.HasPrefix(ref.ID, provisionalPrefix) }

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

// Resolve returns the message a provisional ref became once its post was
// delivered, ref itself when it is not provisional, and false while the
// post waits (or when it was dropped or is unknown).
func (o *Outbox) Resolve(ref MessageRef) (MessageRef, bool) {
	if !IsProvisional(ref) {
		return ref, true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	real, ok := o.posted[ref.ID]
	return real, ok
}

// Name implements Chat.
func (o *Outbox) Name() string { return o.inner.Name() }

// Run implements Chat: events reach h with their Replier routed through
// the Outbox (see Handler).
func (o *Outbox) Run(ctx context.Context, h Handler) error { return o.inner.Run(ctx, o.Handler(h)) }

// Post implements Chat: it queues m behind the channel's earlier posts and
// waits until the platform accepted it, or until it is kept for later
// delivery (the returned ref is then provisional).
func (o *Outbox) Post(ctx context.Context, to Target, m Message) (MessageRef, error) {
	op := o.newOp(false, to, MessageRef{}, m)
	if r, done := o.enqueue(to.Channel, op, false); done {
		return r.ref, r.err
	}
	r := o.wait(ctx, to.Channel, op)
	return r.ref, r.err
}

// Edit implements Chat: it queues the edit, replacing a pending edit of the
// same message (or the content of its pending post), and waits until the
// platform accepted it, a newer edit superseded it, or it is kept.
func (o *Outbox) Edit(ctx context.Context, ref MessageRef, m Message) error {
	op := o.newOp(true, Target{Channel: ref.Channel, Thread: ref.Thread}, ref, m)
	if r, done := o.enqueue(ref.Channel, op, false); done {
		return r.err
	}
	return o.wait(ctx, ref.Channel, op).err
}

func (o *Outbox) newOp(edit bool, to Target, ref MessageRef, m Message) *outboxOp {
	o.mu.Lock()
	o.seq++
	id := fmt.Sprintf("%s%s-%09d", provisionalPrefix, o.boot, o.seq)
	o.mu.Unlock()
	return &outboxOp{id: id, edit: edit, to: to, ref: ref, msg: m, created: o.clock.Now(),
		keptC: make(chan struct{}), done: make(chan outboxResult, 1)}
}

// enqueue adds op to its channel's lane, folding an edit into a pending
// post or edit of the same message, and starts the lane's goroutine when
// the lane was idle. It returns done when op needs no waiting: refused,
// or folded. resumed ops (from the store) are kept already and not
// bounded.
func (o *Outbox) enqueue(channel string, op *outboxOp, resumed bool) (outboxResult, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if op.edit {
		if real, ok := o.posted[op.ref.ID]; ok {
			op.ref = real
		}
		if p := o.posts[op.ref.ID]; p != nil && !p.inflight {
			p.msg = op.msg
			o.stats.Coalesced++
			o.persist(p)
			return outboxResult{}, true
		}
	}
	key := laneKey{channel, op.edit}
	l := o.lanes[key]
	if l == nil {
		l = &lane{}
		o.lanes[key] = l
	}
	if op.edit {
		for i, q := range l.queue {
			if q.edit && !q.inflight && q.ref.ID == op.ref.ID {
				// The newer frame takes the older one's place, and its
				// stored record when the older one was kept.
				op.id, op.created = q.id, q.created
				l.queue[i] = op
				q.finished = true
				o.stats.Coalesced++
				if q.kept {
					op.kept = true
					close(op.keptC)
					o.persist(op)
				}
				q.done <- outboxResult{}
				return outboxResult{}, true
			}
		}
	}
	if n := l.count(op.edit); n >= o.max && !resumed {
		o.stats.Refused++
		what := "post"
		if op.edit {
			what = "edit"
		}
		o.log.Error("chat outbox full, refusing", "channel", channel, "kind", what, "queued", n, "limit", o.max)
		return outboxResult{err: tebura.Errorf(tebura.ETRANSIENT, "The chat platform has not accepted messages for a while and %d are waiting for this channel; this one was not sent. Try again once the platform is back.", n)}, true
	}
	l.add(op.edit, 1)
	o.stats.Queued++
	l.queue = append(l.queue, op)
	if !op.edit {
		o.posts[op.id] = op
	}
	if resumed || o.failing > 0 || o.stopped {
		// The platform is down (some lane is failing): nobody waits for a
		// first attempt that would time out too.
		o.keep(op)
	}
	if !l.running && !o.stopped {
		l.running = true
		go o.drain(key, l)
	}
	return outboxResult{}, false
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

// keep marks op as answered before delivery and stores it. Call with mu held.
func (o *Outbox) keep(op *outboxOp) {
	if op.kept || op.finished {
		return // a finished op must not be stored: Resume would send it again
	}
	op.kept = true
	o.stats.Kept++
	o.persist(op)
	close(op.keptC)
}

// persist writes a kept op to the store (nothing when op is not kept or
// there is no store). Call with mu held: writes reach the store in the
// order the ops changed.
func (o *Outbox) persist(op *outboxOp) {
	if !op.kept || o.store == nil {
		return
	}
	d := Delivery{Platform: o.inner.Name(), ID: op.id, Edit: op.edit, To: op.to, Ref: op.ref, Message: op.msg, Created: op.created}
	if err := o.store.PutDelivery(context.Background(), d); err != nil {
		o.log.Error("chat outbox store failed; the message is kept in memory only", "err", err)
	}
}

// unstore forgets a kept op's stored record. Call with mu held.
func (o *Outbox) unstore(op *outboxOp) {
	if !op.kept || o.store == nil {
		return
	}
	if err := o.store.DeleteDelivery(context.Background(), o.inner.Name(), op.id); err != nil {
		o.log.Error("chat outbox store failed", "err", err)
	}
}

// wait waits for op's result, or until op is kept: the caller then gets
// nil and, for a post, the provisional ref. When the caller's ctx ends
// first, op is kept: its delivery does not depend on the caller.
func (o *Outbox) wait(ctx context.Context, channel string, op *outboxOp) outboxResult {
	select {
	case r := <-op.done:
		return r
	case <-op.keptC:
	case <-ctx.Done():
		o.mu.Lock()
		o.keep(op)
		o.mu.Unlock()
	}
	select {
	case r := <-op.done: // finished meanwhile: the real answer
		return r
	default:
	}
	if op.edit {
		return outboxResult{}
	}
	return outboxResult{ref: MessageRef{Platform: o.inner.Name(), Channel: channel, Thread: op.to.Thread, ID: op.id}}
}

// drain works a lane until it is empty or the Outbox stops: one call at a
// time, in order.
func (o *Outbox) drain(key laneKey, l *lane) {
	wait := o.first
	for {
		o.mu.Lock()
		if o.stopped {
			l.running = false
			o.mu.Unlock()
			return
		}
		if len(l.queue) == 0 {
			l.running = false
			if o.lanes[key] == l {
				delete(o.lanes, key)
			}
			o.mu.Unlock()
			return
		}
		op := l.queue[0]
		target := op.ref
		if op.edit && IsProvisional(op.ref) {
			if real, ok := o.posted[op.ref.ID]; ok {
				target = real
			} else if p := o.posts[op.ref.ID]; p != nil {
				if !p.inflight {
					// Its post has not gone out: it goes out with this content.
					p.msg = op.msg
					o.persist(p)
					o.unstore(op) // the post's record carries it now
					o.stats.Coalesced++
					o.finish(l, op, outboxResult{}, false)
					o.mu.Unlock()
					continue
				}
				tried := p.tried
				o.mu.Unlock()
				select {
				case <-tried:
				case <-o.ctx.Done():
				}
				continue
			} else {
				o.unstore(op)
				if op.kept {
					o.log.Error("chat message not delivered", "channel", key.channel, "kind", kind(op), "err", "its post was never delivered")
				}
				o.finish(l, op, outboxResult{err: tebura.Errorf(tebura.ENOTFOUND, "The message to update was never posted: the chat platform did not accept it in time.")}, false)
				o.mu.Unlock()
				continue
			}
		}
		op.inflight = true
		op.tried = make(chan struct{})
		o.mu.Unlock()

		r := o.attempt(op, target)

		o.mu.Lock()
		op.inflight = false
		close(op.tried)
		switch {
		case r.err == nil:
			o.setFailing(l, false)
			wait = o.first
			if !op.edit && op.kept {
				// Only a kept post's ID was handed out: remember what it became.
				o.posted[op.id] = r.ref
				if o.store != nil {
					d := Delivery{Platform: o.inner.Name(), ID: op.id, To: op.to, Created: op.created, Posted: r.ref}
					if err := o.store.PutDelivery(context.Background(), d); err != nil {
						o.log.Error("chat outbox store failed", "err", err)
					}
				}
			} else {
				o.unstore(op)
			}
			if op.kept {
				o.log.Info("chat message delivered after an outage", "channel", key.channel, "kind", kind(op), "delay", o.clock.Now().Sub(op.created).Round(time.Millisecond))
			}
			o.finish(l, op, r, true)
			o.mu.Unlock()
		case o.stopped:
			// Stopped mid-attempt: op stays queued, and stored.
			o.keep(op)
			o.mu.Unlock()
		case !Transient(r.err):
			o.unstore(op)
			if op.kept {
				o.log.Error("chat message not delivered", "channel", key.channel, "kind", kind(op), "err", r.err)
			}
			o.finish(l, op, r, false)
			o.mu.Unlock()
		case !o.clock.Now().Before(op.created.Add(o.deadline)):
			o.unstore(op)
			o.stats.Dropped++
			o.log.Error("chat message dropped after the delivery deadline", "channel", key.channel, "kind", kind(op),
				"deadline", o.deadline, "err", r.err)
			o.finish(l, op, outboxResult{err: tebura.Wrap(tebura.ETRANSIENT, r.err, "The chat platform did not accept the message within the delivery deadline; it was dropped.")}, false)
			o.mu.Unlock()
		default:
			o.stats.Retries++
			o.setFailing(l, true)
			for _, q := range l.queue {
				o.keep(q)
			}
			left := op.created.Add(o.deadline).Sub(o.clock.Now())
			pause := min(wait, left)
			o.mu.Unlock()
			o.log.Warn("chat call failed, retrying", "channel", key.channel, "kind", kind(op), "retry_in", pause, "err", r.err)
			select {
			case <-o.clock.After(pause):
			case <-o.ctx.Done():
			}
			wait = min(2*wait, o.most)
		}
	}
}

// setFailing records whether l's head is failing transiently. Call with
// mu held.
func (o *Outbox) setFailing(l *lane, failing bool) {
	if l.failing == failing {
		return
	}
	l.failing = failing
	if failing {
		o.failing++
	} else {
		o.failing--
	}
}

// finish takes op, the lane's head, off the lane with result r. Call with
// mu held.
func (o *Outbox) finish(l *lane, op *outboxOp, r outboxResult, delivered bool) {
	op.finished = true
	if i := slices.Index(l.queue, op); i >= 0 {
		l.queue = slices.Delete(l.queue, i, i+1)
	}
	if len(l.queue) == 0 {
		o.setFailing(l, false) // an empty lane fails nothing
	}
	l.add(op.edit, -1)
	o.stats.Queued--
	if !op.edit {
		delete(o.posts, op.id)
	}
	if delivered {
		o.stats.Delivered++
	} else if r.err != nil && tebura.ErrorCode(r.err) != tebura.ETRANSIENT {
		o.stats.Failed++
	}
	op.done <- r
}

func kind(op *outboxOp) string {
	if op.edit {
		return "edit"
	}
	return "post"
}

func (o *Outbox) attempt(op *outboxOp, target MessageRef) outboxResult {
	ctx, cancel := context.WithTimeout(o.ctx, o.timeout)
	defer cancel()
	if op.edit {
		return outboxResult{err: o.inner.Edit(ctx, target, op.msg)}
	}
	ref, err := o.inner.Post(ctx, op.to, op.msg)
	return outboxResult{ref: ref, err: err}
}

// Resume loads what the store kept from before a restart and delivers
// it: posts in the order they were made, each edit folded into its
// pending post or sent to the message its post became. Call it once, at
// start-up; without a store it does nothing.
func (o *Outbox) Resume(ctx context.Context) error {
	if o.store == nil {
		return nil
	}
	ds, err := o.store.Deliveries(ctx, o.inner.Name())
	if err != nil {
		return err
	}
	now := o.clock.Now()
	n := 0
	for _, d := range ds {
		if !d.Posted.IsZero() {
			if now.Sub(d.Created) > OutboxRefRetention {
				if err := o.store.DeleteDelivery(ctx, d.Platform, d.ID); err != nil {
					return err
				}
				continue
			}
			o.mu.Lock()
			o.posted[d.ID] = d.Posted
			o.mu.Unlock()
			continue
		}
		op := &outboxOp{id: d.ID, edit: d.Edit, to: d.To, ref: d.Ref, msg: d.Message, created: d.Created,
			keptC: make(chan struct{}), done: make(chan outboxResult, 1)}
		channel := cmp.Or(d.Ref.Channel, d.To.Channel)
		if _, done := o.enqueue(channel, op, true); done {
			// Folded into its post: the post's record carries it now.
			if err := o.store.DeleteDelivery(ctx, d.Platform, d.ID); err != nil {
				return err
			}
		}
		n++
	}
	if n > 0 {
		o.log.Info("chat messages kept before the restart are being delivered", "count", n)
	}
	return nil
}

// Stop ends delivery: an attempt in flight is cancelled, and every post
// and edit still waiting is kept in the store for the next start (Resume).
// Calls made after Stop are kept at once. It does not wait.
func (o *Outbox) Stop() {
	o.mu.Lock()
	o.stopped = true
	for _, l := range o.lanes {
		for _, op := range l.queue {
			o.keep(op)
		}
	}
	o.mu.Unlock()
	o.halt()
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
