package tickets_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/incidenttest"
	"github.com/tebura/tebura/tickets"
	"github.com/tebura/tebura/tickets/jira"
	"github.com/tebura/tebura/tickets/jira/jiratest"
	"github.com/tebura/tebura/tickets/servicenow"
	"github.com/tebura/tebura/tickets/servicenow/servicenowtest"
)

// vclock is the virtual clock the Service, the incident service and the
// fakes share: Sleep moves it forward at once, so a 60 s outage takes no
// time, and records every wait.
type vclock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *vclock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *vclock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return nil
}

func (c *vclock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *vclock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.slept)
}

// fake is what the tests script and read of either fake.
type fake interface {
	DownUntil(time.Time)
	Throttle(n int, after time.Duration)
	LoseCreates(n int)
	Early() int
	Requests() []string
}

// remote is one ticket as the fake holds it.
type remote struct {
	Key      string
	Marker   bool // carries the incident's marker
	Comments []string
	Resolved bool
	Closing  string // close notes (ServiceNow)
}

type backend struct {
	name string
	new  func(t *testing.T, clk *vclock) (tickets.System, fake, func(marker string) []remote)
}

var backends = []backend{
	{"jira", func(t *testing.T, clk *vclock) (tickets.System, fake, func(string) []remote) {
		f := jiratest.New(clk.Now)
		srv := f.Server(t)
		c, err := jira.New(config.Jira{URL: srv.URL, Email: f.Email, APIToken: config.Secret(f.Token), Project: "OPS", IssueType: "Task",
			Priorities: config.Default().Tickets.Jira.Priorities, ResolveTransition: "Done", Labels: []string{"incident"}}, srv.Client(), clk.Now)
		if err != nil {
			t.Fatal(err)
		}
		return c, f, func(marker string) []remote {
			var out []remote
			for _, is := range f.Issues() {
				r := remote{Key: is.Key, Marker: slices.Contains(is.Labels, marker), Resolved: is.Status == "Done"}
				for _, c := range is.Comments {
					r.Comments = append(r.Comments, adfText(c))
				}
				out = append(out, r)
			}
			return out
		}
	}},
	{"servicenow", func(t *testing.T, clk *vclock) (tickets.System, fake, func(string) []remote) {
		f := servicenowtest.New(clk.Now)
		srv := f.Server(t)
		c, err := servicenow.New(config.ServiceNow{URL: srv.URL, Username: f.Username, Password: config.Secret(f.Password),
			Levels: config.Default().Tickets.ServiceNow.Levels, CloseCode: "Solution provided"}, srv.Client(), clk.Now)
		if err != nil {
			t.Fatal(err)
		}
		return c, f, func(marker string) []remote {
			var out []remote
			for _, rec := range f.Records() {
				out = append(out, remote{Key: rec.Fields["number"], Marker: rec.Fields["correlation_id"] == marker, Comments: rec.WorkNotes,
					Resolved: rec.Fields["state"] == servicenow.StateResolved && rec.Fields["close_code"] == "Solution provided", Closing: rec.Fields["close_notes"]})
			}
			return out
		}
	}},
}

// adfText is the text of an ADF document, its text nodes joined.
func adfText(v any) string {
	var b strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if s, ok := x["text"].(string); ok {
				b.WriteString(s)
			}
			walk(x["content"])
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
	return b.String()
}

// env is one incident service with one declared incident, and a ticketing
// system behind a fake.
type env struct {
	clk     *vclock
	inc     *incident.Service
	incNo   int64
	t0      time.Time
	sys     tickets.System
	fake    fake
	remotes func() []remote
	marker  string

	mu       sync.Mutex
	observed []string // "step outcome" of every attempt
}

func newEnv(t *testing.T, b backend) *env {
	t.Helper()
	clk := &vclock{now: time.Now().UTC().Truncate(time.Second)}
	svc, err := incident.New(incidenttest.NewStore(), config.Default().Incidents, nil, clk.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := svc.Declare(context.Background(), "API answers 502", "critical", "slack:U1")
	if err != nil {
		t.Fatal(err)
	}
	sys, f, remotes := b.new(t, clk)
	e := &env{clk: clk, inc: svc, incNo: ch.Incident.Number, t0: clk.Now(), sys: sys, fake: f, marker: tickets.Marker(ch.Incident)}
	e.remotes = func() []remote { return remotes(e.marker) }
	return e
}

// service builds a Service over e; sleep nil: the virtual clock's.
func (e *env) service(t *testing.T, sys tickets.System, sleep func(context.Context, time.Duration) error, refresh func(int64)) *tickets.Service {
	t.Helper()
	if sys == nil {
		sys = e.sys
	}
	if sleep == nil {
		sleep = e.clk.Sleep
	}
	s, err := tickets.New(tickets.Deps{System: sys, Incidents: e.inc, Clock: e.clk.Now, Sleep: sleep,
		Observe: func(step, outcome string) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.observed = append(e.observed, step+" "+outcome)
		},
		Postmortem: func(ctx context.Context, id string) (string, error) {
			inc, err := e.inc.Get(ctx, id)
			if err != nil {
				return "", err
			}
			tl, err := e.inc.Timeline(ctx, id)
			return incident.Postmortem(inc, tl, nil), err
		},
		Bridge: func(inc *incident.Incident) string { return "https://meet.example/" + inc.Slug() },
		Refresh: func(_ context.Context, n int64) {
			if refresh != nil {
				refresh(n)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *env) incident(t *testing.T) *incident.Incident {
	t.Helper()
	inc, err := e.inc.ByNumber(context.Background(), e.incNo)
	if err != nil {
		t.Fatal(err)
	}
	return inc
}

// entries returns the incident's timeline entries of kind.
func (e *env) entries(t *testing.T, kind string) []incident.TimelineEntry {
	t.Helper()
	tl, err := e.inc.Timeline(context.Background(), e.id())
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(tl, func(x incident.TimelineEntry) bool { return x.Kind != kind })
}

func (e *env) id() string { return "i" + strconv.FormatInt(e.incNo, 10) }

// TestOutage: the ticketing system is down for the first 60 s of the
// incident; the ticket is created exactly once afterwards, the waits double
// from retry_min, and the card said "pending" with the reason meanwhile.
func TestOutage(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b)
			e.fake.DownUntil(e.t0.Add(60 * time.Second))
			var mu sync.Mutex
			var views []tickets.View
			var s *tickets.Service
			s = e.service(t, nil, nil, func(n int64) {
				v := s.View(context.Background(), e.incident(t))
				mu.Lock()
				views = append(views, v)
				mu.Unlock()
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s.Start(ctx)
			s.Wait()

			rs := e.remotes()
			if len(rs) != 1 || !rs[0].Marker {
				t.Fatalf("tickets after the outage = %+v, want exactly one carrying marker %s", rs, e.marker)
			}
			if got := e.clk.Now().Sub(e.t0); got < 60*time.Second {
				t.Errorf("created after %s, inside the outage", got)
			}
			if got, want := e.clk.Slept(), []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second}; !slices.Equal(got, want) {
				t.Errorf("waits = %v, want %v", got, want)
			}
			e.mu.Lock()
			observed := slices.Clone(e.observed)
			e.mu.Unlock()
			if want := []string{"create failed", "create failed", "create failed", "create failed", "create done"}; !slices.Equal(observed, want) {
				t.Errorf("observed attempts %v, want %v", observed, want)
			}
			created := e.entries(t, tickets.KindCreated)
			if len(created) != 1 || created[0].Data["key"] != rs[0].Key {
				t.Fatalf("timeline %s entries = %+v, want one with key %s", tickets.KindCreated, created, rs[0].Key)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(views) < 2 {
				t.Fatalf("card refreshed %d times, want at least on the failure and on the creation", len(views))
			}
			if v := views[0]; !v.Pending || !strings.Contains(v.Failure, "unavailable (503)") {
				t.Errorf("card during the outage = %+v, want pending with the reason", v)
			}
			if v := views[len(views)-1]; v.Pending || v.Ticket.Key != rs[0].Key || v.Failure != "" || v.Ticket.URL == "" {
				t.Errorf("card after = %+v, want ticket %s with its link", v, rs[0].Key)
			}
		})
	}
}

// TestThrottled: a 429's Retry-After is honoured, even when longer than
// the backoff, and no request comes back early.
func TestThrottled(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b)
			e.fake.Throttle(3, 30*time.Second)
			s := e.service(t, nil, nil, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s.Start(ctx)
			s.Wait()
			if n := e.fake.Early(); n != 0 {
				t.Errorf("%d requests came before their Retry-After", n)
			}
			for _, d := range e.clk.Slept() {
				if d < 30*time.Second {
					t.Errorf("waited %s after a 429 with Retry-After: 30", d)
				}
			}
			if rs := e.remotes(); len(rs) != 1 {
				t.Errorf("tickets = %+v, want one", rs)
			}
		})
	}
}

// TestRestartAfterLostCreate: the first create reaches the system but its
// answer is lost, and the process stops before it retries. The next
// process finds the ticket by its marker instead of creating a second one.
func TestRestartAfterLostCreate(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b)
			e.fake.LoseCreates(1)
			ctx1, stop := context.WithCancel(context.Background())
			first := e.service(t, nil, func(context.Context, time.Duration) error { stop(); return context.Canceled }, nil)
			first.Start(ctx1)
			first.Wait()
			if rs := e.remotes(); len(rs) != 1 {
				t.Fatalf("the lost create left %d tickets, want 1", len(rs))
			}
			if got := e.entries(t, tickets.KindCreated); len(got) != 0 {
				t.Fatalf("a ticket whose answer was lost is on the timeline: %+v", got)
			}
			if v := first.View(context.Background(), e.incident(t)); !v.Pending {
				t.Errorf("view after the lost answer = %+v, want pending", v)
			}

			before := len(e.fake.Requests())
			second := e.service(t, nil, nil, nil)
			ctx2, cancel := context.WithCancel(context.Background())
			defer cancel()
			second.Start(ctx2)
			second.Wait()
			rs := e.remotes()
			if len(rs) != 1 {
				t.Fatalf("after the restart there are %d tickets, want 1: %+v", len(rs), rs)
			}
			if got := e.entries(t, tickets.KindCreated); len(got) != 1 || got[0].Data["key"] != rs[0].Key {
				t.Errorf("timeline after the restart = %+v, want the found ticket %s", got, rs[0].Key)
			}
			if reqs := e.fake.Requests()[before:]; len(reqs) != 1 {
				t.Errorf("the restarted process sent %v, want one lookup", reqs)
			}
		})
	}
}

// flakyResolve fails Resolve the first time, after Comment succeeded.
type flakyResolve struct {
	tickets.System
	failed bool
}

func (f *flakyResolve) Resolve(ctx context.Context, t tickets.Ticket, r tickets.Resolution) error {
	if !f.failed {
		f.failed = true
		return tebura.Errorf(tebura.ETRANSIENT, "down")
	}
	return f.System.Resolve(ctx, t, r)
}

// TestResolve: when the incident resolves, the postmortem is commented on
// the ticket once and the ticket resolved; a restart between the comment
// and the resolve does the resolve only, and a restart afterwards does
// nothing.
func TestResolve(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := e.service(t, nil, nil, nil)
			s.Start(ctx)
			s.Wait()
			if _, err := e.inc.Resolve(ctx, e.id(), "slack:U1", "rolled back"); err != nil {
				t.Fatal(err)
			}

			// The process stops when the resolve first fails.
			ctx1, stop := context.WithCancel(ctx)
			first := e.service(t, &flakyResolve{System: e.sys}, func(context.Context, time.Duration) error { stop(); return context.Canceled }, nil)
			first.Start(ctx1)
			first.Wait()
			rs := e.remotes()
			if len(rs) != 1 || len(rs[0].Comments) != 1 || rs[0].Resolved {
				t.Fatalf("after the failed resolve = %+v, want one comment, not resolved", rs)
			}
			if c := rs[0].Comments[0]; !strings.Contains(c, "Postmortem") || !strings.Contains(c, "API answers 502") {
				t.Errorf("comment = %q, want the postmortem", c)
			}

			second := e.service(t, nil, nil, nil)
			second.Start(ctx)
			second.Wait()
			rs = e.remotes()
			if len(rs) != 1 || len(rs[0].Comments) != 1 || !rs[0].Resolved {
				t.Fatalf("after the restart = %+v, want one comment and resolved", rs)
			}
			if b.name == "servicenow" && !strings.Contains(rs[0].Closing, "#1 resolved by slack:U1 (rolled back)") {
				t.Errorf("close notes = %q", rs[0].Closing)
			}
			for _, k := range []string{tickets.KindCreated, tickets.KindCommented, tickets.KindResolved} {
				if n := len(e.entries(t, k)); n != 1 {
					t.Errorf("%d %s entries, want 1", n, k)
				}
			}

			before := len(e.fake.Requests())
			third := e.service(t, nil, nil, nil)
			third.Start(ctx)
			third.Wait()
			if v := third.View(ctx, e.incident(t)); v.Ticket.Key != rs[0].Key || v.Pending {
				t.Errorf("view after all = %+v", v)
			}
			third.Wait()
			if reqs := e.fake.Requests()[before:]; len(reqs) != 0 {
				t.Errorf("a restart after everything was done sent %v", reqs)
			}
		})
	}
}

// TestBackfill: an incident resolved more than a day ago without a ticket
// gets none (turning tickets on does not file the past), and the card
// shows no ticket part.
func TestBackfill(t *testing.T) {
	e := newEnv(t, backends[0])
	ctx := context.Background()
	if _, err := e.inc.Resolve(ctx, e.id(), "slack:U1", ""); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(tickets.Backfill + time.Minute)
	s := e.service(t, nil, nil, nil)
	s.Start(ctx)
	if v := s.View(ctx, e.incident(t)); !v.None || v.Pending {
		t.Errorf("view = %+v, want no ticket", v)
	}
	s.Wait()
	if reqs := e.fake.Requests(); len(reqs) != 0 {
		t.Errorf("requests for an old incident: %v", reqs)
	}
}

// TestViewBeforeStart: a card drawn before Start says pending and starts
// nothing (no call to the system from under the incident's lock).
func TestViewBeforeStart(t *testing.T) {
	e := newEnv(t, backends[0])
	s := e.service(t, nil, nil, nil)
	if v := s.View(context.Background(), e.incident(t)); !v.Pending || v.System != "Jira" {
		t.Errorf("view = %+v, want Jira pending", v)
	}
	s.Wait()
	if reqs := e.fake.Requests(); len(reqs) != 0 {
		t.Errorf("View called the system: %v", reqs)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30", 30 * time.Second, true},
		{"0", 0, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"", 0, false},
		{"soon", 0, false},
	} {
		got, ok := tickets.ParseRetryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	err := &tickets.Throttled{After: time.Minute, Err: errors.New("x")}
	if d, ok := tickets.RetryAfter(errors.Join(errors.New("y"), err)); !ok || d != time.Minute {
		t.Errorf("RetryAfter through a join = %s, %v", d, ok)
	}
}
