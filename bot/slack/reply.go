package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/tebura/tebura/bot"
)

// response_url limits: up to 5 responses within 30 minutes of the invocation.
// https://api.slack.com/interactivity/slash-commands
const (
	ResponseURLUses     = 5
	ResponseURLLifetime = 30 * time.Minute
)

// replier answers the person behind one command or click. Reply posts into
// the channel with chat.postMessage (so the message can be edited later);
// Private uses the invocation's response_url while it has uses left and is
// fresh, then chat.postEphemeral.
type replier struct {
	a           *Adapter
	channel     string
	user        string
	thread      string
	responseURL string
	issued      time.Time

	mu   sync.Mutex
	uses int
}

var _ bot.Replier = (*replier)(nil)

func (a *Adapter) newReplier(channel, user, thread, responseURL string) *replier {
	return &replier{a: a, channel: channel, user: user, thread: thread, responseURL: responseURL, issued: a.now()}
}

// Reply posts m in the channel of the event. When the bot is not a member
// of that channel it answers through response_url instead; that message
// cannot be edited later, so the returned ref is zero.
func (r *replier) Reply(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	ref, err := r.a.Post(ctx, bot.Target{Channel: r.channel, Thread: r.thread}, m)
	if err == nil {
		return ref, nil
	}
	switch slackError(err) {
	case "not_in_channel", "channel_not_found":
		if r.take() {
			if rerr := r.a.respond(ctx, r.responseURL, "in_channel", m); rerr == nil {
				return bot.MessageRef{}, nil
			}
		}
	}
	return bot.MessageRef{}, err
}

// Private shows m only to the user.
func (r *replier) Private(ctx context.Context, m bot.Message) error {
	if r.take() {
		err := r.a.respond(ctx, r.responseURL, "ephemeral", m)
		if err == nil {
			return nil
		}
		r.a.log.Warn("slack response_url failed; using chat.postEphemeral", "err", scrub(err))
	}
	return r.a.postEphemeral(ctx, r.channel, r.user, r.thread, m)
}

// take spends one response_url use if one is left and the URL is fresh.
func (r *replier) take() bool {
	if r.responseURL == "" {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.uses >= ResponseURLUses || r.a.now().Sub(r.issued) >= ResponseURLLifetime {
		return false
	}
	r.uses++
	return true
}

// respond posts a message to a response_url.
// https://api.slack.com/interactivity/handling#message_responses
func (a *Adapter) respond(ctx context.Context, responseURL, responseType string, m bot.Message) error {
	return scrub(a.respondURL(ctx, responseURL, responseType, m))
}

// respondURL does the POST of respond; its errors may quote responseURL.
func (a *Adapter) respondURL(ctx context.Context, responseURL, responseType string, m bot.Message) error {
	rm := Render(m)
	body, err := json.Marshal(struct {
		ResponseType string `json:"response_type"`
		Rendered
	}{responseType, rm})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("slack response_url answered %s", resp.Status)
	}
	return nil
}
