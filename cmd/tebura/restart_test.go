package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/bot/slack/slacktest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/store/bolt"
)

// serveWithin is the product's promise: a started tebura answers its
// health check and webhooks within a second, whatever the chats do.
const serveWithin = time.Second

// restartGrace is the shutdown_grace of the restart test: SIGTERM must end
// the process within it.
const restartGrace = 3 * time.Second

// TestRestartServesWhateverSlackDoes: tebura, built like a release, restarts
// over 50 open incidents that have no channel yet while Slack (the fake)
// hangs every connection, refuses them, or answers slowly. Each time
// /healthz and an Alertmanager webhook are answered within a second of the
// start, /readyz answers 200 saying the incidents are still being
// reconciled (and /metrics shows the backlog and Slack down), and SIGTERM, sent while that is going on, ends the process
// cleanly within shutdown_grace.
func TestRestartServesWhateverSlackDoes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts it three times")
	}
	cleanEnv(t)
	bin := buildTebura(t)
	for _, tc := range []struct {
		name string
		net  slacktest.Network
	}{
		{"hang", slacktest.NetworkHang},
		{"refuse", slacktest.NetworkRefuse},
		{"slow", slacktest.NetworkSlow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := slacktest.New()
			defer fake.Close()
			fake.SetSlow(2 * time.Second) // each Web API call: the 50 incidents take minutes
			fake.SetNetwork(tc.net)
			p := startTebura(t, bin, fake)
			start, addr := p.start, p.addr
			base := "http://" + addr
			client := &http.Client{Timeout: serveWithin}

			// /healthz, polled from the start: answered within a second.
			for {
				resp, err := client.Get(base + "/healthz")
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						break
					}
				}
				if time.Since(start) > serveWithin {
					t.Fatalf("/healthz not answered within %s of the start (last: %v)", serveWithin, err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("/healthz answered %s after the start", time.Since(start).Round(time.Millisecond))

			// A webhook, right away: stored and answered within a second.
			begin := time.Now()
			req, _ := http.NewRequest(http.MethodPost, base+"/hooks/alertmanager", bytes.NewReader(firingPayload(t, "checkout")))
			req.Header.Set("Authorization", "Bearer am-bearer-token-1")
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("webhook not answered within %s: %v", serveWithin, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("webhook answered %d", resp.StatusCode)
			}
			t.Logf("webhook answered in %s", time.Since(begin).Round(time.Millisecond))

			// Ready (200) while catching up, and it says what with.
			resp, err = client.Get(base + "/readyz")
			if err != nil {
				t.Fatalf("/readyz: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "ok, catching up:") ||
				!strings.Contains(string(body), "incidents: ") || !strings.Contains(string(body), "slack: ") {
				t.Errorf("/readyz while catching up = %d %q, want 200 listing incidents and slack", resp.StatusCode, body)
			}

			// SIGTERM in the middle of all that: a clean exit within the grace.
			// The metrics say so too: Slack not connected, the backlog.
			pending := regexp.MustCompile(`(?m)^tebura_incident_reconcile_pending (\d+)$`)
			deadline := time.Now().Add(5 * time.Second)
			for {
				resp, err := client.Get(base + "/metrics")
				if err != nil {
					t.Fatalf("/metrics: %v", err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				n := -1
				if m := pending.FindStringSubmatch(string(b)); m != nil {
					n, _ = strconv.Atoi(m[1])
				}
				if n >= 50 {
					if !strings.Contains(string(b), `tebura_chat_connected{platform="slack"} 0`) {
						t.Errorf("/metrics does not say Slack is not connected")
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("tebura_incident_reconcile_pending = %d, never the 50 seeded incidents", n)
				}
				time.Sleep(10 * time.Millisecond)
			}

			p.terminate(t)
		})
	}
	// SIGTERM as soon as the start-up touched the store, Slack hanging:
	// the process still stops within the grace.
	t.Run("sigterm at start-up", func(t *testing.T) {
		fake := slacktest.New()
		defer fake.Close()
		fake.SetNetwork(slacktest.NetworkHang)
		p := startTebura(t, bin, fake)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(p.stderr.String(), `msg="audit chain verified"`) {
			if time.Now().After(deadline) {
				t.Fatal("the start-up never reached the store")
			}
			time.Sleep(time.Millisecond)
		}
		p.terminate(t)
	})
}

// teburaProc is a built tebura serving against a fake Slack.
type teburaProc struct {
	cmd    *exec.Cmd
	stderr *bottest.SyncBuffer
	exited chan error
	start  time.Time
	addr   string
}

// startTebura starts bin over 50 open incidents without a channel, with
// Slack at fake and an Alertmanager source.
func startTebura(t *testing.T, bin string, fake *slacktest.Server) *teburaProc {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	seedOpenIncidents(t, data, 50)
	p := &teburaProc{stderr: &bottest.SyncBuffer{}, exited: make(chan error, 1), addr: freeAddr(t)}
	cfg := filepath.Join(dir, "tebura.yaml")
	writeFile(t, cfg, fmt.Sprintf(`data_dir: %s
http: {listen: "%s"}
shutdown_grace: %s
runbooks: {dirs: []}
slack: {enabled: true, bot_token: %s, app_token: %s, api_url: "%s"}
sources:
  alertmanager: {bearer_token: am-bearer-token-1}
`, data, p.addr, restartGrace, slacktest.BotToken, slacktest.AppToken, fake.URL))
	p.cmd = exec.Command(bin, "serve", "--config", cfg)
	p.cmd.Stderr = p.stderr
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// terminate sends SIGTERM and wants a clean exit within the grace.
func (p *teburaProc) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		took := time.Since(signalled)
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want 0", err)
		}
		if took > restartGrace {
			t.Fatalf("exit %s after SIGTERM, want within shutdown_grace %s", took, restartGrace)
		}
		t.Logf("exited %s after SIGTERM", took.Round(time.Millisecond))
	case <-time.After(restartGrace + 5*time.Second):
		t.Fatalf("still running %s after SIGTERM (shutdown_grace %s)", restartGrace+5*time.Second, restartGrace)
	}
	// "tebura stopped", or "tebura stopped during start-up" when the
	// signal came before the listener served: both are clean stops.
	if !strings.Contains(p.stderr.String(), `msg="tebura stopped`) {
		t.Error("no clean stop in the log")
	}
}

// buildTebura builds this command into a temporary directory, as a
// release would (no race detector, no test harness).
func buildTebura(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tebura")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// seedOpenIncidents leaves n open incidents without a channel in a store
// at dir, as a process that died before reacting to their webhooks would.
func seedOpenIncidents(t *testing.T, dir string, n int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := bolt.Open(filepath.Join(dir, dbFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := config.Default().Incidents
	cfg.MaxOpen, cfg.MaxNewPerMinute = 0, 0 // seed past the storm limits: this is a backlog, not a storm
	svc, err := incident.New(st, cfg, nil, nil, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	for k := range n {
		service := fmt.Sprintf("svc-%02d", k)
		labels := map[string]string{"alertname": "HighLatency", "service": service, "severity": "critical"}
		_, err := svc.Ingest(context.Background(), incident.Batch{Source: "alertmanager", GroupKey: "restart-" + service, Labels: labels,
			Alerts: []incident.Alert{{Source: "alertmanager", Fingerprint: "fp-" + service, Status: incident.AlertFiring,
				Labels: labels, StartsAt: time.Now().Add(-time.Minute)}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	open, err := svc.List(context.Background(), incident.ListOptions{OpenOnly: true})
	if err != nil || len(open) != n {
		t.Fatalf("seeded %d open incidents (%v), want %d", len(open), err, n)
	}
	for _, inc := range open {
		if !inc.Channel.IsZero() {
			t.Fatalf("seeded incident %s has a channel", inc.Ref())
		}
	}
}

// firingPayload is an Alertmanager webhook with one firing alert of
// service, started a minute ago.
func firingPayload(t *testing.T, service string) []byte {
	t.Helper()
	labels := map[string]string{"alertname": "HighLatency", "service": service, "severity": "critical"}
	b, err := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": "tebura", "groupKey": `{}:{service="` + service + `"}`,
		"groupLabels": map[string]string{"service": service}, "commonLabels": labels, "commonAnnotations": map[string]string{},
		"externalURL": "http://alertmanager.example:9093", "truncatedAlerts": 0,
		"alerts": []map[string]any{{"status": "firing", "labels": labels, "annotations": map[string]string{},
			"startsAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), "endsAt": "0001-01-01T00:00:00Z",
			"generatorURL": "http://prometheus.example:9090/graph", "fingerprint": "fp-" + service}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
