package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/slack"
	"github.com/tebura/tebura/bot/slack/slacktest"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/commands/incidentchat"
	"github.com/tebura/tebura/commands/runbookchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/incidenttest"
	"github.com/tebura/tebura/incident/source"
	"github.com/tebura/tebura/metrics"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
)

// The runbooks of the scripted incident: a diagnostic the automation runs
// by itself, the remediation it proposes, and one that holds a lock.
const (
	checkAPI = `
name: check-api
description: Look at the API
kind: diagnostic
params:
  - {name: service, type: string, pattern: '[a-z][a-z0-9-]{0,40}', default: api}
allow: [sre]
timeout: 30s
steps:
  - name: look
    run: [echo, "checking {{ .Params.service }}"]
`
	restartAPI = `
name: restart-api
description: Restart the API deployment
kind: remediation
params:
  - {name: env, type: enum, values: [staging, prod], required: true}
  - {name: service, type: string, pattern: '[a-z][a-z0-9-]{0,40}', default: api}
allow: [sre]
approval: {required: 1, approvers: [sre], allow_self: false, expires: 15m}
lock: "restart-{{ .Params.service }}"
timeout: 1m
steps:
  - name: restart
    run: [echo, "restarting {{ .Params.service }} in {{ .Params.env }}"]
`
)

const signingSecret = "metrics-test-signing-secret"

// everyFamily is every tebura_* family issue 7 asks for, plus the Go and
// process collectors.
var everyFamily = []string{
	"tebura_runs_total", "tebura_run_duration_seconds", "tebura_approvals_total",
	"tebura_run_queue_depth", "tebura_runs_running", "tebura_locks_held",
	"tebura_webhook_requests_total", "tebura_webhook_duration_seconds",
	"tebura_incidents_open", "tebura_incidents_opened_total",
	"tebura_incident_time_to_ack_seconds", "tebura_incident_time_to_resolve_seconds",
	"tebura_chat_api_requests_total", "tebura_chat_api_duration_seconds",
	"tebura_chat_rate_limited_total", "tebura_chat_rate_limit_wait_seconds_total",
	"tebura_stream_frames_sent_total", "tebura_stream_frames_dropped_total",
	"tebura_dedupe_checks_total", "tebura_build_info",
	"go_goroutines", "process_cpu_seconds_total",
}

// TestMetricsAfterScriptedIncident wires the whole bot the way tebura
// serve does — bolt store behind the instrumented store, executor, audit,
// commands with the incident layer, the Slack adapter (HTTP mode) against
// the fake Slack with the counting transport, webhook handlers behind the
// middleware, scrape-time gauges — then plays an incident: an Alertmanager
// alert opens it (channel, card, a diagnostic run, a proposed
// remediation), PagerDuty delivers twice, an event is redelivered, a
// responder acknowledges with /incident ack, the remediation is approved,
// a live stream is edited through a 429, and the resolve arrives. GET
// /metrics must then expose every family with the values the script
// implies.
func TestMetricsAfterScriptedIncident(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ctx := context.Background()
	dir := t.TempDir()
	m := metrics.New(metrics.BuildInfo{Version: "v0.0.0-test", Commit: "c0ffee"})

	fake := slacktest.New()
	t.Cleanup(fake.Close)
	fake.AddChannel("C1", "ops", true)
	fake.AddGroup("S1", "UBOB")

	st, err := bolt.Open(filepath.Join(dir, "tebura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ist := m.Store(st)
	rbDir := filepath.Join(dir, "runbooks")
	if err := os.MkdirAll(rbDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for i, doc := range []string{checkAPI, restartAPI} {
		if err := os.WriteFile(filepath.Join(rbDir, "rb"+strconv.Itoa(i)+".yaml"), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pol, err := access.New(map[string][]string{"sre": {"slack:UBOB", "slack:UCAROL"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg, problems := runbooks.Load(runbooks.LoadOptions{Dirs: []string{rbDir}, KnownRole: pol.Known})
	if len(problems) > 0 {
		t.Fatalf("runbooks: %v", problems)
	}
	red, _ := runbooks.NewRedactor(nil, nil)
	logger := slog.New(slog.DiscardHandler)
	exec := runbooks.NewExecutor(ist, runbooks.ExecutorConfig{DataDir: dir, MaxConcurrent: 2, KillGrace: 100 * time.Millisecond}, logger)

	chat, err := slack.New(config.Slack{
		Enabled: true, Mode: slack.ModeHTTP, BotToken: slacktest.BotToken, SigningSecret: signingSecret,
		APIURL: fake.URL, Channels: config.SlackChannels{Incidents: "C1"},
	}, slack.Deps{Deduper: ist, HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: m.Transport("slack", nil)}}, logger)
	if err != nil {
		t.Fatal(err)
	}
	chats := map[string]bot.Chat{chat.Name(): chat}
	auditLog := audit.New(ist, red, nil)
	runs := runbooks.NewService(runbooks.ServiceConfig{Store: ist, Executor: exec, Audit: auditLog,
		Redactor: func() *runbooks.Redactor { return red }, Logger: logger,
		Subscribers: []func(runbooks.Transition){m.ObserveRun}})
	t.Cleanup(runs.Stop)
	books := runbookchat.New(runbookchat.Deps{
		Store: ist, Registry: func() *runbooks.Registry { return reg }, Access: func() *access.Policy { return pol },
		Audit: auditLog, Executor: exec, Runs: runs, Redactor: func() *runbooks.Redactor { return red },
		Chats: chats, Config: config.Bot{StreamInterval: 10 * time.Millisecond}, DataDir: dir, Logger: logger,
		ExpiryInterval: time.Hour,
	})
	autos := []config.Automation{{
		Name: "api", Match: []string{`service=~"api.*"`}, Diagnostics: []string{"check-api"}, Suggest: []string{"restart-api"},
		Params: map[string]string{"service": "{{ .Labels.service }}", "env": "prod"},
	}}
	rules, err := incident.CompileRules(autos)
	if err != nil {
		t.Fatal(err)
	}
	incCfg := config.Incidents{AutoResolve: true}
	svc, err := incident.New(ist, incCfg, rules, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	inc, err := incidentchat.New(incidentchat.Deps{
		Service: svc, Runs: runs, Runbooks: books, Store: ist, Registry: func() *runbooks.Registry { return reg },
		Audit: auditLog, Chats: chats, Config: incCfg,
		Access: func() *access.Policy { return pol }, Logger: logger, Interval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	b := commands.New(commands.Deps{
		Callbacks: ist, Registry: func() *runbooks.Registry { return reg }, Access: func() *access.Policy { return pol },
		Runbooks: books, Incidents: inc, Logger: logger,
	})
	runCtx, stop := context.WithCancel(ctx)
	if err := books.Recover(runCtx); err != nil {
		t.Fatal(err)
	}
	if err := inc.Recover(runCtx); err != nil {
		t.Fatal(err)
	}
	chatDone := make(chan error, 1)
	go func() { chatDone <- chat.Run(runCtx, b) }()
	t.Cleanup(func() {
		stop()
		now, cancel := context.WithCancel(ctx)
		cancel()
		_ = exec.Shutdown(now)
		wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
		defer wcancel()
		_ = books.Wait(wctx)
		_ = inc.Wait(wctx)
		if err := <-chatDone; err != nil {
			t.Errorf("slack Run: %v", err)
		}
		_ = st.Close()
	})

	// The wiring of tebura serve: scrape-time gauges, webhooks behind the
	// middleware, the adapter's routes, /metrics.
	m.WatchExecutor(func() (int, int) { s := exec.Stats(); return s.Queued, s.Running })
	m.WatchLocks(ist.Locks)
	m.WatchIncidents(metrics.OpenIncidents(svc))
	hooks := http.NewServeMux()
	if _, err := source.Mount(hooks, config.Sources{
		Alertmanager: config.Alertmanager{Insecure: true}, PagerDuty: config.PagerDuty{Insecure: true},
	}, source.Ingester(svc.Ingest, inc.ReactSync), logger); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/", m.Webhooks(hooks))
	chat.Mount(mux)
	mux.Handle("GET /metrics", m.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	post := func(path string, body []byte, header http.Header) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		if req.Header == nil {
			req.Header = http.Header{}
		}
		if req.Header.Get("Content-Type") == "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	signed := func(path, contentType string, body []byte) int {
		ts := time.Now().Unix()
		return post(path, body, http.Header{"Content-Type": {contentType},
			slack.HeaderTimestamp: {strconv.FormatInt(ts, 10)}, slack.HeaderSignature: {slack.Sign(signingSecret, ts, body)}})
	}
	fixture := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "examples", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// 1. The alert fires: incident, channel, card, diagnostic, proposal.
	if code := post("/hooks/alertmanager", fixture("alertmanager/firing.json"), nil); code != http.StatusOK {
		t.Fatalf("alertmanager firing: HTTP %d", code)
	}
	if code := post("/hooks/alertmanager", []byte("{not json"), nil); code != http.StatusBadRequest {
		t.Fatalf("malformed alert: HTTP %d", code)
	}
	if code := post("/hooks/grafana", []byte("{}"), nil); code != http.StatusNotFound {
		t.Fatalf("unconfigured source: HTTP %d", code)
	}
	// 2. PagerDuty delivers the same webhook twice (stamped now: it refuses
	// events older than 48 h).
	pd := incidenttest.Restamp(fixture("pagerduty/webhook-triggered.json"), time.Now())
	for range 2 {
		if code := post("/hooks/pagerduty", pd,
			http.Header{source.HeaderWebhookID: {"W1"}}); code != http.StatusOK {
			t.Fatalf("pagerduty: HTTP %d", code)
		}
	}
	// 3. Slack redelivers an event.
	event, _ := json.Marshal(slacktest.AppMention("Ev1", "UBOB", "C1", "help"))
	for range 2 {
		if code := signed(slack.PathEvents, "application/json", event); code != http.StatusOK {
			t.Fatalf("event: HTTP %d", code)
		}
	}

	var am *incident.Incident
	open, err := svc.List(ctx, incident.ListOptions{OpenOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range open {
		if i.Source == "alertmanager" {
			am = i
		}
	}
	if am == nil || am.Channel.IsZero() {
		t.Fatalf("no alertmanager incident with a channel among %d open", len(open))
	}

	// 4. A responder acknowledges in the incident channel.
	form := url.Values{}
	for k, v := range slacktest.SlashCommand("/incident", "ack", "UBOB", am.Channel.ID, fake.ResponseURL()) {
		form.Set(k, v)
	}
	if code := signed(slack.PathCommands, "application/x-www-form-urlencoded", []byte(form.Encode())); code != http.StatusOK {
		t.Fatalf("/incident ack: HTTP %d", code)
	}
	waitFor(t, "the incident acknowledged", func() bool {
		got, err := svc.Get(ctx, am.ID)
		return err == nil && !got.AckedAt.IsZero()
	})

	// 5. The proposed remediation: a stale plan is refused, then approved.
	waitFor(t, "diagnostics final and a proposal pending", func() bool {
		runs, _ := ist.ListRuns(ctx, runbooks.ListOptions{})
		diag, pending := 0, 0
		for _, r := range runs {
			if r.Runbook == "check-api" && r.State == runbooks.StateSucceeded {
				diag++
			}
			if r.Runbook == "restart-api" && r.State == runbooks.StatePendingApproval {
				pending++
			}
		}
		return diag > 0 && pending > 0
	})
	proposals, _ := ist.ListRuns(ctx, runbooks.ListOptions{States: []runbooks.State{runbooks.StatePendingApproval}})
	if _, _, err := runs.Approve(ctx, proposals[0].ID, runbooks.Decision{By: "slack:UBOB"}, false, "stale", nil); err == nil {
		t.Fatal("stale plan approved")
	}
	if _, _, err := runs.Approve(ctx, proposals[0].ID, runbooks.Decision{By: "slack:UBOB"}, false, proposals[0].PlanHash, nil); err != nil {
		t.Fatal(err)
	}

	// 6. A live message streams through a rate limit (as commands does
	// once its streams carry the observer).
	ref, err := chat.Post(ctx, bot.Target{Channel: am.Channel.ID}, bot.Message{Header: "live"})
	if err != nil {
		t.Fatal(err)
	}
	fake.Force429("chat.update", 1)
	s := bot.NewStream(chat, ref, bot.StreamOptions{Interval: time.Millisecond, OnClose: m.StreamObserver()})
	for i := range 5 {
		s.Update(bot.Message{Header: "live", Text: []string{strconv.Itoa(i)}})
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.Close(cctx, bot.Message{Header: "live", Text: []string{"done"}}); err != nil {
		t.Fatal(err)
	}

	// 7. The alert resolves: the incident resolves by itself.
	if code := post("/hooks/alertmanager", fixture("alertmanager/resolved.json"), nil); code != http.StatusOK {
		t.Fatalf("alertmanager resolved: HTTP %d", code)
	}

	// 8. Something holds a lock and the executor is busy while Prometheus
	// scrapes: two runs hold both slots, one waits.
	var hold []*runbooks.Handle
	for i, lock := range []string{"maintenance", "", ""} {
		r := &runbooks.Run{Runbook: "hold", Kind: runbooks.KindDiagnostic, Params: map[string]string{}, LockKey: lock,
			RequestedBy: "slack:UBOB", RequestedAt: time.Now(), State: runbooks.StateApproved}
		if err := ist.CreateRun(ctx, r); err != nil {
			t.Fatal(err)
		}
		h, err := exec.Start(ctx, r, runbooks.Job{Steps: []runbooks.RenderedStep{{Name: "wait", Kind: runbooks.StepRun, Argv: []string{"sleep", "1000"}}}})
		if err != nil {
			t.Fatalf("hold %d: %v", i, err)
		}
		hold = append(hold, h)
	}

	if err := runs.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	fams := scrape(t, srv.URL+"/metrics")
	for _, h := range hold {
		_ = exec.Cancel(ctx, h.RunID(), "slack:UBOB")
	}
	for _, name := range everyFamily {
		if f := fams[name]; f == nil || len(f.GetMetric()) == 0 {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	// The values the script implies.
	atLeast := []struct {
		family, labels string
		min            float64
	}{
		{"tebura_runs_total", "runbook=check-api,state=succeeded", 1},
		{"tebura_run_duration_seconds", "runbook=check-api", 1}, // sample count
		{"tebura_approvals_total", "outcome=approved", 1},
		{"tebura_approvals_total", "outcome=refused", 1},
		{"tebura_run_queue_depth", "", 1},
		{"tebura_runs_running", "", 2},
		{"tebura_locks_held", "", 1},
		{"tebura_webhook_requests_total", "code=200,source=alertmanager", 2},
		{"tebura_webhook_requests_total", "code=400,source=alertmanager", 1},
		{"tebura_webhook_requests_total", "code=200,source=pagerduty", 2},
		{"tebura_webhook_requests_total", "code=404,source=unknown", 1},
		{"tebura_webhook_duration_seconds", "source=alertmanager", 3},
		{"tebura_incidents_opened_total", "severity=critical", 1},
		{"tebura_incidents_open", "severity=critical", 0},
		{"tebura_incident_time_to_ack_seconds", "severity=critical", 1},
		{"tebura_incident_time_to_resolve_seconds", "severity=critical", 1},
		{"tebura_chat_api_requests_total", "code=200,method=conversations.create,platform=slack", 1},
		{"tebura_chat_api_requests_total", "code=200,method=chat.postMessage,platform=slack", 1},
		{"tebura_chat_api_requests_total", "code=429,method=chat.update,platform=slack", 1},
		{"tebura_chat_api_duration_seconds", "method=chat.update,platform=slack", 2},
		{"tebura_chat_rate_limited_total", "platform=slack", 1},
		{"tebura_chat_rate_limit_wait_seconds_total", "platform=slack", 1},
		{"tebura_stream_frames_sent_total", "", 1},
		{"tebura_dedupe_checks_total", "result=miss,scope=slack-event", 1},
		{"tebura_dedupe_checks_total", "result=hit,scope=slack-event", 1},
		{"tebura_dedupe_checks_total", "result=hit,scope=delivery/pagerduty", 1},
		{"tebura_build_info", "commit=c0ffee,go_version=" + goVersion(fams) + ",version=v0.0.0-test", 1},
	}
	for _, c := range atLeast {
		v, ok := famValue(fams[c.family], c.labels)
		if !ok || v < c.min {
			t.Errorf("%s{%s} = %v (present %v), want at least %v", c.family, c.labels, v, ok, c.min)
		}
	}
	if t.Failed() || testing.Verbose() {
		for _, name := range everyFamily {
			if f := fams[name]; f != nil && strings.HasPrefix(name, "tebura_") {
				for _, mt := range f.GetMetric() {
					v, _ := famValue(f, labelsOf(mt))
					t.Logf("%s{%s} %v", name, labelsOf(mt), v)
				}
			}
		}
	}
}

// scrape GETs url and parses the text exposition.
func scrape(t *testing.T, u string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// famValue is a series' counter/gauge value or histogram sample count.
func famValue(f *dto.MetricFamily, labels string) (float64, bool) {
	if f == nil {
		return 0, false
	}
	for _, mt := range f.GetMetric() {
		if labelsOf(mt) != labels {
			continue
		}
		switch {
		case mt.Counter != nil:
			return mt.GetCounter().GetValue(), true
		case mt.Gauge != nil:
			return mt.GetGauge().GetValue(), true
		case mt.Untyped != nil:
			return mt.GetUntyped().GetValue(), true
		case mt.Histogram != nil:
			return float64(mt.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// goVersion reads the go_version label of tebura_build_info.
func goVersion(fams map[string]*dto.MetricFamily) string {
	if f := fams["tebura_build_info"]; f != nil && len(f.GetMetric()) > 0 {
		for _, l := range f.GetMetric()[0].GetLabel() {
			if l.GetName() == "go_version" {
				return l.GetValue()
			}
		}
	}
	return ""
}

// waitFor polls cond until it holds, failing after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
