package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/console"
	"github.com/tebura/tebura/runbooks"
)

// secretBooks are a diagnostic that runs at once and waits for a file
// before it ends (so the test can look at the data dir while it runs),
// and a remediation behind one approval; both print their secret param.
func secretBooks(gate string) map[string]string {
	return map[string]string{
		"rb/peek.yaml": fmt.Sprintf(`name: peek
kind: diagnostic
params:
  - {name: token, type: string, secret: true, required: true}
allow: [dev]
timeout: 1m
steps:
  - name: look
    env: {GATE: %q}
    script: |
      echo "using token $TEBURA_PARAM_TOKEN"
      while [ ! -e "$GATE" ]; do sleep 0.02; done
      echo done
`, gate),
		"rb/rotate.yaml": `name: rotate
kind: remediation
params:
  - {name: token, type: string, secret: true, required: true}
allow: [dev]
approval: {required: 1, approvers: [sre], expires: 15m}
timeout: 30s
steps:
  - name: use
    script: 'echo "rotating with $TEBURA_PARAM_TOKEN"'
`,
	}
}

// noSecretAtRest fails the test when any file under the data dir (the
// database, its free pages included, and the run logs) holds secret.
func noSecretAtRest(t *testing.T, dataDir, secret, when string) {
	t.Helper()
	if files := grepDir(t, dataDir, secret); len(files) > 0 {
		t.Errorf("%s: the secret param value is in %v", when, files)
	}
}

// TestSecretParamsNeverAtRest: a secret param's value is found in no file
// of the data dir while its run runs, after it ended, while its request
// waits for approval (in memory without secrets.key, sealed with it),
// and after a restart. Without a key the restart expires the request and
// its card says why; with one the request survives and runs.
func TestSecretParamsNeverAtRest(t *testing.T) {
	cleanEnv(t)
	const (
		running = "Sx-NoApproval-7Qv"
		memory  = "Sx-Pending-Mem-4Rk"
		sealed  = "Sx-Pending-Key-9Tz"
	)

	t.Run("memory only", func(t *testing.T) {
		gate := filepath.Join(t.TempDir(), "go")
		files := secretBooks(gate)
		files["tebura.yaml"] = baseConfig("")
		dir := writeTree(t, files)
		path, data := filepath.Join(dir, "tebura.yaml"), filepath.Join(dir, "data")

		out, _, _ := runCLI(t, "", "doctor", "--config", path)
		if !strings.Contains(out, "✓ secrets: memory only") {
			t.Errorf("doctor without a key:\n%s", out)
		}
		p := startProc(t, "serve", "--console-json", "--config", path)
		p.waitLog(t, "tebura serving")
		p.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run peek token=" + running})
		waitEvent(t, p.out, "the running diagnostic", func(e outEvent) bool {
			return e.Message.Header == "peek — running" && strings.Contains(e.text(), "using token ***")
		})
		noSecretAtRest(t, data, running, "while the run runs")
		p.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run rotate token=" + memory})
		card := waitEvent(t, p.out, "the approval card", headerIs("Approval needed: rotate"))
		if !strings.Contains(card.text(), "token="+runbooks.SecretMask) {
			t.Errorf("the card does not show the secret param masked:\n%s", card.text())
		}
		noSecretAtRest(t, data, memory, "while the request waits for approval, without a key")
		if err := os.WriteFile(gate, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		waitEvent(t, p.out, "the diagnostic's end", headerIs("peek — succeeded"))
		noSecretAtRest(t, data, running, "after the run")
		if log, err := os.ReadFile(filepath.Join(data, "logs", "r1.log")); err != nil || !strings.Contains(string(log), "using token ***") {
			t.Errorf("the run log should hold the masked line: %q, %v", log, err)
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.wait(t)

		var rec *editRecorder
		ts := startServerWith(t, path, "info", func(s *server) {
			rec = &editRecorder{Adapter: s.console, edits: map[string][]bot.Message{}}
			s.chats[console.Platform] = rec
		})
		rec.mu.Lock()
		edits := slices.Clone(rec.edits[card.Ref])
		rec.mu.Unlock()
		if len(edits) == 0 || edits[len(edits)-1].Header != "rotate — expired" ||
			!strings.Contains(strings.Join(edits[len(edits)-1].Text, " "), runbooks.ReasonSecretsLost) {
			t.Fatalf("the card after the restart should say it expired and why: %+v", edits)
		}
		rep := &replies{}
		ts.srv.bot.HandleEvent(context.Background(), &bot.Click{Platform: console.Platform, Actor: bot.Actor{ID: "console:bob", Name: "bob"},
			ActionID: "approve", CallbackID: card.callback("approve"), Message: bot.MessageRef{Platform: console.Platform, Channel: "console", ID: card.Ref}, Reply: rep})
		ts.stop(t)
		if got := strings.Join(rep.text, " "); !strings.Contains(got, "expired: "+runbooks.ReasonSecretsLost) {
			t.Errorf("approving the expired request answered %q", got)
		}
		noSecretAtRest(t, data, memory, "after the restart")
		noSecretAtRest(t, data, running, "after the restart")
		audit, _, _ := runCLI(t, "", "audit", "export", "--config", path)
		if !strings.Contains(audit, `"run.expire"`) || !strings.Contains(audit, runbooks.ReasonSecretsLost) {
			t.Errorf("the audit log does not record why the request expired:\n%s", audit)
		}
	})

	t.Run("sealed with a key", func(t *testing.T) {
		files := secretBooks(filepath.Join(t.TempDir(), "go"))
		key := make([]byte, 32)
		for i := range key {
			key[i] = byte(i * 7)
		}
		files["secrets.key"] = hex.EncodeToString(key) + "\n"
		files["tebura.yaml"] = baseConfig("secrets: {key_file: secrets.key}\n")
		dir := writeTree(t, files)
		path, data := filepath.Join(dir, "tebura.yaml"), filepath.Join(dir, "data")

		out, _, _ := runCLI(t, "", "doctor", "--config", path)
		if !strings.Contains(out, "✓ secrets: sealed in the store with the key of "+filepath.Join(dir, "secrets.key")) || strings.Contains(out, "inside data_dir") {
			t.Errorf("doctor with a key file:\n%s", out)
		}
		inData := strings.Replace(files["tebura.yaml"], "key_file: secrets.key", "key_file: data/secrets.key", 1)
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "data", "secrets.key"), []byte(files["secrets.key"]), 0o600); err != nil {
			t.Fatal(err)
		}
		inCfg := filepath.Join(dir, "in-data.yaml")
		if err := os.WriteFile(inCfg, []byte(inData), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, _, _ := runCLI(t, "", "doctor", "--config", inCfg); !strings.Contains(out, "! secrets.key_file is inside data_dir") {
			t.Errorf("doctor with the key file in the data dir does not warn:\n%s", out)
		}
		if err := os.Remove(filepath.Join(dir, "data", "secrets.key")); err != nil {
			t.Fatal(err)
		}
		p := startProc(t, "serve", "--console-json", "--config", path)
		p.waitLog(t, "tebura serving")
		p.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run rotate token=" + sealed})
		card := waitEvent(t, p.out, "the approval card", headerIs("Approval needed: rotate"))
		noSecretAtRest(t, data, sealed, "while the request waits for approval, sealed")
		if len(grepDir(t, data, `"sealed":"`)) == 0 {
			t.Error("the pending run holds no sealed values; the test no longer tests sealing")
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.wait(t)

		var rec *editRecorder
		ts := startServerWith(t, path, "info", func(s *server) {
			rec = &editRecorder{Adapter: s.console, edits: map[string][]bot.Message{}}
			s.chats[console.Platform] = rec
		})
		noSecretAtRest(t, data, sealed, "after the restart, sealed")
		rep := &replies{}
		ts.srv.bot.HandleEvent(context.Background(), &bot.Click{Platform: console.Platform, Actor: bot.Actor{ID: "console:bob", Name: "bob"},
			ActionID: "approve", CallbackID: card.callback("approve"), Message: bot.MessageRef{Platform: console.Platform, Channel: "console", ID: card.Ref}, Reply: rep})
		deadline := time.Now().Add(30 * time.Second)
		for !containsHeader(rec.headers(card.Ref), "rotate — succeeded") {
			if time.Now().After(deadline) {
				t.Fatalf("the approved run never finished; edits of its card: %q; replies %q", rec.headers(card.Ref), rep.text)
			}
			time.Sleep(5 * time.Millisecond)
		}
		ts.stop(t)
		noSecretAtRest(t, data, sealed, "after the approved run")
		if len(grepDir(t, data, `"sealed":"`)) > 0 {
			t.Error("the sealed values are still in the store after the run")
		}
		if log, err := os.ReadFile(filepath.Join(data, "logs", "r1.log")); err != nil || !strings.Contains(string(log), "rotating with ***") {
			t.Errorf("the run did not get its secret, or the log is not masked: %q, %v", log, err)
		}
	})
}

// TestAlertSecretsNeverAtRest: a configured secret (redact.values) or a
// match of redact.patterns in an alert's labels or annotations is stored
// masked, like it is shown.
func TestAlertSecretsNeverAtRest(t *testing.T) {
	cleanEnv(t)
	const value, pattern = "Sx-Label-Value-2Wq", "AKIAABCDEFGHIJKLMNOP"
	dir := writeTree(t, map[string]string{
		"rb/check.yaml": checkAPIBook, "rb/restart.yaml": restartAPIBook,
		"tebura.yaml": baseConfig(incidentConfig + "redact: {values: [" + value + "], patterns: ['AKIA[0-9A-Z]{16}']}\n"),
	})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
	ts.in.Close()
	payload, err := os.ReadFile(filepath.Join("..", "..", "examples", "alertmanager", "firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(string(payload), `"instance": "api-1"`, `"instance": "api-1-`+value+`"`, 1)
	body = strings.Replace(body, `"summary": "p99 latency above 2s on api-1"`, `"summary": "key `+pattern+` on api-1"`, 1)
	if body == string(payload) {
		t.Fatal("the example payload changed; the test no longer puts a secret in it")
	}
	if code := post(t, ts.base+"/hooks/alertmanager", []byte(body), "Authorization", "Bearer am-bearer-token-1"); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	waitEvent(t, ts.out, "the diagnostic's final frame", headerIs("check-api — succeeded"))
	ts.stop(t)
	data := filepath.Join(dir, "data")
	for _, s := range []string{value, pattern} {
		noSecretAtRest(t, data, s, "after an alert carried it")
	}
	if len(grepDir(t, data, "api-1-***")) == 0 {
		t.Error("the masked label value is not in the store; the alert was not stored as the test expects")
	}
}

// TestRuleSecretParamNeverAtRest: a rule that gives a suggested
// remediation a secret param leaves its value in neither the run record
// nor the incident's timeline, and after a restart without secrets.key
// the timeline says why the proposal expired.
func TestRuleSecretParamNeverAtRest(t *testing.T) {
	cleanEnv(t)
	const value = "Sx-Rule-Param-5Yd"
	files := secretBooks(filepath.Join(t.TempDir(), "go"))
	files["tebura.yaml"] = baseConfig(`sources:
  alertmanager: {bearer_token: am-bearer-token-1}
incidents: {announce_channel: console}
automations:
  - name: rotate-on-latency
    match: ['alertname="HighLatency"']
    suggest: [rotate]
    params: {token: ` + value + `}
`)
	dir := writeTree(t, files)
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
	ts.in.Close()
	payload, err := os.ReadFile(filepath.Join("..", "..", "examples", "alertmanager", "firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	if code := post(t, ts.base+"/hooks/alertmanager", payload, "Authorization", "Bearer am-bearer-token-1"); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	waitEvent(t, ts.out, "the suggested remediation", headerIs("Approval needed: rotate"))
	ts.stop(t)
	noSecretAtRest(t, filepath.Join(dir, "data"), value, "after a rule proposed a run with it")

	// Without secrets.key the restart expires the proposal, and the
	// incident's timeline says why.
	ts = startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
	ts.in.Close()
	inc, err := ts.srv.svc.ByNumber(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := "expired: " + runbooks.ReasonSecretsLost
	deadline := time.Now().Add(30 * time.Second)
	for {
		tl, err := ts.srv.svc.Timeline(context.Background(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range tl {
			found = found || strings.Contains(e.Text, want)
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the timeline never said %q: %+v", want, tl)
		}
		time.Sleep(5 * time.Millisecond)
	}
	ts.stop(t)
	noSecretAtRest(t, filepath.Join(dir, "data"), value, "after the restart")
}
