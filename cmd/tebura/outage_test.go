package main

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/slack/slacktest"
)

// outageSigningSecret signs the slash commands of the outage tests.
const outageSigningSecret = "outage-test-signing-secret"

// outageConfig is a server on Slack (HTTP mode, against api) whose one
// runbook, quick, ends at once and may be run by U0ALICE.
func outageConfig(t *testing.T, api *slacktest.Server) string {
	t.Helper()
	dir := t.TempDir()
	cfg := `data_dir: ` + filepath.Join(dir, "data") + `
http: {listen: "127.0.0.1:0"}
runbooks: {dirs: [` + filepath.Join(dir, "rb") + `]}
access:
  roles:
    sre: {members: ["slack:U0ALICE"]}
bot: {stream_interval: 10ms}
console: {enabled: "false"}
slack: {enabled: true, mode: http, bot_token: ` + slacktest.BotToken + `, signing_secret: ` + outageSigningSecret + `, api_url: ` + api.URL + `}
`
	quick := `name: quick
description: Says hello and ends
kind: diagnostic
allow: [sre]
timeout: 30s
steps:
  - {name: hello, run: [echo, "hello from quick"]}
`
	writeFiles(t, dir, map[string]string{"tebura.yaml": cfg, "rb/quick.yaml": quick})
	return filepath.Join(dir, "tebura.yaml")
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// served is a tebura serve process started from the built binary.
type served struct {
	p    *proc
	base string
}

// serveBinary starts `tebura serve` on config and waits until it is ready.
func serveBinary(t *testing.T, config string) *served {
	t.Helper()
	p := startProc(t, "serve", "--config", config)
	addrRe := regexp.MustCompile(`msg="tebura serving" addr=(\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := addrRe.FindStringSubmatch(p.errb.String()); m != nil {
			s := &served{p: p, base: "http://" + m[1]}
			waitReady(t, s.base)
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve never said it was serving:\n%s", p.errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (s *served) stop(t *testing.T) {
	t.Helper()
	if err := s.p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-s.p.done:
		s.p.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
}

// slash posts a signed /runbook slash command from U0ALICE in C1.
func (s *served) slash(t *testing.T, api *slacktest.Server, text string) {
	t.Helper()
	form := url.Values{"command": {"/runbook"}, "text": {text}, "user_id": {"U0ALICE"}, "user_name": {"alice"},
		"channel_id": {"C1"}, "team_id": {slacktest.TeamID}, "response_url": {api.ResponseURL()}, "trigger_id": {slacktest.TriggerID()}}
	body := form.Encode()
	stamp := fmt.Sprint(time.Now().Unix())
	mac := hmac.New(sha256.New, []byte(outageSigningSecret))
	io.WriteString(mac, "v0:"+stamp+":"+body)
	req, err := http.NewRequest(http.MethodPost, s.base+"/slack/commands", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", stamp)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("slash command answered %d", resp.StatusCode)
	}
}

// metric reads one sample of GET /metrics ("" when absent).
func (s *served) metric(t *testing.T, series string) string {
	t.Helper()
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return v
		}
	}
	return ""
}

// waitFor polls cond every 20 ms until it holds, failing after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// quickMessages are the channel messages of the quick runbook's runs.
func quickMessages(api *slacktest.Server) []slacktest.Message {
	var out []slacktest.Message
	for _, m := range api.Messages("C1") {
		if !m.Ephemeral && strings.Contains(m.Text+string(m.Blocks), "quick") {
			out = append(out, m)
		}
	}
	return out
}

// awaitKept waits until quick's run has ended and its message waits in the
// outbox, checking that nothing reached the channel meanwhile.
func awaitKept(t *testing.T, s *served, api *slacktest.Server) {
	t.Helper()
	waitFor(t, 20*time.Second, "quick's run ends during the outage", func() bool {
		return s.metric(t, `tebura_runs_total{runbook="quick",state="succeeded"}`) == "1"
	})
	waitFor(t, 20*time.Second, "its message is kept in the outbox", func() bool {
		return s.metric(t, `tebura_chat_outbox_pending{platform="slack"}`) == "1"
	})
	if api.Refused() == 0 {
		t.Fatal("nothing tried the Web API during the outage; the test would prove nothing")
	}
	if n := len(quickMessages(api)); n != 0 {
		t.Fatalf("%d messages reached the channel during the outage", n)
	}
}

// checkFinal checks that quick's run is one message in C1 carrying its
// final frame.
func checkFinal(t *testing.T, api *slacktest.Server) {
	t.Helper()
	msgs := quickMessages(api)
	if len(msgs) != 1 {
		t.Fatalf("%d messages of quick in the channel, want 1: %+v", len(msgs), msgs)
	}
	body := msgs[0].Text + string(msgs[0].Blocks)
	if !strings.Contains(body, "succeeded") || !strings.Contains(body, "hello from quick") {
		t.Errorf("the run's message is not its final frame:\n%s", body)
	}
	if msgs[0].Edits != 0 {
		t.Errorf("the message was edited %d times; a message kept during the outage goes out once with its final state", msgs[0].Edits)
	}
}

// TestSlashCommandDuringOutage (issue 12, black box): a slash command
// acknowledged while the Slack Web API is unreachable for 5 s runs its
// runbook, and its run's final frame reaches the channel once the API is
// back.
func TestSlashCommandDuringOutage(t *testing.T) {
	cleanEnv(t)
	api := slacktest.New()
	t.Cleanup(api.Close)
	api.AddChannel("C1", "general", true)
	s := serveBinary(t, outageConfig(t, api))

	api.SetOutage(true)
	back := time.Now().Add(5 * time.Second)
	s.slash(t, api, "run quick")
	awaitKept(t, s, api)
	time.Sleep(time.Until(back)) // the outage lasts its 5 s whatever the run did
	api.SetOutage(false)

	waitFor(t, 30*time.Second, "quick's final frame reaches the channel", func() bool { return len(quickMessages(api)) > 0 })
	checkFinal(t, api)
	waitFor(t, 10*time.Second, "the outbox is empty", func() bool {
		return s.metric(t, `tebura_chat_outbox_pending{platform="slack"}`) == "0"
	})
	if kept := s.metric(t, `tebura_chat_outbox_kept_total{platform="slack"}`); kept == "0" || kept == "" {
		t.Errorf("tebura_chat_outbox_kept_total = %q, want the kept message counted", kept)
	}
	s.stop(t)
	if log := s.p.errb.String(); !strings.Contains(log, "chat message delivered after an outage") {
		t.Errorf("no log line says the kept message was delivered:\n%s", log)
	}
}

// TestOutboxSurvivesRestart (issue 12, black box): messages kept during an
// outage are in the store; after SIGTERM and a new start, with the API
// back, they reach the channel.
func TestOutboxSurvivesRestart(t *testing.T) {
	cleanEnv(t)
	api := slacktest.New()
	t.Cleanup(api.Close)
	api.AddChannel("C1", "general", true)
	config := outageConfig(t, api)
	s := serveBinary(t, config)

	api.SetOutage(true)
	s.slash(t, api, "run quick")
	awaitKept(t, s, api)
	s.stop(t)
	if n := len(quickMessages(api)); n != 0 {
		t.Fatalf("%d messages reached the channel before the restart", n)
	}
	api.SetOutage(false)

	s2 := serveBinary(t, config)
	waitFor(t, 30*time.Second, "quick's final frame reaches the channel after the restart", func() bool { return len(quickMessages(api)) > 0 })
	checkFinal(t, api)
	s2.stop(t)
}
