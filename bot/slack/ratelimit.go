package slack

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"golang.org/x/time/rate"

	"github.com/tebura/tebura"
)

// Rate-limit tiers, per method, per app, per workspace, in calls per minute.
// https://docs.slack.dev/apis/web-api/rate-limits
const (
	Tier1PerMinute = 1
	Tier2PerMinute = 20
	Tier3PerMinute = 50
	Tier4PerMinute = 100
	// PostPerChannelPerSecond is chat.postMessage's special limit: about one
	// message per second per channel, short bursts allowed.
	// https://api.slack.com/docs/rate-limits
	PostPerChannelPerSecond = 1
)

// rateOf returns the budget of a Web API method: its tier's calls per
// minute and a burst. Tiers from https://docs.slack.dev/apis/web-api/rate-limits
// and java-slack-sdk MethodsRateLimits (see PLATFORM.md 1.2).
func rateOf(method string) (perMinute float64, burst int) {
	switch method {
	case "apps.connections.open":
		// Listed as Tier 1 on api.slack.com and Tier 3 on newer pages. A
		// Tier 1 bucket would hold a reconnect for a minute after two
		// attempts; connectLoop's backoff already spaces attempts, and a 429
		// from Slack is honoured, so use Tier 3 with a small burst.
		return Tier3PerMinute, 3
	case "conversations.create", "conversations.archive", "conversations.setTopic",
		"usergroups.list", "usergroups.users.list":
		return Tier2PerMinute, 5
	case "chat.update", "conversations.invite", "conversations.info", "users.lookupByEmail":
		return Tier3PerMinute, 12
	case "chat.postMessage": // keyed per channel
		return PostPerChannelPerSecond * 60, 3
	default: // chat.postEphemeral, files.*, auth.test and the rest: Tier 4
		return Tier4PerMinute, 25
	}
}

// limiter holds one token bucket per key: a Web API method, or
// "chat.postMessage:<channel>". One Adapter serves one workspace (one bot
// token), so the workspace part of Slack's (workspace, method) key is the
// adapter itself. A 429 blocks only its key until Retry-After has passed.
//
// The limiter uses the real clock: it sleeps, and Retry-After is wall time.
type limiter struct {
	mu   sync.Mutex
	keys map[string]*keyLimit
}

type keyLimit struct {
	bucket *rate.Limiter
	until  time.Time // no call before this (Retry-After)
}

func newLimiter() *limiter { return &limiter{keys: map[string]*keyLimit{}} }

func (l *limiter) get(key, method string) *keyLimit {
	l.mu.Lock()
	defer l.mu.Unlock()
	k, ok := l.keys[key]
	if !ok {
		perMinute, burst := rateOf(method)
		k = &keyLimit{bucket: rate.NewLimiter(rate.Limit(perMinute/60), burst)}
		l.keys[key] = k
	}
	return k
}

// wait blocks until a call on key may be sent.
func (l *limiter) wait(ctx context.Context, key, method string) error {
	k := l.get(key, method)
	for {
		l.mu.Lock()
		until := k.until
		l.mu.Unlock()
		if d := time.Until(until); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		if err := k.bucket.Wait(ctx); err != nil {
			return err
		}
		// A 429 may have arrived while we waited for a token.
		l.mu.Lock()
		blocked := time.Now().Before(k.until)
		l.mu.Unlock()
		if !blocked {
			return nil
		}
	}
}

// block records a Retry-After for key.
func (l *limiter) block(key, method string, d time.Duration) {
	k := l.get(key, method)
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := time.Now().Add(d); until.After(k.until) {
		k.until = until
	}
}

// call runs one Web API call under the limiter of its key, retrying after a
// 429 once the Retry-After Slack gave has passed. Slack-go does not retry by
// itself here (no OptionRetry), so every 429 reaches this loop.
func (a *Adapter) call(ctx context.Context, method, channel string, fn func(context.Context) error) error {
	key := method
	if method == "chat.postMessage" && channel != "" {
		key = method + ":" + channel
	}
	for {
		if err := a.limits.wait(ctx, key, method); err != nil {
			return err
		}
		err := fn(ctx)
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) {
			return err
		}
		retry := max(rl.RetryAfter, time.Second)
		a.log.Warn("slack rate limited", "method", method, "retry_after", retry)
		a.limits.block(key, method, retry)
	}
}

// Queued operations on a channel.
const (
	opPost = iota
	opUpdate
	opEphemeral
)

// op is one queued message operation. msg and sent are guarded by the
// outbox's mutex: until the op is sent, a newer Edit of the same message
// replaces msg.
type op struct {
	kind   int
	ts     string // opUpdate: the message
	user   string // opEphemeral: who sees it
	thread string
	msg    Rendered
	sent   bool

	done  chan struct{}
	resTS string
	err   error
}

// outbox keeps one FIFO queue per (channel, kind of call) so that posts
// arrive in order and a rate-limited chat.update never holds up a post, and
// coalesces edits of a message that are still waiting.
//
// Each queue with work has one drain goroutine, counted in drains; Run
// waits for them when it stops (see stop), and ending life cancels them.
type outbox struct {
	a      *Adapter
	mu     sync.Mutex
	queues map[string][]*op // queueKey → ops, the head in flight
	drains *group
	life   context.Context // parent of the drains' contexts
	end    context.CancelFunc
}

// queueKey names the queue of an operation kind on a channel.
func queueKey(kind int, channel string) string {
	return strconv.Itoa(kind) + "/" + channel
}

func newOutbox(a *Adapter) *outbox {
	life, end := context.WithCancel(context.Background())
	return &outbox{a: a, queues: map[string][]*op{}, drains: newGroup(), life: life, end: end}
}

// errStopped is the answer to a message submitted after Run returned.
var errStopped = tebura.Errorf(tebura.ETRANSIENT, "The Slack adapter has stopped; the message was not sent.")

// submit queues o on channel and waits for its result (or for the result of
// the newer edit that superseded it).
func (b *outbox) submit(ctx context.Context, channel string, o *op) (string, error) {
	key := queueKey(o.kind, channel)
	b.mu.Lock()
	q, running := b.queues[key]
	target := o
	if o.kind == opUpdate {
		for _, p := range q {
			if p.kind == opUpdate && p.ts == o.ts && !p.sent {
				p.msg = o.msg // latest wins
				target = p
				break
			}
		}
	}
	if target == o {
		if !running && !b.drains.add() {
			b.mu.Unlock()
			return "", errStopped
		}
		o.done = make(chan struct{})
		b.queues[key] = append(q, o)
		if !running {
			// The drain outlives the caller's context (a superseded
			// caller's frame may be the one sent) but not the adapter.
			dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			unhook := context.AfterFunc(b.life, cancel)
			go func() {
				defer b.drains.done()
				defer cancel()
				defer unhook()
				b.drain(dctx, key, channel)
			}()
		}
	}
	b.mu.Unlock()

	select {
	case <-target.done:
		return target.resTS, target.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// drain sends a queue's operations one at a time, then exits.
func (b *outbox) drain(ctx context.Context, key, channel string) {
	for {
		b.mu.Lock()
		q := b.queues[key]
		if len(q) == 0 {
			delete(b.queues, key)
			b.mu.Unlock()
			return
		}
		o := q[0]
		b.mu.Unlock()

		octx, cancel := context.WithTimeout(ctx, opTimeout)
		o.resTS, o.err = b.send(octx, channel, o)
		cancel()

		b.mu.Lock()
		b.queues[key] = b.queues[key][1:]
		b.mu.Unlock()
		close(o.done)
	}
}

// stop waits for the drains until ctx ends, then cancels what is still
// queued (its callers get an error) and waits up to cancelWait for the
// drains to notice. No queue starts after stop.
func (b *outbox) stop(ctx context.Context) {
	idle := b.drains.close()
	select {
	case <-idle:
		return
	case <-ctx.Done():
	}
	b.mu.Lock()
	queued := 0
	for _, q := range b.queues {
		queued += len(q)
	}
	b.mu.Unlock()
	b.a.log.Warn("slack messages dropped at stop", "queued", queued, "waited", stopWait)
	b.end()
	t := time.NewTimer(cancelWait)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
		b.a.log.Error("slack send queues still running at stop", "running", b.drains.running())
	}
}

// take reads the op's latest message and marks it sent, so that later
// edits queue behind it instead of replacing it.
func (b *outbox) take(o *op) Rendered {
	b.mu.Lock()
	defer b.mu.Unlock()
	o.sent = true
	return o.msg
}

func (b *outbox) untake(o *op) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o.sent = false
}

func (b *outbox) send(ctx context.Context, channel string, o *op) (string, error) {
	a := b.a
	var method string
	switch o.kind {
	case opPost:
		method = "chat.postMessage"
	case opUpdate:
		method = "chat.update"
	default:
		method = "chat.postEphemeral"
	}
	var ts string
	err := a.call(ctx, method, channel, func(ctx context.Context) error {
		m := b.take(o)
		opts := []slack.MsgOption{slack.MsgOptionText(m.Text, false), slack.MsgOptionBlocks(m.Blocks...)}
		if o.thread != "" && o.kind != opUpdate {
			opts = append(opts, slack.MsgOptionTS(o.thread))
		}
		var err error
		switch o.kind {
		case opPost:
			_, ts, err = a.api.PostMessageContext(ctx, channel, opts...)
		case opUpdate:
			_, ts, _, err = a.api.UpdateMessageContext(ctx, channel, o.ts, opts...)
		default:
			ts, err = a.api.PostEphemeralContext(ctx, channel, o.user, opts...)
		}
		var rl *slack.RateLimitedError
		if errors.As(err, &rl) {
			b.untake(o) // not sent: newer frames may still replace it
		}
		return err
	})
	if err != nil {
		a.log.Warn("slack message failed", "method", method, "channel", channel, "err", scrub(err))
	}
	return ts, err
}
