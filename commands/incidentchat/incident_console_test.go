package incidentchat_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/bot/console"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident/source"
	"github.com/tebura/tebura/runbooks"
)

// waitOut waits until the console printed want.
func waitOut(t *testing.T, out *bottest.SyncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("the console never printed %q; it printed:\n%s", want, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// consoleStack builds the stack of o around a console adapter that alice
// types into, in channel "console", and runs it until the test ends. say
// types a line into the console; out is what it printed.
func consoleStack(t *testing.T, o stackOptions) (s *stack, out *bottest.SyncBuffer, say func(line string)) {
	t.Helper()
	inR, inW := io.Pipe()
	out = &bottest.SyncBuffer{}
	con := console.New(console.Options{In: inR, Out: out, User: "alice", Channel: "console"})
	o.Chat = con
	s = newStack(t, t.TempDir(), o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- con.Run(ctx, s.Bot) }()
	t.Cleanup(func() {
		cancel()
		inW.Close()
		<-done
	})
	say = func(line string) {
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	return s, out, say
}

// postAlertmanager serves the stack's Alertmanager webhook with cfg, posts
// payload to it (with cfg's bearer token, if any) and fails the test unless
// it is answered 200.
func postAlertmanager(t *testing.T, s *stack, cfg config.Alertmanager, payload []byte) {
	t.Helper()
	hook := source.Handler(source.NewAlertmanager(cfg), source.Ingester(s.Svc.Ingest, s.Inc.React), source.Limits{}, nil)
	srv := httptest.NewServer(hook)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	if cfg.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+string(cfg.BearerToken))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook answered %d", resp.StatusCode)
	}
}

// TestConsoleLoop is the README's loop with the console adapter: an
// Alertmanager payload from examples/ arrives over HTTP, the incident
// opens in the console's channel, the diagnostic streams, bob approves the
// suggested remediation (alice may not), the incident is resolved and the
// postmortem printed.
func TestConsoleLoop(t *testing.T) {
	payload, err := os.ReadFile("../../examples/alertmanager/firing.json")
	if err != nil {
		t.Fatal(err)
	}
	s, out, say := consoleStack(t, stackOptions{
		Incidents: config.Incidents{AutoResolve: true, AnnounceChannel: "console"},
		Automations: []config.Automation{{
			Name: "api-latency", Match: []string{`alertname="HighLatency"`, `service=~"api|web"`},
			Diagnostics: []string{"check-api"}, Suggest: []string{"restart-api"},
			Params:     map[string]string{"service": "{{ .Labels.service }}", "env": `{{ .Labels.env | default "staging" }}`},
			OnceWithin: 30 * time.Minute,
		}}})
	postAlertmanager(t, s, config.Alertmanager{Insecure: true}, payload)
	waitOut(t, out, "Incident #1: HighLatency on api")
	waitOut(t, out, "checking api")
	waitOut(t, out, "Approval needed: restart-api")
	s.waitRuns(byRunbook("check-api"))

	say("!1") // alice presses [Approve] on the approval card: not an approver
	waitOut(t, out, "not an approver of `restart-api`")
	say("!as bob")
	say("!1")
	waitOut(t, out, "restarting api in prod")
	runs := s.waitRuns(byRunbook("restart-api"))
	if len(runs) != 1 || runs[0].State != runbooks.StateSucceeded || runs[0].Approvals[0].By != "console:bob" {
		t.Fatalf("remediation = %+v", runs)
	}
	say("/incident resolve #1 restarted the api")
	waitOut(t, out, "@bob resolved incident #1")
	say("/incident postmortem #1")
	waitOut(t, out, "# Postmortem: #1 HighLatency on api")
	if testing.Verbose() {
		t.Log(out.String())
	}
	md, err := s.Inc.Postmortem(context.Background(), "#1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| restart-api | remediation | automation:api-latency | console:bob | succeeded", "| check-api | diagnostic | automation:api-latency |", "Resolved by console:bob: restarted the api"} {
		mustContain(t, "postmortem", md, want)
	}
}

// TestReadmeLoop runs the INCIDENTS.md walk-through with its config: the
// example runbooks host-diagnostics and demo-restart (dry run), the
// captured Alertmanager payload with its bearer token, alice refused, bob
// approving.
func TestReadmeLoop(t *testing.T) {
	var books []string
	for _, f := range []string{"host-diagnostics.yaml", "demo-restart.yaml"} {
		b, err := os.ReadFile("../../runbooks/examples/" + f)
		if err != nil {
			t.Fatal(err)
		}
		books = append(books, string(b))
	}
	payload, err := os.ReadFile("../../examples/alertmanager/firing.json")
	if err != nil {
		t.Fatal(err)
	}
	s, out, say := consoleStack(t, stackOptions{Runbooks: books,
		Incidents: config.Incidents{AutoResolve: true, ReopenWithin: 30 * time.Minute, AnnounceChannel: "console"},
		Automations: []config.Automation{{
			Name: "api-latency", Match: []string{`alertname="HighLatency"`},
			Diagnostics: []string{"host-diagnostics"}, Suggest: []string{"demo-restart"},
			Params:     map[string]string{"unit": "{{ .Labels.service }}.service", "top": "5"},
			OnceWithin: 30 * time.Minute,
		}}})
	postAlertmanager(t, s, config.Alertmanager{BearerToken: "s3cret-token"}, payload)
	waitOut(t, out, "Incident #1: HighLatency on api")
	waitOut(t, out, "Approval needed: demo-restart")
	waitOut(t, out, "unit=api.service")
	diag := s.waitRuns(byRunbook("host-diagnostics"))
	if len(diag) != 1 || diag[0].RequestedBy != "automation:api-latency" {
		t.Fatalf("diagnostics = %+v", diag)
	}
	say("!1")
	waitOut(t, out, "not an approver of `demo-restart`")
	say("!as bob")
	say("!1")
	waitOut(t, out, "dry run: would restart the demo stand-in of api.service")
	s.waitRuns(byRunbook("demo-restart"))
	for _, line := range []string{"/incident ack #1", "/incident note #1 restarted api.service", "/incident resolve #1 dry run showed the unit was healthy", "/incident timeline #1", "/incident postmortem #1"} {
		say(line)
	}
	waitOut(t, out, "@bob resolved incident #1")
	waitOut(t, out, "# Postmortem: #1 HighLatency on api")
}
