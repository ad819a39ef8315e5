package slack

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/slack-go/slack"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

// Channel name rules: lowercase letters, digits, hyphens and underscores,
// at most 80 characters. https://docs.slack.dev/reference/methods/conversations.create/
const MaxChannelName = 80

// maxNameAttempts bounds the name_taken suffix loop ("-2" … "-20").
const maxNameAttempts = 20

// MaxInviteUsers is how many users one conversations.invite call takes.
// https://docs.slack.dev/reference/methods/conversations.invite
const MaxInviteUsers = 1000

// Slug turns a name into a valid Slack channel name: lowercase, runs of
// other characters replaced by one hyphen, at most 80 characters.
func Slug(name string) string { return tebura.Slug(name, MaxChannelName) }

// CreateChannel creates a channel named after spec.Name (slugified). Creates
// are serialized: Slack does not make two concurrent creates of one name
// fail. On name_taken (archived channels keep their names) it retries with
// "-2", "-3", …, and returns the name it got and the channel ID.
func (a *Adapter) CreateChannel(ctx context.Context, spec bot.ChannelSpec) (bot.Channel, error) {
	base := Slug(spec.Name)
	private := spec.Private || a.cfg.Channels.Private

	a.createMu.Lock()
	defer a.createMu.Unlock()
	for i := 1; i <= maxNameAttempts; i++ {
		name := base
		if i > 1 {
			suffix := fmt.Sprintf("-%d", i)
			name = strings.TrimRight(base[:min(len(base), MaxChannelName-len(suffix))], "-") + suffix
		}
		var ch *slack.Channel
		err := a.call(ctx, "conversations.create", "", func(ctx context.Context) error {
			var err error
			ch, err = a.api.CreateConversationContext(ctx, slack.CreateConversationParams{ChannelName: name, IsPrivate: private})
			return err
		})
		if slackError(err) == "name_taken" {
			a.log.Info("slack channel name taken; trying a suffix", "name", name)
			continue
		}
		if err != nil {
			return bot.Channel{}, wrapAPI(err, "create the channel "+name)
		}
		c := bot.Channel{ID: ch.ID, Name: ch.Name, URL: "https://slack.com/app_redirect?channel=" + ch.ID}
		if c.Name == "" {
			c.Name = name
		}
		a.log.Info("slack channel created", "channel", c.ID, "name", c.Name, "private", private)
		if spec.Topic != "" {
			if err := a.SetTopic(ctx, c.ID, spec.Topic); err != nil {
				a.log.Warn("slack topic not set", "channel", c.ID, "err", scrub(err))
			}
		}
		return c, nil
	}
	return bot.Channel{}, tebura.Errorf(tebura.ECONFLICT, "Slack channel names %s to %s-%d are all taken; archive or rename old channels, or change incidents.channel_template.", base, base, maxNameAttempts)
}

// Invite adds Slack users ("slack:U1") and the members of Slack user groups
// ("slack-group:S1") to a channel. Identities of other platforms are skipped.
func (a *Adapter) Invite(ctx context.Context, channelID string, members []string) error {
	var users []string
	for _, m := range members {
		switch {
		case strings.HasPrefix(m, GroupPrefix):
			ids, err := a.GroupMembers(ctx, m)
			if err != nil {
				a.log.Warn("slack group not expanded", "group", m, "err", scrub(err))
				continue
			}
			for _, id := range ids {
				users = append(users, strings.TrimPrefix(id, Platform+":"))
			}
		case strings.HasPrefix(m, Platform+":"):
			users = append(users, strings.TrimPrefix(m, Platform+":"))
		}
	}
	slices.Sort(users)
	users = slices.Compact(users)
	self := ""
	if p := a.botUser.Load(); p != nil {
		self = *p
	}
	// The bot is in the channels it creates; inviting itself fails the call.
	users = slices.DeleteFunc(users, func(u string) bool { return u == "" || u == self })
	for len(users) > 0 {
		n := min(len(users), MaxInviteUsers)
		batch := users[:n]
		users = users[n:]
		err := a.call(ctx, "conversations.invite", "", func(ctx context.Context) error {
			_, err := a.api.InviteUsersToConversationContext(ctx, channelID, batch...)
			return err
		})
		switch slackError(err) {
		case "", "already_in_channel", "cant_invite_self":
		default:
			return wrapAPI(err, "invite people to the channel")
		}
	}
	return nil
}

// SetTopic sets a channel's topic. The topic is plain text (an incident's
// title and severity, from an alert); Slack reads mentions, links and
// formatting in topics, so it is made literal here.
func (a *Adapter) SetTopic(ctx context.Context, channelID, topic string) error {
	topic = literal(oneLine(bot.Unmark(topic)))
	err := a.call(ctx, "conversations.setTopic", "", func(ctx context.Context) error {
		_, err := a.api.SetTopicOfConversationContext(ctx, channelID, topic)
		return err
	})
	return wrapAPI(err, "set the channel topic")
}

// Archive archives a channel; an already archived channel is fine.
func (a *Adapter) Archive(ctx context.Context, channelID string) error {
	err := a.call(ctx, "conversations.archive", "", func(ctx context.Context) error {
		return a.api.ArchiveConversationContext(ctx, channelID)
	})
	if slackError(err) == "already_archived" {
		return nil
	}
	return wrapAPI(err, "archive the channel")
}

// Upload attaches a file (a run's full log) to a channel or thread with the
// v2 flow: files.getUploadURLExternal, POST the bytes to the returned URL,
// files.completeUploadExternal. files.upload is retired and never used.
// https://docs.slack.dev/changelog/2024-04-a-better-way-to-upload-files-is-here-to-stay
func (a *Adapter) Upload(ctx context.Context, to bot.Target, f bot.File) error {
	if len(f.Content) == 0 {
		return tebura.Errorf(tebura.EINVALID, "The file %s is empty; nothing to upload.", f.Name)
	}
	name := f.Name
	if name == "" {
		name = "tebura.txt"
	}
	var up *slack.GetUploadURLExternalResponse
	err := a.call(ctx, "files.getUploadURLExternal", "", func(ctx context.Context) error {
		var err error
		up, err = a.api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: name, FileSize: len(f.Content)})
		return err
	})
	if err != nil {
		return wrapAPI(err, "upload "+name)
	}
	if err := a.api.UploadToURL(ctx, slack.UploadToURLParameters{UploadURL: up.UploadURL, Filename: name, Reader: strings.NewReader(string(f.Content))}); err != nil {
		return wrapAPI(err, "upload "+name)
	}
	title := escape(oneLine(bot.Unmark(f.Title)))
	if title == "" {
		title = name
	}
	params := slack.CompleteUploadExternalParameters{Files: []slack.FileSummary{{ID: up.FileID, Title: title}}, Channel: to.Channel}
	if a.cfg.Threads {
		params.ThreadTimestamp = to.Thread
	}
	err = a.call(ctx, "files.completeUploadExternal", "", func(ctx context.Context) error {
		_, err := a.api.CompleteUploadExternalContext(ctx, params)
		return err
	})
	return wrapAPI(err, "share "+name)
}
