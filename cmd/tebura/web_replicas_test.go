package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/store/postgres/pgtest"
)

// webReplicaToken is the API token of api:ci in the web replica tests.
const webReplicaToken = "ci-token-0123456789abcdef"

// webReplicaSecret is the secret param of the gated run: masked in every
// copy of its log.
const webReplicaSecret = "hunter2-very-secret"

// webReplicaConfig is replica id's configuration: its own data dir, the
// shared database, the web view, api:ci and alice as dev; "gated" prints
// two lines, waits until its gate file exists, then prints its last line.
func webReplicaConfig(t *testing.T, dsn, id string) (path, dataDir string) {
	t.Helper()
	cfg := `data_dir: data
http: {listen: "127.0.0.1:0"}
runbooks: {dirs: [rb]}
store: {driver: postgres, postgres: {dsn: "` + dsn + `"}}
secrets: {key: ` + testKey + `}
replica: {id: ` + id + `}
access:
  roles:
    dev: {members: [console:alice, api:ci]}
bot: {stream_interval: 20ms}
console: {enabled: "true", user: alice, channel: console}
api:
  tokens:
    - {identity: api:ci, token: ` + webReplicaToken + `}
web:
  enabled: true
  base_url: http://tebura.test
  approvals_channel: console:console
`
	gated := `name: gated
description: Prints, waits for the test's gate, prints again
kind: diagnostic
params:
  - {name: gate, type: string, pattern: '/[A-Za-z0-9/._-]+', required: true}
  - {name: token, type: string, secret: true, required: true}
allow: [dev]
timeout: 2m
steps:
  - {name: token, run: [echo, "token is {{ .Params.token }}"]}
  - name: wait
    script: |
      echo "first line"
      echo "second line"
      while [ ! -e "$TEBURA_PARAM_GATE" ]; do sleep 0.01; done
      echo "last line"
`
	dir := writeTree(t, map[string]string{"tebura.yaml": cfg, "rb/gated.yaml": gated, "data/.keep": ""})
	return filepath.Join(dir, "tebura.yaml"), filepath.Join(dir, "data")
}

// sseEvent is one Server-Sent Event of a run's stream.
type sseEvent struct {
	name, id string
	data     []string
}

// openEvents opens the run's event stream on base with the browser c,
// from Last-Event-ID from ("" for the start); the events arrive on the
// channel, which closes when the stream ends. cancel drops the stream.
func openEvents(t *testing.T, c *http.Client, base, runID, from string) (<-chan sseEvent, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/ui/runs/"+runID+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	if from != "" {
		req.Header.Set("Last-Event-ID", from)
	}
	resp, err := c.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("events of %s: %d %s", runID, resp.StatusCode, b)
	}
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = append(ev.data, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	t.Cleanup(cancel)
	return ch, cancel
}

// readUntil collects the stream's events until one satisfies done, and
// fails when the stream ends or drillBound passes first.
func readUntil(t *testing.T, ch <-chan sseEvent, what string, done func(sseEvent) bool) []sseEvent {
	t.Helper()
	var got []sseEvent
	timeout := time.NewTimer(drillBound)
	defer timeout.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("the stream ended before %s; it sent %+v", what, got)
			}
			got = append(got, ev)
			if done(ev) {
				return got
			}
		case <-timeout.C:
			t.Fatalf("no %s within %s; the stream sent %+v", what, drillBound, got)
		}
	}
}

// logLines are the data lines of the "lines" events.
func logLines(evs []sseEvent) []string {
	var out []string
	for _, ev := range evs {
		if ev.name == "lines" {
			out = append(out, ev.data...)
		}
	}
	return out
}

func hasLine(lines []string, want string) bool {
	for _, l := range lines {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

// fetchBody GETs url with c (and the bearer token when given) and
// returns the status and body.
func fetchBody(t *testing.T, c *http.Client, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestWebServesRunsOfOtherReplicas (issue 16): two replicas on one
// PostgreSQL database. A run executes on alpha; beta, which has no file of
// its log, streams it live (lines before the run ends, held by a gate),
// resumes a dropped stream from Last-Event-ID without repeating a line,
// serves the download and the API's log equal to alpha's file, masked;
// and it still serves all of it after alpha is gone.
func TestWebServesRunsOfOtherReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and two servers")
	}
	pgtest.Need(t)
	dsn := pgtest.DSN(t)
	cleanEnv(t)
	cfgA, dataA := webReplicaConfig(t, dsn, "alpha")
	cfgB, dataB := webReplicaConfig(t, dsn, "beta")
	a := startServer(t, cfgA, "info")
	b := startServer(t, cfgB, "info")

	// The run, requested through alpha's API: it runs on alpha.
	gate := filepath.Join(t.TempDir(), "gate")
	// Open the gate before the servers stop, should the test fail first.
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o600) })
	req, _ := json.Marshal(map[string]any{"runbook": "gated", "params": map[string]string{"gate": gate, "token": webReplicaSecret}})
	hreq, err := http.NewRequest(http.MethodPost, a.base+"/api/v1/runs", strings.NewReader(string(req)))
	if err != nil {
		t.Fatal(err)
	}
	hreq.Header.Set("Authorization", "Bearer "+webReplicaToken)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	var run struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	err = json.NewDecoder(resp.Body).Decode(&run)
	resp.Body.Close()
	if err != nil || resp.StatusCode/100 != 2 || run.ID == "" {
		t.Fatalf("POST /api/v1/runs on alpha: %d %+v %v", resp.StatusCode, run, err)
	}

	// alice signs in on beta with a link that beta's console gave.
	w := &webTester{t: t, ts: b}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	lr, err := browser.Post(w.loginLink("alice"), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	lr.Body.Close()

	// Live on beta, while alpha holds the run at its gate.
	events, drop := openEvents(t, browser, b.base, run.ID, "")
	got := readUntil(t, events, "the lines before the gate", func(ev sseEvent) bool { return hasLine(logLines([]sseEvent{ev}), "second line") })
	lines := logLines(got)
	if !hasLine(lines, "first line") || hasLine(lines, "last line") {
		t.Fatalf("beta's stream before the gate: %q", lines)
	}
	if hasLine(lines, webReplicaSecret) || !hasLine(lines, "token is") {
		t.Fatalf("beta's stream does not mask the secret param: %q", lines)
	}
	fileA := filepath.Join(dataA, "logs", run.ID+".log")
	if _, err := os.Stat(fileA); err != nil {
		t.Fatalf("the run did not run on alpha: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dataB, "logs", run.ID+".log")); !os.IsNotExist(err) {
		t.Fatalf("beta has a file of the run's log (%v); the test would not show the store's copy", err)
	}
	if code, page := fetchBody(t, browser, b.base+"/ui/runs/"+run.ID, ""); code != http.StatusOK || !strings.Contains(page, run.ID) {
		t.Fatalf("beta's run page: %d\n%s", code, page)
	}

	// The browser drops the stream and resumes from its last event.
	last := got[len(got)-1].id
	drop()
	events, _ = openEvents(t, browser, b.base, run.ID, last)
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rest := readUntil(t, events, "the end event", func(ev sseEvent) bool { return ev.name == "end" })
	restLines := logLines(rest)
	if !hasLine(restLines, "last line") || hasLine(restLines, "first line") || hasLine(restLines, "second line") {
		t.Fatalf("beta's resumed stream from %s: %q", last, restLines)
	}
	if end := rest[len(rest)-1]; len(end.data) != 1 || !strings.Contains(end.data[0], `"state":"succeeded"`) {
		t.Fatalf("end event: %+v", end)
	}

	want, err := os.ReadFile(fileA)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(want), webReplicaSecret) || !strings.Contains(string(want), "last line") {
		t.Fatalf("alpha's log file:\n%s", want)
	}
	checkBeta := func(when string) {
		t.Helper()
		if code, body := fetchBody(t, browser, b.base+"/ui/runs/"+run.ID+"/log", ""); code != http.StatusOK || body != string(want) {
			t.Errorf("%s: beta's download = %d\n%s\nwant alpha's file:\n%s", when, code, body, want)
		}
		off := strings.Index(string(want), "second line")
		code, body := fetchBody(t, http.DefaultClient, b.base+"/api/v1/runs/"+run.ID+"/log?offset="+strconv.Itoa(off), webReplicaToken)
		if code != http.StatusOK || body != string(want[off:]) {
			t.Errorf("%s: beta's /api/v1 log from %d = %d %q, want %q", when, off, code, body, want[off:])
		}
	}
	checkBeta("alpha running")

	// alpha is gone: beta still serves the whole log, stream included.
	a.stop(t)
	checkBeta("alpha gone")
	events, _ = openEvents(t, browser, b.base, run.ID, "")
	all := logLines(readUntil(t, events, "the end event after alpha stopped", func(ev sseEvent) bool { return ev.name == "end" }))
	for _, l := range []string{"token is", "first line", "second line", "last line"} {
		if !hasLine(all, l) {
			t.Errorf("beta's stream after alpha stopped lacks %q: %q", l, all)
		}
	}
}
