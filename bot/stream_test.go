package bot

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tebura/tebura"
)

// fakeChat records edits. edit, if set, runs inside Edit (to be slow, block
// or fail); inflight counts concurrent Edit calls so tests can see overlap.
type fakeChat struct {
	clock Clock
	edit  func(ctx context.Context, m Message) error

	mu       sync.Mutex
	edits    []Message
	times    []time.Time
	inflight int
	overlaps int
}

func (c *fakeChat) Name() string                             { return "fake" }
func (c *fakeChat) Run(ctx context.Context, _ Handler) error { <-ctx.Done(); return nil }
func (c *fakeChat) Post(context.Context, Target, Message) (MessageRef, error) {
	return MessageRef{Platform: "fake", ID: "m1"}, nil
}

func (c *fakeChat) Edit(ctx context.Context, _ MessageRef, m Message) error {
	c.mu.Lock()
	c.inflight++
	if c.inflight > 1 {
		c.overlaps++
	}
	if c.clock != nil {
		c.times = append(c.times, c.clock.Now())
	} else {
		c.times = append(c.times, time.Now())
	}
	c.mu.Unlock()
	var err error
	if c.edit != nil {
		err = c.edit(ctx, m)
	}
	c.mu.Lock()
	c.inflight--
	if err == nil {
		c.edits = append(c.edits, m)
	}
	c.mu.Unlock()
	return err
}

func (c *fakeChat) snapshot() ([]Message, []time.Time, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.edits...), append([]time.Time(nil), c.times...), c.overlaps
}

// fakeClock is a virtual clock that jumps forward when waited on, so the
// Stream's throttle can be observed without waiting in real time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.Advance(d)
	ch := make(chan time.Time, 1)
	ch <- c.Now()
	return ch
}

func frame(i int) Message {
	return Message{Header: "job — running", Code: &Code{Text: fmt.Sprintf("line %d", i), Tail: true}}
}

// TestStreamSlowChatNeverSlowsProducer: the chat takes 200 ms per edit, the
// producer pushes 10,000 frames over about a second; no Update may wait for
// the chat, the chat sees about one edit per interval, and the last edit is
// the final frame. It runs in a synctest bubble: its time moves only while
// every goroutine waits, so an Update that waited for an edit would take
// exactly the edit's 200 ms, and none of it is spent in real time.
func TestStreamSlowChatNeverSlowsProducer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const (
			frames   = 10000
			interval = 100 * time.Millisecond
			editTime = 200 * time.Millisecond
		)
		chat := &fakeChat{edit: func(ctx context.Context, _ Message) error {
			select {
			case <-time.After(editTime):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}}
		start := time.Now()
		s := NewStream(chat, MessageRef{ID: "m1"}, StreamOptions{Interval: interval})

		var inUpdate, slowest time.Duration
		for i := range frames {
			t0 := time.Now()
			s.Update(frame(i))
			d := time.Since(t0)
			inUpdate += d
			slowest = max(slowest, d)
			if i%1000 == 999 {
				time.Sleep(100 * time.Millisecond) // the runbook keeps printing for ~1 s
			}
		}
		produced := time.Since(start)

		final := Message{Header: "job — succeeded", Level: LevelSuccess, Code: &Code{Text: "line 9999\ndone", Tail: true}}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Close(ctx, final); err != nil {
			t.Fatalf("Close: %v", err)
		}
		elapsed := time.Since(start)

		edits, _, overlaps := chat.snapshot()
		st := s.Stats()
		t.Logf("producer %v (%v inside Update, slowest call %v); total %v; %d edits; stats %+v",
			produced, inUpdate, slowest, elapsed, len(edits), st)

		if slowest >= editTime/4 {
			t.Errorf("an Update call took %v: the producer waited for the chat", slowest)
		}
		if limit := int(elapsed/interval) + 2; len(edits) > limit {
			t.Errorf("chat saw %d edits in %v, want ≤ %d", len(edits), elapsed, limit)
		}
		if len(edits) < 3 {
			t.Errorf("chat saw only %d edits: intermediate frames were never shown", len(edits))
		}
		if !reflect.DeepEqual(edits[len(edits)-1], final) {
			t.Errorf("last edit = %+v, want the final frame", edits[len(edits)-1])
		}
		if overlaps != 0 {
			t.Errorf("%d overlapping edits", overlaps)
		}
		if st.Sent != len(edits) || st.Failed != 0 || st.Sent+st.Dropped != frames+1 {
			t.Errorf("stats %+v: want sent=%d and sent+dropped=%d", st, len(edits), frames+1)
		}
	})
}

// TestStreamThrottle drives the Stream with a virtual clock: each edit takes
// 300 ms of virtual time and the interval is 1 s, so consecutive edits must
// start at least 1 s apart, never overlap, and the final frame is sent at
// once after the last edit.
func TestStreamThrottle(t *testing.T) {
	const interval = time.Second
	clock := newFakeClock()
	edited := make(chan struct{}, 100)
	chat := &fakeChat{clock: clock, edit: func(context.Context, Message) error {
		clock.Advance(300 * time.Millisecond)
		time.Sleep(time.Millisecond) // real time too, so overlapping calls would meet
		edited <- struct{}{}
		return nil
	}}
	s := NewStream(chat, MessageRef{ID: "m1"}, StreamOptions{Interval: interval, Clock: clock})
	for i := range 20 {
		s.Update(frame(i))
		select {
		case <-edited:
		case <-time.After(5 * time.Second):
			t.Fatalf("frame %d was never edited", i)
		}
	}
	if err := s.Close(context.Background(), frame(99)); err != nil {
		t.Fatal(err)
	}
	edits, times, overlaps := chat.snapshot()
	if len(edits) != 21 {
		t.Fatalf("%d edits, want 21", len(edits))
	}
	for i := 1; i < 20; i++ {
		if gap := times[i].Sub(times[i-1]); gap < interval {
			t.Errorf("edit %d came %v after the previous one, interval is %v", i, gap, interval)
		}
	}
	if gap := times[20].Sub(times[19]); gap >= interval {
		t.Errorf("final edit waited %v for the interval; it should go at once", gap)
	}
	if overlaps != 0 {
		t.Errorf("%d overlapping edits", overlaps)
	}
	if !reflect.DeepEqual(edits[20], frame(99)) {
		t.Errorf("last edit %+v is not the final frame", edits[20])
	}
}

// TestStreamCloseWaitsForInflightEdit: Close must not send the final frame
// while an intermediate edit is still in flight. In a synctest bubble,
// synctest.Wait returns once Close is as far as it gets while the edit is
// held, so the check does not depend on how long the test waits.
func TestStreamCloseWaitsForInflightEdit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		started := make(chan struct{}, 10)
		release := make(chan struct{})
		var calls int
		var mu sync.Mutex
		chat := &fakeChat{edit: func(context.Context, Message) error {
			mu.Lock()
			calls++
			n := calls
			mu.Unlock()
			started <- struct{}{}
			if n == 1 {
				<-release
			}
			return nil
		}}
		s := NewStream(chat, MessageRef{ID: "m1"}, StreamOptions{Interval: time.Hour})
		s.Update(frame(1))
		<-started
		s.Update(frame(2)) // pending, will be dropped by Close

		closed := make(chan error, 1)
		go func() { closed <- s.Close(context.Background(), frame(3)) }()
		synctest.Wait()
		select {
		case <-started:
			t.Fatal("final edit started while the first was in flight")
		case err := <-closed:
			t.Fatalf("Close returned %v while an edit was in flight", err)
		default:
		}
		close(release)
		if err := <-closed; err != nil {
			t.Fatal(err)
		}
		edits, _, overlaps := chat.snapshot()
		if len(edits) != 2 || !reflect.DeepEqual(edits[1], frame(3)) || overlaps != 0 {
			t.Errorf("edits %+v overlaps %d: want frame 1 then the final frame", edits, overlaps)
		}
		if st := s.Stats(); st != (StreamStats{Sent: 2, Dropped: 1}) {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestStreamFinalRetry(t *testing.T) {
	tests := []struct {
		name       string
		failures   int
		err        error
		wantErr    bool
		wantFailed int
	}{
		{"transient failures are retried", 3, errors.New("502 bad gateway"), false, 3},
		{"permanent failure is not retried", 1, tebura.Errorf(tebura.ENOTFOUND, "message deleted"), true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n int
			chat := &fakeChat{edit: func(context.Context, Message) error {
				n++
				if n <= tt.failures {
					return tt.err
				}
				return nil
			}}
			s := NewStream(chat, MessageRef{ID: "m1"}, StreamOptions{Clock: newFakeClock()})
			err := s.Close(context.Background(), frame(1))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Close: %v, want error %v", err, tt.wantErr)
			}
			if st := s.Stats(); st.Failed != tt.wantFailed {
				t.Errorf("stats %+v, want %d failed", st, tt.wantFailed)
			}
			if edits, _, _ := chat.snapshot(); !tt.wantErr && (len(edits) != 1 || !reflect.DeepEqual(edits[0], frame(1))) {
				t.Errorf("edits %+v", edits)
			}
		})
	}
}

// TestStreamIntermediateFailureNotRetried: a failed intermediate edit is
// logged and superseded, never retried on its own.
func TestStreamIntermediateFailureNotRetried(t *testing.T) {
	edited := make(chan struct{}, 10)
	chat := &fakeChat{edit: func(_ context.Context, m Message) error {
		edited <- struct{}{}
		if reflect.DeepEqual(m, frame(1)) {
			return errors.New("boom")
		}
		return nil
	}}
	clock := newFakeClock()
	s := NewStream(chat, MessageRef{ID: "m1"}, StreamOptions{Clock: clock})
	s.Update(frame(1))
	<-edited
	if err := s.Close(context.Background(), frame(2)); err != nil {
		t.Fatal(err)
	}
	edits, times, _ := chat.snapshot()
	if len(times) != 2 || len(edits) != 1 || !reflect.DeepEqual(edits[0], frame(2)) {
		t.Errorf("%d attempts, edits %+v: want one failed intermediate and the final", len(times), edits)
	}
	if st := s.Stats(); st != (StreamStats{Sent: 1, Failed: 1}) {
		t.Errorf("stats %+v", st)
	}
}

// TestStreamCloseContext: when ctx ends during a stuck edit, Close returns
// the context error and the stuck edit is cancelled.
func TestStreamCloseContext(t *testing.T) {
	cancelled := make(chan struct{})
	started := make(chan struct{})
	chat := &fakeChat{edit: func(ctx context.Context, _ Message) error {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return ctx.Err()
	}}
	s := NewStream(chat, MessageRef{ID: "m1"}, StreamOptions{})
	s.Update(frame(1))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx, frame(2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want deadline exceeded", err)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the stuck edit was not cancelled")
	}
	s.Update(frame(3)) // ignored, must not panic or block
	if err := s.Close(context.Background(), frame(4)); err == nil {
		t.Error("second Close succeeded")
	}
}

// TestStreamBudget: a shared budget with no tokens left holds the final
// frame back until ctx ends.
func TestStreamBudget(t *testing.T) {
	budget := NewEditBudget(0.001, 1) // one edit, then one every ~17 minutes
	chat := &fakeChat{}
	a := NewStream(chat, MessageRef{ID: "m1"}, StreamOptions{Budget: budget})
	if err := a.Close(context.Background(), frame(1)); err != nil {
		t.Fatal(err)
	}
	b := NewStream(chat, MessageRef{ID: "m2"}, StreamOptions{Budget: budget})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := b.Close(ctx, frame(2)); err == nil {
		t.Error("second stream edited beyond the shared budget")
	}
	if edits, _, _ := chat.snapshot(); len(edits) != 1 {
		t.Errorf("%d edits, want 1", len(edits))
	}
}

func TestEditBudget(t *testing.T) {
	var nilBudget *EditBudget
	if err := nilBudget.Wait(context.Background()); err != nil {
		t.Errorf("nil budget: %v", err)
	}
	if err := NewEditBudget(0, 0).Wait(context.Background()); err != nil {
		t.Errorf("unlimited budget: %v", err)
	}
	b := NewEditBudget(0.01, 2)
	for i := range 2 {
		if err := b.Wait(context.Background()); err != nil {
			t.Fatalf("burst wait %d: %v", i, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := b.Wait(ctx); err == nil {
		t.Error("third wait beyond the burst did not wait")
	}
}

// BenchmarkStreamUpdate is the producer's cost per frame while a slow chat
// is being edited.
func BenchmarkStreamUpdate(b *testing.B) {
	chat := &fakeChat{edit: func(ctx context.Context, _ Message) error {
		select {
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
		}
		return nil
	}}
	s := NewStream(chat, MessageRef{ID: "m1"}, StreamOptions{Interval: 10 * time.Millisecond})
	m := frame(1)
	for b.Loop() {
		s.Update(m)
	}
	b.StopTimer()
	_ = s.Close(context.Background(), m)
}
