package discord

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/discord/discordtest"
)

// TestForeignGuildRefused: with discord.guild_ids set, a command, a click
// or an autocomplete from another server the app is installed in never
// reaches the handler; a command or click is answered privately saying
// why, in both modes. A configured guild still works.
func TestForeignGuildRefused(t *testing.T) {
	t.Parallel()
	const otherGuild, otherChannel = "200000000000000099", "300000000000000099"
	for _, mode := range []string{ModeHTTP, ModeGateway} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode)
			e.fake.AddGuild(discordtest.Guild{ID: otherGuild, Name: "elsewhere", OwnerID: "998",
				Roles: map[string]int64{otherGuild: 0}, Members: map[string][]string{aliceID: {}}})
			e.fake.AddChannel(discordtest.Channel{ID: otherChannel, GuildID: otherGuild, Name: "general", Type: 0})
			e.start(e.collect())
			stranger := discordtest.Invoker{GuildID: otherGuild, ChannelID: otherChannel, UserID: aliceID, Name: "alice", Roles: []string{approverRID}}

			tests := []struct {
				name  string
				it    discordtest.Interaction
				reply bool
			}{
				{"command", runCommand(e.fake, stranger), true},
				{"click", e.fake.NewClick(stranger, "700000000000000001", "tebura:approve:cb1"), true},
				{"autocomplete", e.fake.NewAutocomplete(stranger, "runbook", "run", discordtest.Option{Name: "name", Value: "re", Focused: true}), false},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					if st := e.deliver(tc.it); mode == ModeHTTP && st != http.StatusAccepted {
						t.Fatalf("status %d, want 202", st)
					}
					if !waitFor(5*time.Second, func() bool { return e.fake.AckOf(tc.it.ID).Acked }) {
						t.Fatal("not answered")
					}
					ack := e.fake.AckOf(tc.it.ID)
					if !tc.reply {
						if ack.Type != 8 {
							t.Errorf("autocomplete answered with type %d, want 8 (no choices)", ack.Type)
						}
						return
					}
					if ack.Type != 4 {
						t.Fatalf("answered with type %d, want 4 (a message saying why)", ack.Type)
					}
					var reply *discordtest.Stored
					for _, m := range e.fake.Messages() {
						if m.Interaction == tc.it.ID {
							reply = &m
						}
					}
					if reply == nil || !reply.Ephemeral || !strings.Contains(reply.Content, "does not take commands in this server") {
						t.Errorf("reply = %+v, want a private message saying the server is not set up", reply)
					}
				})
			}
			select {
			case ev := <-e.events:
				t.Fatalf("handler got %T from an unconfigured guild", ev)
			case <-time.After(100 * time.Millisecond):
			}
			if !e.logged("discord interaction from an unconfigured guild refused") {
				t.Error("refusal not logged")
			}

			// The configured guild is served as before.
			e.deliver(runCommand(e.fake, bob))
			if e.event() == nil {
				t.Fatal("no event from the configured guild")
			}
		})
	}
}
