package bot_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/store/bolt"
)

// versions is what a fake message went through, trimmed.
func versions(m *bottest.Msg) []string {
	var out []string
	for _, v := range m.Versions() {
		out = append(out, strings.TrimSpace(bottest.Text(v)))
	}
	return out
}

// TestOutboxPendingPostTakesItsEdits: a post made during an outage is
// answered at once with a provisional ref; the edits made through that
// ref while it waits fold into it, so it is posted once, with the latest
// content, when the platform is back; an edit after that reaches the
// posted message through the same provisional ref.
func TestOutboxPendingPostTakesItsEdits(t *testing.T) {
	clock := newVirtualClock()
	clock.Freeze()
	fc := newFlakyChat(clock)
	fc.Outage(time.Minute)
	c := bot.NewOutbox(fc, bot.OutboxOptions{Clock: clock})
	o, _ := bot.OutboxOf(c)
	ctx := context.Background()
	ref, err := c.Post(ctx, bot.Target{Channel: "C1"}, text("frame 0"))
	if err != nil || !bot.IsProvisional(ref) {
		t.Fatalf("Post during the outage: %+v, %v; want a provisional ref and no error", ref, err)
	}
	for i := 1; i <= 3; i++ {
		if err := c.Edit(ctx, ref, text(fmt.Sprintf("frame %d", i))); err != nil {
			t.Fatalf("Edit %d: %v", i, err)
		}
	}
	clock.Thaw()
	waitUntil(t, "the post is delivered", func() bool { return o.Stats().Queued == 0 })
	msgs := fc.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	if got := versions(msgs[0]); fmt.Sprint(got) != "[frame 3]" {
		t.Errorf("the message went through %q, want only [frame 3]: posted once with its latest content", got)
	}
	if err := c.Edit(ctx, ref, text("frame 4")); err != nil {
		t.Fatalf("Edit after delivery: %v", err)
	}
	if got := versions(msgs[0]); fmt.Sprint(got) != "[frame 3 frame 4]" {
		t.Errorf("after a later edit through the provisional ref: %q", got)
	}
	if s := o.Stats(); s.Coalesced != 3 || s.Kept != 1 || s.Delivered != 2 {
		t.Errorf("stats %+v, want 3 coalesced, 1 kept, 2 delivered", s)
	}
}

// TestOutboxDropsAtTheDeadline: a message the platform does not take
// within the delivery deadline is dropped, counted and never posted; one
// made later still goes out once the platform is back.
func TestOutboxDropsAtTheDeadline(t *testing.T) {
	clock := newVirtualClock()
	clock.Freeze()
	fc := newFlakyChat(clock)
	fc.Outage(90 * time.Second)
	c := bot.NewOutbox(fc, bot.OutboxOptions{Clock: clock, Deadline: time.Minute})
	o, _ := bot.OutboxOf(c)
	if _, err := c.Post(context.Background(), bot.Target{Channel: "C1"}, text("too late")); err != nil {
		t.Fatal(err)
	}
	clock.Thaw()
	waitUntil(t, "the post is dropped", func() bool { return o.Stats().Dropped == 1 })
	if !clock.Now().Before(time.Date(2026, 1, 1, 0, 1, 30, 0, time.UTC)) {
		t.Errorf("dropped at %v, after the outage ended: the deadline was not honoured", clock.Now())
	}
	if n := len(fc.Messages()); n != 0 {
		t.Errorf("%d messages posted, want none", n)
	}
	clock.Freeze()
	if _, err := c.Post(context.Background(), bot.Target{Channel: "C1"}, text("in time")); err != nil {
		t.Fatal(err)
	}
	clock.Thaw()
	waitUntil(t, "the later post is delivered", func() bool { return o.Stats().Delivered == 1 })
	if s := o.Stats(); s.Dropped != 1 || s.Queued != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestOutboxResumesAfterRestart: what an Outbox kept when it stopped is in
// the store, and a new Outbox on the same store delivers it in order, the
// edits folded into their posts; a provisional ref handed out before the
// restart still edits the message after it.
func TestOutboxResumesAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tebura.db")
	st, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := newVirtualClock()
	clock.Freeze()
	fc := newFlakyChat(clock)
	fc.Outage(time.Hour)
	c := bot.NewOutbox(fc, bot.OutboxOptions{Clock: clock, Store: st})
	o, _ := bot.OutboxOf(c)
	ctx := context.Background()
	card, err := c.Post(ctx, bot.Target{Channel: "C1"}, text("card"))
	if err != nil {
		t.Fatal(err)
	}
	run, err := c.Post(ctx, bot.Target{Channel: "C1"}, text("run: starting"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Edit(ctx, run, text("run: succeeded")); err != nil {
		t.Fatal(err)
	}
	o.Stop()
	clock.Thaw()
	if ds, err := st.Deliveries(ctx, bottest.Platform); err != nil || len(ds) != 2 {
		t.Fatalf("stored deliveries %+v, %v; want the two posts", ds, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(fc.Messages()); n != 0 {
		t.Fatalf("%d messages posted before the restart", n)
	}

	st, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fc2 := newFlakyChat(newVirtualClock()) // the platform is back
	c2 := bot.NewOutbox(fc2, bot.OutboxOptions{Clock: clock, Store: st})
	o2, _ := bot.OutboxOf(c2)
	if err := o2.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "both posts are delivered", func() bool { return o2.Stats().Delivered == 2 })
	var got []string
	for _, m := range fc2.Messages() {
		got = append(got, fmt.Sprint(versions(m)))
	}
	if want := "[[card] [run: succeeded]]"; fmt.Sprint(got) != want {
		t.Errorf("after the restart the channel shows %v, want %s", got, want)
	}
	if err := c2.Edit(ctx, card, text("card: approved")); err != nil {
		t.Fatalf("edit through a provisional ref from before the restart: %v", err)
	}
	if v := versions(fc2.Messages()[0]); fmt.Sprint(v) != "[card card: approved]" {
		t.Errorf("card went through %q", v)
	}
	// A third start finds only what names the posted messages.
	c3 := bot.NewOutbox(newFlakyChat(newVirtualClock()), bot.OutboxOptions{Clock: clock, Store: st})
	o3, _ := bot.OutboxOf(c3)
	if err := o3.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if real, ok := o3.Resolve(run); !ok || real.ID != fc2.Messages()[1].Ref.ID {
		t.Errorf("after another restart the run's ref resolves to %+v, %v", real, ok)
	}
	if s := o3.Stats(); s.Queued != 0 {
		t.Errorf("a delivered message was queued again: %+v", s)
	}
}

// failingReplier answers like a platform that is down: every Reply and
// Private fails with err until up is closed.
type failingReplier struct {
	err      error
	up       chan struct{}
	privates chan bot.Message
}

func (r *failingReplier) down() bool {
	select {
	case <-r.up:
		return false
	default:
		return true
	}
}

func (r *failingReplier) Reply(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	return bot.MessageRef{}, r.err // the platform's own reply path stays down in this test
}

func (r *failingReplier) Private(ctx context.Context, m bot.Message) error {
	if r.down() {
		return r.err
	}
	r.privates <- m
	return nil
}

// TestOutboxRepliesSurviveAnOutage: an event's Reply that fails
// transiently becomes a channel post through the outbox (delivered when
// the platform is back); a Private that fails is retried as a private
// answer and never shown in the channel. Commands and button clicks alike.
func TestOutboxRepliesSurviveAnOutage(t *testing.T) {
	tests := []struct {
		name  string
		event func(bot.Replier) bot.Event
	}{
		{"command", func(r bot.Replier) bot.Event {
			return &bot.Command{Platform: bottest.Platform, Channel: "C1", Reply: r}
		}},
		{"click", func(r bot.Replier) bot.Event {
			return &bot.Click{Platform: bottest.Platform, Message: bot.MessageRef{Platform: bottest.Platform, Channel: "C1", ID: "m0"}, Reply: r}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newVirtualClock()
			clock.Freeze()
			fc := newFlakyChat(clock)
			fc.Outage(time.Minute)
			c := bot.NewOutbox(fc, bot.OutboxOptions{Clock: clock})
			o, _ := bot.OutboxOf(c)
			rep := &failingReplier{err: tebura.Errorf(tebura.ETRANSIENT, "Slack could not post a message right now; try again."),
				up: make(chan struct{}), privates: make(chan bot.Message, 1)}
			handled := make(chan error, 1)
			h := o.Handler(bot.HandlerFunc(func(ctx context.Context, ev bot.Event) {
				var r bot.Replier
				switch e := ev.(type) {
				case *bot.Command:
					r = e.Reply
				case *bot.Click:
					r = e.Reply
				}
				if err := r.Private(ctx, text("only for you")); err != nil {
					handled <- err
					return
				}
				_, err := r.Reply(ctx, text("the run's result"))
				handled <- err
			}))
			h.HandleEvent(context.Background(), tc.event(rep))
			if err := <-handled; err != nil {
				t.Fatalf("replies during the outage: %v, want them kept", err)
			}
			close(rep.up)
			clock.Thaw()
			waitUntil(t, "the reply is posted", func() bool { return len(fc.Messages()) == 1 })
			if got := strings.TrimSpace(bottest.Text(fc.Messages()[0].Last())); got != "the run's result" {
				t.Errorf("channel shows %q", got)
			}
			if m := <-rep.privates; strings.TrimSpace(bottest.Text(m)) != "only for you" {
				t.Errorf("private answer %q", bottest.Text(m))
			}
			waitUntil(t, "everything is delivered", func() bool { return o.Stats().Delivered == 2 })
			for _, m := range fc.Messages() {
				if strings.Contains(bottest.Text(m.Last()), "only for you") {
					t.Error("the private answer was posted in the channel")
				}
			}
		})
	}
}

// TestOutboxReplierPassesPermanentErrors: a reply the platform refuses
// for good (the bot is not in the channel) reaches the handler as before
// and is not posted behind its back.
func TestOutboxReplierPassesPermanentErrors(t *testing.T) {
	fc := newFlakyChat(newVirtualClock())
	c := bot.NewOutbox(fc, bot.OutboxOptions{Clock: newVirtualClock()})
	o, _ := bot.OutboxOf(c)
	rep := &failingReplier{err: tebura.Errorf(tebura.EFORBIDDEN, "Slack refused to post a message (not_in_channel)."), up: make(chan struct{})}
	var got error
	o.Handler(bot.HandlerFunc(func(ctx context.Context, ev bot.Event) {
		_, got = ev.(*bot.Command).Reply.Reply(ctx, text("hello"))
	})).HandleEvent(context.Background(), &bot.Command{Platform: bottest.Platform, Channel: "C1", Reply: rep})
	if tebura.ErrorCode(got) != tebura.EFORBIDDEN {
		t.Errorf("Reply error %v, want the platform's EFORBIDDEN", got)
	}
	if n := len(fc.Messages()); n != 0 || o.Stats().Kept != 0 {
		t.Errorf("%d messages posted, stats %+v; want none kept", n, o.Stats())
	}
}

// TestOutboxDownPlatformKeepsAtOnce: once a channel's calls fail, the
// platform is down: a post to another channel is kept at once instead of
// holding its caller through a first attempt that would hang too (a
// restart with many incidents to reconcile must not wait 15 s per
// channel).
func TestOutboxDownPlatformKeepsAtOnce(t *testing.T) {
	clock := newVirtualClock()
	clock.Freeze()
	fc := newFlakyChat(clock)
	fc.Outage(time.Minute)
	hang := make(chan struct{})
	fc.postHook = func(m bot.Message) {
		if strings.TrimSpace(bottest.Text(m)) == "elsewhere" {
			<-hang // Slack does not answer
		}
	}
	c := bot.NewOutbox(fc, bot.OutboxOptions{Clock: clock})
	o, _ := bot.OutboxOf(c)
	if _, err := c.Post(context.Background(), bot.Target{Channel: "C1"}, text("first")); err != nil {
		t.Fatal(err)
	}
	res := make(chan bot.MessageRef, 1)
	go func() {
		ref, _ := c.Post(context.Background(), bot.Target{Channel: "C2"}, text("elsewhere"))
		res <- ref
	}()
	select {
	case ref := <-res:
		if !bot.IsProvisional(ref) {
			t.Errorf("post to another channel answered %+v, want a provisional ref", ref)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a post to another channel waited for the platform while it was down")
	}
	close(hang)
	clock.Thaw()
	waitUntil(t, "both are delivered", func() bool { return o.Stats().Delivered == 2 })
	if s := o.Stats(); s.Kept != 2 {
		t.Errorf("stats %+v, want both kept", s)
	}
}

// TestOutboxForgetsEditsOfLostPosts: a kept edit whose post is gone (it
// was dropped, or was kept in memory only before a restart) fails once
// and leaves the store, instead of coming back at every start.
func TestOutboxForgetsEditsOfLostPosts(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "tebura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	clock := newVirtualClock()
	lost := bot.MessageRef{Platform: bottest.Platform, Channel: "C1", ID: "outbox:gone-000000001"}
	if err := st.PutDelivery(ctx, bot.Delivery{Platform: bottest.Platform, ID: "outbox:gone-000000002", Edit: true,
		To: bot.Target{Channel: "C1"}, Ref: lost, Message: text("final"), Created: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	fc := newFlakyChat(clock)
	c := bot.NewOutbox(fc, bot.OutboxOptions{Clock: clock, Store: st})
	o, _ := bot.OutboxOf(c)
	if err := o.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the edit is given up", func() bool { return o.Stats().Failed == 1 })
	if ds, err := st.Deliveries(ctx, bottest.Platform); err != nil || len(ds) != 0 {
		t.Errorf("store still holds %+v (%v)", ds, err)
	}
	if n := len(fc.Messages()); n != 0 {
		t.Errorf("%d messages posted", n)
	}
}

// uploadingReplier is a Replier that can also attach a file privately.
type uploadingReplier struct {
	failingReplier
	files []bot.File
}

func (r *uploadingReplier) UploadPrivate(_ context.Context, f bot.File) error {
	r.files = append(r.files, f)
	return nil
}

// TestOutboxReplierKeepsPrivateUploads: wrapping an event's Replier keeps
// its optional private upload, which /runbook logs looks for.
func TestOutboxReplierKeepsPrivateUploads(t *testing.T) {
	c := bot.NewOutbox(newFlakyChat(newVirtualClock()), bot.OutboxOptions{})
	o, _ := bot.OutboxOf(c)
	rep := &uploadingReplier{}
	var ok bool
	o.Handler(bot.HandlerFunc(func(ctx context.Context, ev bot.Event) {
		var up interface {
			UploadPrivate(context.Context, bot.File) error
		}
		if up, ok = ev.(*bot.Command).Reply.(interface {
			UploadPrivate(context.Context, bot.File) error
		}); ok {
			_ = up.UploadPrivate(ctx, bot.File{Name: "r1.log"})
		}
	})).HandleEvent(context.Background(), &bot.Command{Platform: bottest.Platform, Channel: "C1", Reply: rep})
	if !ok || len(rep.files) != 1 {
		t.Errorf("the wrapped replier lost UploadPrivate (ok=%v, files=%d)", ok, len(rep.files))
	}
}
