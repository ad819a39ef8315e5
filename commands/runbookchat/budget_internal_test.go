package runbookchat

import (
	"testing"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/console"
	"github.com/tebura/tebura/config"
)

// TestEditBudgetOnlyForLimitedChats: the platform edit budget is shared by
// the streams of a chat whose platform limits edits; the console declares
// it has no such limit (bot.EditLimited) and gets none, so its runs are
// never held back by it.
func TestEditBudgetOnlyForLimitedChats(t *testing.T) {
	b := New(Deps{
		Chats:  map[string]bot.Chat{"console": console.New(console.Options{}), "fake": remoteChat{}},
		Config: config.Bot{EditBudget: 5},
	})
	if b.budget["console"] != nil {
		t.Error("the console has a platform edit budget")
	}
	if b.budget["fake"] == nil {
		t.Error("a chat that does not declare itself unlimited has no edit budget")
	}
}

// remoteChat stands for Slack or Discord: a chat that does not implement
// bot.EditLimited.
type remoteChat struct{ bot.Chat }
