package jira_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/tickets"
	"github.com/tebura/tebura/tickets/jira"
	"github.com/tebura/tebura/tickets/jira/jiratest"
)

func setup(t *testing.T, mutate func(*config.Jira)) (*jira.Client, *jiratest.Fake) {
	t.Helper()
	f := jiratest.New(time.Now)
	srv := f.Server(t)
	cfg := config.Default().Tickets.Jira
	cfg.URL, cfg.Email, cfg.APIToken, cfg.Project = srv.URL, f.Email, config.Secret(f.Token), "OPS"
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := jira.New(cfg, srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func request(marker string) tickets.Request {
	return tickets.Request{Marker: marker, Incident: "#3", Title: "Disk full on db-1", Severity: "critical",
		Labels: map[string]string{"service": "db", "alertname": "DiskFull"}, Summary: "/var is 100% full",
		Channel: "#inc-3-disk-full", ChannelURL: "https://slack.example/archives/C3", Bridge: "https://meet.jit.si/inc-3",
		Opened: time.Now()}
}

// TestCreateFind: the issue carries the summary, priority, labels (the
// marker among them) and an ADF description the fake accepts, with the
// channel and the bridge as links; Find finds it by the marker only.
func TestCreateFind(t *testing.T) {
	c, f := setup(t, func(j *config.Jira) { j.Labels = []string{"incident"} })
	ctx := context.Background()
	if _, ok, err := c.Find(ctx, "tebura-i3-x"); ok || err != nil {
		t.Fatalf("Find before create = %v, %v", ok, err)
	}
	tk, err := c.Create(ctx, request("tebura-i3-x"))
	if err != nil {
		t.Fatal(err)
	}
	if tk.Key != "OPS-1" || !strings.HasSuffix(tk.URL, "/browse/OPS-1") {
		t.Errorf("ticket = %+v", tk)
	}
	is := f.Issues()[0]
	if is.Summary != "Incident #3: Disk full on db-1" || is.Priority != "Highest" || strings.Join(is.Labels, ",") != "incident,tebura-i3-x" {
		t.Errorf("issue = %+v", is)
	}
	desc, _ := json.Marshal(is.Description)
	for _, want := range []string{`"href":"https://slack.example/archives/C3"`, `"href":"https://meet.jit.si/inc-3"`, "/var is 100% full", "service=db"} {
		if !strings.Contains(string(desc), want) {
			t.Errorf("description lacks %s: %s", want, desc)
		}
	}
	got, ok, err := c.Find(ctx, "tebura-i3-x")
	if err != nil || !ok || got != tk {
		t.Errorf("Find = %+v, %v, %v; want %+v", got, ok, err, tk)
	}
	if _, ok, _ := c.Find(ctx, "tebura-i3-y"); ok {
		t.Error("Find matched another marker")
	}
}

// TestCreateLongTitle: a title over Jira's 255 characters, with line
// breaks, is clipped to one line rather than refused.
func TestCreateLongTitle(t *testing.T) {
	c, f := setup(t, nil)
	r := request("m")
	r.Title = strings.Repeat("overloaded\n", 40)
	if _, err := c.Create(context.Background(), r); err != nil {
		t.Fatalf("Create with a long title: %v", err)
	}
	if s := f.Issues()[0].Summary; len([]rune(s)) > 255 || strings.Contains(s, "\n") {
		t.Errorf("summary = %q", s)
	}
}

// TestErrors: each refusal becomes an error of the right kind whose
// message says what to fix.
func TestErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(*config.Jira)
		script func(*jiratest.Fake)
		code   string
		msg    string
		after  time.Duration
	}{
		{"bad token", func(j *config.Jira) { j.APIToken = "wrong" }, nil, tebura.EUNAUTHENTICATED, "tickets.jira.api_token", 0},
		{"missing issue type", func(j *config.Jira) { j.IssueType = "Epicc" }, nil, tebura.EINVALID, "issuetype: Specify an issue type", 0},
		{"bad priority", func(j *config.Jira) { j.Priorities = map[string]string{"critical": "P1"} }, nil, tebura.EINVALID, "priority", 0},
		{"outage", nil, func(f *jiratest.Fake) { f.DownUntil(time.Now().Add(time.Hour)) }, tebura.ETRANSIENT, "unavailable (503)", 0},
		{"throttled", nil, func(f *jiratest.Fake) { f.Throttle(1, 42*time.Second) }, tebura.ETRANSIENT, "slow down", 42 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, f := setup(t, c.mutate)
			if c.script != nil {
				c.script(f)
			}
			_, err := cl.Create(context.Background(), request("m"))
			if tebura.ErrorCode(err) != c.code || !strings.Contains(tebura.ErrorMessage(err), c.msg) {
				t.Fatalf("Create = %v; want %s with %q", err, c.code, c.msg)
			}
			after, ok := tickets.RetryAfter(err)
			if ok != (c.after > 0) || after != c.after {
				t.Errorf("RetryAfter = %s, %v; want %s", after, ok, c.after)
			}
			if len(f.Issues()) != 0 {
				t.Error("a refused create stored an issue")
			}
		})
	}
}

// TestResolve: the transition is found by its name or by its target
// status; an issue already there is left alone; a missing transition is
// named with the ones offered.
func TestResolve(t *testing.T) {
	for _, c := range []struct {
		name, transition string
		wantErr          string
	}{
		{"by target status", "Done", ""},
		{"by transition name", "Close", ""},
		{"missing", "Closed", `has no transition "Closed"; it offers Start work, Close`},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, f := setup(t, func(j *config.Jira) { j.ResolveTransition = c.transition })
			ctx := context.Background()
			tk, err := cl.Create(ctx, request("m"))
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.Comment(ctx, tk, "# Postmortem\n| a | b |"); err != nil {
				t.Fatal(err)
			}
			err = cl.Resolve(ctx, tk, tickets.Resolution{})
			if c.wantErr != "" {
				if err == nil || !strings.Contains(tebura.ErrorMessage(err), c.wantErr) {
					t.Fatalf("Resolve = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			is := f.Issues()[0]
			if is.Status != "Done" || len(is.Comments) != 1 {
				t.Fatalf("issue = %+v", is)
			}
			if c.transition == "Done" {
				// Again (a retry after a lost answer): the issue is in
				// the status already, which is success.
				if err := cl.Resolve(ctx, tk, tickets.Resolution{}); err != nil {
					t.Errorf("Resolve of a Done issue = %v", err)
				}
			}
		})
	}
}
