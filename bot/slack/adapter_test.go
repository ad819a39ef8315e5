package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/slack/slacktest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/store/bolt"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func TestNewValidates(t *testing.T) {
	cases := []struct {
		name string
		cfg  config.Slack
		want string
	}{
		{"socket without app token", config.Slack{BotToken: "xoxb-1"}, "slack.app_token"},
		{"http without secret", config.Slack{Mode: ModeHTTP, BotToken: "xoxb-1"}, "slack.signing_secret"},
		{"no bot token", config.Slack{Mode: ModeHTTP, SigningSecret: "s"}, "slack.bot_token"},
		{"bad mode", config.Slack{Mode: "rtm", BotToken: "xoxb-1"}, "slack.mode"},
		{"too many commands", config.Slack{Mode: ModeHTTP, BotToken: "xoxb-1", SigningSecret: "s", Commands: []string{"/a", "/b", "/c", "/d"}}, "at most 3"},
	}
	t.Run("api url gets its slash", func(t *testing.T) {
		a, err := New(config.Slack{Mode: ModeHTTP, BotToken: "xoxb-1", SigningSecret: "s", APIURL: "http://x/api"}, Deps{}, nil)
		if err != nil || a.cfg.APIURL != "http://x/api/" {
			t.Fatalf("New = %v", err)
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.cfg, Deps{}, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) || tebura.ErrorCode(err) != tebura.EINVALID {
				t.Fatalf("New = %v, want EINVALID mentioning %q", err, c.want)
			}
		})
	}
}

func TestHTTPSignatureRefusals(t *testing.T) {
	h := newHarness(t, ModeHTTP)
	body := form(slacktest.SlashCommand("/runbook", "list", "UALICE", "C1", h.fake.ResponseURL()))
	// The logged reason tells the operator what to fix: a wrong
	// slack.signing_secret (signature_mismatch), a clock (stale_timestamp),
	// or a sender that is not Slack (unsigned).
	cases := []struct {
		name   string
		mutate func(r *http.Request)
		reason string
	}{
		{"forged signature", func(r *http.Request) { r.Header.Set(HeaderSignature, Sign("wrong-secret", h.clock.Now().Unix(), body)) }, "signature_mismatch"},
		{"stale timestamp", func(r *http.Request) {
			ts := h.clock.Now().Add(-6 * time.Minute).Unix()
			r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
			r.Header.Set(HeaderSignature, Sign(testSecret, ts, body))
		}, "stale_timestamp"},
		{"future timestamp", func(r *http.Request) {
			ts := h.clock.Now().Add(6 * time.Minute).Unix()
			r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
			r.Header.Set(HeaderSignature, Sign(testSecret, ts, body))
		}, "stale_timestamp"},
		{"missing signature", func(r *http.Request) { r.Header.Del(HeaderSignature) }, "unsigned"},
		{"missing timestamp", func(r *http.Request) { r.Header.Del(HeaderTimestamp) }, "unsigned"},
		{"missing both", func(r *http.Request) { r.Header.Del(HeaderSignature); r.Header.Del(HeaderTimestamp) }, "unsigned"},
		{"garbage timestamp", func(r *http.Request) { r.Header.Set(HeaderTimestamp, "yesterday") }, "unsigned"},
		{"signature without v0", func(r *http.Request) {
			r.Header.Set(HeaderSignature, strings.TrimPrefix(r.Header.Get(HeaderSignature), "v0="))
		}, "unsigned"},
		{"body changed after signing", func(r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			tampered := strings.Replace(string(b), "list", "run+restart-api", 1)
			r.Body = io.NopCloser(strings.NewReader(tampered))
			r.ContentLength = int64(len(tampered))
		}, "signature_mismatch"},
	}
	for _, path := range []string{PathCommands, PathInteractions, PathEvents} {
		for _, c := range cases {
			t.Run(path+"/"+c.name, func(t *testing.T) {
				line := "slack request refused path=" + path + " reason=" + c.reason
				before := h.logs.count(line)
				code, respBody := h.signed(path, "application/x-www-form-urlencoded", body, c.mutate)
				if code != http.StatusUnauthorized || respBody != "" {
					t.Fatalf("got %d %q, want 401 with no body", code, respBody)
				}
				if h.logs.count(line) != before+1 {
					t.Fatalf("no log line %q:\n%s", line, h.logs.text())
				}
			})
		}
	}
	t.Run("too big", func(t *testing.T) {
		big := make([]byte, defaultMaxBody+1)
		code, _ := h.signed(PathEvents, "application/json", big, nil)
		if code != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d, want 413", code)
		}
	})
	// Nothing was handled: the next valid command is the first event.
	h.command("/runbook", "sentinel", "UALICE", "C1")
	ev := h.ev.next(t).(*bot.Command)
	if ev.Text != "sentinel" || h.ev.count() != 1 {
		t.Fatalf("handled %d events, first %q; want only the sentinel", h.ev.count(), ev.Text)
	}
}

func TestHTTPURLVerification(t *testing.T) {
	h := newHarness(t, ModeHTTP)
	code, body := h.signed(PathEvents, "application/json", []byte(`{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`), nil)
	if code != http.StatusOK || !strings.Contains(body, `"challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"`) {
		t.Fatalf("got %d %s", code, body)
	}
}

func TestCommandMappingIdentityAndAck(t *testing.T) {
	for _, mode := range []string{ModeHTTP, ModeSocket} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, mode, func(c *config.Slack, _ *Deps) { c.Commands = []string{"/rb", "/inc", "/tb"} })
			if mode == ModeHTTP {
				code, body := h.signed(PathCommands, "application/x-www-form-urlencoded",
					form(slacktest.SlashCommand("/inc", "declare db down", "UALICE", "C1", h.fake.ResponseURL())), nil)
				if code != http.StatusOK || body != "" {
					t.Fatalf("ack = %d %q, want 200 with an empty body", code, body)
				}
			} else {
				h.command("/inc", "declare db down", "UALICE", "C1")
			}
			cmd := h.ev.next(t).(*bot.Command)
			if cmd.Name != "incident" || cmd.Text != "declare db down" || cmd.Channel != "C1" || cmd.Platform != "slack" {
				t.Errorf("command = %+v", cmd)
			}
			if cmd.Actor.ID != "slack:UALICE" || len(cmd.Actor.Groups) != 1 || cmd.Actor.Groups[0] != "slack-group:S2" {
				t.Errorf("actor = %+v", cmd.Actor)
			}
			h.command("/rb", "list", "UBOB", "C1")
			if cmd := h.ev.next(t).(*bot.Command); cmd.Name != "runbook" || cmd.Actor.ID != "slack:UBOB" {
				t.Errorf("command = %+v", cmd)
			}
			h.command("/tb", "whoami", "UBOB", "C1")
			if cmd := h.ev.next(t).(*bot.Command); cmd.Name != "tebura" {
				t.Errorf("command = %+v", cmd)
			}
		})
	}
}

func TestGroupCacheTTL(t *testing.T) {
	h := newHarness(t, ModeHTTP, func(c *config.Slack, _ *Deps) { c.GroupCacheTTL = time.Minute })
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if _, err := h.a.groups.of(ctx, "UBOB"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.fake.Calls("usergroups.list")); n != 1 {
		t.Fatalf("usergroups.list called %d times within the TTL, want 1", n)
	}
	h.fake.AddGroup("S3", "UBOB")
	h.clock.Advance(2 * time.Minute)
	gs, _ := h.a.groups.of(ctx, "UBOB")
	if strings.Join(gs, ",") != "slack-group:S1,slack-group:S3" || len(h.fake.Calls("usergroups.list")) != 2 {
		t.Fatalf("after TTL groups = %v, calls %d", gs, len(h.fake.Calls("usergroups.list")))
	}
	members, err := h.a.GroupMembers(ctx, "slack-group:S1")
	if err != nil || strings.Join(members, ",") != "slack:UBOB,slack:UCAROL" {
		t.Fatalf("GroupMembers = %v, %v", members, err)
	}
	if _, err := h.a.GroupMembers(ctx, "slack-group:S404"); tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Fatalf("unknown group: %v", err)
	}
	if _, err := h.a.GroupMembers(ctx, "discord-role:1"); tebura.ErrorCode(err) != tebura.EINVALID {
		t.Fatalf("foreign group: %v", err)
	}
}

func TestReplierResponseURLBudget(t *testing.T) {
	h := newHarness(t, ModeHTTP)
	h.command("/runbook", "x", "UALICE", "C1")
	cmd := h.ev.next(t).(*bot.Command)
	ctx := context.Background()
	for i := 1; i <= 7; i++ {
		if err := cmd.Reply.Private(ctx, bot.Message{Text: []string{fmt.Sprintf("private %d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.fake.Responses()); n != ResponseURLUses {
		t.Fatalf("response_url used %d times, want %d", n, ResponseURLUses)
	}
	eph := 0
	for _, m := range h.fake.Messages("C1") {
		if m.Ephemeral && m.User == "UALICE" {
			eph++
		}
	}
	if eph != 2 {
		t.Fatalf("%d chat.postEphemeral, want 2 after the response_url budget", eph)
	}
	// An expired response_url is not used.
	h.command("/runbook", "y", "UALICE", "C1")
	cmd = h.ev.next(t).(*bot.Command)
	h.clock.Advance(ResponseURLLifetime)
	if err := cmd.Reply.Private(ctx, bot.Message{Text: []string{"late"}}); err != nil {
		t.Fatal(err)
	}
	if n := len(h.fake.Responses()); n != ResponseURLUses {
		t.Fatalf("expired response_url used")
	}
	// Reply posts in the channel and returns an editable ref.
	ref, err := cmd.Reply.Reply(ctx, bot.Message{Text: []string{"public"}})
	if err != nil || ref.ID == "" || ref.Channel != "C1" {
		t.Fatalf("Reply = %+v, %v", ref, err)
	}
	// In a channel the bot is not in, Reply falls back to response_url.
	h.command("/runbook", "z", "UALICE", "CNOBOT")
	cmd = h.ev.next(t).(*bot.Command)
	ref, err = cmd.Reply.Reply(ctx, bot.Message{Text: []string{"via response_url"}})
	if err != nil || !ref.IsZero() {
		t.Fatalf("Reply in foreign channel = %+v, %v", ref, err)
	}
	rs := h.fake.Responses()
	if last := rs[len(rs)-1]; last.ResponseType != "in_channel" || !strings.Contains(last.Text, "via response_url") {
		t.Fatalf("last response = %+v", last)
	}
}

// TestDuplicatesAcrossRestart delivers the same Events API event three
// times and the same envelope twice, restarts the adapter on the same bolt
// file, and delivers them again: each is handled once.
func TestDuplicatesAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tebura.db")
	open := func() *bolt.Store {
		s, err := bolt.Open(path, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, mode := range []string{ModeHTTP, ModeSocket} {
		t.Run(mode, func(t *testing.T) {
			store := open()
			h := newHarness(t, mode, func(_ *config.Slack, d *Deps) { d.Deduper = store })
			deliver := func(id string, retry int) {
				ev := slacktest.AppMention("Ev"+mode+id, "UALICE", "C1", "runbook status "+id)
				if mode == ModeHTTP {
					b, _ := json.Marshal(ev)
					code, _ := h.signed(PathEvents, "application/json", b, func(r *http.Request) {
						if retry > 0 {
							r.Header.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
							r.Header.Set("X-Slack-Retry-Reason", "http_timeout")
						}
					})
					if code != http.StatusOK {
						t.Fatalf("event: HTTP %d", code)
					}
					return
				}
				h.send(slacktest.Envelope{ID: "env-" + id, Type: "events_api", Payload: ev, Retry: retry})
			}
			times := 3
			if mode == ModeSocket {
				times = 2
			}
			for i := 0; i < times; i++ {
				deliver("1", i)
			}
			cmd := h.ev.next(t).(*bot.Command)
			if cmd.Name != "runbook" || cmd.Text != "status 1" || cmd.Actor.ID != "slack:UALICE" {
				t.Fatalf("mention = %+v", cmd)
			}
			deliver("2", 0) // sentinel: once it is handled, the duplicates were dropped
			if cmd := h.ev.next(t).(*bot.Command); cmd.Text != "status 2" {
				t.Fatalf("sentinel = %+v", cmd)
			}

			// Restart: a new adapter on the reopened store.
			h.stop()
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}
			store = open()
			t.Cleanup(func() { _ = store.Close() })
			h.deps.Deduper = store
			h.start()
			deliver("1", 3)
			deliver("3", 0)
			if cmd := h.ev.next(t).(*bot.Command); cmd.Text != "status 3" {
				t.Fatalf("after restart the first handled event is %q, want the sentinel", cmd.Text)
			}
			if n := h.ev.count(); n != 3 {
				t.Fatalf("handled %d events, want 3", n)
			}
		})
	}
}

// TestUpdateStorm429 streams over chat.update while Slack answers 429 on and
// off: the final frame arrives, nothing is sent before its Retry-After, and
// waiting frames coalesce. It runs in a synctest bubble, so the 4 s of
// Retry-After pass in virtual time, and a producer that waited for them
// would be seen waiting exactly that long.
func TestUpdateStorm429(t *testing.T) {
	fake := newFake(t)
	synctest.Test(t, func(t *testing.T) {
		a := newBubbleAdapter(t, fake)
		ctx := context.Background()
		ref, err := a.Post(ctx, bot.Target{Channel: "C1"}, bot.Message{Header: "run — starting"})
		if err != nil {
			t.Fatal(err)
		}
		fake.Force429("chat.update", 1, 1, 2)
		st := bot.NewStream(a, ref, bot.StreamOptions{Interval: 10 * time.Millisecond})
		start := time.Now()
		for i := 1; i <= 200; i++ {
			st.Update(bot.Message{Header: "run — running", Code: &bot.Code{Text: fmt.Sprintf("line %d", i), Tail: true}})
			if i%20 == 0 {
				time.Sleep(5 * time.Millisecond) // the producer's pace, not a synchronisation
			}
		}
		producer := time.Since(start)
		if err := st.Close(ctx, bot.Message{Header: "run — succeeded", Level: bot.LevelSuccess, Code: &bot.Code{Text: "done"}}); err != nil {
			t.Fatal(err)
		}
		m, _ := fake.Message("C1", ref.ID)
		if !strings.Contains(m.Text, "succeeded") || !strings.Contains(string(m.Blocks), "done") {
			t.Fatalf("final frame missing: %s", m.Text)
		}
		if early := fake.Early(); len(early) > 0 {
			t.Fatalf("requests before Retry-After:\n%s", fmtCalls(early))
		}
		calls := fake.Calls("chat.update")
		if len(calls) >= 200 {
			t.Fatalf("%d chat.update calls for 201 frames: nothing coalesced", len(calls))
		}
		limited := 0
		for _, c := range calls {
			if c.Status == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited != 3 {
			t.Fatalf("%d 429s, want 3:\n%s", limited, fmtCalls(calls))
		}
		if producer != 10*5*time.Millisecond {
			t.Fatalf("producer took %v, want its own 50ms: it waited for Slack", producer)
		}
	})
}

// TestEditCoalescesWhileWaiting checks the adapter's own latest-wins queue:
// edits that arrive while one waits for Retry-After replace it. In a
// synctest bubble, synctest.Wait shows each state once every goroutine
// waits, and the Retry-After second passes in virtual time.
func TestEditCoalescesWhileWaiting(t *testing.T) {
	fake := newFake(t)
	synctest.Test(t, func(t *testing.T) {
		a := newBubbleAdapter(t, fake)
		ctx := context.Background()
		ref, err := a.Post(ctx, bot.Target{Channel: "C1"}, bot.Message{Header: "frame 0"})
		if err != nil {
			t.Fatal(err)
		}
		fake.Force429("chat.update", 1)
		errs := make(chan error, 3)
		go func() { errs <- a.Edit(ctx, ref, bot.Message{Header: "frame 1"}) }()
		synctest.Wait()
		if n := len(fake.Calls("chat.update")); n != 1 {
			t.Fatalf("%d updates sent, want the first one, refused", n)
		}
		for _, f := range []string{"frame 2", "frame 3"} {
			go func() { errs <- a.Edit(ctx, ref, bot.Message{Header: f}) }()
			synctest.Wait()
			a.out.mu.Lock()
			q := a.out.queues[queueKey(opUpdate, "C1")]
			queued := len(q) == 1 && q[0].msg.Text == f
			a.out.mu.Unlock()
			if !queued {
				t.Fatalf("%s did not replace the waiting update", f)
			}
		}
		// A post to the same channel is not held up by the waiting update.
		t0 := time.Now()
		if _, err := a.Post(ctx, bot.Target{Channel: "C1"}, bot.Message{Header: "meanwhile"}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d != 0 {
			t.Fatalf("post waited %v behind a rate-limited update", d)
		}
		for i := 0; i < 3; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		calls := fake.Calls("chat.update")
		if len(calls) != 2 || calls[1].Form.Get("text") != "frame 3" {
			t.Fatalf("updates:\n%s", fmtCalls(calls))
		}
		if d := calls[1].At.Sub(calls[0].At); d < time.Second {
			t.Fatalf("retried after %v, before Retry-After 1s", d)
		}
	})
}

// TestPostOrderAndPerKeyLimits: a 429 on one channel's posts delays that
// channel only, and its posts keep their order (in a synctest bubble, as
// TestEditCoalescesWhileWaiting).
func TestPostOrderAndPerKeyLimits(t *testing.T) {
	fake := newFake(t)
	synctest.Test(t, func(t *testing.T) {
		a := newBubbleAdapter(t, fake)
		ctx := context.Background()
		fake.SetBudget("chat.postMessage:C1", slacktest.Budget{N: 1, Window: time.Second})
		if _, err := a.Post(ctx, bot.Target{Channel: "C1"}, bot.Message{Header: "m0"}); err != nil {
			t.Fatal(err)
		}
		// The adapter's bucket allows a burst of 3; the fake allows 1/s: m1
		// gets a 429 and waits, m2 queues behind it.
		done := make(chan error, 2)
		for i, m := range []string{"m1", "m2"} {
			go func() { _, err := a.Post(ctx, bot.Target{Channel: "C1"}, bot.Message{Header: m}); done <- err }()
			synctest.Wait()
			a.out.mu.Lock()
			n := len(a.out.queues[queueKey(opPost, "C1")])
			a.out.mu.Unlock()
			if n != i+1 {
				t.Fatalf("after %s: %d posts queued for C1, want %d", m, n, i+1)
			}
		}
		if n := len(fake.Calls("chat.postMessage")); n != 2 {
			t.Fatalf("%d posts sent, want m0 and m1's refused try", n)
		}
		// Another channel is not held up.
		t0 := time.Now()
		if _, err := a.Post(ctx, bot.Target{Channel: "C2"}, bot.Message{Header: "elsewhere"}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(t0); d != 0 {
			t.Fatalf("post to C2 took %v behind C1's rate limit", d)
		}
		for i := 0; i < 2; i++ {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		var order []string
		for _, m := range fake.Messages("C1") {
			order = append(order, m.Text)
		}
		if strings.Join(order, ",") != "m0,m1,m2" {
			t.Fatalf("order = %v", order)
		}
		if early := fake.Early(); len(early) > 0 {
			t.Fatalf("early:\n%s", fmtCalls(early))
		}
	})
}

func TestCreateChannelNameTaken(t *testing.T) {
	h := newHarness(t, ModeHTTP, func(c *config.Slack, _ *Deps) { c.Channels.Private = true })
	h.fake.TakeName("inc-42-db-down")
	h.fake.TakeName("inc-42-db-down-2")
	ch, err := h.a.CreateChannel(context.Background(), bot.ChannelSpec{Name: "INC 42: DB down!", Topic: "DB down"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := h.fake.Channel(ch.ID)
	if ch.Name != "inc-42-db-down-3" || got.Name != ch.Name || !got.Private || got.Topic != "DB down" {
		t.Fatalf("channel = %+v, fake has %+v", ch, got)
	}
}

func TestCreateChannelConcurrentSameSlug(t *testing.T) {
	h := newHarness(t, ModeHTTP)
	var inflight, overlaps atomic.Int32
	h.fake.OnCreate(func(string) {
		if inflight.Add(1) > 1 {
			overlaps.Add(1)
		}
		defer inflight.Add(-1)
		// Hold the create open: a concurrent create would arrive now and,
		// as on Slack, both would pass the name check.
		<-time.After(100 * time.Millisecond)
	})
	var wg sync.WaitGroup
	chans := make([]bot.Channel, 2)
	for i := range chans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := h.a.CreateChannel(context.Background(), bot.ChannelSpec{Name: "inc-7-api"})
			if err != nil {
				t.Error(err)
			}
			chans[i] = c
		}()
	}
	wg.Wait()
	if chans[0].ID == chans[1].ID || chans[0].Name == chans[1].Name || overlaps.Load() > 0 {
		t.Fatalf("channels = %+v, overlapping creates %d", chans, overlaps.Load())
	}
}

func TestInviteTopicArchive(t *testing.T) {
	h := newHarness(t, ModeHTTP)
	ctx := context.Background()
	ch, err := h.a.CreateChannel(ctx, bot.ChannelSpec{Name: "inc-1"})
	if err != nil {
		t.Fatal(err)
	}
	err = h.a.Invite(ctx, ch.ID, []string{"slack:UALICE", "slack-group:S1", "discord:123", "discord-role:5", "console:bob", "slack:" + slacktest.BotUser})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := h.fake.Channel(ch.ID)
	if strings.Join(got.Members, ",") != "UALICE,UBOB,UCAROL" {
		t.Fatalf("members = %v", got.Members)
	}
	if err := h.a.SetTopic(ctx, ch.ID, "resolved"); err != nil {
		t.Fatal(err)
	}
	if err := h.a.Archive(ctx, ch.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.a.Archive(ctx, ch.ID); err != nil {
		t.Fatalf("second archive: %v", err)
	}
	got, _ = h.fake.Channel(ch.ID)
	if !got.Archived || got.Topic != "resolved" {
		t.Fatalf("channel = %+v", got)
	}
}

func TestUploadV2(t *testing.T) {
	h := newHarness(t, ModeHTTP, func(c *config.Slack, _ *Deps) { c.Threads = true })
	content := []byte(strings.Repeat("log line\n", 10000))
	if err := h.a.Upload(context.Background(), bot.Target{Channel: "C1", Thread: "1700000000.000001"}, bot.File{Name: "r42.log", Title: "restart-api r42", Content: content}); err != nil {
		t.Fatal(err)
	}
	ref, err := h.a.Post(context.Background(), bot.Target{Channel: "C1", Thread: "1700000000.000001"}, bot.Message{Text: []string{"in a thread"}})
	if err != nil || ref.Thread != "1700000000.000001" {
		t.Fatalf("Post in thread = %+v, %v", ref, err)
	}
	if m, _ := h.fake.Message("C1", ref.ID); m.Thread != "1700000000.000001" {
		t.Fatalf("message thread = %q", m.Thread)
	}
	fs := h.fake.Files()
	if len(fs) != 1 || string(fs[0].Content) != string(content) || fs[0].Channel != "C1" || fs[0].Thread != "1700000000.000001" || fs[0].Title != "restart-api r42" || !fs[0].Shared {
		t.Fatalf("files = %+v", fs)
	}
	var methods []string
	for _, c := range h.fake.Calls() {
		if strings.HasPrefix(c.Method, "files") || c.Method == "upload" {
			methods = append(methods, c.Method)
		}
	}
	if strings.Join(methods, ",") != "files.getUploadURLExternal,upload,files.completeUploadExternal" {
		t.Fatalf("upload flow = %v", methods)
	}
	if err := h.a.Upload(context.Background(), bot.Target{Channel: "C1"}, bot.File{Name: "empty"}); tebura.ErrorCode(err) != tebura.EINVALID {
		t.Fatalf("empty upload: %v", err)
	}
}

func TestSocketReconnectOnDisconnect(t *testing.T) {
	h := newHarness(t, ModeSocket)
	ctx := context.Background()
	ref, err := h.a.Post(ctx, bot.Target{Channel: "C1"}, bot.Message{Header: "run — running"})
	if err != nil {
		t.Fatal(err)
	}
	st := bot.NewStream(h.a, ref, bot.StreamOptions{Interval: 10 * time.Millisecond})
	st.Update(bot.Message{Header: "run — running", Code: &bot.Code{Text: "line 1"}})

	h.fake.Disconnect("refresh_requested")
	eventually(t, "replacement connection", func() bool { return h.fake.Connections() == 2 })
	eventually(t, "old connection closed", func() bool { return h.fake.OpenConnections() == 1 })
	if err := h.a.Ready(); err != nil {
		t.Fatalf("not ready after refresh: %v", err)
	}
	// Events now arrive on the new connection while the stream goes on.
	h.command("/runbook", "status r1", "UALICE", "C1")
	if cmd := h.ev.next(t).(*bot.Command); cmd.Text != "status r1" {
		t.Fatalf("command = %+v", cmd)
	}
	if acks := h.fake.Acks(); acks[len(acks)-1].Conn != 2 {
		t.Fatalf("ack on connection %d, want 2", acks[len(acks)-1].Conn)
	}
	st.Update(bot.Message{Header: "run — running", Code: &bot.Code{Text: "line 2"}})
	if err := st.Close(ctx, bot.Message{Header: "run — succeeded", Code: &bot.Code{Text: "line 3"}}); err != nil {
		t.Fatal(err)
	}
	m, _ := h.fake.Message("C1", ref.ID)
	if !strings.Contains(m.Text, "succeeded") {
		t.Fatalf("final = %q", m.Text)
	}
}

func TestSocketWatchdog(t *testing.T) {
	h := newHarness(t, ModeSocket, func(_ *config.Slack, d *Deps) { d.WatchdogTimeout = 300 * time.Millisecond })
	// The replacement is slowed down by a 429 on apps.connections.open, so
	// that the not-ready window can be observed.
	h.fake.Force429("apps.connections.open", 1)
	h.fake.Silence(true)
	eventually(t, "not ready while the connection is dead", func() bool { return h.a.Ready() != nil })
	h.fake.Silence(false)
	eventually(t, "watchdog reconnect", func() bool { return h.fake.Connections() >= 2 })
	h.waitReady()
	if early := h.fake.Early(); len(early) > 0 {
		t.Fatalf("reconnected before Retry-After:\n%s", fmtCalls(early))
	}
	h.command("/runbook", "list", "UALICE", "C1")
	h.ev.next(t)
}

func TestFatalTokens(t *testing.T) {
	cases := []struct {
		name string
		opt  option
		want string
	}{
		{"bot token", func(c *config.Slack, _ *Deps) { c.BotToken = "xoxb-revoked" }, "slack.bot_token"},
		{"app token", func(c *config.Slack, _ *Deps) { c.AppToken = "xapp-revoked" }, "slack.app_token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fake := slacktest.New()
			defer fake.Close()
			cfg := config.Slack{Mode: ModeSocket, BotToken: slacktest.BotToken, AppToken: slacktest.AppToken, APIURL: fake.URL}
			deps := Deps{ReconnectBackoff: time.Millisecond}
			c.opt(&cfg, &deps)
			a, err := New(cfg, deps, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- a.Run(context.Background(), newEvents()) }()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(tebura.ErrorMessage(err), c.want) || !strings.Contains(err.Error(), "invalid_auth") {
					t.Fatalf("Run = %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run kept retrying a refused token")
			}
			if n := len(fake.Calls("apps.connections.open")); n > 1 {
				t.Fatalf("%d connection attempts with a refused token", n)
			}
			if a.Ready() == nil {
				t.Fatal("ready with a refused token")
			}
		})
	}
}

func TestReadyFollowsConnection(t *testing.T) {
	fake := slacktest.New()
	defer fake.Close()
	a, err := New(config.Slack{BotToken: slacktest.BotToken, AppToken: slacktest.AppToken, APIURL: fake.URL}, Deps{}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if a.Ready() == nil {
		t.Fatal("ready before Run")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, newEvents()) }()
	eventually(t, "ready", func() bool { return a.Ready() == nil })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a.Ready() == nil {
		t.Fatal("ready after Run returned")
	}
}

func TestDoctor(t *testing.T) {
	for _, mode := range []string{ModeSocket, ModeHTTP} {
		t.Run(mode+"/healthy", func(t *testing.T) {
			h := newHarness(t, mode)
			for _, c := range h.a.Doctor(context.Background()) {
				if !c.OK {
					t.Errorf("%s: %s", c.Name, c.Detail)
				}
			}
		})
	}
	t.Run("problems", func(t *testing.T) {
		h := newHarness(t, ModeSocket, func(c *config.Slack, _ *Deps) { c.Channels.Incidents = "CNOBOT" })
		h.fake.SetScopes("commands", "chat:write", "channels:manage", "groups:write", "usergroups:read")
		h.a.scopes.Store(nil) // forget what earlier calls reported: read it again
		checks := map[string]bot.Check{}
		for _, c := range h.a.Doctor(context.Background()) {
			checks[c.Name] = c
		}
		if c := checks["slack bot scopes"]; c.OK || !strings.Contains(c.Detail, "files:write") || strings.Contains(c.Detail, "chat:write") {
			t.Errorf("scopes check = %+v", c)
		}
		if c := checks["slack channel CNOBOT"]; c.OK || !strings.Contains(c.Detail, "/invite") {
			t.Errorf("channel check = %+v", c)
		}
	})
}

// TestDoctorSigningSecret: doctor cannot prove the signing secret is the
// app's (Slack sends no request on demand), so it says so, and fails the
// values that can never be right: a token in its place, or what a copy
// added to it. It never shows the secret.
func TestDoctorSigningSecret(t *testing.T) {
	fake := newFake(t)
	cases := []struct {
		name   string
		secret string
		ok     bool
		detail string
	}{
		{"plausible", testSecret, true, "cannot tell"},
		{"bot token", slacktest.BotToken, false, "holds a Slack token"},
		{"app token", slacktest.AppToken, false, "holds a Slack token"},
		{"user token", "xoxp-1-2-3-abcdef", false, "holds a Slack token"},
		{"trailing newline", testSecret + "\n", false, "line breaks"},
		{"surrounding spaces", " " + testSecret + " ", false, "spaces"},
		{"kept quotes", `"` + testSecret + `"`, false, "quotes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := New(config.Slack{
				Enabled: true, Mode: ModeHTTP, BotToken: slacktest.BotToken, SigningSecret: config.Secret(c.secret),
				APIURL: fake.URL,
			}, Deps{Deduper: newMapDeduper(), HTTPClient: fake.Client()}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			var got *bot.Check
			for _, ch := range a.Doctor(context.Background()) {
				if ch.Name == "slack signing secret" {
					got = &ch
				}
			}
			if got == nil {
				t.Fatal("no signing secret check")
			}
			if got.OK != c.ok || !strings.Contains(got.Detail, c.detail) {
				t.Fatalf("check = %+v, want ok=%v and %q", *got, c.ok, c.detail)
			}
			if strings.Contains(got.Detail, strings.TrimSpace(strings.Trim(c.secret, `"`))) {
				t.Fatalf("the detail shows the secret: %s", got.Detail)
			}
		})
	}
}

func TestGroupFailureIsRemembered(t *testing.T) {
	h := newHarness(t, ModeHTTP)
	h.fake.Force429("usergroups.list", 30)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := h.a.groups.of(ctx, "UBOB"); err == nil {
		t.Fatal("no error while Slack rate-limits usergroups.list")
	}
	// Within groupRetry, events do not wait for the group lookup again.
	t0 := time.Now()
	h.command("/runbook", "list", "UBOB", "C1")
	cmd := h.ev.next(t).(*bot.Command)
	if d := time.Since(t0); d > time.Second || len(cmd.Actor.Groups) != 0 {
		t.Fatalf("command took %v, groups %v", d, cmd.Actor.Groups)
	}
	if n := len(h.fake.Calls("usergroups.list")); n != 1 {
		t.Fatalf("usergroups.list called %d times, want 1", n)
	}
}

// TestReplayedRequestsHandledOnce re-sends captured signed HTTP-mode
// requests (same headers, same body) inside the signature window: each
// slash command and click is handled once, the replay still gets 200, and
// a restarted adapter on the same bolt file remembers them.
func TestReplayedRequestsHandledOnce(t *testing.T) {
	clickWithout := func(drop ...string) func(h *harness) []byte {
		return func(h *harness) []byte {
			p := slacktest.BlockAction("UBOB", "C1", "1700000000.000100", "approve", "cb-1", h.fake.ResponseURL())
			for _, k := range drop {
				if k == "action_ts" {
					p["actions"].([]map[string]any)[0]["action_ts"] = ""
					continue
				}
				delete(p, k)
			}
			b, err := jsonString(p)
			if err != nil {
				t.Fatal(err)
			}
			return form(map[string]string{"payload": b})
		}
	}
	cases := []struct {
		name string
		path string
		body func(h *harness) []byte
	}{
		{"slash command", PathCommands, func(h *harness) []byte {
			return form(slacktest.SlashCommand("/runbook", "run restart-api", "UALICE", "C1", h.fake.ResponseURL()))
		}},
		{"slash command without trigger_id", PathCommands, func(h *harness) []byte {
			p := slacktest.SlashCommand("/runbook", "run restart-api", "UALICE", "C1", h.fake.ResponseURL())
			delete(p, "trigger_id")
			return form(p)
		}},
		{"click", PathInteractions, clickWithout()},
		{"click without trigger_id", PathInteractions, clickWithout("trigger_id")},
		{"click without trigger_id and action_ts", PathInteractions, clickWithout("trigger_id", "action_ts")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tebura.db")
			store, err := bolt.Open(path, bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, ModeHTTP, func(_ *config.Slack, d *Deps) { d.Deduper = store })
			body := c.body(h)
			ts := h.clock.Now().Unix()
			captured := func(r *http.Request) {
				r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
				r.Header.Set(HeaderSignature, Sign(testSecret, ts, body))
			}
			replay := func() {
				t.Helper()
				if code, resp := h.signed(c.path, "application/x-www-form-urlencoded", body, captured); code != http.StatusOK || resp != "" {
					t.Fatalf("got %d %q, want 200 with no body", code, resp)
				}
			}
			sentinel := func(text string) {
				t.Helper()
				h.command("/runbook", text, "UALICE", "C1")
				for {
					if cmd, ok := h.ev.next(t).(*bot.Command); ok && cmd.Text == text {
						return
					}
				}
			}
			const dropped = "slack duplicate request dropped"
			replay()
			replay()
			eventually(t, "the replay dropped", func() bool { return h.logs.count(dropped) == 1 })
			sentinel("sentinel 1")
			if n := h.ev.count(); n != 2 {
				t.Fatalf("handled %d events, want the request once and the sentinel", n)
			}

			h.stop()
			if err := store.Close(); err != nil {
				t.Fatal(err)
			}
			store, err = bolt.Open(path, bolt.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = store.Close() })
			h.deps.Deduper = store
			h.start()
			replay()
			eventually(t, "the replay after restart dropped", func() bool { return h.logs.count(dropped) == 2 })
			sentinel("sentinel 2")
			if n := h.ev.count(); n != 3 {
				t.Fatalf("after restart: handled %d events, want 3 (the replay dropped)", n)
			}
			if strings.Contains(h.logs.text(), "restart-api") || strings.Contains(h.logs.text(), "trig.") {
				t.Fatalf("the log shows the payload:\n%s", h.logs.text())
			}
		})
	}
}

// TestResponseURLNeverLogged makes the response_url POST fail, both on the
// wire and with an error status, and checks that the URL (a capability that
// posts into the channel) reaches neither the log nor the caller, while the
// reply still arrives through chat.postEphemeral.
func TestResponseURLNeverLogged(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connection refused: the client's *url.Error quotes the URL
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusForbidden)
	}))
	t.Cleanup(refusing.Close)
	const secretPath = "/commands/T0TEST/1234/Zk9sZWFrLXRoaXMtdG9rZW4"
	for _, c := range []struct{ name, url string }{
		{"connection refused", deadURL + secretPath},
		{"status 403", refusing.URL + secretPath},
		{"unparseable", "http://[::1" + secretPath},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, ModeHTTP)
			rep := h.a.newReplier("C1", "UALICE", "", c.url)
			if err := rep.Private(context.Background(), bot.Message{Text: []string{"only for you"}}); err != nil {
				t.Fatalf("Private = %v, want the chat.postEphemeral fallback", err)
			}
			eventually(t, "the failure logged", func() bool { return h.logs.count("slack response_url failed") == 1 })
			if logs := h.logs.text(); strings.Contains(logs, "Zk9sZWFrLXRoaXMtdG9rZW4") {
				t.Fatalf("the response_url reached the log:\n%s", logs)
			}
			err := h.a.respond(context.Background(), c.url, "ephemeral", bot.Message{Text: []string{"x"}})
			if err == nil || strings.Contains(err.Error(), "Zk9sZWFrLXRoaXMtdG9rZW4") {
				t.Fatalf("respond error = %v, want an error without the URL", err)
			}
			eph := 0
			for _, m := range h.fake.Messages("C1") {
				if m.Ephemeral && m.User == "UALICE" {
					eph++
				}
			}
			if eph != 1 {
				t.Fatalf("%d chat.postEphemeral, want the fallback once", eph)
			}
		})
	}
}

// TestScrub hides the path and query of every URL in an error, wrapped or
// not, and keeps the error chain.
func TestScrub(t *testing.T) {
	ue := &url.Error{Op: "Post", URL: "https://hooks.slack.com/actions/T1/2/SECRET", Err: errors.New("EOF")}
	cases := []struct {
		name string
		err  error
	}{
		{"url.Error", ue},
		{"wrapped url.Error", fmt.Errorf("upload: %w", &url.Error{Op: "Post", URL: "https://files.slack.com/upload/v1/SECRET", Err: io.ErrUnexpectedEOF})},
		{"wss in text", errors.New(`dial wss://wss-primary.slack.com/link/?ticket=SECRET&app_id=A1: refused`)},
		{"http in text", errors.New(`Post "http://127.0.0.1:9/commands/SECRET": refused`)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := scrub(c.err)
			if strings.Contains(got.Error(), "SECRET") {
				t.Fatalf("scrub = %q", got)
			}
			if !errors.Is(got, c.err) {
				t.Fatalf("scrub lost the chain")
			}
		})
	}
	if got := scrub(errors.New("plain")); got.Error() != "plain" {
		t.Fatalf("scrub(plain) = %q", got)
	}
	if scrub(nil) != nil {
		t.Fatal("scrub(nil) != nil")
	}
}
