package slack

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"

	"github.com/tebura/tebura/bot"
)

// slashCommand is the part of a slash command invocation Tebura uses. HTTP
// mode receives it form-encoded, Socket Mode as a JSON object with the same
// keys. https://api.slack.com/interactivity/slash-commands
type slashCommand struct {
	TeamID      string `json:"team_id"`
	ChannelID   string `json:"channel_id"`
	UserID      string `json:"user_id"`
	UserName    string `json:"user_name"`
	Command     string `json:"command"`
	Text        string `json:"text"`
	ResponseURL string `json:"response_url"`
	TriggerID   string `json:"trigger_id"`
}

func commandFromForm(v url.Values) slashCommand {
	return slashCommand{
		TeamID:      v.Get("team_id"),
		ChannelID:   v.Get("channel_id"),
		UserID:      v.Get("user_id"),
		UserName:    v.Get("user_name"),
		Command:     v.Get("command"),
		Text:        v.Get("text"),
		ResponseURL: v.Get("response_url"),
		TriggerID:   v.Get("trigger_id"),
	}
}

// interaction is the part of a block_actions payload Tebura uses.
// https://api.slack.com/reference/interaction-payloads/block-actions
type interaction struct {
	Type string `json:"type"`
	User struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
	} `json:"user"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Container struct {
		ChannelID   string `json:"channel_id"`
		MessageTS   string `json:"message_ts"`
		ThreadTS    string `json:"thread_ts"`
		IsEphemeral bool   `json:"is_ephemeral"`
	} `json:"container"`
	Message struct {
		TS       string `json:"ts"`
		ThreadTS string `json:"thread_ts"`
	} `json:"message"`
	Team struct {
		ID string `json:"id"`
	} `json:"team"`
	TriggerID   string `json:"trigger_id"`
	ResponseURL string `json:"response_url"`
	Actions     []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
		ActionTS string `json:"action_ts"`
	} `json:"actions"`
}

// deliveryKey identifies one interaction for replay detection: its
// trigger_id, else user and action_ts of the first action, else the
// request signature (which covers timestamp and body, so it is unique to
// one delivery).
func (ic interaction) deliveryKey(signature string) string {
	if ic.TriggerID != "" {
		return ic.TriggerID
	}
	if len(ic.Actions) > 0 && ic.Actions[0].ActionTS != "" {
		return "act:" + ic.User.ID + "/" + ic.Actions[0].ActionTS
	}
	return "sig:" + signature
}

// eventCallback is an Events API delivery.
// https://docs.slack.dev/apis/events-api/
type eventCallback struct {
	Type      string `json:"type"`
	Challenge string `json:"challenge"`
	TeamID    string `json:"team_id"`
	EventID   string `json:"event_id"`
	Event     struct {
		Type     string `json:"type"`
		User     string `json:"user"`
		BotID    string `json:"bot_id"`
		Text     string `json:"text"`
		Channel  string `json:"channel"`
		TS       string `json:"ts"`
		ThreadTS string `json:"thread_ts"`
	} `json:"event"`
}

// actor builds the neutral identity of a Slack user, with the user groups
// they belong to. A failing group lookup leaves Groups empty (access then
// falls back to direct grants) and is logged.
func (a *Adapter) actor(ctx context.Context, userID, name string) bot.Actor {
	groups, err := a.groups.of(ctx, userID)
	if err != nil {
		a.log.Warn("slack user groups unavailable", "user_id", userID, "err", scrub(err))
	}
	return bot.Actor{ID: Platform + ":" + userID, Name: name, Groups: groups}
}

// onCommand turns a slash command into a bot.Command and delivers it.
func (a *Adapter) onCommand(ctx context.Context, sc slashCommand) bool {
	root, ok := a.roots[sc.Command]
	if !ok {
		a.log.Warn("slack unknown slash command", "command", sc.Command)
		root = "tebura"
	}
	if a.handler.Load() == nil {
		return false
	}
	rep := a.newReplier(sc.ChannelID, sc.UserID, "", sc.ResponseURL)
	return a.deliverLazy(ctx, func(ctx context.Context) bot.Event {
		return &bot.Command{
			Platform: Platform,
			Actor:    a.actor(ctx, sc.UserID, sc.UserName),
			Channel:  sc.ChannelID,
			Name:     root,
			Text:     strings.TrimSpace(sc.Text),
			Reply:    rep,
			Received: a.now(),
		}
	})
}

// onInteraction turns each button of a block_actions payload into a
// bot.Click. Other interaction types are acknowledged and ignored.
func (a *Adapter) onInteraction(ctx context.Context, ic interaction) bool {
	if ic.Type != "block_actions" {
		a.log.Debug("slack interaction ignored", "type", ic.Type)
		return true
	}
	if a.handler.Load() == nil {
		return false
	}
	channel := ic.Container.ChannelID
	if channel == "" {
		channel = ic.Channel.ID
	}
	ts := ic.Container.MessageTS
	if ts == "" {
		ts = ic.Message.TS
	}
	thread := ic.Container.ThreadTS
	if thread == "" {
		thread = ic.Message.ThreadTS
	}
	name := ic.User.Username
	if name == "" {
		name = ic.User.Name
	}
	ref := bot.MessageRef{Platform: Platform, Channel: channel, ID: ts, Thread: thread}
	if ic.Container.IsEphemeral {
		ref.ID = "" // ephemeral messages cannot be edited with chat.update
	}
	rep := a.newReplier(channel, ic.User.ID, thread, ic.ResponseURL)
	for _, act := range ic.Actions {
		act := act
		a.deliverLazy(ctx, func(ctx context.Context) bot.Event {
			return &bot.Click{
				Platform:   Platform,
				Actor:      a.actor(ctx, ic.User.ID, name),
				ActionID:   act.ActionID,
				CallbackID: act.Value,
				Message:    ref,
				Reply:      rep,
				Received:   a.now(),
			}
		})
	}
	return true
}

// mentionRE matches a leading user mention such as "<@U123>" or "<@U123|bot>".
var mentionRE = regexp.MustCompile(`^\s*<@[A-Z0-9]+(?:\|[^>]*)?>\s*`)

// onEvent handles an Events API event once per event_id: an app_mention
// ("@tebura runbook list") becomes a bot.Command. Other events are ignored.
func (a *Adapter) onEvent(ctx context.Context, ev eventCallback) {
	if ev.EventID != "" {
		first, err := a.dedupe.Mark(ctx, "slack-event", ev.TeamID+"/"+ev.EventID, dedupeTTL)
		if err != nil {
			a.log.Error("slack dedupe failed", "event_id", ev.EventID, "err", scrub(err))
		} else if !first {
			a.log.Info("slack duplicate event dropped", "event_id", ev.EventID)
			return
		}
	}
	if ev.Event.Type != "app_mention" || ev.Event.BotID != "" || ev.Event.User == "" {
		a.log.Debug("slack event ignored", "type", ev.Event.Type)
		return
	}
	text := strings.TrimSpace(unescape(mentionRE.ReplaceAllString(ev.Event.Text, "")))
	root := "tebura"
	if first, rest, _ := strings.Cut(text, " "); first != "" {
		for _, r := range neutralRoots() {
			if strings.EqualFold(strings.TrimPrefix(first, "/"), r) {
				root, text = r, strings.TrimSpace(rest)
				break
			}
		}
	}
	thread := ev.Event.ThreadTS
	if thread == "" && a.cfg.Threads {
		thread = ev.Event.TS
	}
	rep := a.newReplier(ev.Event.Channel, ev.Event.User, thread, "")
	a.deliverLazy(ctx, func(ctx context.Context) bot.Event {
		return &bot.Command{
			Platform: Platform,
			Actor:    a.actor(ctx, ev.Event.User, ""),
			Channel:  ev.Event.Channel,
			Thread:   thread,
			Name:     root,
			Text:     text,
			Reply:    rep,
			Received: a.now(),
		}
	})
}

var unescaper = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

// unescape reverses Slack's escaping of message text.
func unescape(s string) string { return unescaper.Replace(s) }

// deliverLazy builds the event on a handler goroutine (group lookups may
// be slow) and hands it to the handler.
func (a *Adapter) deliverLazy(parent context.Context, build func(context.Context) bot.Event) bool {
	hb := a.handler.Load()
	if hb == nil {
		return false
	}
	return a.spawn(parent, func(ctx context.Context) {
		hb.h.HandleEvent(ctx, build(ctx))
	})
}

// decodeJSON is json.Unmarshal returning ok.
func decodeJSON(b []byte, v any) bool { return json.Unmarshal(b, v) == nil }
