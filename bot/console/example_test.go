package console_test

import (
	"context"
	"os"
	"strings"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/console"
)

// A scripted session through a pipe: a command posts a card with buttons,
// "!wait" lets it be handled, "!as bob" switches identity and "!1" presses
// the card's first button.
func Example() {
	script := strings.Join([]string{
		"/runbook run restart-api env=prod",
		"!wait",
		"!as bob",
		"!1",
	}, "\n")
	chat := console.New(console.Options{In: strings.NewReader(script), Out: os.Stdout, User: "alice"})
	h := bot.HandlerFunc(func(ctx context.Context, ev bot.Event) {
		switch ev := ev.(type) {
		case *bot.Command:
			_, _ = ev.Reply.Reply(ctx, bot.Message{
				Header:  "restart-api — approval needed",
				Level:   bot.LevelWarning,
				Fields:  []bot.Field{{Label: "requested by", Value: ev.Actor.Mention()}, {Label: "params", Value: ev.Text}},
				Buttons: []bot.Button{{Label: "Approve", ActionID: "approve", CallbackID: "cb1"}, {Label: "Deny", ActionID: "deny", CallbackID: "cb2"}},
			})
		case *bot.Click:
			_ = ev.Reply.Private(ctx, bot.Message{Text: []string{"Approved by " + ev.Actor.ID + "."}})
		}
	})
	_ = chat.Run(context.Background(), h)
	// Output:
	// ── m1 ──
	// ▲ restart-api — approval needed
	//   requested by  @alice
	//   params        run restart-api env=prod
	//   [1] Approve  [2] Deny
	// You are now console:bob.
	// (console:bob pressed [1] Approve on m1)
	// ── m2 (only you see this: console:bob) ──
	//   Approved by console:bob.
}
