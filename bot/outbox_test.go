package bot_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
)

// virtualClock is a bot.Clock whose time moves only through waits: After
// advances the time at once while the clock runs, and parks the waiter
// while it is frozen, so a test decides when an outage's minute passes
// without waiting a minute.
type virtualClock struct {
	mu      sync.Mutex
	now     time.Time
	frozen  bool
	waiters []virtualWaiter
}

type virtualWaiter struct {
	at time.Time
	c  chan time.Time
}

func newVirtualClock() *virtualClock {
	return &virtualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if c.frozen {
		c.waiters = append(c.waiters, virtualWaiter{c.now.Add(d), ch})
		return ch
	}
	c.now = c.now.Add(d)
	ch <- c.now
	return ch
}

func (c *virtualClock) Freeze() {
	c.mu.Lock()
	c.frozen = true
	c.mu.Unlock()
}

// Thaw lets time run again and wakes the parked waiters in time order.
func (c *virtualClock) Thaw() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen = false
	sort.Slice(c.waiters, func(i, j int) bool { return c.waiters[i].at.Before(c.waiters[j].at) })
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			c.now = w.at
		}
		w.c <- c.now
	}
	c.waiters = nil
}

// flakyChat is a recording fake chat with a fault switch: while the clock
// is before downUntil, every call fails like a platform outage, alternating
// an HTTP 500 and a timeout.
type flakyChat struct {
	*bottest.Chat
	clock *virtualClock

	mu        sync.Mutex
	downUntil time.Time
	failures  int
	permanent error // when set, every call fails with it
	// postHook, when set, runs before each post (a slow platform).
	postHook func(m bot.Message)
}

func newFlakyChat(clock *virtualClock) *flakyChat {
	return &flakyChat{Chat: bottest.NewChat(bot.Limits{}), clock: clock}
}

// Outage makes the chat fail for d of the clock's time from now.
func (f *flakyChat) Outage(d time.Duration) {
	f.mu.Lock()
	f.downUntil = f.clock.Now().Add(d)
	f.mu.Unlock()
}

func (f *flakyChat) Failures() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failures
}

// statusError is an HTTP failure as an SDK reports it.
type statusError int

func (e statusError) Error() string   { return fmt.Sprintf("HTTP %d", int(e)) }
func (e statusError) StatusCode() int { return int(e) }

func (f *flakyChat) fault() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.permanent != nil {
		return f.permanent
	}
	if f.clock.Now().Before(f.downUntil) {
		f.failures++
		if f.failures%2 == 0 {
			return fmt.Errorf("chat call: %w", context.DeadlineExceeded)
		}
		return statusError(http.StatusInternalServerError)
	}
	return nil
}

func (f *flakyChat) Post(ctx context.Context, to bot.Target, m bot.Message) (bot.MessageRef, error) {
	if f.postHook != nil {
		f.postHook(m)
	}
	if err := f.fault(); err != nil {
		return bot.MessageRef{}, err
	}
	return f.Chat.Post(ctx, to, m)
}

func (f *flakyChat) Edit(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	if err := f.fault(); err != nil {
		return err
	}
	return f.Chat.Edit(ctx, ref, m)
}

func text(s string) bot.Message { return bot.Message{Text: []string{s}} }

// waitUntil polls cond until it holds or 10s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"tebura transient", tebura.Errorf(tebura.ETRANSIENT, "Slack is busy."), true},
		{"wrapped transient", fmt.Errorf("post: %w", tebura.Errorf(tebura.ETRANSIENT, "x")), true},
		{"invalid", tebura.Errorf(tebura.EINVALID, "x"), false},
		{"forbidden", tebura.Errorf(tebura.EFORBIDDEN, "x"), false},
		{"not found", tebura.Errorf(tebura.ENOTFOUND, "x"), false},
		{"conflict", tebura.Errorf(tebura.ECONFLICT, "x"), false},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), true},
		{"canceled", context.Canceled, false},
		{"500", statusError(500), true},
		{"503", statusError(503), true},
		{"429", statusError(429), true},
		{"400", statusError(400), false},
		{"plain", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bot.Transient(tt.err); got != tt.want {
				t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// capChat has exactly the capabilities its embedded interfaces give it.
type (
	channelsOnly struct {
		bot.Chat
		bot.ChannelManager
	}
	filesOnly struct {
		bot.Chat
		bot.FileUploader
	}
	allCaps struct {
		bot.Chat
		bot.ChannelManager
		bot.FileUploader
		bot.GroupResolver
	}
)

func TestOutboxKeepsCapabilities(t *testing.T) {
	plain := bottest.NewChat(bot.Limits{})
	tests := []struct {
		name             string
		inner            bot.Chat
		channels, files  bool
		groups           bool
		wantLimitsOfFake bool
	}{
		{"plain", plain, false, false, false, true},
		{"files", bottest.FileChat{Chat: plain}, false, true, false, false},
		{"channels", channelsOnly{Chat: plain}, true, false, false, false},
		{"uploads only", filesOnly{Chat: plain}, false, true, false, false},
		{"all", allCaps{Chat: plain}, true, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := bot.NewOutbox(tt.inner, bot.OutboxOptions{})
			_, ch := c.(bot.ChannelManager)
			_, fi := c.(bot.FileUploader)
			_, gr := c.(bot.GroupResolver)
			if ch != tt.channels || fi != tt.files || gr != tt.groups {
				t.Errorf("capabilities channels=%v files=%v groups=%v, want %v %v %v", ch, fi, gr, tt.channels, tt.files, tt.groups)
			}
			for _, ok := range []bool{is[bot.Limited](c), is[bot.Health](c), is[bot.Doctor](c), is[bot.Mounter](c)} {
				if !ok {
					t.Error("a pass-through capability is missing")
				}
			}
			if c.Name() != bottest.Platform {
				t.Errorf("Name() = %q", c.Name())
			}
			if o, ok := bot.OutboxOf(c); !ok || o.Unwrap() != tt.inner {
				t.Error("OutboxOf does not find the wrapped chat")
			}
			if got := bot.LimitsOf(c); got != bot.LimitsOf(tt.inner) {
				t.Errorf("limits %+v, want the inner chat's %+v", got, bot.LimitsOf(tt.inner))
			}
		})
	}
}

func is[T any](c bot.Chat) bool { _, ok := c.(T); return ok }

func TestOutboxPermanentErrorsAreNotRetried(t *testing.T) {
	for _, code := range []string{tebura.EINVALID, tebura.EFORBIDDEN, tebura.ENOTFOUND} {
		t.Run(code, func(t *testing.T) {
			clock := newVirtualClock()
			fc := newFlakyChat(clock)
			fc.permanent = tebura.Errorf(code, "no")
			o := bot.NewOutbox(fc, bot.OutboxOptions{Clock: clock})
			if _, err := o.Post(context.Background(), bot.Target{Channel: "C1"}, text("a")); tebura.ErrorCode(err) != code {
				t.Fatalf("Post error %v, want code %s", err, code)
			}
			ob, _ := bot.OutboxOf(o)
			if s := ob.Stats(); s.Retries != 0 || s.Failed != 1 || s.Queued != 0 {
				t.Errorf("stats %+v, want no retry, one failure, nothing queued", s)
			}
			if !clock.Now().Equal(newVirtualClock().now) {
				t.Error("the outbox waited before giving up on a permanent error")
			}
		})
	}
}

// TestOutboxRetriesWithBackoff: a post the platform refuses transiently
// is answered at once with a provisional ref, then retried with doubling
// backoff until the outage ends; the provisional ref resolves to the
// posted message.
func TestOutboxRetriesWithBackoff(t *testing.T) {
	clock := newVirtualClock()
	fc := newFlakyChat(clock)
	fc.Outage(10 * time.Second)
	c := bot.NewOutbox(fc, bot.OutboxOptions{Clock: clock})
	o, _ := bot.OutboxOf(c)
	start := clock.Now()
	clock.Freeze() // the first backoff waits until the answer was checked
	ref, err := c.Post(context.Background(), bot.Target{Channel: "C1"}, text("hello"))
	if err != nil {
		t.Fatalf("Post: %v", err)
	}
	if !bot.IsProvisional(ref) {
		t.Fatalf("Post during an outage returned %+v, want a provisional ref", ref)
	}
	clock.Thaw()
	waitUntil(t, "the post is delivered", func() bool { return o.Stats().Delivered == 1 })
	// 0.5 + 1 + 2 + 4 + 8 s of backoff crosses the 10 s outage.
	if waited := clock.Now().Sub(start); waited != 15500*time.Millisecond {
		t.Errorf("waited %v of clock time, want 15.5s (doubling from 500ms)", waited)
	}
	if n := fc.Failures(); n != 5 {
		t.Errorf("%d failed attempts, want 5", n)
	}
	msgs := fc.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages posted, want 1", len(msgs))
	}
	if real, ok := o.Resolve(ref); !ok || real.ID != msgs[0].Ref.ID {
		t.Errorf("provisional ref resolves to %+v (%v), want the posted message %+v", real, ok, msgs[0].Ref)
	}
}

func TestOutboxBoundsEachChannel(t *testing.T) {
	clock := newVirtualClock()
	clock.Freeze()
	fc := newFlakyChat(clock)
	fc.Outage(time.Minute)
	c := bot.NewOutbox(fc, bot.OutboxOptions{Clock: clock, MaxQueued: 3})
	o, _ := bot.OutboxOf(c)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Post(context.Background(), bot.Target{Channel: "C1"}, text(fmt.Sprint(i)))
		}()
		waitUntil(t, fmt.Sprintf("post %d is queued", i), func() bool { p, _ := o.Pending("C1"); return p == i+1 })
	}
	_, err := c.Post(context.Background(), bot.Target{Channel: "C1"}, text("one too many"))
	if tebura.ErrorCode(err) != tebura.ETRANSIENT {
		t.Fatalf("fourth post: %v, want an ETRANSIENT refusal", err)
	}
	// Another channel has its own lane.
	other := make(chan error, 1)
	go func() {
		_, err := c.Post(context.Background(), bot.Target{Channel: "C2"}, text("elsewhere"))
		other <- err
	}()
	waitUntil(t, "the other channel's post is queued", func() bool { p, _ := o.Pending("C2"); return p == 1 })
	clock.Thaw()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("post %d: %v", i, err)
		}
	}
	if err := <-other; err != nil {
		t.Errorf("other channel: %v", err)
	}
	waitUntil(t, "every kept post is delivered", func() bool { return o.Stats().Queued == 0 })
	if s := o.Stats(); s.Refused != 1 || s.Delivered != 4 || s.Queued != 0 {
		t.Errorf("stats %+v, want 1 refused, 4 delivered, none queued", s)
	}
}

func TestOutboxCoalescesEditsAndKeepsPostOrder(t *testing.T) {
	clock := newVirtualClock()
	fc := newFlakyChat(clock)
	c := bot.NewOutbox(fc, bot.OutboxOptions{Clock: clock})
	o, _ := bot.OutboxOf(c)
	ctx := context.Background()
	live, err := c.Post(ctx, bot.Target{Channel: "C1"}, text("frame 0"))
	if err != nil {
		t.Fatal(err)
	}
	clock.Freeze()
	fc.Outage(time.Minute)

	var wg sync.WaitGroup
	results := map[string]error{}
	var mu sync.Mutex
	do := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f()
			mu.Lock()
			results[name] = err
			mu.Unlock()
		}()
	}
	pending := func(p, e int) func() bool {
		return func() bool { gp, ge := o.Pending("C1"); return gp == p && ge == e }
	}
	// frame 1 goes in flight and fails; then a post, then frames 2..5 of
	// the same message, which replace frame 1 (it was never shown) and
	// each other, then another post.
	do("frame 1", func() error { return c.Edit(ctx, live, text("frame 1")) })
	waitUntil(t, "frame 1 is in flight", func() bool { return fc.Failures() == 1 })
	do("card A", func() error { _, err := c.Post(ctx, bot.Target{Channel: "C1"}, text("card A")); return err })
	waitUntil(t, "card A is queued", pending(1, 1))
	for i := 2; i <= 5; i++ {
		do(fmt.Sprintf("frame %d", i), func() error { return c.Edit(ctx, live, text(fmt.Sprintf("frame %d", i))) })
		waitUntil(t, fmt.Sprintf("frame %d is queued", i), func() bool {
			return o.Stats().Coalesced == i-1 && func() bool { _, e := o.Pending("C1"); return e == 1 }()
		})
	}
	do("card B", func() error { _, err := c.Post(ctx, bot.Target{Channel: "C1"}, text("card B")); return err })
	waitUntil(t, "card B is queued", pending(2, 1))

	clock.Thaw()
	wg.Wait()
	waitUntil(t, "everything is delivered", func() bool { return o.Stats().Queued == 0 })
	for name, err := range results {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	var got []string
	for _, m := range fc.Messages() {
		got = append(got, strings.TrimSpace(bottest.Text(m.Last())))
	}
	if want := []string{"frame 5", "card A", "card B"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("channel shows %q, want %q", got, want)
	}
	var frames []string
	for _, v := range fc.Messages()[0].Versions() {
		frames = append(frames, strings.TrimSpace(bottest.Text(v)))
	}
	if want := []string{"frame 0", "frame 5"}; fmt.Sprint(frames) != fmt.Sprint(want) {
		t.Errorf("live message went through %q, want %q (1-4 coalesced)", frames, want)
	}
	if s := o.Stats(); s.Coalesced != 4 {
		t.Errorf("coalesced %d edits, want 4", s.Coalesced)
	}
}

// TestOutboxCallerContext: a caller whose ctx ends while its post waits
// is answered with a provisional ref, and the post is still delivered, in
// its place, when the platform is back: an event handler bound to its
// event's lifetime does not lose its message.
func TestOutboxCallerContext(t *testing.T) {
	clock := newVirtualClock()
	clock.Freeze()
	fc := newFlakyChat(clock)
	c := bot.NewOutbox(fc, bot.OutboxOptions{Clock: clock})
	o, _ := bot.OutboxOf(c)
	release := make(chan struct{})
	entered := make(chan struct{})
	fc.postHook = func(m bot.Message) {
		if strings.TrimSpace(bottest.Text(m)) == "first" {
			close(entered)
			<-release // a slow chat.postMessage
		}
	}
	first := make(chan error, 1)
	go func() {
		_, err := c.Post(context.Background(), bot.Target{Channel: "C1"}, text("first"))
		first <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	second := make(chan bot.MessageRef, 1)
	go func() {
		ref, err := c.Post(ctx, bot.Target{Channel: "C1"}, text("second"))
		if err != nil {
			t.Errorf("cancelled post: %v, want it kept", err)
		}
		second <- ref
	}()
	waitUntil(t, "second is queued", func() bool { p, _ := o.Pending("C1"); return p == 2 })
	cancel()
	if ref := <-second; !bot.IsProvisional(ref) {
		t.Errorf("cancelled post answered %+v, want a provisional ref", ref)
	}
	close(release)
	clock.Thaw()
	if err := <-first; err != nil {
		t.Errorf("first: %v", err)
	}
	waitUntil(t, "both are delivered", func() bool { return o.Stats().Delivered == 2 })
	var got []string
	for _, m := range fc.Messages() {
		got = append(got, strings.TrimSpace(bottest.Text(m.Last())))
	}
	if want := []string{"first", "second"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("channel shows %q, want %q", got, want)
	}
}

func TestOutboxEditWaitingDoesNotHoldUpPosts(t *testing.T) {
	clock := newVirtualClock()
	fc := newFlakyChat(clock)
	c := bot.NewOutbox(fc, bot.OutboxOptions{Clock: clock})
	ctx := context.Background()
	live, err := c.Post(ctx, bot.Target{Channel: "C1"}, text("frame 0"))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	entered := make(chan struct{})
	fc.SetEditHook(func(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
		close(entered)
		<-release // a rate-limited chat.update
		return nil
	})
	edited := make(chan error, 1)
	go func() { edited <- c.Edit(ctx, live, text("frame 1")) }()
	<-entered
	if _, err := c.Post(ctx, bot.Target{Channel: "C1"}, text("card")); err != nil {
		t.Fatalf("post behind a waiting edit: %v", err)
	}
	close(release)
	if err := <-edited; err != nil {
		t.Fatal(err)
	}
	if n := len(fc.Messages()); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}
