package incidentchat_test

import (
	"flag"
	"strings"
	"testing"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/commandstest"
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
const restartAPI = commandstest.RestartAPI

func roles() map[string][]string { return commandstest.Roles() }

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
	commandstest.Golden(t, name, m, *update)
}
