package incidentchat

import (
	"context"
	"fmt"
	"sort"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/incident"
)

// checkWatchdog announces, in every platform's incidents channel, that the
// watchdog alert stopped arriving (alerts may no longer reach Tebura) and,
// later, that it arrives again. Each change is announced once; the log
// says it too, for an operator without an incidents channel. The watchdog
// itself opens no incident: there is nothing to resolve but the path the
// alerts take, and an incident would hide among those it cannot see.
func (i *Incidents) checkWatchdog(ctx context.Context) {
	w := i.svc.Watchdog()
	if w == nil {
		return
	}
	now := i.now()
	var msg bot.Message
	switch w.Check(now) {
	case incident.WatchdogMissing:
		seen, _ := w.Status(now)
		since := "since Tebura started"
		if !seen.IsZero() {
			since = "since " + commands.Stamp(seen)
		}
		i.log.Error("watchdog alert missing", "watchdog", w.Describe(), "missing_after", w.MissingAfter().String(), "last_seen", seen)
		msg = bot.Message{Level: bot.LevelDanger, Header: "Watchdog alert missing: alerts may not be reaching Tebura",
			Text: []string{fmt.Sprintf("The watchdog alert (%s) has not arrived %s, longer than watchdog.missing_after (%s). "+
				"Check the monitoring, the alert manager and their route to Tebura: until it is back, new problems may go unannounced.",
				w.Describe(), since, w.MissingAfter())}}
	case incident.WatchdogBack:
		i.log.Info("watchdog alert back", "watchdog", w.Describe())
		msg = bot.Message{Level: bot.LevelSuccess, Header: "Watchdog alert back",
			Text: []string{fmt.Sprintf("The watchdog alert (%s) arrives again: alerts reach Tebura.", w.Describe())}}
	default:
		return
	}
	names := make([]string, 0, len(i.chats))
	for name := range i.chats {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		where := i.announce(name)
		if where == "" {
			continue
		}
		chat := i.chats[name]
		if _, err := chat.Post(ctx, bot.Target{Channel: where}, bot.Fit(msg, bot.LimitsOf(chat))); err != nil {
			i.log.Error("watchdog announcement failed", "platform", name, "err", err)
		}
	}
}
