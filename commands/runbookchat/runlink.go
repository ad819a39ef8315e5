package runbookchat

import (
	"context"
	"slices"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
)

// runLinkLabel is the label of the link to a run's web page.
const runLinkLabel = "Open in the web view"

// withRunLink adds the link to run runID's web page to m, and the [Sign in
// to the web view] button after the message's own, when the web view is
// on: the whole log, live, is a click away from every message, and so is
// the private link that opens it signed in (as on incident cards).
func (b *Flows) withRunLink(runID string, m bot.Message) bot.Message {
	if b.d.RunLink == nil || runID == "" {
		return m
	}
	for _, l := range m.Links {
		if l.Label == runLinkLabel {
			return m
		}
	}
	m.Links = append(slices.Clip(m.Links), bot.Link{Label: runLinkLabel, URL: b.d.RunLink(runID)})
	m.Buttons = append(slices.Clip(m.Buttons), bot.Button{Label: commands.WebLoginLabel, ActionID: commands.ActionWebLogin, CallbackID: commands.WebLoginCallback})
	return m
}

// linkChat is the chat a run's stream edits through when the web view is
// on: every frame carries the link to the run's page.
type linkChat struct {
	bot.Chat
	b     *Flows
	runID string
}

// Limits are the chat's own.
func (c linkChat) Limits() bot.Limits { return bot.LimitsOf(c.Chat) }

// Edit adds the link.
func (c linkChat) Edit(ctx context.Context, ref bot.MessageRef, m bot.Message) error {
	return c.Chat.Edit(ctx, ref, c.b.withRunLink(c.runID, m))
}
