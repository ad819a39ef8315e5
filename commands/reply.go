package commands

import (
	"context"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

// fail answers the actor privately with the sentence for err, and logs
// what the operators need.
func (b *Router) fail(ctx context.Context, r bot.Replier, a bot.Actor, err error) {
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
	if perr := r.Private(ctx, bot.Message{Level: level, Text: []string{ErrorText(err)}}); perr != nil {
		b.log.Error("private reply failed", "actor", a.ID, "err", perr)
	}
}
