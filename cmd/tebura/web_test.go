package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"testing"
)

// hasWebLink reports whether the event carries a link into the web view.
func hasWebLink(e outEvent, path string) bool {
	for _, l := range e.Message.Links {
		if strings.HasPrefix(l.URL, "http://tebura.test"+path) {
			return true
		}
	}
	return false
}

// TestWebLinksInChat: with the web view on, run messages and approval cards
// link to their run's page, incident cards link to theirs, and all carry
// [Sign in to the web view],
// whose click answers privately with a link that signs the clicker in;
// with it off, chat carries no link and /tebura login says it is off.
func TestWebLinksInChat(t *testing.T) {
	cleanEnv(t)
	t.Run("on", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "rb/restart.yaml": restartAPIBook, "tebura.yaml": baseConfig(webConfig)})
		ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
		ts.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run check-api"})
		runMsg := waitEvent(t, ts.out, "the run's message linking to its page", func(e outEvent) bool {
			return strings.HasPrefix(e.Message.Header, "check-api") && hasWebLink(e, "/ui/runs/r")
		})
		if runMsg.callback("web.login") == "" {
			t.Errorf("the run's message has no sign-in button: %+v", runMsg.Buttons)
		}
		ts.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run restart-api env=staging"})
		approval := waitEvent(t, ts.out, "the approval card linking to the run's page", func(e outEvent) bool {
			return e.Message.Header == "Approval needed: restart-api" && hasWebLink(e, "/ui/runs/r")
		})
		if approval.callback("web.login") == "" {
			t.Fatalf("the approval card has no sign-in button: %+v", approval.Buttons)
		}
		ts.send(t, map[string]any{"type": "click", "user": "bob", "callback_id": approval.callback("web.login")})
		waitEvent(t, ts.out, "bob's private link from the approval card", func(e outEvent) bool { return e.To == "bob" && hasWebLink(e, "/ui/login/") })
		ts.send(t, map[string]any{"type": "command", "user": "bob", "text": `/incident declare "Checkout down"`})
		card := waitEvent(t, ts.out, "the card linking to its page", func(e outEvent) bool {
			return strings.HasPrefix(e.Message.Header, "Incident #1") && hasWebLink(e, "/ui/incidents/1")
		})
		if card.callback("web.login") == "" {
			t.Fatalf("the card has no sign-in button: %+v", card.Buttons)
		}
		ts.send(t, map[string]any{"type": "click", "user": "carol", "callback_id": card.callback("web.login")})
		private := waitEvent(t, ts.out, "carol's private link", func(e outEvent) bool { return e.To == "carol" && hasWebLink(e, "/ui/login/") })
		link := ""
		for _, l := range private.Message.Links {
			link = ts.base + strings.TrimPrefix(l.URL, "http://tebura.test")
		}
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.Post(link, "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		resp, err = c.Get(ts.base + "/ui/runbooks")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "@carol") {
			t.Fatalf("signed in from the card's button: %d\n%s", resp.StatusCode, body)
		}
	})
	t.Run("off", func(t *testing.T) {
		dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "tebura.yaml": baseConfig("incidents: {announce_channel: console}\n")})
		ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
		ts.send(t, map[string]any{"type": "command", "user": "alice", "text": "/runbook run check-api"})
		run := waitEvent(t, ts.out, "the run's final message", func(e outEvent) bool {
			return strings.HasPrefix(e.Message.Header, "check-api") && strings.Contains(e.Message.Header, "succeeded")
		})
		ts.send(t, map[string]any{"type": "command", "user": "bob", "text": `/incident declare "Checkout down"`})
		card := waitEvent(t, ts.out, "the card", func(e outEvent) bool { return strings.HasPrefix(e.Message.Header, "Incident #1") })
		if len(run.Message.Links) != 0 || card.callback("web.login") != "" || run.callback("web.login") != "" {
			t.Errorf("web view off, yet chat carries links %v / button", run.Message.Links)
		}
		for _, e := range []outEvent{run, card} {
			for _, l := range e.Message.Links {
				if strings.Contains(l.URL, "/ui/") {
					t.Errorf("link into the web view while it is off: %s", l.URL)
				}
			}
		}
		ts.send(t, map[string]any{"type": "command", "user": "alice", "text": "/tebura login"})
		waitEvent(t, ts.out, "the refusal", func(e outEvent) bool { return e.To == "alice" && strings.Contains(e.text(), "not enabled") })
		if code, _ := get(t, ts.base+"/ui/incidents"); code != http.StatusNotFound {
			t.Errorf("/ui/incidents with the web view off = %d, want 404", code)
		}
	})
}
