package commandstest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/console"
)

// The people, runbook and golden check the command-flow tests share
// (commands/runbookchat and commands/incidentchat): bottest.User("alice")
// is dev and may request; bob and carol are sre and may request and
// approve; dave is nobody.

// RestartAPI needs one approval from sre, not the requester's own.
const RestartAPI = `
name: restart-api
description: Restart the API deployment
kind: remediation
params:
  - {name: env, type: enum, values: [staging, prod], required: true}
  - {name: service, type: string, pattern: '[a-z][a-z0-9-]{0,40}', default: api}
allow: [sre, dev]
approval: {required: 1, approvers: [sre], allow_self: false, expires: 15m}
lock: "restart-{{ .Params.service }}"
timeout: 1m
steps:
  - name: restart
    run: [echo, "restarting {{ .Params.service }} in {{ .Params.env }}"]
`

// Roles are the shared people's roles.
func Roles() map[string][]string {
	return map[string][]string{
		"dev": {"console:alice"},
		"sre": {"console:bob", "console:carol"},
	}
}

// Golden compares the console rendering of m with testdata/name.golden
// of the calling package; with update it rewrites the file instead (each
// test package declares its own -update flag and passes it).
func Golden(t *testing.T, name string, m bot.Message, update bool) {
	t.Helper()
	got := console.Render(m, 0)
	path := filepath.Join("testdata", name+".golden")
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it)\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}
