package runbooks

import (
	"sync"
	"time"
)

// Handle is a live run inside the executor: its state, its output tail, and
// the subscriptions of whoever shows it.
type Handle struct {
	e      *Executor
	runID  string
	masker Masker
	done   chan struct{}

	stopOnce sync.Once
	stop     chan struct{} // closed to cancel the run
	cause    error         // why stop was closed, set before closing

	mu        sync.Mutex
	state     State
	step      string
	stepNo    int             // the step's number, from 1
	prompt    *Prompt         // the manual step waiting for an answer
	answers   chan StepAnswer // where that answer goes
	exitCode  int
	reason    string
	started   time.Time
	ended     time.Time
	lines     int64
	bytes     int64
	truncated bool
	ring      [][]byte
	ringNext  int
	ringLen   int
	subs      map[*Subscription]struct{}
	final     bool
	cancelBy  string
	notified  time.Time // last notification
	trailing  bool      // a trailing notification is scheduled
	// flushLog writes the log file's buffered lines to the file (under
	// mu), so that a viewer notified of new output finds it in the file
	// (the web view's live log reads the file from an offset).
	flushLog func()
}

func newHandle(e *Executor, runID string, m Masker, tailLines int) *Handle {
	return &Handle{
		e: e, runID: runID, masker: m,
		done: make(chan struct{}), stop: make(chan struct{}),
		ring: make([][]byte, tailLines),
		subs: map[*Subscription]struct{}{},
	}
}

// Done is closed once the run has ended and its final state is stored.
func (h *Handle) Done() <-chan struct{} { return h.done }

// RunID is the run this handle belongs to.
func (h *Handle) RunID() string { return h.runID }

// Snapshot returns the current state and masked tail.
func (h *Handle) Snapshot() Snapshot {
	h.mu.Lock()
	s := Snapshot{RunID: h.runID, State: h.state, Step: h.step, Lines: h.lines, Bytes: h.bytes,
		Truncated: h.truncated, ExitCode: h.exitCode, Reason: h.reason, StartedAt: h.started, EndedAt: h.ended}
	if h.prompt != nil {
		p := *h.prompt
		s.Waiting = &p
	}
	raw := h.tailLocked()
	h.mu.Unlock()
	s.Tail = maskTail(raw, h.masker)
	if s.State == StateQueued && h.e != nil {
		s.Reason = h.e.queueReason(h)
	}
	return s
}

// Subscribe returns a subscription whose channel fires (coalesced) when
// the run changes. It never slows the run: a subscriber that reads slowly
// just sees fewer, later snapshots.
func (h *Handle) Subscribe() *Subscription {
	s := &Subscription{h: h, c: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.final {
		close(s.c)
		s.closed = true
		return s
	}
	h.subs[s] = struct{}{}
	if h.flushLog != nil {
		h.flushLog()
	}
	s.c <- struct{}{} // the current state is news to a new subscriber
	return s
}

// notifyEvery spaces out notifications of fast output: a subscriber gets
// at most one per interval (plus one at the end), so a viewer that takes a
// snapshot on every notification costs the run little CPU. Nothing reads
// faster than this anyway: chat edits come at most once a second.
const notifyEvery = 50 * time.Millisecond

// notifyLocked tells every subscriber something changed, without waiting.
// Within notifyEvery of the last notification it only makes sure one
// trailing notification follows, so the last change is never missed.
func (h *Handle) notifyLocked() {
	if len(h.subs) == 0 {
		return
	}
	now := time.Now()
	if wait := notifyEvery - now.Sub(h.notified); wait > 0 {
		if !h.trailing {
			h.trailing = true
			time.AfterFunc(wait, func() {
				h.mu.Lock()
				h.trailing = false
				h.notifyLocked()
				h.mu.Unlock()
			})
		}
		return
	}
	h.notified = now
	if h.flushLog != nil {
		h.flushLog()
	}
	h.sendLocked()
}

// sendLocked signals every subscriber at once.
func (h *Handle) sendLocked() {
	for s := range h.subs {
		select {
		case s.c <- struct{}{}:
		default:
		}
	}
}

// setLocked-free helpers used by the executor.

func (h *Handle) update(fn func(h *Handle)) {
	h.mu.Lock()
	fn(h)
	h.notifyLocked()
	h.mu.Unlock()
}

// finalize records the final state, closes every subscription (after
// which Snapshot returns the final state) and then Done.
func (h *Handle) finalize(fn func(h *Handle)) {
	h.mu.Lock()
	fn(h)
	h.final = true
	for s := range h.subs {
		close(s.c)
		s.closed = true
	}
	h.subs = nil
	h.mu.Unlock()
	close(h.done)
}

// requestStop cancels the run with cause; the first cause wins.
func (h *Handle) requestStop(cause error) bool {
	first := false
	h.stopOnce.Do(func() {
		h.cause = cause
		close(h.stop)
		first = true
	})
	return first
}

// Subscription is one viewer of a live run.
type Subscription struct {
	h      *Handle
	c      chan struct{}
	closed bool // guarded by h.mu
}

// C fires when the run changed since the last receive (changes coalesce)
// and is closed once the final snapshot is available.
func (s *Subscription) C() <-chan struct{} { return s.c }

// Snapshot returns the run's current snapshot.
func (s *Subscription) Snapshot() Snapshot { return s.h.Snapshot() }

// Close stops notifications; C is closed.
func (s *Subscription) Close() {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if s.closed {
		return
	}
	delete(s.h.subs, s)
	s.closed = true
	close(s.c)
}
