package main

import (
	"context"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tebura/tebura/incident/incidenttest"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/web/chromiumtest"
)

// updateScreenshots rewrites docs/img/web-*.png from the browser test;
// without it the screenshots go to the test's temp dir (or to
// $TEBURA_ARTIFACTS when set), so a test run never rewrites the repo.
var updateScreenshots = flag.Bool("update-screenshots", false, "rewrite docs/img/web-*.png from the browser test")

// artifactsDir is $TEBURA_ARTIFACTS, read as the test binary starts:
// cleanEnv clears every TEBURA_* variable before the test looks.
var artifactsDir = os.Getenv("TEBURA_ARTIFACTS")

// gatedWebBook checks a rollout: it prints coloured progress, waits until
// the release's mark appears in $ROLLOUT_DIR, and prints again: a run the
// test holds open while it watches the log grow. The release is a short
// param, which the pages show; the directory, a path of the machine the
// test runs on, is the step's env, whose values neither the plan nor the
// audit shows.
const gatedWebBook = `name: deploy-check
description: Checks a deploy, step by step
kind: diagnostic
params:
  - {name: release, type: string, pattern: 'v[0-9]+\.[0-9]+\.[0-9]+', required: true, description: the release being rolled out}
allow: [sre, dev]
timeout: 1m
steps:
  - name: rollout
    env: {ROLLOUT_DIR: "@rollouts@"}
    script: |
      printf '\033[1;32m✔\033[0m image checkout:%s pulled\n' "$TEBURA_PARAM_RELEASE"
      for i in $(seq 1 30); do printf '\033[32m✔\033[0m pod checkout-%02d ready\n' "$i"; done
      printf '\033[31m✘\033[0m pod checkout-31 not ready: readiness probe failed\n'
      printf '\033[33m…\033[0m waiting for rollout\n'
      until [ -e "$ROLLOUT_DIR/$TEBURA_PARAM_RELEASE" ]; do sleep 0.1; done
      printf '\033[1;32m✔\033[0m rollout of %s finished\n' "$TEBURA_PARAM_RELEASE"
`

// release is what deploy-check is requested with, and the name of its mark
// in the rollout directory.
const release = "v2.4.1"

// webConfig turns the web view on and takes Alertmanager's alerts: a
// HighLatency alert opens an incident and runs check-api on it.
const webConfig = `web:
  enabled: true
  base_url: http://tebura.test
  approvals_channel: console:console
sources:
  alertmanager: {bearer_token: am-bearer-token-1}
incidents: {announce_channel: console}
automations:
  - name: api-latency
    match: ['alertname="HighLatency"']
    diagnostics: [check-api]
    params: {service: '{{ .Labels.service }}'}
`

// webTester is a wired server with the web view on, and its browsers.
type webTester struct {
	t  *testing.T
	ts *testServer
}

// loginLink asks the console for a one-time link as user and returns it,
// pointed at the test server.
func (w *webTester) loginLink(user string) string {
	w.t.Helper()
	before := len(parseEvents(w.t, w.ts.out.String()))
	w.ts.send(w.t, map[string]any{"type": "command", "user": user, "text": "/tebura login"})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		evs := parseEvents(w.t, w.ts.out.String())
		for _, e := range evs[min(before, len(evs)):] {
			if e.To != user {
				continue
			}
			for _, l := range e.Message.Links {
				if strings.HasPrefix(l.URL, "http://tebura.test/ui/login/") {
					return w.ts.base + strings.TrimPrefix(l.URL, "http://tebura.test")
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.t.Fatalf("no login link for %s in the console's output:\n%s", user, w.ts.out.String())
	return ""
}

// with is w for subtest t.
func (w *webTester) with(t *testing.T) *webTester { return &webTester{t: t, ts: w.ts} }

// dropCSRF removes the CSRF field from the page's form, as a forged
// cross-site form would lack it (through DevTools, which the page's CSP
// does not govern).
func dropCSRF() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(() => { document.querySelectorAll('input[name="csrf"]').forEach(e => e.remove()); return true })()`)(ctx, t)
		return err
	})
}

// signIn opens a fresh browser and signs it in as user through the link
// the console gave.
func (w *webTester) signIn(user string) context.Context {
	w.t.Helper()
	ctx := chromiumtest.New(w.t)
	w.do(ctx, "sign in as "+user,
		chromedp.Navigate(w.loginLink(user)),
		chromedp.WaitVisible("#signin"),
		chromedp.Click("#signin"),
		chromedp.WaitVisible("#incidents"),
	)
	return ctx
}

func (w *webTester) do(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	w.t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		w.t.Fatalf("%s: %v", what, err)
	}
}

func (w *webTester) text(ctx context.Context, sel string) string {
	w.t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		w.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// eval evaluates a JavaScript expression of integer value in the page
// (through DevTools, which the page's CSP does not govern).
func (w *webTester) eval(ctx context.Context, expr string) int {
	w.t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
	if err != nil {
		w.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// screenshot saves the viewport as name.png: into docs/img with
// -update-screenshots, else among the test's artifacts.
func (w *webTester) screenshot(ctx context.Context, name string) {
	w.t.Helper()
	w.save(ctx, name, chromedp.CaptureScreenshot())
}

// screenshotFull saves the whole page, below the fold too, as name.png.
func (w *webTester) screenshotFull(ctx context.Context, name string) {
	w.t.Helper()
	w.save(ctx, name, chromedp.FullScreenshot(100))
}

// screenshotTo saves the page from its top down to the end of the element
// sel as name.png: what a reader scrolls through, without what follows.
func (w *webTester) screenshotTo(ctx context.Context, name, sel string) {
	w.t.Helper()
	width, height := w.eval(ctx, "window.innerWidth"), w.eval(ctx, "window.innerHeight")
	h := w.eval(ctx, `Math.ceil(document.querySelector(`+strconv.Quote(sel)+`).getBoundingClientRect().bottom + window.scrollY) + 24`)
	w.do(ctx, "fit the viewport to "+sel, chromedp.EmulateViewport(int64(width), int64(h)))
	w.save(ctx, name, chromedp.CaptureScreenshot())
	w.do(ctx, "restore the viewport", chromedp.EmulateViewport(int64(width), int64(height)))
}

// save writes the PNG capture takes: into docs/img with
// -update-screenshots, else into $TEBURA_ARTIFACTS or the test's temp dir.
func (w *webTester) save(ctx context.Context, name string, capture chromedp.Action[[]byte]) {
	w.t.Helper()
	png, err := chromedp.Run(ctx, capture)
	if err != nil {
		w.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := artifactsDir
	if *updateScreenshots {
		dir = filepath.Join("..", "..", "docs", "img")
	}
	if dir == "" {
		dir = w.t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web-"+name+".png"), png, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// openIncident opens incident #1 as Alertmanager would: the repository's
// example alert (three instances of HighLatency on api), restamped to now,
// through the real webhook; the automation runs check-api on it, and bob
// acknowledges it and takes command, so its page has what an incident has.
func openIncident(t *testing.T, ts *testServer) {
	t.Helper()
	payload, err := os.ReadFile(filepath.Join("..", "..", "examples", "alertmanager", "firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	payload = incidenttest.Restamp(payload, time.Now().Add(-4*time.Minute))
	if code := post(t, ts.base+"/hooks/alertmanager", payload, "Authorization", "Bearer am-bearer-token-1"); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	waitEvent(t, ts.out, "the incident card", func(e outEvent) bool {
		return strings.HasPrefix(e.Message.Header, "Incident #1: HighLatency on api")
	})
	waitEvent(t, ts.out, "the diagnostic's final frame", headerIs("check-api — succeeded"))
	for _, c := range []struct{ text, reply string }{
		{"/incident ack #1", "acknowledged incident #1"},
		{"/incident commander #1 @bob", "is the commander of incident #1"},
	} {
		ts.send(t, map[string]any{"type": "command", "user": "bob", "text": c.text})
		waitEvent(t, ts.out, c.reply, func(e outEvent) bool { return strings.Contains(e.text(), c.reply) })
	}
}

// TestWebInBrowser drives the web view in headless Chromium, signed in
// through links the console adapter gave: a page refused without
// permission, a replayed link refused, a POST without its CSRF token
// refused, a running run's log growing before it ends, and a remediation
// requested by alice for an incident opened by Alertmanager and approved
// by bob from his own browser. Its screenshots are the docs' (and the
// README's): they show no path of the machine the test ran on.
func TestWebInBrowser(t *testing.T) {
	chromiumtest.Need(t)
	cleanEnv(t)
	rollouts := t.TempDir()
	dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "rb/restart.yaml": restartAPIBook,
		"rb/deploy.yaml": strings.ReplaceAll(gatedWebBook, "@rollouts@", rollouts), "tebura.yaml": baseConfig(webConfig)})
	w := &webTester{t: t, ts: startServer(t, filepath.Join(dir, "tebura.yaml"), "info")}
	openIncident(t, w.ts)

	alice := w.signIn("alice")
	w.screenshot(alice, "incidents")

	t.Run("replayed link refused", func(t *testing.T) {
		w := w.with(t)
		link := w.loginLink("alice")
		first := chromiumtest.New(t)
		w.do(first, "use the link", chromedp.Navigate(link), chromedp.Click("#signin"), chromedp.WaitVisible("#incidents"))
		second := chromiumtest.New(t)
		w.do(second, "replay the link", chromedp.Navigate(link), chromedp.WaitVisible("#error"))
		if msg := w.text(second, "#error"); !strings.Contains(msg, "not valid") {
			t.Fatalf("replayed link shows %q", msg)
		}
		w.do(second, "open a page", chromedp.Navigate(w.ts.base+"/ui/runbooks"), chromedp.WaitVisible("#error"))
		if msg := w.text(second, "#error"); !strings.Contains(msg, "not signed in") {
			t.Fatalf("the replaying browser sees %q on a page", msg)
		}
	})

	t.Run("page without permission refused", func(t *testing.T) {
		w := w.with(t)
		w.do(alice, "open the audit page", chromedp.Navigate(w.ts.base+"/ui/audit"), chromedp.WaitVisible("#error"))
		if msg := w.text(alice, "#error"); !strings.Contains(msg, "for admins") {
			t.Fatalf("alice on /ui/audit sees %q", msg)
		}
	})

	t.Run("POST without CSRF token refused", func(t *testing.T) {
		w := w.with(t)
		w.do(alice, "submit a form stripped of its token",
			chromedp.Navigate(w.ts.base+"/ui/runbooks/restart-api"),
			chromedp.WaitVisible("#request"),
			dropCSRF(),
			chromedp.SetValue(`select[name="p_env"]`, "staging"),
			chromedp.Click("#submit"),
			chromedp.WaitVisible("#error"),
		)
		if msg := w.text(alice, "#error"); !strings.Contains(msg, "Reload the page") {
			t.Fatalf("POST without token shows %q", msg)
		}
		if n := w.restarts(); n != 0 {
			t.Fatalf("the refused POST stored %d runs of restart-api", n)
		}
	})

	t.Run("log grows while the run runs", func(t *testing.T) {
		w := w.with(t)
		w.do(alice, "request deploy-check",
			chromedp.Navigate(w.ts.base+"/ui/runbooks/deploy-check"),
			chromedp.WaitVisible("#request"),
			chromedp.SendKeys(`input[name="p_release"]`, release),
			chromedp.Click("#submit"),
			chromedp.WaitVisible("#log"),
			// The run is held at the gate: this line is in the page
			// before the run can end.
			chromedp.WaitVisible(`//pre[@id="log"]/div[contains(., "waiting for rollout")]`),
		)
		if st := w.text(alice, "#state"); st != "running" {
			t.Fatalf("state while the log shows its first lines = %q, want running", st)
		}
		// Following: the log is scrolled to its end.
		if gap := w.eval(alice, `(() => { const l = document.getElementById("log"); return l.scrollHeight - l.scrollTop - l.clientHeight })()`); gap > 24 {
			t.Errorf("the log is %d px above its end while following", gap)
		}
		html, err := chromedp.Run(alice, chromedp.OuterHTML(`//pre[@id="log"]/div[contains(., "pulled")]`))
		if err != nil || !strings.Contains(html, `class="b f32"`) {
			t.Errorf("ANSI bold green not drawn: %q %v", html, err)
		}
		for _, shown := range []string{"#params", "#plan"} {
			if text := w.text(alice, shown); strings.Contains(text, rollouts) || !strings.Contains(text, release) {
				t.Errorf("%s shows %q: want the release, not the rollout directory", shown, text)
			}
		}
		w.screenshotFull(alice, "run")
		// The reader scrolls up: following stops, and new lines do not
		// move the log.
		if top := w.eval(alice, `(() => { document.getElementById("log").scrollTop = 0; return 0 })()`); top != 0 {
			t.Fatal("scroll")
		}
		w.do(alice, "stop following", chromedp.WaitReady(`#follow:not(:checked)`))
		if err := os.WriteFile(filepath.Join(rollouts, release), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		w.do(alice, "see the run end",
			chromedp.WaitVisible(`//pre[@id="log"]/div[contains(., "rollout of v2.4.1 finished")]`),
			chromedp.WaitReady(`#log[data-ended="succeeded"]`),
		)
		if top := w.eval(alice, `document.getElementById("log").scrollTop`); top != 0 {
			t.Errorf("new lines scrolled the log to %d px while the reader was reading above", top)
		}
		if st := w.text(alice, "#state"); st != "succeeded" {
			t.Fatalf("state after the end = %q", st)
		}
	})

	t.Run("request as alice, approve as bob", func(t *testing.T) {
		w := w.with(t)
		w.do(alice, "request restart-api for incident #1",
			chromedp.Navigate(w.ts.base+"/ui/runbooks/restart-api?incident=1"),
			chromedp.WaitVisible("#request"),
			chromedp.SetValue(`select[name="p_env"]`, "prod"),
			chromedp.Click("#submit"),
			chromedp.WaitVisible("#state"),
		)
		if st := w.text(alice, "#state"); st != "pending approval" {
			t.Fatalf("state after the request = %q", st)
		}
		runURL, err := chromedp.Run(alice, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		waitEvent(t, w.ts.out, "the approval card in chat", headerIs("Approval needed: restart-api"))
		if n, _ := chromedp.Run(alice, chromedp.Evaluate[int](`document.querySelectorAll("#approve").length`)); n != 0 {
			t.Fatal("alice, the requester, is offered Approve")
		}
		bob := w.signIn("bob")
		w.do(bob, "approve as bob",
			chromedp.Navigate(runURL),
			chromedp.WaitVisible("#approve"),
			chromedp.Click("#approve"),
			chromedp.WaitVisible("#note"),
			chromedp.WaitReady(`#log[data-ended="succeeded"]`),
			chromedp.WaitVisible(`//pre[@id="log"]/div[contains(., "restarting api in prod")]`),
		)
		if a := w.text(bob, "#approvals"); !strings.Contains(a, "bob") {
			t.Errorf("approvals shown: %q", a)
		}
		w.do(alice, "reload alice's page", chromedp.Navigate(runURL), chromedp.WaitReady(`#log[data-ended="succeeded"]`))
	})

	w.ts.send(t, map[string]any{"type": "command", "user": "bob", "text": "/incident note #1 p99 back under 300 ms after restarting api"})
	waitEvent(t, w.ts.out, "the note taken", func(e outEvent) bool { return strings.Contains(e.text(), "Noted on the timeline of #1") })
	w.do(alice, "open the incident", chromedp.Navigate(w.ts.base+"/ui/incidents/1"), chromedp.WaitVisible("#postmortem"))
	for _, c := range []struct{ sel, want string }{
		{"#alerts", "instance=api-3"}, {"#runs", "check-api"}, {"#runs", "restart-api"}, {"#timeline", "p99 back under 300 ms"},
	} {
		if text := w.text(alice, c.sel); !strings.Contains(text, c.want) {
			t.Errorf("%s of incident #1 lacks %q:\n%s", c.sel, c.want, text)
		}
	}
	w.screenshotTo(alice, "incident", "#timeline")
	w.do(alice, "open the catalog", chromedp.Navigate(w.ts.base+"/ui/runbooks"), chromedp.WaitVisible("#catalog"))
	w.screenshot(alice, "runbooks")
	root := w.signIn("root")
	w.do(root, "open the audit chain", chromedp.Navigate(w.ts.base+"/ui/audit"), chromedp.WaitVisible("#verify"))
	if v := w.text(root, "#verify"); !strings.Contains(v, "intact") {
		t.Errorf("audit verify shows %q", v)
	}
	w.screenshot(root, "audit")
}

// restarts counts the stored runs of restart-api.
func (w *webTester) restarts() int {
	w.t.Helper()
	runs, err := w.ts.app.Store.ListRuns(w.t.Context(), runbooks.ListOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	n := 0
	for _, r := range runs {
		if r.Runbook == "restart-api" {
			n++
		}
	}
	return n
}
