package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
)

// syncBuf is a writer read while it is written (console output, logs).
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

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
	out    *syncBuf
	logs   *syncBuf
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
	ts := &testServer{out: &syncBuf{}, logs: &syncBuf{}, done: make(chan error, 1)}
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
// secrets — a redact.values entry printed by runbooks, a secret param, a
// webhook bearer token — and finds none of them in the logs, the console
// output or the audit export.
func TestLogSecretsNeverLeak(t *testing.T) {
	cleanEnv(t)
	const (
		redactValue = "Zq9-redact-value-77"
		paramSecret = "Pk4-param-secret-88"
		bearer      = "Wb7-webhook-bearer-99"
	)
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
	cfg := baseConfig(strings.Replace(incidentConfig, "am-bearer-token-1", bearer, 1) +
		"redact: {values: [" + redactValue + "]}\nlog: {level: debug}\n")
	dir := writeTree(t, map[string]string{"rb/check.yaml": diag, "rb/restart.yaml": restartAPIBook, "rb/leaky.yaml": leaky, "tebura.yaml": cfg})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "debug")

	payload, err := os.ReadFile(filepath.Join("..", "..", "examples", "alertmanager", "firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	if code := post(t, ts.base+"/hooks/alertmanager", payload, "Authorization", "Bearer "+bearer); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	if code := post(t, ts.base+"/hooks/alertmanager", payload, "Authorization", "Bearer wrong-"+bearer); code != http.StatusUnauthorized {
		t.Fatalf("wrong token answered %d", code)
	}
	waitEvent(t, ts.out, "the diagnostic", headerIs("check-api — succeeded"))
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
	ts.stop(t)

	var auditOut bytes.Buffer
	if code := run(context.Background(), []string{"audit", "export", "--config", filepath.Join(dir, "tebura.yaml")}, strings.NewReader(""), &auditOut, io.Discard); code != 0 {
		t.Fatalf("audit export exit %d", code)
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "level=DEBUG") {
		t.Fatal("no debug lines logged; the test would prove nothing")
	}
	for name, text := range map[string]string{"logs": logs, "console": ts.out.String(), "audit": auditOut.String()} {
		for _, secret := range []string{redactValue, paramSecret, bearer} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain the secret %q", name, secret)
			}
		}
	}
	if !strings.Contains(ts.out.String(), "leaky") || auditOut.Len() == 0 {
		t.Fatal("the flow left no trace to check")
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
