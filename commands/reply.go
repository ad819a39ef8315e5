package commands

import (
	"context"
	"errors"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

// genericFailure is what people see for internal errors; the detail goes to
// the log only.
const genericFailure = "Something went wrong on our side and nothing was changed. The operators can find the details in the bot's log; try again in a minute."

// transientFailure is the fallback for ETRANSIENT errors without a message.
const transientFailure = "The chat platform or the disk is busy right now. Try again in a minute."

// errorText is the one place where an error becomes what a person reads.
// Only user-safe messages of tebura errors pass through; everything else is
// a generic sentence.
func errorText(err error) string {
	switch tebura.ErrorCode(err) {
	case tebura.EINTERNAL:
		return genericFailure
	case tebura.ETRANSIENT:
		if msg := userMessage(err); msg != "" {
			return msg
		}
		return transientFailure
	default:
		if msg := userMessage(err); msg != "" {
			return msg
		}
		return genericFailure
	}
}

// userMessage returns the Message of a tebura error, or "" when it has none.
func userMessage(err error) string {
	var e *tebura.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return ""
}

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
