package discord

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/tebura/tebura/bot"
)

// requiredPerms are the guild permissions the bot needs, by name.
var requiredPerms = []struct {
	name string
	bit  int64
}{
	{"VIEW_CHANNEL", permViewChannel},
	{"SEND_MESSAGES", permSendMessages},
	{"EMBED_LINKS", permEmbedLinks},
	{"ATTACH_FILES", permAttachFiles},
	{"MANAGE_CHANNELS", permManageChannels},
	{"MANAGE_ROLES", discordgo.PermissionManageRoles},
}

// PermissionsInteger is the permissions integer for the invite URL: the
// bits in requiredPerms (MANAGE_ROLES lets the bot write the permission
// overwrites that invite responders to incident channels).
func PermissionsInteger() int64 {
	var n int64
	for _, p := range requiredPerms {
		n |= p.bit
	}
	return n
}

// InviteURL is the OAuth2 URL that adds the bot to a server with the
// scopes bot and applications.commands and the permissions it needs.
func InviteURL(applicationID string) string {
	return fmt.Sprintf("https://discord.com/oauth2/authorize?client_id=%s&scope=bot+applications.commands&permissions=%d", applicationID, PermissionsInteger())
}

// Doctor implements bot.Doctor: the token, each configured guild, the
// bot's permissions there (from its roles), the configured categories and
// the command registration.
func (a *Adapter) Doctor(ctx context.Context) []bot.Check {
	var out []bot.Check
	me, err := a.session.User("@me", discordgo.WithContext(ctx))
	if err != nil {
		return append(out, bot.Check{Name: "discord token", Detail: "GET /users/@me failed: " + restErr(err, "identify the bot").Error() +
			"; set discord.bot_token to the token under Developer Portal → Bot."})
	}
	a.mu.Lock()
	a.botID = me.ID
	a.mu.Unlock()
	out = append(out, bot.Check{Name: "discord token", OK: true, Detail: "authenticated as " + me.Username + " (" + me.ID + ")"})

	if len(a.cfg.GuildIDs) == 0 {
		out = append(out, bot.Check{Name: "discord guilds", OK: true, Detail: "no discord.guild_ids: commands are global (Discord may take a while to show them)"})
	}
	for _, g := range a.cfg.GuildIDs {
		out = append(out, a.doctorGuild(ctx, g, me.ID)...)
	}
	for key, id := range map[string]string{"discord.incident_category_id": a.cfg.IncidentCategory, "discord.archive_category_id": a.cfg.ArchiveCategory} {
		if id == "" {
			continue
		}
		ch, err := a.session.Channel(id, discordgo.WithContext(ctx))
		switch {
		case err != nil:
			out = append(out, bot.Check{Name: key, Detail: fmt.Sprintf("channel %s cannot be read: %v; check the ID and that the bot can view it", id, err)})
		case ch.Type != discordgo.ChannelTypeGuildCategory:
			out = append(out, bot.Check{Name: key, Detail: fmt.Sprintf("%s (%s) is not a category; use a category's ID", id, ch.Name)})
		default:
			out = append(out, bot.Check{Name: key, OK: true, Detail: "category " + ch.Name})
		}
	}
	return append(out, a.doctorCommands(ctx)...)
}

func (a *Adapter) doctorGuild(ctx context.Context, guildID, botID string) []bot.Check {
	name := "discord guild " + guildID
	g, err := a.session.Guild(guildID, discordgo.WithContext(ctx))
	if err != nil {
		return []bot.Check{{Name: name, Detail: fmt.Sprintf("not reachable (%v); invite the bot with %s", err, InviteURL(a.cfg.ApplicationID))}}
	}
	checks := []bot.Check{{Name: name, OK: true, Detail: "reachable: " + g.Name}}
	perms, err := a.guildPermissions(ctx, g, botID)
	if err != nil {
		return append(checks, bot.Check{Name: name + " permissions", Detail: fmt.Sprintf("cannot be computed: %v", err)})
	}
	var missing []string
	for _, p := range requiredPerms {
		if perms&permAdministrator == 0 && perms&p.bit == 0 {
			missing = append(missing, p.name)
		}
	}
	if len(missing) > 0 {
		return append(checks, bot.Check{Name: name + " permissions", Detail: "missing " + strings.Join(missing, ", ") +
			fmt.Sprintf("; give the bot's role these permissions or re-invite it with permissions=%d", PermissionsInteger())})
	}
	return append(checks, bot.Check{Name: name + " permissions", OK: true, Detail: "VIEW_CHANNEL, SEND_MESSAGES, EMBED_LINKS, ATTACH_FILES, MANAGE_CHANNELS, MANAGE_ROLES present"})
}

// guildPermissions computes the bot's guild-level permissions: @everyone
// plus its roles; the owner and ADMINISTRATOR have everything.
// See https://discord.com/developers/docs/topics/permissions#permission-overwrites
func (a *Adapter) guildPermissions(ctx context.Context, g *discordgo.Guild, botID string) (int64, error) {
	if g.OwnerID == botID {
		return discordgo.PermissionAll, nil
	}
	member, err := a.session.GuildMember(g.ID, botID, discordgo.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	roles := g.Roles
	if len(roles) == 0 {
		if roles, err = a.session.GuildRoles(g.ID, discordgo.WithContext(ctx)); err != nil {
			return 0, err
		}
	}
	has := map[string]bool{g.ID: true} // @everyone's role ID is the guild ID
	for _, r := range member.Roles {
		has[r] = true
	}
	var perms int64
	for _, r := range roles {
		if has[r.ID] {
			perms |= r.Permissions
		}
	}
	return perms, nil
}

func (a *Adapter) doctorCommands(ctx context.Context) []bot.Check {
	want := []string{a.roots.runbook, a.roots.incident, a.roots.tebura}
	var out []bot.Check
	for _, g := range a.scopes() {
		name := "discord commands (global)"
		if g != "" {
			name = "discord commands in guild " + g
		}
		cmds, err := a.session.ApplicationCommands(a.cfg.ApplicationID, g, discordgo.WithContext(ctx))
		if err != nil {
			out = append(out, bot.Check{Name: name, Detail: fmt.Sprintf("cannot be listed (%v); invite the bot with the applications.commands scope", err)})
			continue
		}
		got := map[string]bool{}
		for _, c := range cmds {
			got[c.Name] = true
		}
		var missing []string
		for _, w := range want {
			if !got[w] {
				missing = append(missing, "/"+w)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			out = append(out, bot.Check{Name: name, Detail: "missing " + strings.Join(missing, ", ") + "; start tebura once to register them"})
			continue
		}
		out = append(out, bot.Check{Name: name, OK: true, Detail: "/" + strings.Join(want, ", /") + " registered"})
	}
	return out
}
