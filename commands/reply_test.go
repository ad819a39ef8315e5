package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/runbooks"
)

// The sentences chat shows for errors that carry none a person may read.
const (
	genericFailure   = "Something went wrong on our side. The operators can find the details in the bot's log; try again in a minute."
	transientFailure = "The chat platform or the disk is busy right now. Try again in a minute."
)

func TestErrorText(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"invalid passes its sentence", tebura.Errorf(tebura.EINVALID, "Write env=prod."), "Write env=prod."},
		{"wrapped keeps the sentence", fmt.Errorf("ctx: %w", tebura.Errorf(tebura.ECONFLICT, "Already approved by @bob.")), "Already approved by @bob."},
		{"internal hides its detail", tebura.Wrap(tebura.EINTERNAL, errors.New("disk /var/lib/x: EIO"), "bucket runs missing"), genericFailure},
		{"plain error is internal", errors.New("open /secret/path: permission denied"), genericFailure},
		{"transient without sentence", tebura.Wrap(tebura.ETRANSIENT, errors.New("429"), ""), transientFailure},
		{"transient with sentence", tebura.Errorf(tebura.ETRANSIENT, "Slack is rate limiting us; try in 30s."), "Slack is rate limiting us; try in 30s."},
		{"forbidden without sentence", &tebura.Error{Code: tebura.EFORBIDDEN}, genericFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrorText(tt.err); got != tt.want {
				t.Errorf("ErrorText(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// privateRecorder is a Replier that keeps private replies.
type privateRecorder struct{ got []string }

func (p *privateRecorder) Reply(context.Context, bot.Message) (bot.MessageRef, error) {
	return bot.MessageRef{}, errors.New("no channel")
}

func (p *privateRecorder) Private(_ context.Context, m bot.Message) error {
	p.got = append(p.got, strings.Join(m.Text, " "))
	return nil
}

func TestHandlerPanicIsAnsweredAsInternalError(t *testing.T) {
	b := New(Deps{Registry: func() *runbooks.Registry { panic("registry exploded") }})
	r := &privateRecorder{}
	b.HandleEvent(context.Background(), &bot.Command{Actor: bot.Actor{ID: "console:alice"}, Name: "runbook", Text: "list", Reply: r})
	if len(r.got) != 1 || r.got[0] != genericFailure {
		t.Fatalf("replies = %q, want the generic failure sentence", r.got)
	}
}

func TestHuman(t *testing.T) {
	tests := map[time.Duration]string{
		0: "0s", -time.Second: "0s", 1400 * time.Millisecond: "1s", 59 * time.Second: "59s", time.Minute: "1m",
		90 * time.Second: "1m30s", 15 * time.Minute: "15m", time.Hour: "1h", 90 * time.Minute: "1h30m",
		time.Hour + 5*time.Second: "1h0m5s", 30 * time.Minute: "30m", 10 * time.Minute: "10m",
	}
	for d, want := range tests {
		if got := Human(d); got != want {
			t.Errorf("Human(%v) = %q, want %q", d, got, want)
		}
	}
}
