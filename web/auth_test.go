package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands"
)

// TestLoginLinkSignsInOnce: the link shows whom it signs in as without
// spending it (a chat's link preview fetches it), signs the browser in as
// that identity on POST, and is refused when replayed.
func TestLoginLinkSignsInOnce(t *testing.T) {
	h := newWebHarness(t)
	link := h.link(alice)
	b := h.anonymous()
	for range 2 {
		if r := b.get(link); r.StatusCode != 200 || !strings.Contains(r.Body, "console:alice") {
			t.Fatalf("GET link = %d, want 200 naming console:alice:\n%s", r.StatusCode, r.Body)
		}
	}
	r := b.do("POST", link, nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/incidents" {
		t.Fatalf("POST link = %d to %q, want 303 to /ui/incidents", r.StatusCode, r.Header.Get("Location"))
	}
	cookie := r.Header.Get("Set-Cookie")
	for _, want := range []string{cookieName + "=", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(cookie, want) {
			t.Errorf("session cookie %q lacks %s", cookie, want)
		}
	}
	if strings.Contains(cookie, "Secure") {
		t.Errorf("cookie %q is Secure on a plain-http base URL", cookie)
	}
	if page := b.get("/ui/runbooks"); page.StatusCode != 200 || !strings.Contains(page.Body, "alice") {
		t.Fatalf("signed-in page = %d, want 200 for alice:\n%s", page.StatusCode, page.Body)
	}
	if !h.auditHas("console:alice", audit.ActionWebLogin) || !h.auditHas("console:alice", audit.ActionWebLoginLink) {
		t.Error("the link and the sign-in are not on the audit chain")
	}

	other := h.anonymous()
	if r := other.do("POST", link, nil); r.StatusCode != http.StatusNotFound || !strings.Contains(r.Body, "/tebura login") {
		t.Fatalf("replayed link = %d, want 404 saying how to get a new one:\n%s", r.StatusCode, r.Body)
	}
	if r := other.get("/ui/runbooks"); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the replaying browser got %d on a page, want 401", r.StatusCode)
	}
	if r := other.get("/ui/login/not-a-token"); r.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown link = %d, want 404", r.StatusCode)
	}
}

// TestLoginFromAnotherSiteRefused: a cross-site form cannot sign a victim
// in as someone else (login CSRF).
func TestLoginFromAnotherSiteRefused(t *testing.T) {
	h := newWebHarness(t)
	link := h.link(alice)
	req, _ := http.NewRequest("POST", link, nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site sign-in = %d, want 403", resp.StatusCode)
	}
	if r := h.anonymous().do("POST", link, nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("the link after a refused cross-site use = %d, want it still valid (303)", r.StatusCode)
	}
}

// TestSecureCookieBehindTLS: Secure is set when the server says so.
func TestSecureCookieBehindTLS(t *testing.T) {
	h := newWebHarness(t)
	h.Web.d.Secure = true
	r := h.anonymous().do("POST", h.link(alice), nil)
	if c := r.Header.Get("Set-Cookie"); !strings.Contains(c, "Secure") {
		t.Fatalf("cookie %q lacks Secure behind TLS", c)
	}
}

// TestPagesNeedSignIn: every page and stream answers 401 without a
// session, and every response carries the strict CSP.
func TestPagesNeedSignIn(t *testing.T) {
	h := newWebHarness(t)
	b := h.anonymous()
	for _, p := range []string{"/ui/incidents", "/ui/incidents/1", "/ui/incidents/1/postmortem.md", "/ui/runs/r1",
		"/ui/runs/r1/events", "/ui/runs/r1/log", "/ui/runbooks", "/ui/runbooks/restart-api", "/ui/audit"} {
		r := b.get(p)
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s = %d, want 401", p, r.StatusCode)
		}
		if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s CSP = %q", p, csp)
		}
	}
	if r := b.do("POST", "/ui/runs/r1/approve", url.Values{}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST approve without a session = %d, want 401", r.StatusCode)
	}
}

var inlineScript = regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`)

// TestNoInlineScript: no page holds inline script or style attributes
// (the CSP would block them).
func TestNoInlineScript(t *testing.T) {
	h := newWebHarness(t)
	h.Inc.Declare(t.Context(), "Checkout down", "sev1", "console:bob")
	b := h.signIn(root)
	for _, p := range []string{"/ui/incidents", "/ui/incidents/1", "/ui/runbooks", "/ui/runbooks/restart-api", "/ui/audit"} {
		r := b.get(p)
		if r.StatusCode != 200 {
			t.Fatalf("GET %s = %d:\n%s", p, r.StatusCode, r.Body)
		}
		if inlineScript.MatchString(r.Body) || strings.Contains(r.Body, " style=") || strings.Contains(r.Body, " onclick=") {
			t.Errorf("%s has inline script or style", p)
		}
	}
}

// TestCSRF: a POST without the session's token, with another token, or
// from another site is refused and changes nothing.
func TestCSRF(t *testing.T) {
	h := newWebHarness(t)
	a := h.signIn(alice)
	for name, form := range map[string]url.Values{
		"missing": {"p_env": {"staging"}},
		"wrong":   {"p_env": {"staging"}, "csrf": {"forged"}},
	} {
		r := a.do("POST", "/ui/runbooks/restart-api", form)
		if r.StatusCode != http.StatusForbidden || !strings.Contains(r.Body, "Reload the page") {
			t.Errorf("%s token: POST = %d, want 403 with a reason:\n%s", name, r.StatusCode, r.Body)
		}
	}
	// Bob's token is no good in Alice's session.
	bobToken := h.signIn(bob).csrf("/ui/runbooks/restart-api")
	if r := a.do("POST", "/ui/runbooks/restart-api", url.Values{"p_env": {"staging"}, "csrf": {bobToken}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("another session's token: POST = %d, want 403", r.StatusCode)
	}
	if runs := h.Runs(); len(runs) != 0 {
		t.Fatalf("a refused POST stored %d runs", len(runs))
	}
}

// TestLoginCommand: /tebura login answers privately with a link that
// works, bound to the identity that asked.
func TestLoginCommand(t *testing.T) {
	h := newWebHarness(t)
	router := commands.New(commands.Deps{Callbacks: h.Store, Registry: h.Registry, Runbooks: h.Runbooks, Login: h.Web.Login})
	var got []string
	rep := h.Chat.Replier(bob, bottest.Channel, func(_ *bottest.Msg, p *bot.Message) {
		if p != nil {
			for _, l := range p.Links {
				got = append(got, l.URL)
			}
		}
	})
	router.HandleEvent(t.Context(), &bot.Command{Platform: bottest.Platform, Name: "/tebura", Text: "login", Actor: bob, Reply: rep})
	if len(got) != 1 || !strings.HasPrefix(got[0], "http://tebura.test/ui/login/") {
		t.Fatalf("login links = %v, want one under the base URL", got)
	}
	b := h.anonymous()
	if r := b.do("POST", h.local(got[0]), nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("link from /tebura login = %d, want 303", r.StatusCode)
	}
	if r := b.get("/ui/runbooks"); !strings.Contains(r.Body, "bob") {
		t.Fatalf("signed in as someone else than bob:\n%s", r.Body)
	}
}
