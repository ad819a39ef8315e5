package commands

import (
	"context"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

// errorText is what a person in chat reads for err: tebura's public
// sentence, so that chat, the console and the HTTP edges word an error
// alike. An internal error's own message is for the operators and stays in
// the log; the person gets the generic sentence.
func errorText(err error) string { return tebura.PublicMessage(err) }

// fail answers the actor privately with the sentence for err, and logs
// what the operators need.
func (b *Bot) fail(ctx context.Context, r bot.Replier, a bot.Actor, err error) {
	code := tebura.ErrorCode(err)
	switch code {
	case tebura.EINTERNAL, tebura.ETRANSIENT:
		b.log.Error("command failed", "actor", a.ID, "code", code, "err", err)
	default:
		b.log.Debug("command refused", "actor", a.ID, "code", code, "err", err)
	}
	if r == nil {
		return
	}
	level := bot.LevelWarning
	if code == tebura.EINTERNAL {
		level = bot.LevelDanger
	}
	if perr := r.Private(ctx, bot.Message{Level: level, Text: []string{errorText(err)}}); perr != nil {
		b.log.Error("private reply failed", "actor", a.ID, "err", perr)
	}
}
