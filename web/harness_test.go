package web

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// People of the web tests (commandstest's): alice is dev (may request),
// bob and carol are sre (may request and approve), dave has no role,
// root is an admin.
var (
	alice = bottest.User("alice")
	bob   = bottest.User("bob")
	dave  = bottest.User("dave")
	root  = bottest.User("root")
)

// gatedBook prints two lines, waits until the gate file exists, then
// prints its last line: a run whose middle the test controls.
const gatedBook = `
name: gated
description: Prints, waits for the test's gate, prints again
kind: diagnostic
params:
  - {name: gate, type: string, pattern: '/[A-Za-z0-9/._-]+', required: true}
allow: [sre, dev]
timeout: 1m
steps:
  - name: wait
    script: |
      printf '\033[31mred line\033[0m\n'
      echo "first <b>line</b>"
      while [ ! -e "$TEBURA_PARAM_GATE" ]; do sleep 0.01; done
      echo "last line"
`

// secretBook takes a secret param and prints it: masked everywhere.
const secretBook = `
name: with-secret
description: Uses a token
kind: diagnostic
params:
  - {name: token, type: string, secret: true, required: true}
allow: [sre, dev]
timeout: 30s
steps:
  - name: use
    run: [echo, "token is {{ .Params.token }}"]
`

// floodBook prints many lines fast.
const floodBook = `
name: flood
description: Prints many lines
kind: diagnostic
params:
  - {name: n, type: string, pattern: '[0-9]+', default: "200000"}
allow: [sre, dev]
timeout: 1m
steps:
  - name: print
    script: |
      seq 1 "$TEBURA_PARAM_N"
      echo done-flooding
`

// webHarness is the bot of commandstest with the web view in front of
// it, served by httptest.
type webHarness struct {
	*commandstest.Harness
	T   testing.TB
	Web *Server
	Srv *httptest.Server
	Inc *incident.Service
}

func newWebHarness(t *testing.T, apiTokens ...config.APIToken) *webHarness {
	t.Helper()
	return newHarness(t, []string{commandstest.RestartAPI, gatedBook, secretBook, floodBook}, apiTokens...)
}

// newWebHarnessB is the harness of the benchmarks, with extra runbooks.
func newWebHarnessB(b *testing.B, books ...string) *webHarness {
	b.Helper()
	return newHarness(b, append([]string{commandstest.RestartAPI}, books...))
}

func newHarness(t testing.TB, books []string, apiTokens ...config.APIToken) *webHarness {
	t.Helper()
	roles := commandstest.Roles()
	roles["api"] = []string{"api:ci"}
	h := commandstest.New(t, commandstest.Options{
		Roles: roles, Admins: []string{"console:root"},
		Runbooks: books,
	})
	inc, err := incident.New(h.Store, config.Default().Incidents, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Deps{
		Config:    config.Web{Enabled: true, BaseURL: "http://tebura.test", SessionTTL: time.Hour, ApprovalsChannel: bottest.Platform + ":approvals"},
		APITokens: apiTokens, Sessions: h.Store, Flows: h.Runbooks, Runs: h.Runbooks.Runs(), Incidents: inc,
		AuditStore: h.Store, Audit: h.Audit, Registry: h.Registry, Access: func() *access.Policy { return h.Policy },
		DataDir: h.DataDir, Changes: h.Store,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	w.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &webHarness{Harness: h, T: t, Web: w, Srv: srv, Inc: inc}
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t   testing.TB
	h   *webHarness
	c   *http.Client
	who bot.Actor
}

func (h *webHarness) anonymous() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: h.T, h: h, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signIn gets a one-time link for a and spends it.
func (h *webHarness) signIn(a bot.Actor) *browser {
	h.T.Helper()
	b := h.anonymous()
	b.who = a
	link := h.link(a)
	resp := b.do("POST", link, nil)
	if resp.StatusCode != http.StatusSeeOther {
		h.T.Fatalf("sign-in POST = %d, want 303", resp.StatusCode)
	}
	return b
}

// sessionCookie signs a in and returns its Cookie header value.
func (h *webHarness) sessionCookie(tb testing.TB, a bot.Actor) string {
	tb.Helper()
	b := h.signIn(a)
	u, _ := url.Parse(h.Srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == cookieName {
			return c.Name + "=" + c.Value
		}
	}
	tb.Fatal("no session cookie")
	return ""
}

// link is a fresh one-time link for a, on the test server.
func (h *webHarness) link(a bot.Actor) string {
	h.T.Helper()
	l, err := h.Web.NewLink(context.Background(), a, "")
	if err != nil {
		h.T.Fatal(err)
	}
	return h.local(l)
}

// local turns an address under web.base_url into one on the test server.
func (h *webHarness) local(u string) string {
	return h.Srv.URL + strings.TrimPrefix(u, "http://tebura.test")
}

type response struct {
	StatusCode int
	Header     http.Header
	Body       string
}

func (b *browser) do(method, u string, form url.Values) response {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.h.Srv.URL + u
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{StatusCode: resp.StatusCode, Header: resp.Header, Body: string(data)}
}

func (b *browser) get(u string) response { b.t.Helper(); return b.do("GET", u, nil) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of the page at u.
func (b *browser) csrf(u string) string {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(b.get(u).Body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s", u)
	}
	return m[1]
}

var onceField = regexp.MustCompile(`name="once" value="([^"]+)"`)

// post sends a form with the hidden fields (CSRF token, one-time form
// token) of page from, as a browser submitting that page would.
func (b *browser) post(from, u string, form url.Values) response {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	page := b.get(from).Body
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s", from)
	}
	form.Set("csrf", m[1])
	if o := onceField.FindStringSubmatch(page); o != nil && form.Get("once") == "" {
		form.Set("once", o[1])
	}
	return b.do("POST", u, form)
}

// auditHas reports whether the chain holds an entry with actor and action.
func (h *webHarness) auditHas(actor string, action audit.Action, detail ...string) bool {
	for _, e := range h.AuditEntries() {
		if e.Actor != actor || e.Action != action {
			continue
		}
		ok := true
		for i := 0; i+1 < len(detail); i += 2 {
			ok = ok && e.Detail[detail[i]] == detail[i+1]
		}
		if ok {
			return true
		}
	}
	return false
}

// waitState waits until run id is in state.
func (h *webHarness) waitState(id string, want runbooks.State) *runbooks.Run {
	h.T.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		run, err := h.Store.GetRun(context.Background(), id)
		if err != nil {
			h.T.Fatal(err)
		}
		if run.State == want {
			return run
		}
		if time.Now().After(deadline) {
			h.T.Fatalf("run %s is %s, want %s", id, run.State, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustPolicy(t *testing.T, roles map[string][]string) *access.Policy {
	t.Helper()
	p, err := access.New(roles, []string{"console:root"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
