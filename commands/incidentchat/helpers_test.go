package incidentchat_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/bot/console"
)

// The people, runbook and checks the incident tests share with the
// runbook flows' tests.

var (
	alice = bottest.User("alice") // dev: may request
	bob   = bottest.User("bob")   // sre: may request and approve
	carol = bottest.User("carol") // sre
	dave  = bottest.User("dave")  // nobody
)

// restartAPI needs one approval from sre, not the requester's own.
const restartAPI = `
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

func roles() map[string][]string {
	return map[string][]string{
		"dev": {"console:alice"},
		"sre": {"console:bob", "console:carol"},
	}
}

func mustContain(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%s = %q, want it to contain %q", what, got, want)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares the console rendering of m with testdata/name.golden.
func golden(t *testing.T, name string, m bot.Message) {
	t.Helper()
	got := console.Render(m, 0)
	path := filepath.Join("testdata", name+".golden")
	if *update {
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
