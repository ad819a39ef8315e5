package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tebura/tebura"
)

// DefaultStreamInterval is the least time between two edits of one message
// when StreamOptions.Interval is zero.
const DefaultStreamInterval = 1500 * time.Millisecond

// DefaultStreamHold is the hold a run's message is given by its wiring: a
// run that ends within it is one message carrying its final frame, and a
// longer run shows its first frame by then (see StreamOptions.Hold).
const DefaultStreamHold = 200 * time.Millisecond

// Backoff bounds for retrying the final frame.
const (
	finalRetryFirst = 500 * time.Millisecond
	finalRetryMax   = 15 * time.Second
)

// Clock is the time source of a Stream. Tests inject a fake to observe the
// throttle without waiting in real time.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// StreamOptions configure a Stream. The zero value is usable.
type StreamOptions struct {
	// Interval is the least time between the starts of two edits of the
	// message (DefaultStreamInterval if zero).
	Interval time.Duration
	// Budget is the platform-wide edit budget shared with other streams; nil
	// means none.
	Budget *EditBudget
	// Logger receives failed edits; nil discards.
	Logger *slog.Logger
	// Clock is the time source; nil means real time.
	Clock Clock
	// Hold holds the stream's first send back for up to Hold after
	// NewStream: frames that arrive meanwhile replace each other, and a
	// Close within the hold sends the final frame as the first and only
	// send. A run that ends within the hold is then one message (one post,
	// or one edit of the card it replaces) instead of a "starting" frame
	// and two edits; a longer run shows its latest frame when the hold ends.
	// Zero sends the first frame at once.
	Hold time.Duration
	// Post, when set, makes the Stream post its message instead of editing
	// an existing one: NewStream is then given a ref without an ID (its
	// Platform, Channel and Thread say where it goes) and the first frame
	// sent, or the final frame at Close, is posted through Post, once (a
	// failed post is not retried here: it may have been shown; an Outbox
	// behind Post keeps and retries a transient failure itself and returns
	// a provisional ref, whose edits it folds into the pending post);
	// later frames edit what it returned. Posts do not spend the edit
	// budget.
	Post func(ctx context.Context, m Message) (MessageRef, error)
	// OnPost, when set, is called once with the message Post returned, on
	// the goroutine that posted it, so the caller can store where the
	// message is (a run's origin).
	OnPost func(MessageRef)
	// OnClose, when set, receives the Stream's final counts once Close has
	// returned or given up (delivered, refused for good, or ctx ended), so
	// that metrics can count frames sent and dropped without this package
	// knowing about them. It is called once, on Close's goroutine.
	OnClose func(StreamStats)
}

// StreamStats count what happened to a Stream's frames.
type StreamStats struct {
	Sent    int // posts and edits the chat accepted, the final one included
	Dropped int // frames replaced by a newer one before being sent
	Failed  int // posts and edits the chat refused (each attempt counts)
}

// Stream keeps one posted message up to date with the latest frame, such as
// a run's live output, without ever slowing the producer down.
//
// Update stores the frame and returns at once; a worker goroutine sends the
// latest frame with at most one edit in flight, at most one edit per
// Interval, within the shared EditBudget, the first one after the Hold.
// Frames that arrive while the worker waits replace each other; failed
// intermediate edits are logged and superseded by the next frame. Close
// delivers the final frame, retrying an edit with backoff. Every frame is
// trimmed with Fit to the chat's limits.
type Stream struct {
	chat     Chat
	limits   Limits
	interval time.Duration
	hold     time.Duration
	began    time.Time
	budget   *EditBudget
	log      *slog.Logger
	clock    Clock
	post     func(context.Context, Message) (MessageRef, error)
	onPost   func(MessageRef)
	onClose  func(StreamStats)
	posted   chan struct{} // closed once the message exists or will not be posted
	postOnce sync.Once

	wake     chan struct{}      // capacity 1: "a frame is pending"
	stop     context.CancelFunc // ends the worker's waits; an in-flight edit finishes
	cancel   context.CancelFunc // also cancels an in-flight edit
	finished chan struct{}      // closed when the worker has returned

	mu      sync.Mutex
	pending *Message
	closed  bool
	stats   StreamStats
	shown   MessageRef // the message once posted (or ref); guarded by mu
}

// NewStream starts a Stream that edits the message ref points to on c, or,
// with opt.Post, posts it first (ref then says only where). Call Close to
// deliver the final frame and stop the worker.
func NewStream(c Chat, ref MessageRef, opt StreamOptions) *Stream {
	if opt.Interval <= 0 {
		opt.Interval = DefaultStreamInterval
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Clock == nil {
		opt.Clock = realClock{}
	}
	work, cancel := context.WithCancel(context.Background())
	waits, stop := context.WithCancel(work)
	s := &Stream{
		chat:     c,
		limits:   LimitsOf(c),
		interval: opt.Interval,
		hold:     opt.Hold,
		began:    opt.Clock.Now(),
		budget:   opt.Budget,
		log:      opt.Logger.With("platform", c.Name(), "message_id", ref.ID),
		clock:    opt.Clock,
		post:     opt.Post,
		onPost:   opt.OnPost,
		onClose:  opt.OnClose,
		posted:   make(chan struct{}),
		wake:     make(chan struct{}, 1),
		stop:     stop,
		cancel:   cancel,
		finished: make(chan struct{}),
	}
	if opt.Post == nil {
		s.shown = ref
		s.postOnce.Do(func() { close(s.posted) })
	}
	go s.run(work, waits)
	return s
}

// Posted is closed once the Stream's message exists (always, without
// StreamOptions.Post), once its post failed, or once Close gave up: by
// then a caller that must answer within an event's lifetime (a Discord
// interaction) has answered. With a Hold, that is at most the Hold after
// NewStream plus the post itself, or sooner when the Stream is closed
// within the Hold.
func (s *Stream) Posted() <-chan struct{} { return s.posted }

// Ref is the message the Stream keeps up to date: the ref it was made
// with, or the one its post returned; zero until then or if it failed.
func (s *Stream) Ref() MessageRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shown
}

// unposted reports whether the Stream has yet to post its message.
func (s *Stream) unposted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.post != nil && s.shown.IsZero()
}

// postFrame posts m as the Stream's message, once: whatever the outcome,
// later frames do not post again.
func (s *Stream) postFrame(ctx context.Context, m Message) error {
	ref, err := s.post(ctx, m)
	s.counted(err)
	s.mu.Lock()
	s.post = nil // one attempt: a failed post may have been shown anyway
	if err == nil {
		s.shown = ref
	}
	s.mu.Unlock()
	if err == nil && s.onPost != nil {
		s.onPost(ref)
	}
	s.postOnce.Do(func() { close(s.posted) })
	return err
}

// Update makes m the frame to show next. It never blocks: a frame still
// pending is replaced (and counted as dropped). Updates after Close are
// ignored.
func (s *Stream) Update(m Message) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.pending != nil {
		s.stats.Dropped++
	}
	s.pending = &m
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stats returns the counts so far.
func (s *Stream) Stats() StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close stops the Stream and delivers final: a pending frame is dropped, an
// edit in flight is allowed to finish, then final is sent at once (the
// Interval and the Hold do not apply, the budget does to edits). When the
// message was not posted yet, final is posted, once. A failed final edit is
// retried with backoff until it succeeds, the error is permanent (invalid,
// not found, forbidden), or ctx ends. Close returns nil once final is
// delivered. When ctx ends first, the in-flight edit is cancelled and Close
// returns an error wrapping ctx.Err().
func (s *Stream) Close(ctx context.Context, final Message) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("bot: stream already closed")
	}
	s.closed = true
	if s.pending != nil {
		s.stats.Dropped++
		s.pending = nil
	}
	s.mu.Unlock()

	if s.onClose != nil {
		defer func() { s.onClose(s.Stats()) }()
	}
	defer s.postOnce.Do(func() { close(s.posted) })
	defer s.cancel()
	s.stop()
	unhook := context.AfterFunc(ctx, s.cancel)
	defer unhook()
	select {
	case <-s.finished:
	case <-ctx.Done():
		return fmt.Errorf("bot: final frame of message %s not delivered: %w", s.Ref().ID, ctx.Err())
	}

	final = Fit(final, s.limits)
	if s.unposted() {
		if err := s.postFrame(ctx, final); err != nil {
			s.log.Error("stream final post failed", "err", err)
			return fmt.Errorf("bot: final frame not posted: %w", err)
		}
		return nil
	}
	ref := s.Ref()
	if ref.IsZero() {
		return errors.New("bot: final frame not delivered: the message was never posted")
	}
	wait := finalRetryFirst
	for {
		if err := s.budget.Wait(ctx); err != nil {
			return fmt.Errorf("bot: final frame of message %s not delivered: %w", ref.ID, err)
		}
		err := s.chat.Edit(ctx, ref, final)
		s.counted(err)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || permanent(err) {
			s.log.Error("stream final edit failed", "err", err)
			return fmt.Errorf("bot: final frame of message %s not delivered: %w", ref.ID, err)
		}
		s.log.Warn("stream final edit failed, retrying", "err", err, "retry_in", wait)
		select {
		case <-s.clock.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("bot: final frame of message %s not delivered: %w", ref.ID, err)
		}
		wait = min(2*wait, finalRetryMax)
	}
}

// run is the worker: it sends pending frames until stopped. Edits use work;
// waits use waits, which Close ends first.
func (s *Stream) run(work, waits context.Context) {
	defer close(s.finished)
	var last time.Time
	held := s.hold > 0
	for {
		select {
		case <-s.wake:
		case <-waits.Done():
			return
		}
		wait := time.Duration(0)
		switch {
		case held:
			held = false
			wait = s.hold - s.clock.Now().Sub(s.began)
		case !last.IsZero():
			wait = s.interval - s.clock.Now().Sub(last)
		}
		if wait > 0 {
			select {
			case <-s.clock.After(wait):
			case <-waits.Done():
				return
			}
		}
		posting := s.unposted()
		if !posting {
			if err := s.budget.Wait(waits); err != nil {
				return
			}
		}
		s.mu.Lock()
		m := s.pending
		s.pending = nil
		ref := s.shown
		s.mu.Unlock()
		if m == nil {
			continue
		}
		last = s.clock.Now()
		var err error
		switch {
		case posting:
			err = s.postFrame(work, Fit(*m, s.limits))
		case ref.IsZero():
			continue // the post failed: nothing to edit
		default:
			err = s.chat.Edit(work, ref, Fit(*m, s.limits))
			s.counted(err)
		}
		if err != nil && work.Err() == nil {
			s.log.Warn("stream send failed", "err", err, "post", posting)
		}
	}
}

// permanent reports whether retrying err cannot help.
func permanent(err error) bool {
	switch tebura.ErrorCode(err) {
	case tebura.EINVALID, tebura.ENOTFOUND, tebura.EFORBIDDEN:
		return true
	}
	return false
}

// counted adds the outcome of one edit to the stream's stats.
func (s *Stream) counted(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.stats.Sent++
	} else {
		s.stats.Failed++
	}
}
