package discord

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

// Permission bits the adapter grants and checks.
// See https://discord.com/developers/docs/topics/permissions#permissions-bitwise-permission-flags
const (
	permViewChannel    = discordgo.PermissionViewChannel
	permSendMessages   = discordgo.PermissionSendMessages
	permEmbedLinks     = discordgo.PermissionEmbedLinks
	permAttachFiles    = discordgo.PermissionAttachFiles
	permManageChannels = discordgo.PermissionManageChannels
	permAdministrator  = discordgo.PermissionAdministrator
)

// Slug returns a valid Discord text channel name for s: lowercase, only
// a-z, 0-9, "-" and "_", at most 100 characters, never empty.
func Slug(s string) string { return tebura.Slug(s, MaxChannelName) }

// withSuffix returns name with "-n", cut so the whole fits 100 characters.
func withSuffix(name string, n int) string {
	suffix := "-" + strconv.Itoa(n)
	if len(name)+len(suffix) > MaxChannelName {
		name = strings.TrimRight(name[:MaxChannelName-len(suffix)], "-")
	}
	return name + suffix
}

// incidentGuild is the guild incident channels are created in: the
// incident category's guild, else the only configured guild.
func (a *Adapter) incidentGuild(ctx context.Context) (string, error) {
	if a.cfg.IncidentCategory != "" {
		return a.guildOfChannel(ctx, a.cfg.IncidentCategory)
	}
	if len(a.cfg.GuildIDs) == 1 {
		return a.cfg.GuildIDs[0], nil
	}
	return "", tebura.Errorf(tebura.EINVALID, "Set discord.incident_category_id (or exactly one discord.guild_ids entry) so Tebura knows where to open incident channels.")
}

// guildOfChannel returns (and caches) the guild a channel belongs to.
func (a *Adapter) guildOfChannel(ctx context.Context, channelID string) (string, error) {
	a.mu.Lock()
	g, ok := a.guildOf[channelID]
	a.mu.Unlock()
	if ok {
		return g, nil
	}
	ch, err := a.session.Channel(channelID, discordgo.WithContext(ctx))
	if err != nil {
		return "", restErr(err, "look up a channel")
	}
	if ch.GuildID == "" {
		return "", tebura.Errorf(tebura.EINVALID, "Discord channel %s is not in a server.", channelID)
	}
	a.mu.Lock()
	a.guildOf[channelID] = ch.GuildID
	a.mu.Unlock()
	return ch.GuildID, nil
}

func (a *Adapter) botUserID(ctx context.Context) (string, error) {
	a.mu.Lock()
	id := a.botID
	a.mu.Unlock()
	if id != "" {
		return id, nil
	}
	me, err := a.session.User("@me", discordgo.WithContext(ctx))
	if err != nil {
		return "", restErr(err, "identify the bot")
	}
	a.mu.Lock()
	a.botID = me.ID
	a.mu.Unlock()
	return me.ID, nil
}

// CreateChannel implements bot.ChannelManager: a text channel in the
// incident category, named from the slug, suffixed -2, -3 … when the name
// is taken in the guild. Creation is serialized because Discord does not
// enforce unique names.
func (a *Adapter) CreateChannel(ctx context.Context, spec bot.ChannelSpec) (bot.Channel, error) {
	a.chanMu.Lock()
	defer a.chanMu.Unlock()
	guild, err := a.incidentGuild(ctx)
	if err != nil {
		return bot.Channel{}, err
	}
	existing, err := a.session.GuildChannels(guild, discordgo.WithContext(ctx))
	if err != nil {
		return bot.Channel{}, restErr(err, "list channels")
	}
	taken := map[string]bool{}
	for _, c := range existing {
		taken[c.Name] = true
	}
	base := Slug(spec.Name)
	name := base
	for n := 2; taken[name]; n++ {
		name = withSuffix(base, n)
	}
	data := discordgo.GuildChannelCreateData{
		Name:     name,
		Type:     discordgo.ChannelTypeGuildText,
		Topic:    topicText(spec.Topic),
		ParentID: a.cfg.IncidentCategory,
	}
	if spec.Private {
		me, err := a.botUserID(ctx)
		if err != nil {
			return bot.Channel{}, err
		}
		data.PermissionOverwrites = []*discordgo.PermissionOverwrite{
			{ID: guild, Type: discordgo.PermissionOverwriteTypeRole, Deny: permViewChannel},
			{ID: me, Type: discordgo.PermissionOverwriteTypeMember, Allow: permViewChannel | permSendMessages | permEmbedLinks | permAttachFiles},
		}
	}
	ch, err := a.session.GuildChannelCreateComplex(guild, data, discordgo.WithContext(ctx), discordgo.WithAuditLogReason("Tebura incident channel"))
	if err != nil {
		return bot.Channel{}, restErr(err, "create the incident channel")
	}
	a.mu.Lock()
	a.guildOf[ch.ID] = guild
	a.mu.Unlock()
	a.logger.Info("discord channel created", "channel_id", ch.ID, "name", ch.Name)
	return bot.Channel{ID: ch.ID, Name: ch.Name, URL: "https://discord.com/channels/" + guild + "/" + ch.ID}, nil
}

// Invite implements bot.ChannelManager with permission overwrites granting
// VIEW_CHANNEL and SEND_MESSAGES to each "discord:<user>" and
// "discord-role:<role>"; identities of other platforms are skipped.
func (a *Adapter) Invite(ctx context.Context, channelID string, members []string) error {
	var errs []error
	for _, m := range members {
		var target string
		var kind discordgo.PermissionOverwriteType
		if id, ok := strings.CutPrefix(m, "discord-role:"); ok {
			target, kind = id, discordgo.PermissionOverwriteTypeRole
		} else if id, ok := userOf(m); ok {
			target, kind = id, discordgo.PermissionOverwriteTypeMember
		} else {
			continue
		}
		if target == "" {
			continue
		}
		if err := a.session.ChannelPermissionSet(channelID, target, kind, permViewChannel|permSendMessages, 0, discordgo.WithContext(ctx)); err != nil {
			errs = append(errs, restErr(err, "invite "+m))
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// SetTopic implements bot.ChannelManager.
func (a *Adapter) SetTopic(ctx context.Context, channelID, topic string) error {
	_, err := a.session.ChannelEdit(channelID, &discordgo.ChannelEdit{Topic: topicText(topic)}, discordgo.WithContext(ctx))
	return restErr(err, "set the channel topic")
}

// Archive implements bot.ChannelManager: the channel moves to the archive
// category when one is configured, else it is locked (@everyone may no
// longer send messages).
func (a *Adapter) Archive(ctx context.Context, channelID string) error {
	if a.cfg.ArchiveCategory != "" {
		_, err := a.session.ChannelEdit(channelID, &discordgo.ChannelEdit{ParentID: a.cfg.ArchiveCategory}, discordgo.WithContext(ctx))
		return restErr(err, "move the channel to the archive category")
	}
	guild, err := a.guildOfChannel(ctx, channelID)
	if err != nil {
		return err
	}
	err = a.session.ChannelPermissionSet(channelID, guild, discordgo.PermissionOverwriteTypeRole, 0, permSendMessages, discordgo.WithContext(ctx))
	return restErr(err, "lock the channel")
}

// Upload implements bot.FileUploader with a multipart attachment. Content
// above MaxUpload keeps its end (where a log's failure is) under a marker
// line saying how much was cut.
func (a *Adapter) Upload(ctx context.Context, to bot.Target, f bot.File) error {
	ch := to.Channel
	if to.Thread != "" {
		ch = to.Thread
	}
	content := fitUpload(f.Content, MaxUpload)
	name := f.Name
	if name == "" {
		name = "tebura.log"
	}
	_, err := a.session.ChannelMessageSendComplex(ch, &discordgo.MessageSend{
		Content:         cutEnd(literal(oneLine(bot.Unmark(f.Title))), MaxContent, "…"),
		AllowedMentions: noMentions(),
		Files:           []*discordgo.File{{Name: name, ContentType: "text/plain; charset=utf-8", Reader: bytes.NewReader(content)}},
	}, discordgo.WithContext(ctx))
	return restErr(err, "upload "+name)
}

// fitUpload returns b if it fits limit bytes, else its last lines under a
// marker, the whole within limit.
func fitUpload(b []byte, limit int) []byte {
	if len(b) <= limit {
		return b
	}
	marker := fmt.Sprintf("[tebura: the first %d bytes were cut to stay under Discord's %d MiB upload limit]\n", len(b), limit>>20)
	keep := limit - len(marker) - 32 // the count in the marker may grow a few digits
	rest := b[len(b)-keep:]
	if i := bytes.IndexByte(rest, '\n'); i >= 0 && i < len(rest)-1 {
		rest = rest[i+1:]
	}
	for len(rest) > 0 && !utf8.RuneStart(rest[0]) {
		rest = rest[1:]
	}
	marker = fmt.Sprintf("[tebura: the first %d bytes were cut to stay under Discord's %d MiB upload limit]\n", len(b)-len(rest), limit>>20)
	return append([]byte(marker), rest...)
}

// topicText is a channel topic as Discord should show it: plain text from
// an alert, in which Discord would read markdown, masked links and
// mentions, so it is made literal.
func topicText(t string) string {
	return cutEnd(literal(oneLine(bot.Unmark(t))), MaxTopic, "…")
}
