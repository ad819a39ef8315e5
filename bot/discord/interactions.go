package discord

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

// discordEpoch is the start of snowflake time (2015-01-01, in ms).
// See https://discord.com/developers/docs/reference#snowflakes
const discordEpoch = 1420070400000

// SnowflakeTime is when a snowflake ID was created. An interaction's ID
// tells when Discord created it, so the adapter can tell how late its
// acknowledgement was.
func SnowflakeTime(id string) (time.Time, bool) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(n>>22) + discordEpoch), true
}

// interaction handles one interaction: acknowledge first, then check for a
// redelivery, then hand the event to the handler on its own goroutine.
// received is when the adapter got it.
func (a *Adapter) interaction(ctx context.Context, i *discordgo.Interaction, received time.Time) {
	if !a.guildAllowed(i.GuildID) {
		a.refuseGuild(ctx, i)
		return
	}
	switch i.Type {
	case discordgo.InteractionApplicationCommandAutocomplete:
		a.autocomplete(ctx, i)
	case discordgo.InteractionApplicationCommand:
		a.command(ctx, i, received)
	case discordgo.InteractionMessageComponent:
		a.click(ctx, i, received)
	default:
		a.logger.Info("discord interaction ignored", "interaction_type", int(i.Type))
	}
}

// guildAllowed reports whether an interaction from guild may reach the
// handler: any guild when discord.guild_ids is empty, else only those
// listed. A direct message (no guild) is allowed: it carries no guild
// roles, so only an identity named in access.roles grants anything there.
// Without this check a member of any server the app is installed in could
// run commands there, and their output would be posted there.
func (a *Adapter) guildAllowed(guild string) bool {
	return guild == "" || len(a.cfg.GuildIDs) == 0 || slices.Contains(a.cfg.GuildIDs, guild)
}

// errForeignGuild is what a person who used Tebura in a server that is
// not one of discord.guild_ids reads.
const errForeignGuild = "Tebura does not take commands in this server: it is set up for other servers only (discord.guild_ids). Nothing was run."

// refuseGuild answers an interaction from a guild that is not configured:
// a private reply saying so (autocomplete gets no choices), and nothing
// reaches the handler.
func (a *Adapter) refuseGuild(ctx context.Context, i *discordgo.Interaction) {
	a.logger.Warn("discord interaction from an unconfigured guild refused", "guild_id", i.GuildID, "interaction_id", i.ID)
	resp := &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{
			Content:         errForeignGuild,
			Flags:           discordgo.MessageFlagsEphemeral,
			AllowedMentions: &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}},
		},
	}
	switch i.Type {
	case discordgo.InteractionApplicationCommandAutocomplete:
		resp = &discordgo.InteractionResponse{Type: discordgo.InteractionApplicationCommandAutocompleteResult,
			Data: &discordgo.InteractionResponseData{Choices: []*discordgo.ApplicationCommandOptionChoice{}}}
	case discordgo.InteractionApplicationCommand, discordgo.InteractionMessageComponent:
	default:
		return
	}
	_ = a.ack(ctx, i, resp)
}

// ack sends the initial response and reports how late it was.
func (a *Adapter) ack(ctx context.Context, i *discordgo.Interaction, resp *discordgo.InteractionResponse) error {
	err := scrub(a.session.InteractionRespond(i, resp, discordgo.WithContext(ctx)))
	now := a.clock()
	created, ok := SnowflakeTime(i.ID)
	late := ok && now.Sub(created) > AckDeadline
	switch code := apiCode(err); {
	case code == 10062: // Unknown interaction: the 3-second window passed
		late = true
	case code == 40060: // already acknowledged: a redelivery; the dedupe check drops it
		a.logger.Info("discord interaction already acknowledged", "interaction_id", i.ID)
	case err != nil:
		a.logger.Error("discord interaction acknowledgement failed", "interaction_id", i.ID, "err", err)
	}
	if late {
		a.lateAcks.Add(1)
		a.logger.Warn("discord interaction acknowledged late", "interaction_id", i.ID,
			"elapsed_ms", now.Sub(created).Milliseconds(), "deadline_ms", AckDeadline.Milliseconds(), "err", err)
	}
	return err
}

// LateAcks is how many interactions were acknowledged after Discord's
// three-second deadline since the adapter started.
func (a *Adapter) LateAcks() int64 { return a.lateAcks.Load() }

// first reports whether the interaction is seen for the first time. It runs
// after the acknowledgement so that a slow store cannot cost the deadline.
func (a *Adapter) first(ctx context.Context, i *discordgo.Interaction) bool {
	if a.deps.Deduper == nil {
		return true
	}
	ok, err := a.deps.Deduper.Mark(ctx, dedupeScope, i.ID, dedupeTTL)
	if err != nil {
		a.logger.Warn("discord dedupe check failed; handling anyway", "interaction_id", i.ID, "err", err)
		return true
	}
	if !ok {
		a.logger.Info("discord interaction redelivered, dropped", "interaction_id", i.ID)
	}
	return ok
}

func actorOf(i *discordgo.Interaction) bot.Actor {
	var u *discordgo.User
	var act bot.Actor
	if i.Member != nil {
		u = i.Member.User
		act.Name = i.Member.Nick
		for _, r := range i.Member.Roles {
			act.Groups = append(act.Groups, "discord-role:"+r)
		}
	}
	if u == nil {
		u = i.User
	}
	if u != nil {
		act.ID = identity(u.ID)
		if act.Name == "" {
			act.Name = u.GlobalName
		}
		if act.Name == "" {
			act.Name = u.Username
		}
	}
	return act
}

func (a *Adapter) command(ctx context.Context, i *discordgo.Interaction, received time.Time) {
	d := i.ApplicationCommandData()
	root, known := a.roots.neutral[d.Name]
	subcommand, text := commandText(d)
	dm := i.GuildID == ""
	private := dm || privateAnswers[root+" "+subcommand]
	resp := &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource}
	if private {
		resp.Data = &discordgo.InteractionResponseData{Flags: discordgo.MessageFlagsEphemeral}
	}
	_ = a.ack(ctx, i, resp)
	if !known {
		a.logger.Warn("discord command unknown", "command", d.Name)
		root = d.Name
	}
	rep := &replier{a: a, i: i, ephemeral: private}
	cmd := &bot.Command{
		Platform:      Platform,
		Actor:         actorOf(i),
		Channel:       i.ChannelID,
		DirectMessage: dm,
		Name:          root,
		Text:          text,
		Reply:         rep,
		Received:      received,
	}
	a.dispatch(i, cmd, rep)
}

func (a *Adapter) click(ctx context.Context, i *discordgo.Interaction, received time.Time) {
	d := i.MessageComponentData()
	_ = a.ack(ctx, i, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredMessageUpdate})
	action, cb := ParseCustomID(d.CustomID)
	var ref bot.MessageRef
	if i.Message != nil {
		ch := i.Message.ChannelID
		if ch == "" {
			ch = i.ChannelID
		}
		ref = bot.MessageRef{Platform: Platform, Channel: ch, ID: i.Message.ID}
	}
	rep := &replier{a: a, i: i, component: true}
	a.dispatch(i, &bot.Click{
		Platform:   Platform,
		Actor:      actorOf(i),
		ActionID:   action,
		CallbackID: cb,
		Message:    ref,
		Reply:      rep,
		Received:   received,
	}, rep)
}

// dispatch checks for a redelivery and runs the handler on its own
// goroutine, so that neither delays the acknowledgement already sent, then
// tidies the deferred response if the handler never answered.
func (a *Adapter) dispatch(i *discordgo.Interaction, ev bot.Event, rep *replier) {
	ctx, cancel, h := a.handlerContext()
	if h == nil {
		cancel()
		a.logger.Warn("discord interaction arrived while not running")
		return
	}
	go func() {
		defer a.handlers.Done()
		defer cancel()
		if !a.first(ctx, i) {
			return
		}
		h.HandleEvent(ctx, ev)
		rep.finish(ctx)
	}()
}

func (a *Adapter) autocomplete(ctx context.Context, i *discordgo.Interaction) {
	d := i.ApplicationCommandData()
	var partial string
	var walk func(opts []*discordgo.ApplicationCommandInteractionDataOption)
	walk = func(opts []*discordgo.ApplicationCommandInteractionDataOption) {
		for _, o := range opts {
			if o.Focused {
				partial = fmt.Sprint(o.Value)
			}
			walk(o.Options)
		}
	}
	walk(d.Options)
	root := a.roots.neutral[d.Name]
	choices := []*discordgo.ApplicationCommandOptionChoice{}
	if a.deps.Autocomplete != nil {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		names := a.deps.Autocomplete(cctx, actorOf(i), root, partial)
		cancel()
		for _, n := range names {
			if len(choices) == MaxAutocompleteChoices {
				break
			}
			if n == "" || runes(n) > MaxChoiceLength {
				continue
			}
			choices = append(choices, &discordgo.ApplicationCommandOptionChoice{Name: n, Value: n})
		}
	}
	_ = a.ack(ctx, i, &discordgo.InteractionResponse{
		Type: discordgo.InteractionApplicationCommandAutocompleteResult,
		Data: &discordgo.InteractionResponseData{Choices: choices},
	})
}

// replier answers one interaction through its token (valid 15 minutes).
//
// Commands were deferred either in public or ephemeral; the first answer of
// the matching kind replaces the "thinking…" message (edit original), later
// ones are follow-ups. A public answer to an ephemeral defer is a channel
// message; a private answer to a public defer deletes the "thinking…"
// message and sends an ephemeral follow-up. Clicks were deferred without a
// message (type 6), so every answer is a follow-up.
type replier struct {
	a         *Adapter
	i         *discordgo.Interaction
	ephemeral bool
	component bool

	mu       sync.Mutex
	original bool // the deferred original was edited or deleted
}

// Reply implements bot.Replier.
func (r *replier) Reply(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.component:
		return r.followup(ctx, m, 0)
	case r.ephemeral:
		ref, err := r.a.Post(ctx, bot.Target{Channel: r.i.ChannelID}, m)
		if err == nil && !r.original {
			r.original = true
			r.deleteOriginal(ctx)
		}
		return ref, err
	case !r.original:
		r.original = true
		return r.editOriginal(ctx, m)
	default:
		return r.followup(ctx, m, 0)
	}
}

// Private implements bot.Replier.
func (r *replier) Private(ctx context.Context, m bot.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.component || r.original:
		_, err := r.followup(ctx, m, discordgo.MessageFlagsEphemeral)
		return err
	case r.ephemeral:
		r.original = true
		_, err := r.editOriginal(ctx, m)
		return err
	default:
		r.original = true
		r.deleteOriginal(ctx)
		_, err := r.followup(ctx, m, discordgo.MessageFlagsEphemeral)
		return err
	}
}

// finish removes a "thinking…" message nobody answered.
func (r *replier) finish(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.component || r.original {
		return
	}
	r.original = true
	r.deleteOriginal(ctx)
}

func (r *replier) expired() error {
	created, ok := SnowflakeTime(r.i.ID)
	if ok && r.a.clock().Sub(created) > TokenLifetime {
		return tebura.Errorf(tebura.ENOTFOUND, "This Discord interaction is older than 15 minutes and can no longer be answered; run the command again.")
	}
	return nil
}

func (r *replier) editOriginal(ctx context.Context, m bot.Message) (bot.MessageRef, error) {
	if err := r.expired(); err != nil {
		return bot.MessageRef{}, err
	}
	p := build(m)
	msg, err := r.a.session.InteractionResponseEdit(r.i, &discordgo.WebhookEdit{
		Embeds: &p.Embeds, Components: &p.Components, AllowedMentions: p.AllowedMentions,
	}, discordgo.WithContext(ctx))
	if err != nil {
		return bot.MessageRef{}, restErr(err, "answer the command")
	}
	return r.ref(msg), nil
}

func (r *replier) followup(ctx context.Context, m bot.Message, flags discordgo.MessageFlags) (bot.MessageRef, error) {
	if err := r.expired(); err != nil {
		return bot.MessageRef{}, err
	}
	p := build(m)
	msg, err := r.a.session.FollowupMessageCreate(r.i, true, &discordgo.WebhookParams{
		Embeds: p.Embeds, Components: p.Components, AllowedMentions: p.AllowedMentions, Flags: flags,
	}, discordgo.WithContext(ctx))
	if err != nil {
		return bot.MessageRef{}, restErr(err, "answer")
	}
	return r.ref(msg), nil
}

func (r *replier) deleteOriginal(ctx context.Context) {
	if r.expired() != nil {
		return
	}
	if err := scrub(r.a.session.InteractionResponseDelete(r.i, discordgo.WithContext(ctx))); err != nil {
		r.a.logger.Warn("discord deferred response not deleted", "interaction_id", r.i.ID, "err", err)
	}
}

func (r *replier) ref(msg *discordgo.Message) bot.MessageRef {
	ch := msg.ChannelID
	if ch == "" {
		ch = r.i.ChannelID
	}
	return bot.MessageRef{Platform: Platform, Channel: ch, ID: msg.ID}
}
