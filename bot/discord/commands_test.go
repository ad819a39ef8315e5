package discord

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/discord/discordtest"
)

// TestCommandText: every subcommand becomes the text the command grammar
// reads, free text quoted for the tokenizer.
func TestCommandText(t *testing.T) {
	t.Parallel()
	f := discordtest.New(t)
	tests := []struct {
		command, sub string
		opts         []discordtest.Option
		want         string
	}{
		{"runbook", "list", nil, "list"},
		{"runbook", "describe", []discordtest.Option{{Name: "name", Value: "restart-api"}}, "describe restart-api"},
		{"runbook", "run", []discordtest.Option{{Name: "name", Value: "restart-api"}, {Name: "args", Value: `env=prod msg="a b"`}}, `run restart-api env=prod msg="a b"`},
		{"runbook", "run", []discordtest.Option{{Name: "name", Value: "check"}}, "run check"},
		{"runbook", "status", nil, "status"},
		{"runbook", "status", []discordtest.Option{{Name: "run", Value: "r42"}}, "status r42"},
		{"runbook", "cancel", []discordtest.Option{{Name: "run", Value: "r42"}}, "cancel r42"},
		{"runbook", "logs", []discordtest.Option{{Name: "run", Value: "r42"}}, "logs r42"},
		{"incident", "declare", []discordtest.Option{{Name: "sev", Type: 4, Value: 2}, {Name: "title", Value: `DB "primary" down`}}, `declare "DB \"primary\" down" sev=2`},
		{"incident", "declare", []discordtest.Option{{Name: "title", Value: "outage"}}, "declare outage"},
		{"incident", "ack", nil, "ack"},
		{"incident", "resolve", []discordtest.Option{{Name: "note", Value: "rolled back"}}, `resolve "rolled back"`},
		{"incident", "note", []discordtest.Option{{Name: "text", Value: `C:\temp is full`}}, `note "C:\\temp is full"`},
		{"incident", "commander", []discordtest.Option{{Name: "user", Type: 6, Value: bobID}}, "commander <@" + bobID + ">"},
		{"incident", "timeline", nil, "timeline"},
		{"incident", "postmortem", nil, "postmortem"},
		{"incident", "list", nil, "list"},
		{"incident", "stats", nil, "stats"},
		{"tebura", "help", nil, "help"},
		{"tebura", "whoami", nil, "whoami"},
		{"tebura", "reload", nil, "reload"},
	}
	for _, tc := range tests {
		it := f.NewCommand(alice, tc.command, tc.sub, tc.opts...)
		var i discordgo.Interaction
		if err := json.Unmarshal(it.Body, &i); err != nil {
			t.Fatal(err)
		}
		sub, got := commandText(i.ApplicationCommandData())
		if got != tc.want || sub != tc.sub {
			t.Errorf("/%s %s: text %q (sub %q), want %q", tc.command, tc.sub, got, sub, tc.want)
		}
	}
}

// TestDefinitionsCoverGrammar: the registered definitions hold every
// subcommand, and the fake (Discord's naming rules) accepts them.
func TestDefinitionsCoverGrammar(t *testing.T) {
	t.Parallel()
	defs := commandDefinitions(newRoots(botCommands("", "", "")))
	want := map[string][]string{
		"runbook":  {"list", "describe", "run", "status", "cancel", "logs"},
		"incident": {"declare", "ack", "resolve", "status", "note", "commander", "timeline", "postmortem", "list", "stats"},
		"tebura":   {"help", "whoami", "reload", "login"},
	}
	for _, d := range defs {
		var subs []string
		for _, o := range d.Options {
			subs = append(subs, o.Name)
		}
		if len(subs) != len(want[d.Name]) {
			t.Errorf("/%s subcommands = %v, want %v", d.Name, subs, want[d.Name])
			continue
		}
		for i := range subs {
			if subs[i] != want[d.Name][i] {
				t.Errorf("/%s subcommands = %v, want %v", d.Name, subs, want[d.Name])
			}
		}
	}
	if commandsHash(defs) != commandsHash(commandDefinitions(newRoots(botCommands("", "", "")))) {
		t.Error("hash is not stable")
	}
}

// TestTokenLifetime: after 15 minutes the interaction token is dead, but
// the message it created stays editable with the bot token, so runs longer
// than that keep updating.
func TestTokenLifetime(t *testing.T) {
	t.Parallel()
	base := time.Now()
	e := newEnv(t, ModeHTTP)
	clock := make(chan time.Duration, 1)
	clock <- 0
	e.fake.Clock = func() time.Time { d := <-clock; clock <- d; return base.Add(d) }
	setOffset := func(d time.Duration) { <-clock; clock <- d }
	replies := make(chan bot.Replier, 1)
	e.start(bot.HandlerFunc(func(ctx context.Context, ev bot.Event) {
		c := ev.(*bot.Command)
		if _, err := c.Reply.Reply(ctx, bot.Message{Header: "card"}); err != nil {
			t.Error(err)
		}
		replies <- c.Reply
	}))
	it := runCommand(e.fake, bob)
	e.deliver(it)
	rep := <-replies
	var card discordtest.Stored
	for _, m := range e.fake.Messages() {
		if m.Interaction == it.ID {
			card = m
		}
	}
	setOffset(16 * time.Minute)
	if _, err := rep.Reply(context.Background(), bot.Message{Header: "late"}); tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Errorf("Reply after 15 minutes = %v, want ENOTFOUND saying to run the command again", err)
	}
	ref := bot.MessageRef{Platform: Platform, Channel: card.ChannelID, ID: card.ID}
	if err := e.a.Edit(context.Background(), ref, bot.Message{Header: "still running"}); err != nil {
		t.Fatalf("Edit after the token expired: %v", err)
	}
	if m, _ := e.fake.Message(card.ID); m.Embeds[0].Title != "still running" {
		t.Errorf("card = %+v", m.Embeds)
	}
}

// TestReloadRegisteredAndPrivate: /tebura reload is registered, so an
// installation registered before it existed registers again (the hash
// changed), and its answer is private (deferred ephemeral).
func TestReloadRegisteredAndPrivate(t *testing.T) {
	t.Parallel()
	defs := commandDefinitions(newRoots(botCommands("", "", "")))
	var found bool
	for _, d := range defs {
		for _, o := range d.Options {
			found = found || (d.Name == "tebura" && o.Name == "reload")
		}
	}
	if !found {
		t.Fatal("/tebura reload is not registered")
	}
	e := newEnv(t, ModeGateway)
	e.start(e.collect())
	it := e.fake.NewCommand(bob, "tebura", "reload")
	e.deliver(it)
	if cmd := e.event().(*bot.Command); cmd.Name != "tebura" || cmd.Text != "reload" {
		t.Errorf("command = %q %q, want tebura reload", cmd.Name, cmd.Text)
	}
	if ack := e.fake.AckOf(it.ID); ack.Type != 5 || !ack.Ephemeral {
		t.Errorf("reload ack = %+v, want a deferred ephemeral answer", ack)
	}
}
