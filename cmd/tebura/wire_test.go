package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/bot/slack/slacktest"
	"github.com/tebura/tebura/incident/incidenttest"
)

// outEvent is one JSON line the console writes.
type outEvent struct {
	Type    string      `json:"type"`
	Ref     string      `json:"ref"`
	Frame   int         `json:"frame"`
	To      string      `json:"to"`
	Message bot.Message `json:"message"`
	Buttons []struct {
		Index      int    `json:"index"`
		Label      string `json:"label"`
		ActionID   string `json:"action_id"`
		CallbackID string `json:"callback_id"`
	} `json:"buttons"`
	File *struct {
		Name    string `json:"name"`
		Content string `json:"content"`
	} `json:"file"`
	Error string `json:"error"`
}

// text is everything the event shows, for substring checks.
func (e outEvent) text() string {
	parts := append([]string{e.Message.Header, e.Message.Context, e.Error}, e.Message.Text...)
	for _, f := range e.Message.Fields {
		parts = append(parts, f.Label+": "+f.Value)
	}
	if e.Message.Code != nil {
		parts = append(parts, e.Message.Code.Text)
	}
	if e.File != nil {
		parts = append(parts, e.File.Content)
	}
	return strings.Join(parts, "\n")
}

// callback returns the callback ID of the button with action id.
func (e outEvent) callback(action string) string {
	for _, b := range e.Buttons {
		if b.ActionID == action {
			return b.CallbackID
		}
	}
	return ""
}

// parseEvents parses the complete JSON lines of out.
func parseEvents(t *testing.T, out string) []outEvent {
	t.Helper()
	var evs []outEvent
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e outEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			continue // a line still being written
		}
		evs = append(evs, e)
	}
	return evs
}

// waitEvent polls out until an event satisfies ok, with a deadline.
func waitEvent(t *testing.T, out interface{ String() string }, what string, ok func(outEvent) bool) outEvent {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, e := range parseEvents(t, out.String()) {
			if ok(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s; the console wrote:\n%s", what, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func headerIs(h string) func(outEvent) bool {
	return func(e outEvent) bool { return e.Message.Header == h }
}

// testServer is `tebura serve` wired in-process: port 0, a temp data dir,
// the console in JSON mode on a pipe.
type testServer struct {
	srv    *server
	app    *App
	base   string
	in     *io.PipeWriter
	out    *bottest.SyncBuffer
	logs   *bottest.SyncBuffer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startServer wires and runs the server of the config at path, logging at
// level into ts.logs.
func startServer(t *testing.T, path, level string) *testServer {
	t.Helper()
	return startServerWith(t, path, level, nil)
}

// startServerWith is startServer with a hook that may change the wiring
// before the server runs.
func startServerWith(t *testing.T, path, level string, hook func(*server)) *testServer {
	t.Helper()
	w, ps, _ := loadWorld(path)
	if len(ps) > 0 {
		t.Fatalf("config problems: %v", ps)
	}
	ts := &testServer{out: &bottest.SyncBuffer{}, logs: &bottest.SyncBuffer{}, done: make(chan error, 1)}
	logger := newLoggerLevel("text", level, ts.logs)
	app, err := NewApp(w.Config, logger)
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	srv, err := wire(app, wireOptions{ConfigPath: path, In: inR, Out: ts.out, JSON: true,
		Getenv: func(string) string { return "" }})
	if err != nil {
		app.Close()
		t.Fatal(err)
	}
	if hook != nil {
		hook(srv)
	}
	ts.srv, ts.app, ts.in, ts.base = srv, app, inW, "http://"+app.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- app.Run(ctx) }()
	t.Cleanup(func() { ts.stop(t) })
	waitReady(t, ts.base)
	return ts
}

// send writes one JSON event to the console.
func (ts *testServer) send(t *testing.T, ev map[string]any) {
	t.Helper()
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.in.Write(append(b, '\n')); err != nil {
		t.Fatal(err)
	}
}

// stop shuts the server down as SIGTERM would and checks it stopped cleanly.
func (ts *testServer) stop(t *testing.T) {
	ts.once.Do(func() {
		ts.cancel()
		ts.in.Close()
		select {
		case err := <-ts.done:
			if err != nil {
				t.Errorf("serve ended with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
}

// post sends body to path with headers and returns the status.
func post(t *testing.T, url string, body []byte, headers ...string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Runbooks of the wiring tests: a diagnostic that runs by itself and a
// remediation behind one approval by sre.
const (
	checkAPIBook = `name: check-api
description: Look at the API
kind: diagnostic
params:
  - {name: service, type: string, pattern: '[a-z][a-z0-9-]{0,40}', default: api}
allow: [sre, dev]
timeout: 30s
steps:
  - name: look
    run: [echo, "checking {{ .Params.service }}"]
`
	restartAPIBook = `name: restart-api
description: Restart the API
kind: remediation
params:
  - {name: env, type: enum, values: [staging, prod], required: true}
allow: [dev]
approval: {required: 1, approvers: [sre], expires: 15m}
lock: "restart-api-{{ .Params.env }}"
timeout: 30s
steps:
  - name: restart
    run: [echo, "restarting api in {{ .Params.env }}"]
`
)

// writeTree writes files (relative path → content) under a new temp dir
// and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// baseConfig is a serve config over dir's runbooks; extra is appended.
func baseConfig(extra string) string {
	return `data_dir: data
http: {listen: "127.0.0.1:0"}
runbooks: {dirs: [rb]}
access:
  roles:
    sre: {members: [console:bob]}
    dev: {members: [console:alice]}
  admins: [console:root]
bot: {stream_interval: 10ms}
console: {enabled: "true", user: alice, channel: console}
` + extra
}

const incidentConfig = `sources:
  alertmanager: {bearer_token: am-bearer-token-1}
incidents: {announce_channel: console}
automations:
  - name: api-latency
    match: ['alertname="HighLatency"']
    diagnostics: [check-api]
    suggest: [restart-api]
    params: {service: '{{ .Labels.service }}', env: prod}
    once_within: 30m
`

// TestServeWebhookOpensIncident: with the console on a pipe whose input
// has already ended (the server keeps serving), the example Alertmanager
// payload opens an incident in the console's channel, the diagnostic
// streams to its final frame and the remediation is proposed.
func TestServeWebhookOpensIncident(t *testing.T) {
	cleanEnv(t)
	dir := writeTree(t, map[string]string{
		"rb/check.yaml": checkAPIBook, "rb/restart.yaml": restartAPIBook,
		"tebura.yaml": baseConfig(incidentConfig),
	})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
	ts.in.Close() // end of console input must not stop the server
	payload, err := os.ReadFile(filepath.Join("..", "..", "examples", "alertmanager", "firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	if code := post(t, ts.base+"/hooks/alertmanager", payload); code != http.StatusUnauthorized {
		t.Fatalf("without the bearer token: %d, want 401", code)
	}
	if code := post(t, ts.base+"/hooks/alertmanager", payload, "Authorization", "Bearer am-bearer-token-1"); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	waitEvent(t, ts.out, "the incident card", func(e outEvent) bool {
		return strings.HasPrefix(e.Message.Header, "Incident #1: HighLatency on api")
	})
	diag := waitEvent(t, ts.out, "the diagnostic's final frame", headerIs("check-api — succeeded"))
	if !strings.Contains(diag.text(), "checking api") || !strings.Contains(diag.text(), "automation:api-latency") {
		t.Errorf("diagnostic frame:\n%s", diag.text())
	}
	card := waitEvent(t, ts.out, "the suggested remediation", headerIs("Approval needed: restart-api"))
	if card.callback("approve") == "" {
		t.Errorf("approval card without Approve: %+v", card)
	}
	// The same payload again changes nothing.
	if code := post(t, ts.base+"/hooks/alertmanager", payload, "Authorization", "Bearer am-bearer-token-1"); code != http.StatusOK {
		t.Fatalf("repeat answered %d", code)
	}
	ts.stop(t)
	n := 0
	for _, e := range parseEvents(t, ts.out.String()) {
		if e.Type == "post" && strings.HasPrefix(e.Message.Header, "Incident #") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d incident cards posted, want 1", n)
	}
	path := filepath.Join(dir, "tebura.yaml")
	out, errOut, code := runCLI(t, "", "incident", "list", "--config", path)
	if code != 0 || !strings.Contains(out, "#1") || !strings.Contains(out, "HighLatency on api") {
		t.Errorf("incident list: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "", "incident", "postmortem", "1", "--config", path)
	if code != 0 || !strings.Contains(out, "# Postmortem: #1 HighLatency on api") || !strings.Contains(out, "check-api") {
		t.Errorf("incident postmortem 1: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code := runCLI(t, "", "incident", "postmortem", "7", "--config", path); code == 0 {
		t.Error("postmortem of a missing incident exited 0")
	}
}

// TestReloadCommand: /tebura reload is for admins; a broken config is
// refused with the problem told to the admin and the old runbooks keep
// serving; a good one swaps the runbooks in.
func TestReloadCommand(t *testing.T) {
	cleanEnv(t)
	dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "tebura.yaml": baseConfig("")})
	path := filepath.Join(dir, "tebura.yaml")
	ts := startServer(t, path, "info")

	ts.send(t, map[string]any{"type": "command", "user": "alice", "text": "/tebura reload"})
	waitEvent(t, ts.out, "alice refused", func(e outEvent) bool {
		return e.To == "alice" && strings.Contains(e.text(), "Only admins may reload")
	})

	good := baseConfig("")
	if err := os.WriteFile(path, []byte(good+"redact: {values: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts.send(t, map[string]any{"type": "command", "user": "root", "text": "/tebura reload"})
	refused := waitEvent(t, ts.out, "the refusal", func(e outEvent) bool {
		return e.To == "root" && strings.Contains(e.text(), "was not loaded")
	})
	if !strings.Contains(refused.text(), "not valid YAML") {
		t.Errorf("refusal does not say what is wrong:\n%s", refused.text())
	}
	if !strings.Contains(ts.logs.String(), "reload refused") {
		t.Errorf("the refusal is not logged:\n%s", ts.logs.String())
	}
	ts.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook describe check-api"})
	waitEvent(t, ts.out, "the old runbook still served", func(e outEvent) bool {
		return e.To == "alice" && strings.Contains(e.text(), "Look at the API")
	})

	if err := os.WriteFile(filepath.Join(dir, "rb", "restart.yaml"), []byte(restartAPIBook), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(good, "stream_interval: 10ms", "stream_interval: 20ms", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	ts.send(t, map[string]any{"type": "command", "user": "root", "text": "/tebura reload"})
	ok := waitEvent(t, ts.out, "the reload", func(e outEvent) bool {
		return e.To == "root" && strings.Contains(e.text(), "Reloaded runbooks")
	})
	if !strings.Contains(ok.text(), "bot") {
		t.Errorf("a changed bot section should be named as needing a restart:\n%s", ok.text())
	}
	ts.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run restart-api env=prod"})
	waitEvent(t, ts.out, "the new runbook's approval card", headerIs("Approval needed: restart-api"))
}

// TestLogSecretsNeverLeak runs a whole flow at debug level with configured
// secrets — a redact.values entry printed by runbooks, a secret param,
// webhook credentials of every source (Alertmanager bearer token and
// basic-auth password, Grafana HMAC secret, PagerDuty webhook secret), the
// Slack bot token and signing secret (HTTP mode against slacktest) — posts
// signed webhooks and signed slash commands, one of them with a
// response_url that fails, and finds none of the secrets, nor that
// response_url (a capability), in the logs, the console output or the
// audit export.
func TestLogSecretsNeverLeak(t *testing.T) {
	cleanEnv(t)
	const (
		redactValue   = "Zq9-redact-value-77"
		paramSecret   = "Pk4-param-secret-88"
		bearer        = "Wb7-webhook-bearer-99"
		amPassword    = "Ba1-am-basic-password-11"
		grafanaHMAC   = "Gh3-grafana-hmac-secret-33"
		pdSecret      = "Pd2-pagerduty-webhook-secret-22"
		signingSecret = "Ss5-slack-signing-secret-44"
		responseToken = "RespURL-capability-66"
	)
	slackAPI := slacktest.New()
	t.Cleanup(slackAPI.Close)
	slackAPI.AddChannel("C1", "general", true)
	// A response_url whose server is gone: Slack's adapter must fall back
	// without logging the URL the failed POST quotes.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadResponseURL := dead.URL + "/commands/" + slacktest.TeamID + "/1234/" + responseToken
	dead.Close()

	leaky := `name: leaky
description: Prints what it is given
kind: remediation
params:
  - {name: token, type: string, secret: true, required: true}
allow: [dev]
approval: {required: 1, approvers: [sre]}
timeout: 30s
steps:
  - name: leak
    run: [/bin/sh, -c, 'echo "token=$API_TOKEN param=$TEBURA_PARAM_TOKEN value=` + redactValue + `"']
    env: {API_TOKEN: "{{ .Params.token }}"}
`
	diag := strings.Replace(checkAPIBook, `run: [echo, "checking {{ .Params.service }}"]`, `run: [echo, "checking {{ .Params.service }} with `+redactValue+`"]`, 1)
	sources := "  alertmanager: {bearer_token: " + bearer + ", basic_auth: {username: am, password: " + amPassword + "}}\n" +
		"  grafana: {hmac_secret: " + grafanaHMAC + "}\n" +
		"  pagerduty: {webhook_secret: " + pdSecret + "}\n"
	incidents := strings.Replace(incidentConfig, "  alertmanager: {bearer_token: am-bearer-token-1}\n", sources, 1)
	incidents = strings.Replace(incidents, "announce_channel: console", "announce_channel: C1", 1)
	cfg := baseConfig(incidents +
		"redact: {values: [" + redactValue + "]}\nlog: {level: debug}\n" +
		"slack: {enabled: true, mode: http, bot_token: " + slacktest.BotToken + ", signing_secret: " + signingSecret + ", api_url: " + slackAPI.URL + "}\n")
	dir := writeTree(t, map[string]string{"rb/check.yaml": diag, "rb/restart.yaml": restartAPIBook, "rb/leaky.yaml": leaky, "tebura.yaml": cfg})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "debug")

	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hexMAC := func(secret, msg string) string {
		mac := hmac.New(sha256.New, []byte(secret))
		io.WriteString(mac, msg)
		return hex.EncodeToString(mac.Sum(nil))
	}
	payload := read("alertmanager/firing.json")
	if code := post(t, ts.base+"/hooks/alertmanager", payload, "Authorization", "Bearer "+bearer); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	if code := post(t, ts.base+"/hooks/alertmanager", payload, "Authorization", "Bearer wrong-"+bearer); code != http.StatusUnauthorized {
		t.Fatalf("wrong token answered %d", code)
	}
	// With Slack enabled the incident is worked in a Slack channel.
	waitSlack(t, slackAPI, "the diagnostic", "check-api — succeeded")
	ts.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run leaky token=" + paramSecret})
	card := waitEvent(t, ts.out, "leaky's approval card", headerIs("Approval needed: leaky"))
	ts.send(t, map[string]any{"type": "click", "user": "bob", "callback_id": card.callback("approve")})
	done := waitEvent(t, ts.out, "leaky's final frame", headerIs("leaky — succeeded"))
	if !strings.Contains(done.text(), "token=*") {
		t.Errorf("the secret param was not shown masked:\n%s", done.text())
	}
	runID := strings.Fields(done.Message.Context)[1] // "run r2"
	ts.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook logs " + runID})
	ts.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook status " + runID})
	ts.send(t, map[string]any{"type": "wait"})
	ts.send(t, map[string]any{"type": "command", "user": "bob", "text": "/incident postmortem #1"})
	waitEvent(t, ts.out, "the postmortem", func(e outEvent) bool { return strings.Contains(e.text(), "# Postmortem: #1") })

	// The other sources, signed, and each once with a wrong credential.
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("am:"+amPassword))
	if code := post(t, ts.base+"/hooks/alertmanager", read("alertmanager/resolved.json"), "Authorization", basic); code != http.StatusOK {
		t.Errorf("basic-auth webhook answered %d", code)
	}
	if code := post(t, ts.base+"/hooks/alertmanager", payload, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("am:wrong-"+amPassword))); code != http.StatusUnauthorized {
		t.Errorf("wrong basic-auth password answered %d", code)
	}
	gf := read("grafana/firing.json")
	if code := post(t, ts.base+"/hooks/grafana", gf, "X-Grafana-Alerting-Signature", hexMAC(grafanaHMAC, string(gf))); code != http.StatusOK {
		t.Errorf("signed Grafana webhook answered %d", code)
	}
	if code := post(t, ts.base+"/hooks/grafana", gf, "X-Grafana-Alerting-Signature", hexMAC("wrong-"+grafanaHMAC, string(gf))); code != http.StatusUnauthorized {
		t.Errorf("badly signed Grafana webhook answered %d", code)
	}
	// PagerDuty refuses events older than 48 h: the example is stamped now.
	pd := incidenttest.Restamp(read("pagerduty/webhook-triggered.json"), time.Now())
	if code := post(t, ts.base+"/hooks/pagerduty", pd, "X-PagerDuty-Signature", "v1="+hexMAC(pdSecret, string(pd)), "X-Webhook-Id", "wh-1"); code/100 != 2 {
		t.Errorf("signed PagerDuty webhook answered %d", code)
	}
	if code := post(t, ts.base+"/hooks/pagerduty", pd, "X-PagerDuty-Signature", "v1="+hexMAC("wrong-"+pdSecret, string(pd)), "X-Webhook-Id", "wh-2"); code != http.StatusUnauthorized {
		t.Errorf("badly signed PagerDuty webhook answered %d", code)
	}

	// Slack slash commands, signed: one whose response_url fails (the
	// adapter falls back to chat.postEphemeral), one that works, and one
	// with a wrong signature.
	slash := func(responseURL, secret string) int {
		t.Helper()
		form := url.Values{"command": {"/runbook"}, "text": {"list"}, "user_id": {"U0ALICE"}, "user_name": {"alice"},
			"channel_id": {"C1"}, "team_id": {slacktest.TeamID}, "response_url": {responseURL}, "trigger_id": {slacktest.TriggerID()}}
		body := form.Encode()
		stamp := fmt.Sprint(time.Now().Unix())
		req, err := http.NewRequest(http.MethodPost, ts.base+"/slack/commands", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", stamp)
		req.Header.Set("X-Slack-Signature", "v0="+hexMAC(secret, "v0:"+stamp+":"+body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := slash(deadResponseURL, signingSecret); code != http.StatusOK {
		t.Fatalf("signed slash command: %d", code)
	}
	if code := slash(slackAPI.ResponseURL(), signingSecret); code != http.StatusOK {
		t.Fatalf("second signed slash command: %d", code)
	}
	if code := slash(slackAPI.ResponseURL(), "wrong-"+signingSecret); code != http.StatusUnauthorized {
		t.Errorf("slash command with a wrong signature: %d, want 401", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(slackAPI.Calls("chat.postEphemeral")) == 0 || len(slackAPI.Responses()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the Slack answers never arrived: ephemeral %d, response_url %d", len(slackAPI.Calls("chat.postEphemeral")), len(slackAPI.Responses()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	ts.stop(t)

	var auditOut bytes.Buffer
	if code := run(context.Background(), []string{"audit", "export", "--config", filepath.Join(dir, "tebura.yaml")}, strings.NewReader(""), &auditOut, io.Discard); code != 0 {
		t.Fatalf("audit export exit %d", code)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "level=DEBUG") {
		t.Fatal("no debug lines logged; the test would prove nothing")
	}
	if !strings.Contains(logs, "response_url failed") {
		t.Fatalf("the failing response_url was not exercised; the test would prove nothing:\n%s", logs)
	}
	secrets := []string{redactValue, paramSecret, bearer, amPassword, grafanaHMAC, pdSecret, signingSecret, slacktest.BotToken, responseToken}
	for name, text := range map[string]string{"logs": logs, "console": ts.out.String(), "audit": auditOut.String()} {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				for _, line := range strings.Split(text, "\n") {
					if strings.Contains(line, secret) {
						t.Errorf("%s contain the secret %q: %s", name, secret, line)
					}
				}
			}
		}
	}
	if !strings.Contains(ts.out.String(), "leaky") || auditOut.Len() == 0 {
		t.Fatal("the flow left no trace to check")
	}
}

// waitSlack waits until a call to the fake Slack carries text, or fails
// the test after 30 s.
func waitSlack(t *testing.T, api *slacktest.Server, what, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, c := range api.Calls() {
			for _, vs := range c.Form {
				for _, v := range vs {
					if strings.Contains(v, text) {
						return
					}
				}
			}
		}
		for _, f := range api.Files() {
			if strings.Contains(string(f.Content), text) || strings.Contains(f.Title, text) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s on Slack (%d calls)", what, len(api.Calls()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAutocompleteFiltersByAccess: Discord's runbook name suggestions are
// the runbooks the caller may run, by prefix.
func TestAutocompleteFiltersByAccess(t *testing.T) {
	cleanEnv(t)
	dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "rb/restart.yaml": restartAPIBook, "tebura.yaml": baseConfig("")})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "error")
	for _, tc := range []struct {
		who, partial, want string
	}{
		{"console:alice", "", "check-api,restart-api"},
		{"console:alice", "re", "restart-api"},
		{"console:bob", "", "check-api"}, // sre may not request restart-api (allow: [dev])
		{"console:eve", "", ""},
	} {
		got := strings.Join(ts.srv.autocomplete(context.Background(), bot.Actor{ID: tc.who}, "runbook", tc.partial), ",")
		if got != tc.want {
			t.Errorf("autocomplete(%s, %q) = %q, want %q", tc.who, tc.partial, got, tc.want)
		}
	}
}
