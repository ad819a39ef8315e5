package commands

import (
	"context"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/bot"
)

// reload answers `/tebura reload`: an admin's request to load the
// configuration, the runbooks and the access policy again (Deps.Reload).
// The answer is private either way: the summary, or why the new
// configuration was refused (the running one stays).
func (b *Router) reload(ctx context.Context, c *bot.Command) error {
	if !b.policy().IsAdmin(Subject(c.Actor)) {
		return tebura.Errorf(tebura.EFORBIDDEN, "Only admins may reload the configuration: the identities and roles under access.admins in the bot's config. Ask one of them, or an operator can send SIGHUP to tebura.")
	}
	if b.d.Reload == nil {
		return tebura.Errorf(tebura.EINVALID, "This bot cannot reload its configuration from chat. An operator can send SIGHUP to tebura, or restart it.")
	}
	summary, err := b.d.Reload(ctx, c.Actor.ID)
	if err != nil {
		return err
	}
	return c.Reply.Private(ctx, bot.Message{Header: "Reload", Level: bot.LevelSuccess, Text: []string{summary}})
}

// mayReload reports whether help offers `/tebura reload` to s: an admin,
// on a bot that can reload.
func (b *Router) mayReload(s access.Subject) bool {
	return b.d.Reload != nil && b.policy().IsAdmin(s)
}
