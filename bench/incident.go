package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/incidentchat"
	"github.com/tebura/tebura/commands/runbookchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
)

// amPayload is Alertmanager webhook k: 100 distinct alerts of group k%20,
// in the v4 shape.
func amPayload(k int, startsAt time.Time) []byte {
	name := fmt.Sprintf("Bench%d", k%20)
	alerts := make([]map[string]any, 100)
	for i := range alerts {
		n := k*100 + i
		alerts[i] = map[string]any{"status": "firing", "startsAt": startsAt, "fingerprint": fmt.Sprintf("%016x", n),
			"generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=latency",
			"labels":       map[string]string{"alertname": name, "service": "api", "severity": "critical", "instance": fmt.Sprintf("api-%d", n)},
			"annotations":  map[string]string{"summary": fmt.Sprintf("p99 latency above 2s on api-%d", n)}}
	}
	b, _ := json.Marshal(map[string]any{
		"version": "4", "groupKey": fmt.Sprintf("{}:{alertname=%q}", name), "status": "firing", "receiver": "tebura",
		"groupLabels": map[string]string{"alertname": name}, "commonLabels": map[string]string{"alertname": name, "service": "api"},
		"externalURL": "http://alertmanager.example.com:9093", "alerts": alerts,
	})
	return b
}

// ingest measures issue 6's alert ingest: 100-alert Alertmanager payloads
// over HTTP on loopback into the mounted webhook handler (admission
// control included), the incident service and a bolt store with an fsync
// per commit, from 4 concurrent senders; alerts/s and p99 request latency.
func ingest(e *env) ([]row, error) {
	store, err := bolt.Open(filepath.Join(e.work, "ingest.db"), bolt.Options{})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	const requests, senders = 400, 4
	rate, p99, err := sendAlerts(store, requests, senders, 1)
	if err != nil {
		return nil, err
	}
	return []row{
		{fmt.Sprintf("alert ingest rate (%d x 100 alerts, %d senders, HTTP + bolt)", requests, senders), fmt.Sprintf("%.0f alerts/s", rate), ">= 10000 alerts/s", met(rate >= 10000)},
		{"alert ingest webhook p99", ms(p99), "<= 50 ms", met(p99 <= 50*time.Millisecond)},
	}, nil
}

// sendAlerts posts requests 100-alert Alertmanager payloads, each sends
// times (a retried delivery repeats the same payload: the alerts are
// deduplicated), from senders concurrent senders, to the webhook handler
// over HTTP on loopback, backed by the incident service on store. It
// returns the alerts received per second and the p99 request latency.
func sendAlerts(store incident.Store, requests, senders, sends int) (float64, time.Duration, error) {
	svc, err := incident.New(store, config.Incidents{AutoResolve: true, ReopenWithin: time.Hour}, nil, nil, nil)
	if err != nil {
		return 0, 0, err
	}
	mux := http.NewServeMux()
	if _, err := source.Mount(mux, config.Sources{Alertmanager: config.Alertmanager{BearerToken: "bench-token"}},
		source.Ingester(svc.Ingest, nil), nil); err != nil {
		return 0, 0, err
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	start := time.Now().UTC().Truncate(time.Second)
	total := requests * sends
	payloads := make([][]byte, requests)
	for k := range payloads {
		payloads[k] = amPayload(k, start)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	defer client.CloseIdleConnections()
	lat := make([]time.Duration, total)
	errs := make(chan error, senders)
	var wg sync.WaitGroup
	t0 := time.Now()
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := s; i < total; i += senders {
				k := i % requests // each pass over the payloads repeats the last
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/alertmanager", bytes.NewReader(payloads[k]))
				req.Header.Set("Authorization", "Bearer bench-token")
				req.Header.Set("Content-Type", "application/json")
				t := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t)
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("ingest answered %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	return float64(total*100) / elapsed.Seconds(), pct(lat, 0.99), nil
}

// channelChat is the fake chat with channels, as an incident needs. shown,
// when set, sees every message posted.
type channelChat struct {
	bottest.FileChat
	shown func(bot.Message)
	mu    sync.Mutex
	n     int
}

// Post posts m and shows it to shown.
func (c *channelChat) Post(ctx context.Context, to bot.Target, m bot.Message) (bot.MessageRef, error) {
	ref, err := c.FileChat.Post(ctx, to, m)
	if err == nil && c.shown != nil {
		c.shown(m)
	}
	return ref, err
}

func (c *channelChat) CreateChannel(ctx context.Context, spec bot.ChannelSpec) (bot.Channel, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	name := fmt.Sprintf("%s-%d", spec.Name, c.n)
	return bot.Channel{ID: "C-" + name, Name: name}, nil
}
func (c *channelChat) Invite(context.Context, string, []string) error { return nil }
func (c *channelChat) SetTopic(context.Context, string, string) error { return nil }
func (c *channelChat) Archive(context.Context, string) error          { return nil }

const checkAPI = `name: check-api
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

// alertFirstFrame measures issue 6's alert to first diagnostic frame: an
// alert batch of a new group handed to ingest, to the first post or edit of
// the diagnostic's live message that shows the runbook's output in the fake
// chat (incident, channel, card, automation, run start, process, stream;
// 10 ms stream interval). A diagnostic that ends within the stream's hold
// is one post showing its final frame.
func alertFirstFrame(e *env) ([]row, error) {
	const n = 50
	var lat []time.Duration
	err := inTB("alert to first diagnostic frame", func(tb testing.TB) {
		dir := tb.TempDir()
		rbDir := filepath.Join(dir, "runbooks")
		if err := os.MkdirAll(rbDir, 0o700); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(rbDir, "check.yaml"), []byte(checkAPI), 0o600); err != nil {
			tb.Fatal(err)
		}
		st, err := bolt.Open(filepath.Join(dir, "tebura.db"), bolt.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { st.Close() })
		pol, err := access.New(map[string][]string{"sre": {"console:bob"}}, nil)
		if err != nil {
			tb.Fatal(err)
		}
		reg, problems := runbooks.Load(runbooks.LoadOptions{Dirs: []string{rbDir}, KnownRole: pol.Known})
		if len(problems) > 0 {
			tb.Fatalf("runbooks: %v", problems)
		}
		ex := runbooks.NewExecutor(st, runbooks.ExecutorConfig{DataDir: dir}, nil)
		frames := make(chan string, 64)
		shown := func(m bot.Message) {
			if m.Code != nil {
				for _, line := range strings.Split(m.Code.Text, "\n") {
					if svc, ok := strings.CutPrefix(line, "checking "); ok {
						select {
						case frames <- strings.TrimSpace(svc):
						default:
						}
					}
				}
			}
		}
		chat := &channelChat{FileChat: bottest.FileChat{Chat: bottest.NewChat(bot.Limits{})}, shown: shown}
		chats := map[string]bot.Chat{chat.Name(): chat}
		al := audit.New(st, nil, time.Now)
		b := runbookchat.New(runbookchat.Deps{
			Store: st, Registry: func() *runbooks.Registry { return reg }, Access: func() *access.Policy { return pol },
			Audit: al, Executor: ex, Chats: chats,
			Config: config.Bot{StreamInterval: 10 * time.Millisecond}, DataDir: dir, ExpiryInterval: time.Hour,
		})
		automations := []config.Automation{{Name: "api", Match: []string{`service=~"api.*"`}, Diagnostics: []string{"check-api"},
			Params: map[string]string{"service": "{{ .Labels.service }}"}, OnceWithin: time.Hour}}
		rules, err := incident.CompileRules(automations)
		if err != nil {
			tb.Fatal(err)
		}
		svc, err := incident.New(st, config.Incidents{}, rules, nil, nil)
		if err != nil {
			tb.Fatal(err)
		}
		inc, err := incidentchat.New(incidentchat.Deps{Service: svc, Runs: b.Runs(), Runbooks: b, Store: st,
			Registry: func() *runbooks.Registry { return reg }, Audit: al, Chats: chats,
			Access: func() *access.Policy { return pol }, Interval: time.Hour})
		if err != nil {
			tb.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		tb.Cleanup(func() {
			cancel()
			now, stop := context.WithCancel(context.Background())
			stop()
			_ = ex.Shutdown(now)
			wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer wcancel()
			_ = b.Wait(wctx)
			_ = inc.Wait(wctx)
		})
		if err := b.Recover(ctx); err != nil {
			tb.Fatal(err)
		}
		if err := inc.Recover(ctx); err != nil {
			tb.Fatal(err)
		}
		chat.SetEditHook(func(_ context.Context, _ bot.MessageRef, m bot.Message) error {
			shown(m)
			return nil
		})
		for k := range n {
			service := fmt.Sprintf("api-%d", k)
			batch := incident.Batch{Source: "alertmanager", GroupKey: "bench-" + service,
				Labels: map[string]string{"alertname": "HighLatency", "service": service, "severity": "critical"},
				Alerts: []incident.Alert{{Source: "alertmanager", Fingerprint: "fp-" + service, Status: incident.AlertFiring,
					Labels:   map[string]string{"alertname": "HighLatency", "service": service, "severity": "critical"},
					StartsAt: time.Now()}}}
			t0 := time.Now()
			res, err := svc.Ingest(ctx, batch)
			if err != nil {
				tb.Fatal(err)
			}
			inc.React(ctx, res)
		wait:
			for {
				select {
				case got := <-frames:
					if got == service {
						break wait
					}
				case <-time.After(10 * time.Second):
					tb.Fatalf("no diagnostic output frame for %s", service)
				}
			}
			lat = append(lat, time.Since(t0))
		}
	})
	if err != nil {
		return nil, err
	}
	p50 := pct(lat, 0.50)
	return []row{
		{fmt.Sprintf("alert to first diagnostic frame p50 (%d incidents)", n), ms(p50), "<= 100 ms", met(p50 <= 100*time.Millisecond)},
		{"alert to first diagnostic frame p90", ms(pct(lat, 0.90)), "", ""},
	}, nil
}
