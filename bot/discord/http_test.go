package discord

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/discord/discordtest"
	"github.com/tebura/tebura/config"
)

func runCommand(fake *discordtest.Server, who discordtest.Invoker) discordtest.Interaction {
	return fake.NewCommand(who, "runbook", "run",
		discordtest.Option{Name: "name", Value: "restart-api"},
		discordtest.Option{Name: "args", Value: "env=prod service=api"})
}

func TestHTTPRefusesBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeHTTP)
	e.start(e.collect())
	_, otherKey, _ := ed25519.GenerateKey(nil)
	now := func() string { return strconv.FormatInt(e.fake.Clock().Unix(), 10) }
	tests := []struct {
		name string
		post func(it discordtest.Interaction) (*http.Response, error)
	}{
		{"bad signature", func(it discordtest.Interaction) (*http.Response, error) {
			ts := now()
			sig := []byte(discordtest.Sign(e.key, ts, it.Body))
			sig[0] ^= 1
			return discordtest.PostSigned(e.srv.URL+InteractionsPath, ts, string(sig), it.Body)
		}},
		{"wrong key", func(it discordtest.Interaction) (*http.Response, error) {
			return e.fake.Post(e.srv.URL+InteractionsPath, otherKey, it)
		}},
		{"stale timestamp", func(it discordtest.Interaction) (*http.Response, error) {
			ts := strconv.FormatInt(e.fake.Clock().Add(-SignatureMaxAge-time.Second).Unix(), 10)
			return discordtest.PostSigned(e.srv.URL+InteractionsPath, ts, discordtest.Sign(e.key, ts, it.Body), it.Body)
		}},
		{"future timestamp", func(it discordtest.Interaction) (*http.Response, error) {
			ts := strconv.FormatInt(e.fake.Clock().Add(SignatureMaxAge+time.Minute).Unix(), 10)
			return discordtest.PostSigned(e.srv.URL+InteractionsPath, ts, discordtest.Sign(e.key, ts, it.Body), it.Body)
		}},
		{"altered body", func(it discordtest.Interaction) (*http.Response, error) {
			ts := now()
			sig := discordtest.Sign(e.key, ts, it.Body)
			altered := bytes.Replace(it.Body, []byte("env=prod"), []byte("env=dev!"), 1)
			return discordtest.PostSigned(e.srv.URL+InteractionsPath, ts, sig, altered)
		}},
		{"no signature", func(it discordtest.Interaction) (*http.Response, error) {
			return discordtest.PostSigned(e.srv.URL+InteractionsPath, now(), "", it.Body)
		}},
		{"no timestamp", func(it discordtest.Interaction) (*http.Response, error) {
			return discordtest.PostSigned(e.srv.URL+InteractionsPath, "", discordtest.Sign(e.key, "", it.Body), it.Body)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			it := runCommand(e.fake, alice)
			resp, err := tc.post(it)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("status %d, want 401", resp.StatusCode)
			}
			if ack := e.fake.AckOf(it.ID); ack.Acked {
				t.Errorf("interaction acknowledged: %+v", ack)
			}
		})
	}
	if n := len(e.fake.CallsTo("POST", "/interactions/*")); n != 0 {
		t.Errorf("%d callbacks for refused requests", n)
	}
	select {
	case ev := <-e.events:
		t.Errorf("handler got %T for a refused request", ev)
	default:
	}
	if !e.logged("discord interaction refused") {
		t.Error("refusals not logged")
	}

	t.Run("ping", func(t *testing.T) {
		resp, err := e.fake.Post(e.srv.URL+InteractionsPath, e.key, e.fake.NewPing())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"type":1}` || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("PING answered %d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Type"))
		}
	})
}

// TestHTTPRefusalReasons: every refusal is one line that says what was
// wrong, with the status of its kind (tebura.HTTPStatus).
func TestHTTPRefusalReasons(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeHTTP)
	e.start(e.collect())
	ts := strconv.FormatInt(e.fake.Clock().Unix(), 10)
	big := bytes.Repeat([]byte(" "), maxInteractionBody+1)
	notJSON := []byte("not json")
	tests := []struct {
		name   string
		body   []byte
		sig    string
		status int
		reason string
	}{
		{"too large", big, discordtest.Sign(e.key, ts, big), http.StatusRequestEntityTooLarge, "body larger than 1048576 bytes"},
		{"bad signature", notJSON, "00", http.StatusUnauthorized, "invalid request signature"},
		{"signed but not JSON", notJSON, discordtest.Sign(e.key, ts, notJSON), http.StatusBadRequest, "unreadable interaction"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := discordtest.PostSigned(e.srv.URL+InteractionsPath, ts, tc.sig, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || string(body) != tc.reason+"\n" {
				t.Errorf("got %d %q, want %d %q on one line", resp.StatusCode, body, tc.status, tc.reason)
			}
		})
	}
}

// TestDeferBeforeSlowStore: the deferral reaches Discord while the dedupe
// store is still blocked, and the command reaches the handler afterwards.
func TestDeferBeforeSlowStore(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{ModeHTTP, ModeGateway} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			e.dedupe.gate = make(chan struct{})
			e.dedupe.entered = make(chan string, 4)
			e.start(e.collect())
			it := runCommand(e.fake, bob)
			if st := e.deliver(it); mode == ModeHTTP && st != http.StatusAccepted {
				t.Fatalf("status %d, want 202", st)
			}
			select {
			case key := <-e.dedupe.entered:
				if key != it.ID {
					t.Fatalf("dedupe key %q, want the interaction ID", key)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("dedupe never consulted")
			}
			// The store is blocked now; the deferral must already be there.
			ack := e.fake.AckOf(it.ID)
			if !ack.Acked || ack.Type != 5 || ack.Ephemeral {
				t.Fatalf("ack while the store is blocked = %+v, want a public type 5 deferral", ack)
			}
			select {
			case ev := <-e.events:
				t.Fatalf("handler ran before the dedupe check: %T", ev)
			default:
			}
			close(e.dedupe.gate)
			cmd, ok := e.event().(*bot.Command)
			if !ok {
				t.Fatal("not a command")
			}
			want := bot.Command{Platform: "discord", Name: "runbook", Text: "run restart-api env=prod service=api", Channel: channelID,
				Actor: bot.Actor{ID: "discord:" + bobID, Name: "bob", Groups: []string{"discord-role:" + approverRID}}}
			if cmd.Platform != want.Platform || cmd.Name != want.Name || cmd.Text != want.Text || cmd.Channel != want.Channel ||
				cmd.Actor.ID != want.Actor.ID || cmd.Actor.Name != want.Actor.Name || !slices.Equal(cmd.Actor.Groups, want.Actor.Groups) || cmd.DirectMessage {
				t.Errorf("command = %+v, want %+v", cmd, want)
			}
		})
	}
}

// TestLateAckDetected: the fake's clock says four seconds passed between
// the interaction's creation and its acknowledgement.
func TestLateAckDetected(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{ModeHTTP, ModeGateway} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			base := time.Now()
			var offset atomic.Int64
			e := newEnv(t, mode)
			e.fake.Clock = func() time.Time { return base.Add(time.Duration(offset.Load())) }
			e.start(e.collect())
			it := runCommand(e.fake, bob)
			offset.Store(int64(4 * time.Second))
			e.deliver(it)
			if _, ok := e.event().(*bot.Command); !ok {
				t.Fatal("the command is still handled after a late acknowledgement")
			}
			if got := e.a.LateAcks(); got != 1 {
				t.Errorf("LateAcks = %d, want 1", got)
			}
			if !e.logged("discord interaction acknowledged late") {
				t.Error("late acknowledgement not logged")
			}
			if calls := e.fake.CallsTo("POST", "/interactions/"+it.ID+"/*"); len(calls) != 1 || calls[0].Status != 404 {
				t.Errorf("callback calls = %+v, want one refused with 404 (10062)", calls)
			}
			// An acknowledgement in time is not counted.
			it2 := runCommand(e.fake, bob)
			e.deliver(it2)
			e.event()
			if got := e.a.LateAcks(); got != 1 {
				t.Errorf("LateAcks after a timely ack = %d, want 1", got)
			}
		})
	}
}

func TestRedeliveryHandledOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeGateway)
	e.start(e.collect())
	it := runCommand(e.fake, bob)
	e.deliver(it)
	e.event()
	e.deliver(it) // the gateway replays it, e.g. after a resume
	if !waitFor(5*time.Second, func() bool { return e.logged("discord interaction redelivered, dropped") }) {
		t.Fatal("redelivery not detected")
	}
	select {
	case ev := <-e.events:
		t.Fatalf("redelivered interaction handled again: %+v", ev)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestRegistrationSkippedWhenUnchanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeHTTP)
	ctx := context.Background()
	if err := e.a.Register(ctx); err != nil {
		t.Fatal(err)
	}
	names, puts := e.fake.Commands(guildID)
	if puts != 1 || !slices.Equal(names, []string{"runbook", "incident", "tebura"}) {
		t.Fatalf("after first start: commands %v, %d overwrites", names, puts)
	}
	// A restart with the same definitions: no call.
	again := e.newAdapter()
	if err := again.Register(ctx); err != nil {
		t.Fatal(err)
	}
	if _, puts := e.fake.Commands(guildID); puts != 1 {
		t.Errorf("unchanged definitions re-registered: %d overwrites", puts)
	}
	if !e.logged("discord commands unchanged, registration skipped") {
		t.Error("skip not logged")
	}
	// Renamed roots change the definitions: registered again.
	e.deps.Commands = config.BotCommands{Runbook: "rb"}
	renamed := e.newAdapter()
	if err := renamed.Register(ctx); err != nil {
		t.Fatal(err)
	}
	names, puts = e.fake.Commands(guildID)
	if puts != 2 || !slices.Contains(names, "rb") {
		t.Errorf("changed definitions: commands %v, %d overwrites", names, puts)
	}
	// The commands the fake holds pass doctor.
	var ok bool
	for _, c := range renamed.Doctor(ctx) {
		if strings.HasPrefix(c.Name, "discord commands") {
			ok = c.OK
		}
	}
	if !ok {
		t.Error("doctor does not see the registration")
	}
}

// TestReplies covers how answers reach Discord for each deferral.
func TestReplies(t *testing.T) {
	t.Parallel()
	msg := bot.Message{Header: "hello"}
	tests := []struct {
		name string
		it   func(f *discordtest.Server) discordtest.Interaction
		act  func(ctx context.Context, r bot.Replier) error
		// want: the visible messages (not deleted) the interaction left.
		wantPublic, wantEphemeral int
		wantDeleted               bool
		wantChannelMessage        bool
	}{
		{"public defer, reply edits the original",
			func(f *discordtest.Server) discordtest.Interaction { return runCommand(f, bob) },
			func(ctx context.Context, r bot.Replier) error { _, err := r.Reply(ctx, msg); return err },
			1, 0, false, false},
		{"public defer, private reply replaces thinking with an ephemeral follow-up",
			func(f *discordtest.Server) discordtest.Interaction { return runCommand(f, alice) },
			func(ctx context.Context, r bot.Replier) error { return r.Private(ctx, msg) },
			0, 1, true, false},
		{"ephemeral defer, private edits the original",
			func(f *discordtest.Server) discordtest.Interaction { return f.NewCommand(alice, "tebura", "whoami") },
			func(ctx context.Context, r bot.Replier) error { return r.Private(ctx, msg) },
			0, 1, false, false},
		{"ephemeral defer, public reply is a channel message",
			func(f *discordtest.Server) discordtest.Interaction { return f.NewCommand(alice, "runbook", "list") },
			func(ctx context.Context, r bot.Replier) error { _, err := r.Reply(ctx, msg); return err },
			0, 0, true, true},
		{"no answer removes the thinking message",
			func(f *discordtest.Server) discordtest.Interaction { return runCommand(f, bob) },
			func(context.Context, bot.Replier) error { return nil },
			0, 0, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, ModeHTTP)
			done := make(chan error, 1)
			e.start(bot.HandlerFunc(func(ctx context.Context, ev bot.Event) {
				done <- tc.act(ctx, ev.(*bot.Command).Reply)
			}))
			it := tc.it(e.fake)
			e.deliver(it)
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("handler did not run")
			}
			var public, ephemeral int
			var deleted, channelMsg bool
			check := func() bool {
				public, ephemeral, deleted, channelMsg = 0, 0, false, false
				for _, m := range e.fake.Messages() {
					switch {
					case m.Interaction != it.ID:
						channelMsg = channelMsg || len(m.Embeds) > 0 && m.Embeds[0].Title == "hello"
					case m.Deleted:
						deleted = true
					case len(m.Embeds) == 0:
					case m.Ephemeral:
						ephemeral++
					default:
						public++
					}
				}
				return public == tc.wantPublic && ephemeral == tc.wantEphemeral && deleted == tc.wantDeleted && channelMsg == tc.wantChannelMessage
			}
			if !waitFor(2*time.Second, check) {
				t.Errorf("public %d ephemeral %d deleted %v channel message %v; want %d %d %v %v",
					public, ephemeral, deleted, channelMsg, tc.wantPublic, tc.wantEphemeral, tc.wantDeleted, tc.wantChannelMessage)
			}
		})
	}
}

func TestDirectMessage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeGateway)
	e.start(e.collect())
	dm := discordtest.Invoker{ChannelID: "600000000000000001", UserID: aliceID, Name: "alice"}
	it := runCommand(e.fake, dm)
	e.deliver(it)
	cmd := e.event().(*bot.Command)
	if !cmd.DirectMessage || cmd.Actor.ID != "discord:"+aliceID {
		t.Errorf("DM command = %+v", cmd)
	}
	if ack := e.fake.AckOf(it.ID); !ack.Ephemeral {
		t.Error("a DM is answered privately: the deferral should be ephemeral")
	}
}

func TestAutocomplete(t *testing.T) {
	t.Parallel()
	var gotActor bot.Actor
	var gotRoot string
	e := newEnv(t, ModeGateway, func(_ *config.Discord, d *Deps) {
		d.Autocomplete = func(_ context.Context, a bot.Actor, root, partial string) []string {
			gotActor, gotRoot = a, root
			var out []string
			for i := range 40 {
				if n := "restart-" + strconv.Itoa(i); strings.HasPrefix(n, partial) {
					out = append(out, n)
				}
			}
			return out
		}
	})
	e.start(e.collect())
	it := e.fake.NewAutocomplete(bob, "runbook", "run", discordtest.Option{Name: "name", Value: "rest", Focused: true})
	e.deliver(it)
	if !waitFor(5*time.Second, func() bool { return e.fake.AckOf(it.ID).Acked }) {
		t.Fatal("autocomplete not answered")
	}
	calls := e.fake.CallsTo("POST", "/interactions/"+it.ID+"/*")
	var resp struct {
		Type int `json:"type"`
		Data struct {
			Choices []struct{ Name, Value string } `json:"choices"`
		} `json:"data"`
	}
	if err := json.Unmarshal(calls[0].Body, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Type != 8 || len(resp.Data.Choices) != MaxAutocompleteChoices || resp.Data.Choices[0].Value != "restart-0" {
		t.Errorf("autocomplete answer = %+v", resp)
	}
	if gotActor.ID != "discord:"+bobID || gotRoot != "runbook" {
		t.Errorf("callback got %+v %q", gotActor, gotRoot)
	}
	select {
	case ev := <-e.events:
		t.Errorf("autocomplete reached the handler: %T", ev)
	default:
	}
}

// TestHTTPBeforeRun: PING is answered as soon as the route is mounted (the
// Developer Portal checks it when the URL is saved); other interactions
// wait for Run.
func TestHTTPBeforeRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeHTTP)
	resp, err := e.fake.Post(e.srv.URL+InteractionsPath, e.key, e.fake.NewPing())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("PING before Run: %d", resp.StatusCode)
	}
	if st := e.deliver(runCommand(e.fake, bob)); st != http.StatusServiceUnavailable {
		t.Errorf("command before Run: %d, want 503", st)
	}
}

func TestGatewayModeMountsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeGateway)
	mux := http.NewServeMux()
	e.a.Mount(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", InteractionsPath, nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("gateway mode serves %s: %d", InteractionsPath, rec.Code)
	}
}

func TestScrubHidesInteractionToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeHTTP, func(c *config.Discord, _ *Deps) { c.APIURL = "http://127.0.0.1:1/api/v10" })
	it := e.fake.NewCommand(alice, "runbook", "list")
	var i discordgo.Interaction
	if err := json.Unmarshal(it.Body, &i); err != nil {
		t.Fatal(err)
	}
	err := e.a.ack(context.Background(), &i, &discordgo.InteractionResponse{Type: 5})
	if err == nil {
		t.Fatal("ack to a closed port succeeded")
	}
	if strings.Contains(err.Error(), it.Token) || strings.Contains(e.logs.String(), it.Token) {
		t.Errorf("interaction token leaked: %v", err)
	}
}
