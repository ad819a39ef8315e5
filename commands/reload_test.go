package commands_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands"
)

var (
	bob  = bottest.User("bob")  // sre
	dave = bottest.User("dave") // nobody
)

func mustContain(t *testing.T, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%s = %q, want it to contain %q", what, got, want)
	}
}

func roles() map[string][]string {
	return map[string][]string{
		"dev": {"console:alice"},
		"sre": {"console:bob", "console:carol"},
	}
}

// reloadBot is a bot whose Deps.Reload records who asked and answers with
// summary or err. carol is an admin.
func reloadBot(t *testing.T, summary string, err error, withReload bool) (*commands.Router, func() []string) {
	t.Helper()
	pol, perr := access.New(roles(), []string{"console:carol"})
	if perr != nil {
		t.Fatal(perr)
	}
	var (
		mu  sync.Mutex
		by  []string
		dep = commands.Deps{Access: func() *access.Policy { return pol }}
	)
	if withReload {
		dep.Reload = func(_ context.Context, who string) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			by = append(by, who)
			return summary, err
		}
	}
	return commands.New(dep), func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), by...) }
}

// tell sends line as a and returns the private and the posted answers.
func tell(b *commands.Router, a bot.Actor, line string) (private, posted string) {
	root, text, _ := strings.Cut(strings.TrimPrefix(line, "/"), " ")
	var mu sync.Mutex
	var pv, ps []string
	r := bottest.NewChat(bot.Limits{}).Replier(a, "ops", func(m *bottest.Msg, p *bot.Message) {
		mu.Lock()
		defer mu.Unlock()
		if m != nil {
			ps = append(ps, bottest.Text(m.Last()))
		}
		if p != nil {
			pv = append(pv, bottest.Text(*p))
		}
	})
	b.HandleEvent(context.Background(), &bot.Command{Platform: bottest.Platform, Actor: a, Channel: "ops", Name: root, Text: text, Reply: r, Received: time.Now()})
	mu.Lock()
	defer mu.Unlock()
	return strings.Join(pv, "\n"), strings.Join(ps, "\n")
}

// TestReloadCommand: /tebura reload is for admins only, answered
// privately with the summary or with why the new config was refused, and
// reaches Deps.Reload with the admin's identity.
func TestReloadCommand(t *testing.T) {
	carol := bottest.User("carol")
	refused := tebura.Errorf(tebura.EINVALID, "The new configuration has 2 problem(s), so it was not loaded; the running one stays. Run `tebura validate` to see them.")
	tests := []struct {
		name       string
		who        bot.Actor
		summary    string
		err        error
		withReload bool
		want       string
		calls      []string
	}{
		{"admin", carol, "Reloaded: 3 runbook(s).", nil, true, "Reloaded: 3 runbook(s).", []string{"console:carol"}},
		{"admin, refused", carol, "", refused, true, "The new configuration has 2 problem(s), so it was not loaded; the running one stays.", []string{"console:carol"}},
		{"approver who is no admin", bob, "Reloaded", nil, true, "Only admins may reload the configuration: the identities and roles under access.admins", nil},
		{"nobody", dave, "Reloaded", nil, true, "Only admins may reload the configuration", nil},
		{"admin, no reload wired", carol, "", nil, false, "This bot cannot reload its configuration from chat.", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, calls := reloadBot(t, tt.summary, tt.err, tt.withReload)
			private, posted := tell(b, tt.who, "/tebura reload")
			if posted != "" {
				t.Errorf("reload answered in the channel: %q", posted)
			}
			mustContain(t, "private answer", private, tt.want)
			if got := calls(); strings.Join(got, ",") != strings.Join(tt.calls, ",") {
				t.Errorf("Reload called by %v, want %v", got, tt.calls)
			}
		})
	}
}

// TestHelpListsReloadForAdminsOnly: help offers `/tebura reload` to admins
// of a bot that can reload, and to nobody else.
func TestHelpListsReloadForAdminsOnly(t *testing.T) {
	carol := bottest.User("carol")
	for _, tt := range []struct {
		name       string
		who        bot.Actor
		withReload bool
		want       bool
	}{
		{"admin", carol, true, true},
		{"approver", bob, true, false},
		{"nobody", dave, true, false},
		{"admin, no reload wired", carol, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := reloadBot(t, "", nil, tt.withReload)
			help, _ := tell(b, tt.who, "/tebura help")
			if got := strings.Contains(help, "/tebura reload"); got != tt.want {
				t.Errorf("help lists reload = %v, want %v:\n%s", got, tt.want, help)
			}
		})
	}
}
