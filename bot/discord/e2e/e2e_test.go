// Package e2e_test drives the real bot (commands, bolt store, executor,
// access policy) through the Discord adapter against the fake Discord. It
// lives apart from the adapter's unit tests so that those build even while
// the commands package is being changed.
package e2e_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/discord"
	"github.com/tebura/tebura/bot/discord/discordtest"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
)

// e2eRunbook needs one approval from sre (a Discord role here), not the
// requester's own, and prints more lines than a message holds.
const e2eRunbook = `
name: restart-api
description: Restart the API deployment
kind: remediation
params:
  - {name: env, type: enum, values: [staging, prod], required: true}
  - {name: service, type: string, pattern: '[a-z][a-z0-9-]{0,40}', default: api}
allow: [sre, dev]
approval: {required: 1, approvers: [sre], allow_self: false, expires: 15m}
timeout: 1m
steps:
  - name: restart
    script: 'i=0; while [ $i -lt 300 ]; do i=$((i+1)); echo "restarting $TEBURA_PARAM_SERVICE in $TEBURA_PARAM_ENV: line $i"; done'
`

// IDs of the fake world.
const (
	guildID     = "200000000000000001"
	channelID   = "300000000000000001"
	approverRID = "400000000000000001"
	botRoleID   = "400000000000000009"
	aliceID     = "500000000000000001" // requester, role dev
	bobID       = "500000000000000002" // holds the approver Discord role
)

var (
	alice = discordtest.Invoker{GuildID: guildID, ChannelID: channelID, UserID: aliceID, Name: "alice"}
	bob   = discordtest.Invoker{GuildID: guildID, ChannelID: channelID, UserID: bobID, Name: "bob", Roles: []string{approverRID}}
)

type env struct {
	fake *discordtest.Server
	a    *discord.Adapter
	key  ed25519.PrivateKey
	srv  *httptest.Server
}

// newEnv starts the fake Discord, the real bot and the adapter in mode;
// the bot has e2eRunbook and the runbooks of extra.
func newEnv(t *testing.T, mode string, extra ...string) *env {
	t.Helper()
	fake := discordtest.New(t)
	fake.AddGuild(discordtest.Guild{
		ID: guildID, Name: "ops", OwnerID: "999",
		Roles:   map[string]int64{guildID: 0, approverRID: 0, botRoleID: discord.PermissionsInteger()},
		Members: map[string][]string{fake.BotID: {botRoleID}, aliceID: {}, bobID: {approverRID}},
	})
	fake.AddChannel(discordtest.Channel{ID: channelID, GuildID: guildID, Name: "ops", Type: 0})
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{fake: fake, key: priv}
	cfg := config.Discord{
		Enabled: true, Mode: mode, BotToken: config.Secret(fake.Token), ApplicationID: fake.AppID,
		PublicKey: hex.EncodeToString(pub), GuildIDs: []string{guildID},
		APIURL: fake.APIURL, GatewayURL: fake.GatewayURL,
	}
	b := realBot(t, extra, func(st *bolt.Store) bot.Chat {
		e.a, err = discord.New(cfg, discord.Deps{Deduper: st, Meta: st}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return e.a
	})
	if mode == discord.ModeHTTP {
		mux := http.NewServeMux()
		e.a.Mount(mux)
		e.srv = httptest.NewServer(mux)
		t.Cleanup(e.srv.Close)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.a.Run(ctx, b) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	if !waitFor(10*time.Second, func() bool { return e.a.Ready() == nil }) {
		t.Fatalf("adapter not ready: %v", e.a.Ready())
	}
	return e
}

func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}

func (e *env) deliver(t *testing.T, it discordtest.Interaction) {
	t.Helper()
	if e.srv == nil {
		if err := e.fake.Dispatch(it); err != nil {
			t.Fatal(err)
		}
		return
	}
	resp, err := e.fake.Post(e.srv.URL+discord.InteractionsPath, e.key, it)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("interaction answered %d, want 202", resp.StatusCode)
	}
}

func runCommand(fake *discordtest.Server, who discordtest.Invoker) discordtest.Interaction {
	return fake.NewCommand(who, "runbook", "run",
		discordtest.Option{Name: "name", Value: "restart-api"},
		discordtest.Option{Name: "args", Value: "env=prod"})
}

// realBot builds the real bot (router and runbook flows, bolt store, access policy, runbook
// registry, executor, audit chain) with the Discord adapter that chat
// builds over the bot's store as its chat.
func realBot(t *testing.T, extra []string, chat func(*bolt.Store) bot.Chat) *commands.Router {
	t.Helper()
	return commandstest.New(t, commandstest.Options{
		Roles: map[string][]string{
			"dev": {"discord:" + aliceID},
			"sre": {"discord-role:" + approverRID},
		},
		Runbooks: append([]string{e2eRunbook}, extra...),
		Executor: runbooks.ExecutorConfig{TailLines: 20},
		Bot:      config.Bot{StreamInterval: 20 * time.Millisecond},
		Chat:     chat,
	}).Bot
}

// TestEndToEnd drives the real bot through the Discord adapter in both
// modes: /runbook run → approval card → the requester's own click refused
// privately → an approver-role member's click starts the run → the card is
// edited with output → final frame → the full log attached.
func TestEndToEnd(t *testing.T) {
	for _, mode := range []string{discord.ModeGateway, discord.ModeHTTP} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, mode)

			// 1. alice asks for the run.
			it := runCommand(e.fake, alice)
			e.deliver(t, it)
			var card discordtest.Stored
			if !waitFor(10*time.Second, func() bool {
				for _, m := range e.fake.Messages() {
					if m.Interaction == it.ID && !m.Deleted && len(m.Buttons()) > 0 {
						card = m
						return true
					}
				}
				return false
			}) {
				t.Fatalf("no approval card; messages: %+v", e.fake.Messages())
			}
			if ack := e.fake.AckOf(it.ID); ack.Type != 5 || ack.Ephemeral {
				t.Errorf("command ack = %+v, want a public deferral", ack)
			}
			if card.Ephemeral {
				t.Error("approval card is ephemeral")
			}
			approve := ""
			for _, btn := range card.Buttons() {
				if btn.Label == "Approve" {
					approve = btn.CustomID
				}
			}
			if !strings.HasPrefix(approve, "approve:") {
				t.Fatalf("no Approve button on the card: %+v", card.Buttons())
			}

			// 2. alice approves her own request: refused, privately.
			own := e.fake.NewClick(alice, card.ID, approve)
			e.deliver(t, own)
			var refusal discordtest.Stored
			if !waitFor(10*time.Second, func() bool {
				for _, m := range e.fake.Messages() {
					if m.Interaction == own.ID && len(m.Embeds) > 0 {
						refusal = m
						return true
					}
				}
				return false
			}) {
				t.Fatal("self-approval not answered")
			}
			if !refusal.Ephemeral {
				t.Errorf("refusal is public: %+v", refusal.Embeds)
			}
			if ack := e.fake.AckOf(own.ID); ack.Type != 6 {
				t.Errorf("click ack type %d, want 6", ack.Type)
			}

			// 3. bob, holding the approver role, approves: the run starts
			// and the card becomes the run's live message.
			ok := e.fake.NewClick(bob, card.ID, approve)
			e.deliver(t, ok)
			var final discordtest.Stored
			if !waitFor(30*time.Second, func() bool {
				m, _ := e.fake.Message(card.ID)
				final = m
				return len(m.Embeds) > 0 && strings.Contains(m.Embeds[0].Title, "succeeded") && len(m.Buttons()) == 0
			}) {
				t.Fatalf("card never reached a successful final frame: %+v", final.Message)
			}
			if final.Edits < 2 {
				t.Errorf("card edited %d times, want the approval, output frames and the final frame", final.Edits)
			}
			desc := final.Embeds[0].Description
			if !strings.Contains(desc, "line 300") || !strings.Contains(desc, "of 302 lines") {
				t.Errorf("final frame lacks the tail with how much it holds: %q", desc)
			}

			// 4. The full log is attached in the channel.
			var log []byte
			if !waitFor(10*time.Second, func() bool {
				for _, m := range e.fake.Messages() {
					for name, b := range m.Files {
						if strings.HasPrefix(name, "restart-api-") && strings.HasSuffix(name, ".log") {
							log = b
							return m.ChannelID == channelID
						}
					}
				}
				return false
			}) {
				t.Fatal("full log not attached")
			}
			if !strings.Contains(string(log), "line 1\n") || !strings.Contains(string(log), "line 300") {
				t.Errorf("attached log is incomplete (%d bytes)", len(log))
			}
			for _, c := range e.fake.Calls() {
				if c.Status >= 400 {
					t.Errorf("Discord refused %s %s: %d %s", c.Method, c.Path, c.Status, c.Body)
				}
			}
		})
	}
}
