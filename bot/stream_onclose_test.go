package bot

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tebura/tebura"
)

// TestStreamOnClose: OnClose receives the final counts exactly once, after
// the final frame was delivered or given up, and not for a second Close.
func TestStreamOnClose(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(context.Context, Message) error
		updates int
		wantErr bool
		want    StreamStats
	}{
		{"delivered", nil, 1, false, StreamStats{Sent: 2, Dropped: 1}},
		{"refused for good", func(_ context.Context, m Message) error {
			if m.Header == "final" {
				return tebura.Errorf(tebura.ENOTFOUND, "message deleted")
			}
			return nil
		}, 1, true, StreamStats{Sent: 1, Dropped: 1, Failed: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edited := make(chan struct{}, 10)
			release := make(chan struct{})
			chat := &fakeChat{edit: func(ctx context.Context, m Message) error {
				if m.Header != "final" {
					edited <- struct{}{}
					<-release
				}
				if tt.edit != nil {
					return tt.edit(ctx, m)
				}
				return nil
			}}
			var got []StreamStats
			// Real clock and a long interval: frame 2 waits until Close.
			s := NewStream(chat, MessageRef{ID: "m1"}, StreamOptions{Interval: time.Hour,
				OnClose: func(st StreamStats) { got = append(got, st) }})
			s.Update(frame(1))
			<-edited
			s.Update(frame(2)) // pending while frame 1 is in flight: dropped at Close
			close(release)
			err := s.Close(context.Background(), Message{Header: "final"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Close = %v, want error %v", err, tt.wantErr)
			}
			if err := s.Close(context.Background(), Message{Header: "final"}); err == nil {
				t.Error("second Close succeeded")
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("OnClose got %+v, want once %+v", got, tt.want)
			}
		})
	}
}

// TestStreamOnCloseContext: OnClose also reports a Close that gave up
// because its ctx ended.
func TestStreamOnCloseContext(t *testing.T) {
	chat := &fakeChat{edit: func(ctx context.Context, _ Message) error { return errors.New("502 bad gateway") }}
	done := make(chan StreamStats, 1)
	s := NewStream(chat, MessageRef{ID: "m1"}, StreamOptions{OnClose: func(st StreamStats) { done <- st }})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Close(ctx, frame(1)); err == nil {
		t.Fatal("Close succeeded with a cancelled ctx")
	}
	select {
	case st := <-done:
		if st.Sent != 0 {
			t.Errorf("stats %+v: nothing can have been sent", st)
		}
	default:
		t.Fatal("OnClose was not called before Close returned")
	}
}
