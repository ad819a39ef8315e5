package servicenow_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/tickets"
	"github.com/tebura/tebura/tickets/servicenow"
	"github.com/tebura/tebura/tickets/servicenow/servicenowtest"
)

func setup(t *testing.T, mutate func(*config.ServiceNow)) (*servicenow.Client, *servicenowtest.Fake) {
	t.Helper()
	f := servicenowtest.New(time.Now)
	srv := f.Server(t)
	cfg := config.Default().Tickets.ServiceNow
	cfg.URL, cfg.Username, cfg.Password = srv.URL, f.Username, config.Secret(f.Password)
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := servicenow.New(cfg, srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func request(marker string) tickets.Request {
	return tickets.Request{Marker: marker, Incident: "#3", Title: "Disk full on db-1", Severity: "critical",
		Labels: map[string]string{"service": "db"}, Channel: "#inc-3", ChannelURL: "https://slack.example/archives/C3",
		Bridge: "https://meet.jit.si/inc-3", Opened: time.Now()}
}

// TestLifecycle: create (fields, impact/urgency from the severity, the
// marker in correlation_id), find by the marker, work note, resolve with
// close_code and close_notes; with basic auth and with a bearer token.
func TestLifecycle(t *testing.T) {
	for _, auth := range []string{"basic", "bearer"} {
		t.Run(auth, func(t *testing.T) {
			c, f := setup(t, func(s *config.ServiceNow) {
				s.AssignmentGroup = "Service Desk"
				if auth == "bearer" {
					s.Username, s.Password, s.Token = "", "", "sn-token"
				}
			})
			ctx := context.Background()
			if _, ok, err := c.Find(ctx, "tebura-i3-x"); ok || err != nil {
				t.Fatalf("Find before create = %v, %v", ok, err)
			}
			tk, err := c.Create(ctx, request("tebura-i3-x"))
			if err != nil {
				t.Fatal(err)
			}
			rec := f.Records()[0]
			want := map[string]string{"number": tk.Key, "sys_id": tk.ID, "short_description": "Incident #3: Disk full on db-1",
				"impact": "1", "urgency": "1", "correlation_id": "tebura-i3-x", "assignment_group": "Service Desk"}
			for k, v := range want {
				if rec.Fields[k] != v {
					t.Errorf("%s = %q, want %q", k, rec.Fields[k], v)
				}
			}
			for _, s := range []string{"https://slack.example/archives/C3", "https://meet.jit.si/inc-3", "service=db"} {
				if !strings.Contains(rec.Fields["description"], s) {
					t.Errorf("description lacks %s: %q", s, rec.Fields["description"])
				}
			}
			if !strings.Contains(tk.URL, "incident.do%3Fsys_id%3D"+tk.ID) {
				t.Errorf("URL = %s", tk.URL)
			}
			got, ok, err := c.Find(ctx, "tebura-i3-x")
			if err != nil || !ok || got != tk {
				t.Errorf("Find = %+v, %v, %v", got, ok, err)
			}
			if err := c.Comment(ctx, tk, "# Postmortem"); err != nil {
				t.Fatal(err)
			}
			if err := c.Resolve(ctx, tk, tickets.Resolution{Notes: "Incident #3 resolved by slack:U1"}); err != nil {
				t.Fatal(err)
			}
			rec = f.Records()[0]
			if rec.Fields["state"] != "6" || rec.Fields["close_code"] != "Solution provided" || rec.Fields["close_notes"] != "Incident #3 resolved by slack:U1" {
				t.Errorf("resolved record = %+v", rec.Fields)
			}
			if len(rec.WorkNotes) != 1 || !strings.Contains(rec.WorkNotes[0], "# Postmortem") {
				t.Errorf("work notes = %q", rec.WorkNotes)
			}
		})
	}
}

// TestErrors: each refusal becomes an error of the right kind whose
// message says what to fix.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	c, f := setup(t, func(s *config.ServiceNow) { s.Password = "wrong" })
	if _, err := c.Create(ctx, request("m")); tebura.ErrorCode(err) != tebura.EUNAUTHENTICATED || !strings.Contains(tebura.ErrorMessage(err), "tickets.servicenow.username") {
		t.Errorf("bad password: %v", err)
	}
	c, f = setup(t, func(s *config.ServiceNow) { s.CloseCode = "Fixed" })
	tk, err := c.Create(ctx, request("m"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(ctx, tk, tickets.Resolution{Notes: "n"}); tebura.ErrorCode(err) != tebura.EINVALID || !strings.Contains(tebura.ErrorMessage(err), "close_code Fixed is not a choice") {
		t.Errorf("unknown close code: %v", err)
	}
	c, _ = setup(t, nil) // an instance without tk's record
	if err := c.Resolve(ctx, tk, tickets.Resolution{Notes: "n"}); tebura.ErrorCode(err) != tebura.ENOTFOUND || !strings.Contains(tebura.ErrorMessage(err), "tickets.servicenow.url") {
		t.Errorf("resolve of a missing record: %v", err)
	}
	c, f = setup(t, nil)
	f.Throttle(1, 17*time.Second)
	_, err = c.Create(ctx, request("m"))
	if d, ok := tickets.RetryAfter(err); !ok || d != 17*time.Second || tebura.ErrorCode(err) != tebura.ETRANSIENT {
		t.Errorf("throttled: %v (retry after %s, %v)", err, d, ok)
	}
	r := request("m")
	r.Title = strings.Repeat("x", 300)
	if _, err := c.Create(ctx, r); err != nil {
		t.Errorf("a long title is clipped, not refused: %v", err)
	}
}

// TestCheck: doctor's check reads the incident table with the configured
// credentials.
func TestCheck(t *testing.T) {
	c, _ := setup(t, nil)
	if d, err := c.Check(context.Background()); err != nil || d == "" {
		t.Errorf("Check = %q, %v", d, err)
	}
	c, _ = setup(t, func(s *config.ServiceNow) { s.Username, s.Password, s.Token = "", "", "expired" })
	if _, err := c.Check(context.Background()); tebura.ErrorCode(err) != tebura.EUNAUTHENTICATED {
		t.Errorf("Check with a refused token = %v", err)
	}
}
