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
	// OnClose, when set, receives the Stream's final counts once Close has
	// returned or given up (delivered, refused for good, or ctx ended), so
	// that metrics can count frames sent and dropped without this package
	// knowing about them. It is called once, on Close's goroutine.
	OnClose func(StreamStats)
}

// StreamStats count what happened to a Stream's frames.
type StreamStats struct {
	Sent    int // edits the chat accepted, the final one included
	Dropped int // frames replaced by a newer one before being sent
	Failed  int // edits the chat refused (each attempt counts)
}

// Stream keeps one posted message up to date with the latest frame, such as
// a run's live output, without ever slowing the producer down.
//
// Update stores the frame and returns at once; a worker goroutine sends the
// latest frame with at most one edit in flight, at most one edit per
// Interval, within the shared EditBudget. Frames that arrive while the
// worker waits replace each other; failed intermediate edits are logged and
// superseded by the next frame. Close delivers the final frame, retrying
// with backoff. Every frame is trimmed with Fit to the chat's limits.
type Stream struct {
	chat     Chat
	ref      MessageRef
	limits   Limits
	interval time.Duration
	budget   *EditBudget
	log      *slog.Logger
	clock    Clock
	onClose  func(StreamStats)

	wake     chan struct{}      // capacity 1: "a frame is pending"
	stop     context.CancelFunc // ends the worker's waits; an in-flight edit finishes
	cancel   context.CancelFunc // also cancels an in-flight edit
	finished chan struct{}      // closed when the worker has returned

	mu      sync.Mutex
	pending *Message
	closed  bool
	stats   StreamStats
}

// NewStream starts a Stream that edits the message ref points to on c.
// Call Close to deliver the final frame and stop the worker.
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
		ref:      ref,
		limits:   LimitsOf(c),
		interval: opt.Interval,
		budget:   opt.Budget,
		log:      opt.Logger.With("platform", c.Name(), "message_id", ref.ID),
		clock:    opt.Clock,
		onClose:  opt.OnClose,
		wake:     make(chan struct{}, 1),
		stop:     stop,
		cancel:   cancel,
		finished: make(chan struct{}),
	}
	go s.run(work, waits)
	return s
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
// Interval does not apply, the budget does). A failed final edit is retried
// with backoff until it succeeds, the error is permanent (invalid, not
// found, forbidden), or ctx ends. Close returns nil once final is delivered.
// When ctx ends first, the in-flight edit is cancelled and Close returns an
// error wrapping ctx.Err().
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
	defer s.cancel()
	s.stop()
	unhook := context.AfterFunc(ctx, s.cancel)
	defer unhook()
	select {
	case <-s.finished:
	case <-ctx.Done():
		return fmt.Errorf("bot: final frame of message %s not delivered: %w", s.ref.ID, ctx.Err())
	}

	final = Fit(final, s.limits)
	wait := finalRetryFirst
	for {
		if err := s.budget.Wait(ctx); err != nil {
			return fmt.Errorf("bot: final frame of message %s not delivered: %w", s.ref.ID, err)
		}
		err := s.chat.Edit(ctx, s.ref, final)
		s.counted(err)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || permanent(err) {
			s.log.Error("stream final edit failed", "err", err)
			return fmt.Errorf("bot: final frame of message %s not delivered: %w", s.ref.ID, err)
		}
		s.log.Warn("stream final edit failed, retrying", "err", err, "retry_in", wait)
		select {
		case <-s.clock.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("bot: final frame of message %s not delivered: %w", s.ref.ID, err)
		}
		wait = min(2*wait, finalRetryMax)
	}
}

// run is the worker: it sends pending frames until stopped. Edits use work;
// waits use waits, which Close ends first.
func (s *Stream) run(work, waits context.Context) {
	defer close(s.finished)
	var last time.Time
	for {
		select {
		case <-s.wake:
		case <-waits.Done():
			return
		}
		if !last.IsZero() {
			if d := s.interval - s.clock.Now().Sub(last); d > 0 {
				select {
				case <-s.clock.After(d):
				case <-waits.Done():
					return
				}
			}
		}
		if err := s.budget.Wait(waits); err != nil {
			return
		}
		s.mu.Lock()
		m := s.pending
		s.pending = nil
		s.mu.Unlock()
		if m == nil {
			continue
		}
		last = s.clock.Now()
		err := s.chat.Edit(work, s.ref, Fit(*m, s.limits))
		s.counted(err)
		if err != nil && work.Err() == nil {
			s.log.Warn("stream edit failed", "err", err)
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
