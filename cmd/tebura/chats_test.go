package main

import (
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/tebura/tebura/bot"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSlack answers auth.test (ok or invalid_auth) and records every other
// call's path and body.
type fakeSlack struct {
	srv     *httptest.Server
	badAuth bool
	mu      sync.Mutex
	calls   []string
}

func newFakeSlack(t *testing.T, badAuth bool) *fakeSlack {
	f := &fakeSlack{badAuth: badAuth}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/auth.test") {
			if f.badAuth {
				io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
				return
			}
			io.WriteString(w, `{"ok":true,"team_id":"T1","user_id":"UBOT","bot_id":"B1"}`)
			return
		}
		f.mu.Lock()
		f.calls = append(f.calls, r.URL.Path+" "+string(body))
		f.mu.Unlock()
		io.WriteString(w, `{"ok":true,"channel":"C1","ts":"1700000000.000100","message_ts":"1700000000.000100"}`)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) seen(s string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if strings.Contains(c, s) {
			return true
		}
	}
	return false
}

func slackConfig(api string) string {
	return strings.Replace(baseConfig(""), `console: {enabled: "true", user: alice, channel: console}`, `console: {enabled: auto}
slack: {enabled: true, mode: http, bot_token: xoxb-1-2-fake, signing_secret: sign-s3cret, api_url: `+api+`/api/}`, 1)
}

// TestServeSlackHTTPMode: with Slack enabled in HTTP mode the console is
// off (auto), the Slack routes are on the shared listener, unsigned
// requests get 401, a signed /runbook list is answered through Slack's
// API, and /readyz counts Slack.
func TestServeSlackHTTPMode(t *testing.T) {
	cleanEnv(t)
	fake := newFakeSlack(t, false)
	dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "tebura.yaml": slackConfig(fake.srv.URL)})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
	if _, ok := ts.srv.chats["console"]; ok {
		t.Error("console enabled beside Slack with console.enabled auto")
	}
	if _, ok := bot.OutboxOf(ts.srv.chats["slack"]); !ok {
		t.Error("the Slack chat is not behind an outbox: an API outage would lose cards")
	}
	form := url.Values{"command": {"/runbook"}, "text": {"list"}, "user_id": {"U0ALICE"}, "user_name": {"alice"},
		"channel_id": {"C1"}, "team_id": {"T1"}, "response_url": {fake.srv.URL + "/respond"}, "trigger_id": {"1.2"}}
	body := form.Encode()
	if code := post(t, ts.base+"/slack/commands", []byte(body)); code != http.StatusUnauthorized {
		t.Fatalf("unsigned slash command: %d, want 401", code)
	}
	stamp := fmt.Sprint(time.Now().Unix())
	mac := hmac.New(sha256.New, []byte("sign-s3cret"))
	fmt.Fprintf(mac, "v0:%s:%s", stamp, body)
	req, _ := http.NewRequest(http.MethodPost, ts.base+"/slack/commands", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", stamp)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed slash command: %d", resp.StatusCode)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !fake.seen("You may not run any runbook yet") {
		if time.Now().After(deadline) {
			t.Fatalf("the answer never reached Slack; calls: %q", fake.calls)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if bad := ts.app.Ready(context.Background()); len(bad) > 0 {
		t.Errorf("not ready: %v", bad)
	}
}

// TestServeStopsOnRefusedSlackToken: a token Slack refuses stops serve
// with an error naming the key.
func TestServeStopsOnRefusedSlackToken(t *testing.T) {
	cleanEnv(t)
	fake := newFakeSlack(t, true)
	dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "tebura.yaml": slackConfig(fake.srv.URL)})
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "", "serve", "--config", filepath.Join(dir, "tebura.yaml"))
	if code == 0 || !strings.Contains(errOut, "slack.bot_token") {
		t.Fatalf("serve with a refused token: exit %d\n%s", code, errOut)
	}
	if strings.Contains(errOut, "xoxb-1-2-fake") {
		t.Errorf("the token was printed:\n%s", errOut)
	}
}

// TestServeDiscordHTTPMode: with Discord in HTTP mode the interactions
// endpoint is on the shared listener, checks Ed25519 signatures, answers
// PING, and the commands were registered through the REST API.
func TestServeDiscordHTTPMode(t *testing.T) {
	cleanEnv(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var calls []string
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, r.Method+" "+r.URL.Path)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/users/@me"):
			io.WriteString(w, `{"id":"900","username":"tebura","bot":true}`)
		case strings.HasSuffix(r.URL.Path, "/commands"):
			io.WriteString(w, `[]`)
		default:
			io.WriteString(w, `{}`)
		}
	}))
	defer fake.Close()
	cfg := strings.Replace(baseConfig(""), `console: {enabled: "true", user: alice, channel: console}`, `console: {enabled: auto}
discord: {enabled: true, mode: http, bot_token: discord-bot-tok, application_id: "123456789012345678", public_key: `+hex.EncodeToString(pub)+`, api_url: `+fake.URL+`/api/v10}`, 1)
	dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "tebura.yaml": cfg})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
	if code := post(t, ts.base+"/discord/interactions", []byte(`{"type":1}`)); code != http.StatusUnauthorized {
		t.Fatalf("unsigned interaction: %d, want 401", code)
	}
	body := `{"type":1,"id":"1","application_id":"123456789012345678","token":"t","version":1}`
	stamp := fmt.Sprint(time.Now().Unix())
	sig := ed25519.Sign(priv, []byte(stamp+body))
	req, _ := http.NewRequest(http.MethodPost, ts.base+"/discord/interactions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(sig))
	req.Header.Set("X-Signature-Timestamp", stamp)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(got), `"type":1`) {
		t.Fatalf("signed PING: %d %s", resp.StatusCode, got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(ts.app.Ready(context.Background())) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v (calls %q)", ts.app.Ready(context.Background()), calls)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(calls, "\n"), "PUT /api/v10/applications/123456789012345678/commands") {
		t.Errorf("commands not registered; calls: %q", calls)
	}
}
