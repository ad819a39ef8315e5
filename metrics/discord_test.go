package metrics_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/discord"
	"github.com/tebura/tebura/bot/discord/discordtest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/metrics"
)

// TestTransportUnderDiscordAdapter: the counting transport sits under the
// Discord adapter's own (which rewrites URLs and retries 429s), sees every
// attempt, and labels routes without IDs or tokens.
func TestTransportUnderDiscordAdapter(t *testing.T) {
	const guild, channel = "200000000000000001", "300000000000000001"
	fake := discordtest.New(t)
	fake.AddGuild(discordtest.Guild{ID: guild, Name: "ops", Roles: map[string]int64{guild: 0, "400000000000000001": discord.PermissionsInteger()},
		Members: map[string][]string{fake.BotID: {"400000000000000001"}}})
	fake.AddChannel(discordtest.Channel{ID: channel, GuildID: guild, Name: "ops", Type: 0})
	m := metrics.New(metrics.BuildInfo{})
	a, err := discord.New(config.Discord{
		Enabled: true, Mode: discord.ModeGateway, BotToken: config.Secret(fake.Token), ApplicationID: fake.AppID,
		GuildIDs: []string{guild}, APIURL: fake.APIURL, GatewayURL: fake.GatewayURL,
	}, discord.Deps{HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: m.Transport("discord", nil)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ref, err := a.Post(ctx, bot.Target{Channel: channel}, bot.Message{Header: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	fake.RateLimitNext(http.MethodPatch, "/channels/", 0.01, false)
	if err := a.Edit(ctx, ref, bot.Message{Header: "edited"}); err != nil {
		t.Fatal(err)
	}

	got := series(t, m, "tebura_chat_api_requests_total")
	for _, want := range []string{
		"code=200,method=POST /channels/:id/messages,platform=discord",
		"code=429,method=PATCH /channels/:id/messages/:id,platform=discord",
		"code=200,method=PATCH /channels/:id/messages/:id,platform=discord",
	} {
		if got[want].Value != 1 {
			t.Errorf("%s = %v, want 1 (all: %v)", want, got[want].Value, got)
		}
	}
	snowflake := regexp.MustCompile(`[0-9]{6,}`)
	for labels := range got {
		if snowflake.MatchString(labels) || strings.Contains(labels, fake.Token) {
			t.Errorf("label set %q carries an ID or a token", labels)
		}
	}
	if v := value(t, m, "tebura_chat_rate_limited_total", "platform=discord"); v != 1 {
		t.Errorf("rate limited = %v, want 1", v)
	}
}
