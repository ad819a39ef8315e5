package bot

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tebura/tebura"
)

// callChat records every post and edit with the time it was made. post, if
// set, decides the outcome of Post.
type callChat struct {
	post func() error

	mu    sync.Mutex
	calls []chatCall
}

// chatCall is one recorded Post or Edit.
type chatCall struct {
	Edit bool
	Ref  MessageRef // the ref edited, or the one a post returned
	Msg  Message
	At   time.Time
}

func (c *callChat) Name() string                             { return "fake" }
func (c *callChat) Run(ctx context.Context, _ Handler) error { <-ctx.Done(); return nil }

func (c *callChat) Post(_ context.Context, to Target, m Message) (MessageRef, error) {
	if c.post != nil {
		if err := c.post(); err != nil {
			return MessageRef{}, err
		}
	}
	ref := MessageRef{Platform: "fake", Channel: to.Channel, Thread: to.Thread, ID: "posted"}
	c.mu.Lock()
	c.calls = append(c.calls, chatCall{Ref: ref, Msg: m, At: time.Now()})
	c.mu.Unlock()
	return ref, nil
}

func (c *callChat) Edit(_ context.Context, ref MessageRef, m Message) error {
	c.mu.Lock()
	c.calls = append(c.calls, chatCall{Edit: true, Ref: ref, Msg: m, At: time.Now()})
	c.mu.Unlock()
	return nil
}

// count returns the posts and edits made so far.
func (c *callChat) count() (posts, edits int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, call := range c.calls {
		if call.Edit {
			edits++
		} else {
			posts++
		}
	}
	return posts, edits
}

func (c *callChat) recorded() []chatCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]chatCall(nil), c.calls...)
}

// poster posts through c into channel C1, as a command's reply would.
func poster(c Chat) func(context.Context, Message) (MessageRef, error) {
	return func(ctx context.Context, m Message) (MessageRef, error) {
		return c.Post(ctx, Target{Channel: "C1"}, m)
	}
}

// TestStreamHoldQuickRunIsOneMessage: frames of a run that ends within the
// hold are never sent; its final frame is the one message: one post for a
// new message, one edit of the approval card it replaces. The tests run in
// a synctest bubble, so "within the hold" is exact virtual time.
func TestStreamHoldQuickRunIsOneMessage(t *testing.T) {
	for _, tc := range []struct {
		name               string
		post               bool
		wantPost, wantEdit int
	}{
		{"new message", true, 1, 0},
		{"approval card", false, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				chat := &callChat{}
				opt := StreamOptions{Hold: DefaultStreamHold, Interval: time.Millisecond}
				ref := MessageRef{Platform: "fake", Channel: "C1", ID: "card"}
				var onPost []MessageRef
				if tc.post {
					ref.ID = ""
					opt.Post = poster(chat)
					opt.OnPost = func(r MessageRef) { onPost = append(onPost, r) }
				}
				s := NewStream(chat, ref, opt)
				for i := range 5 {
					s.Update(frame(i))
					time.Sleep(30 * time.Millisecond) // 150 ms in all: within the hold
				}
				synctest.Wait()
				if posts, edits := chat.count(); posts+edits != 0 {
					t.Fatalf("%d posts and %d edits within the hold, want none", posts, edits)
				}
				if err := s.Close(context.Background(), frame(99)); err != nil {
					t.Fatal(err)
				}
				posts, edits := chat.count()
				if posts != tc.wantPost || edits != tc.wantEdit {
					t.Fatalf("%d posts and %d edits, want %d and %d", posts, edits, tc.wantPost, tc.wantEdit)
				}
				calls := chat.recorded()
				if !reflect.DeepEqual(calls[0].Msg, frame(99)) {
					t.Errorf("the one message is %+v, want the final frame", calls[0].Msg)
				}
				select {
				case <-s.Posted():
				default:
					t.Error("Posted still open after Close")
				}
				want := MessageRef{Platform: "fake", Channel: "C1", ID: "card"}
				if tc.post {
					want.ID = "posted"
					if !reflect.DeepEqual(onPost, []MessageRef{want}) {
						t.Errorf("OnPost got %v, want once %v", onPost, want)
					}
				}
				if got := s.Ref(); got != want {
					t.Errorf("Ref() = %v, want %v", got, want)
				}
			})
		})
	}
}

// TestStreamHoldSlowRun: a run still going when the hold ends is shown by
// then, with its latest frame, then edited as before; the final frame is
// delivered at Close.
func TestStreamHoldSlowRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		post bool
	}{{"new message", true}, {"approval card", false}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				chat := &callChat{}
				opt := StreamOptions{Hold: DefaultStreamHold, Interval: time.Second}
				ref := MessageRef{Platform: "fake", Channel: "C1", ID: "card"}
				if tc.post {
					ref.ID = ""
					opt.Post = poster(chat)
				}
				begin := time.Now()
				s := NewStream(chat, ref, opt)
				s.Update(frame(1))
				time.Sleep(50 * time.Millisecond)
				s.Update(frame(2))
				posted := make(chan time.Time, 1)
				go func() { <-s.Posted(); posted <- time.Now() }()
				time.Sleep(5 * time.Second)
				synctest.Wait()
				calls := chat.recorded()
				if len(calls) != 1 {
					t.Fatalf("%d sends after 5 s, want the first frame only", len(calls))
				}
				if calls[0].Edit == tc.post {
					t.Errorf("first send edit=%v, want edit=%v", calls[0].Edit, !tc.post)
				}
				if at := calls[0].At.Sub(begin); at > DefaultStreamHold {
					t.Errorf("first frame shown %v after the stream began, want <= %v", at, DefaultStreamHold)
				}
				if !reflect.DeepEqual(calls[0].Msg, frame(2)) {
					t.Errorf("first frame shown is %+v, want the latest (frame 2)", calls[0].Msg)
				}
				if at := (<-posted).Sub(begin); at > DefaultStreamHold {
					t.Errorf("Posted closed %v after the stream began, want <= %v", at, DefaultStreamHold)
				}
				s.Update(frame(3))
				synctest.Wait()
				if err := s.Close(context.Background(), frame(99)); err != nil {
					t.Fatal(err)
				}
				calls = chat.recorded()
				last := calls[len(calls)-1]
				if !last.Edit || last.Ref.ID == "" || !reflect.DeepEqual(last.Msg, frame(99)) {
					t.Errorf("last send %+v, want an edit of the message with the final frame", last)
				}
				for _, c := range calls[1:] {
					if !c.Edit {
						t.Errorf("a second post: %+v", c)
					}
				}
			})
		})
	}
}

// TestStreamPostFailed: a post that fails is not retried (it may have been
// shown); Posted opens so that a handler waiting for it returns, and Close
// reports the final frame undelivered instead of posting a second message.
func TestStreamPostFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := tebura.Errorf(tebura.ETRANSIENT, "chat down")
		chat := &callChat{post: func() error { return down }}
		s := NewStream(chat, MessageRef{Platform: "fake", Channel: "C1"}, StreamOptions{Hold: DefaultStreamHold, Post: poster(chat)})
		s.Update(frame(1))
		<-s.Posted()
		chat.post = nil
		s.Update(frame(2))
		synctest.Wait()
		if err := s.Close(context.Background(), frame(99)); err == nil {
			t.Error("Close reported a final frame delivered with no message")
		}
		if calls := chat.recorded(); len(calls) != 0 {
			t.Errorf("%d sends after the failed post, want none", len(calls))
		}
		if st := s.Stats(); st.Failed != 1 || st.Sent != 0 {
			t.Errorf("stats %+v, want one failed send", st)
		}
	})
}

// TestStreamCloseWithinHoldPostFails: the final post of a quick run that
// fails is reported by Close, once.
func TestStreamCloseWithinHoldPostFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := errors.New("chat down")
		chat := &callChat{post: func() error { return down }}
		s := NewStream(chat, MessageRef{Platform: "fake", Channel: "C1"}, StreamOptions{Hold: DefaultStreamHold, Post: poster(chat)})
		s.Update(frame(1))
		if err := s.Close(context.Background(), frame(99)); !errors.Is(err, down) {
			t.Errorf("Close = %v, want the post's error", err)
		}
		if st := s.Stats(); st.Failed != 1 {
			t.Errorf("stats %+v, want one failed post", st)
		}
	})
}
