package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/tickets/jira/jiratest"
)

// TestServeTickets: `tebura serve` with tickets.jira and a bridge: the
// incident card and the announcement carry the call bridge, the card shows
// the Jira ticket created in the background (from "pending" while Jira is
// down), and resolving the incident comments the postmortem on the ticket
// and closes it.
func TestServeTickets(t *testing.T) {
	cleanEnv(t)
	fake := jiratest.New(time.Now)
	fake.DownUntil(time.Now().Add(time.Second)) // the first attempt fails
	srv := fake.Server(t)
	dir := writeTree(t, map[string]string{
		"rb/check.yaml": checkAPIBook, "rb/restart.yaml": restartAPIBook,
		"jira-token": fake.Token + "\n",
		"tebura.yaml": baseConfig(`sources:
  alertmanager: {bearer_token: am-bearer-token-1}
incidents:
  announce_channel: console
  bridge_url: "https://meet.jit.si/tebura-{{ .Number }}-{{ .Slug }}"
tickets:
  retry_min: 100ms
  retry_max: 1s
  jira:
    url: ` + srv.URL + `
    email: ` + fake.Email + `
    api_token_file: jira-token
    project: OPS
    labels: [incident]
`),
	})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
	payload, err := os.ReadFile(filepath.Join("..", "..", "examples", "alertmanager", "firing.json"))
	if err != nil {
		t.Fatal(err)
	}
	if code := post(t, ts.base+"/hooks/alertmanager", payload, "Authorization", "Bearer am-bearer-token-1"); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	waitEvent(t, ts.out, "the card saying the ticket is pending", func(e outEvent) bool {
		return strings.HasPrefix(e.Message.Header, "Incident #1: ") && strings.Contains(e.text(), "Jira ticket: pending")
	})
	card := waitEvent(t, ts.out, "the card with the ticket", func(e outEvent) bool {
		return strings.HasPrefix(e.Message.Header, "Incident #1: ") && strings.Contains(e.text(), "Jira ticket: OPS-1")
	})
	links := map[string]string{}
	for _, l := range card.Message.Links {
		links[l.Label] = l.URL
	}
	if links["OPS-1"] != srv.URL+"/browse/OPS-1" || !strings.HasPrefix(links["Join the call"], "https://meet.jit.si/tebura-1-") {
		t.Errorf("card links = %v, want the ticket and the bridge", links)
	}
	issues := fake.Issues()
	if len(issues) != 1 || !strings.Contains(issues[0].Summary, "Incident #1") {
		t.Fatalf("Jira issues = %+v, want one for #1", issues)
	}

	resp, err := http.Get(ts.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`tebura_ticket_attempts_total{outcome="done",step="create",system="Jira"} 1`,
		`tebura_tickets_pending{system="Jira"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	ts.send(t, map[string]any{"type": "command", "user": "bob", "text": "/incident resolve #1 fixed"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		is := fake.Issues()[0]
		if is.Status == "Done" && len(is.Comments) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("issue after resolve = %+v; the console wrote:\n%s", is, ts.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDoctorTickets: `tebura doctor` checks the ticketing system with the
// configured credentials: ✓ with the project and issue type, ✗ with the
// reason (and exit 1) for a refused token or a missing issue type, and
// never prints the token.
func TestDoctorTickets(t *testing.T) {
	cleanEnv(t)
	fake := jiratest.New(time.Now)
	srv := fake.Server(t)
	for _, c := range []struct {
		name, token, issueType string
		code                   int
		want                   string
	}{
		{"good", fake.Token, "Task", 0, "✓ tickets: Jira: project OPS (Operations), issue type Task"},
		{"refused token", "not-the-token", "Task", 1, "✗ tickets: Jira: Jira refused the credentials (401)"},
		{"missing issue type", fake.Token, "Story", 1, `✗ tickets: Jira: Jira project OPS has no issue type "Story"; it has Task, Bug, Incident.`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "tebura.yaml": baseConfig(`tickets:
  jira: {url: ` + srv.URL + `, email: ` + fake.Email + `, api_token: ` + c.token + `, project: OPS, issue_type: ` + c.issueType + `}
`)})
			out, _, code := runCLI(t, "", "doctor", "--config", filepath.Join(dir, "tebura.yaml"))
			if code != c.code || !strings.Contains(out, c.want) {
				t.Errorf("doctor: exit %d, want %d with %q\n%s", code, c.code, c.want, out)
			}
			if strings.Contains(out, c.token) {
				t.Errorf("doctor printed the token:\n%s", out)
			}
		})
	}
}
