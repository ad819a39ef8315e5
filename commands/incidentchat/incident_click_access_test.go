package incidentchat_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/config"
)

// checkDB is a second diagnostic that developers may run too, so that one
// click can start one runbook and skip the other.
const checkDB = `
name: check-db
description: Look at the database
kind: diagnostic
allow: [sre, dev]
timeout: 30s
steps:
  - name: look
    run: [echo, "checking db"]
`

// TestRunDiagnosticsChecksAccess: [Run diagnostics] starts each runbook as
// the rule's automation identity, so the clicker's own right to run it is
// checked first. alice (dev) may not run check-api (allow: [sre]): it is
// skipped and she is told so privately; bob (sre) starts both.
func TestRunDiagnosticsChecksAccess(t *testing.T) {
	chat := newCMChat()
	autos := []config.Automation{{
		Name: "api", Match: []string{`service="api"`}, Diagnostics: []string{"check-api", "check-db"},
	}}
	s := newStack(t, t.TempDir(), stackOptions{Chat: chat, Automations: autos, Runbooks: []string{checkAPI, restartAPI, checkDB}})
	s.deliver(alertBatch("g", "api", 0, 2, time.Now()))
	inc, _ := s.Svc.ByNumber(context.Background(), 1)
	card := chat.cards(inc.Channel.ID)[0]
	s.waitRuns(byRunbook("check-api"))
	s.waitRuns(byRunbook("check-db"))
	count := func(name string) int { return len(s.waitRuns(byRunbook(name))) }

	r := s.press(alice, chat, card, "Run diagnostics")
	if n := count("check-api"); n != 1 {
		t.Errorf("check-api runs after alice's click = %d, want 1 (the automatic one): her click ran a runbook she may not run", n)
	}
	if n := count("check-db"); n != 2 {
		t.Errorf("check-db runs after alice's click = %d, want 2", n)
	}
	if len(r.posted) != 0 || len(r.private) != 1 {
		t.Fatalf("alice's answer: %d posted, %d private; want one private", len(r.posted), len(r.private))
	}
	text := bottest.Text(r.private[0])
	for _, want := range []string{"Started 1 diagnostic", "Skipped `check-api`"} {
		mustContain(t, "alice's answer", text, want)
	}
	if strings.Contains(text, "check-db`: you may not") {
		t.Errorf("alice's answer skips check-db: %s", text)
	}

	// Only runbooks she may not run: nothing starts, and she is told why.
	s2chat := newCMChat()
	only := []config.Automation{{Name: "api", Match: []string{`service="api"`}, Diagnostics: []string{"check-api"}}}
	s2 := newStack(t, t.TempDir(), stackOptions{Chat: s2chat, Automations: only, Runbooks: []string{checkAPI, restartAPI}})
	s2.deliver(alertBatch("g", "api", 0, 1, time.Now()))
	inc2, _ := s2.Svc.ByNumber(context.Background(), 1)
	card2 := s2chat.cards(inc2.Channel.ID)[0]
	s2.waitRuns(byRunbook("check-api"))
	mustContain(t, "alice, nothing allowed", s2.press(alice, s2chat, card2, "Run diagnostics").text(), "You may not run the diagnostics")
	if n := len(s2.waitRuns(byRunbook("check-api"))); n != 1 {
		t.Errorf("check-api runs after alice's refused click = %d, want 1", n)
	}

	s.press(bob, chat, card, "Run diagnostics")
	if n := count("check-api"); n != 2 {
		t.Errorf("check-api runs after bob's click = %d, want 2", n)
	}
	if n := count("check-db"); n != 3 {
		t.Errorf("check-db runs after bob's click = %d, want 3", n)
	}
}
