package discord

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/discord/discordtest"
	"github.com/tebura/tebura/config"
)

func TestSlug(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"INC-42 DB down!", "inc-42-db-down"},
		{"  --Äpfel  & Birnen__ ", "pfel-birnen__"},
		{"", "incident"},
		{"!!!", "incident"},
		{strings.Repeat("a", 150), strings.Repeat("a", 100)},
	}
	for _, tc := range tests {
		if got := Slug(tc.in); got != tc.want {
			t.Errorf("Slug(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := withSuffix(strings.Repeat("a", 100), 12); len(got) != 100 || !strings.HasSuffix(got, "-12") {
		t.Errorf("withSuffix keeps 100 chars: %q", got)
	}
}

func TestCreateChannelCollisionSafeAndSerialized(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeHTTP)
	e.fake.AddChannel(discordtest.Channel{ID: "300000000000000010", GuildID: guildID, Name: "inc-42-db-down", Type: 0})
	ctx := context.Background()

	ch, err := e.a.CreateChannel(ctx, bot.ChannelSpec{Name: "INC-42 DB down", Topic: "SEV2 · API 5xx"})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Name != "inc-42-db-down-2" || !strings.HasPrefix(ch.URL, "https://discord.com/channels/"+guildID+"/") {
		t.Errorf("channel = %+v, want inc-42-db-down-2 with a URL", ch)
	}
	got, _ := e.fake.Channel(ch.ID)
	if got.ParentID != categoryID || got.Topic != "SEV2 · API 5xx" {
		t.Errorf("created %+v, want it in the incident category with the topic", got)
	}

	// Concurrent creates of one name get distinct names.
	var wg sync.WaitGroup
	names := make([]string, 5)
	for i := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := e.a.CreateChannel(ctx, bot.ChannelSpec{Name: "inc-43"})
			if err != nil {
				t.Error(err)
			}
			names[i] = c.Name
		}()
	}
	wg.Wait()
	slices.Sort(names)
	want := []string{"inc-43", "inc-43-2", "inc-43-3", "inc-43-4", "inc-43-5"}
	if !slices.Equal(names, want) {
		t.Errorf("concurrent names = %v, want %v", names, want)
	}
}

func TestPrivateChannelInviteTopicArchive(t *testing.T) {
	t.Parallel()
	for _, archive := range []string{archiveID, ""} {
		t.Run("archive="+archive, func(t *testing.T) {
			e := newEnv(t, ModeHTTP, func(c *config.Discord, _ *Deps) { c.ArchiveCategory = archive })
			ctx := context.Background()
			ch, err := e.a.CreateChannel(ctx, bot.ChannelSpec{Name: "inc-7", Private: true})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := e.fake.Channel(ch.ID)
			if len(got.Overwrites) != 2 || got.Overwrites[0].ID != guildID || got.Overwrites[0].Deny != fmt.Sprint(permViewChannel) || got.Overwrites[1].ID != e.fake.BotID {
				t.Errorf("private channel overwrites = %+v", got.Overwrites)
			}
			err = e.a.Invite(ctx, ch.ID, []string{"discord:" + aliceID, "discord-role:" + approverRID, "slack:U1", "console:bob"})
			if err != nil {
				t.Fatal(err)
			}
			got, _ = e.fake.Channel(ch.ID)
			byID := map[string]discordtest.Overwrite{}
			for _, o := range got.Overwrites {
				byID[o.ID] = o
			}
			allow := fmt.Sprint(permViewChannel | permSendMessages)
			if o := byID[aliceID]; o.Type != 1 || o.Allow != allow {
				t.Errorf("user overwrite = %+v", o)
			}
			if o := byID[approverRID]; o.Type != 0 || o.Allow != allow {
				t.Errorf("role overwrite = %+v", o)
			}
			if len(got.Overwrites) != 4 {
				t.Errorf("other platforms' identities were not skipped: %+v", got.Overwrites)
			}
			if err := e.a.SetTopic(ctx, ch.ID, strings.Repeat("t", 2000)); err != nil {
				t.Fatalf("a long topic is cut, not refused: %v", err)
			}
			if err := e.a.Archive(ctx, ch.ID); err != nil {
				t.Fatal(err)
			}
			got, _ = e.fake.Channel(ch.ID)
			if archive != "" && got.ParentID != archive {
				t.Errorf("archived channel parent = %q, want the archive category", got.ParentID)
			}
			if archive == "" {
				o := byID[guildID]
				for _, x := range got.Overwrites {
					if x.ID == guildID {
						o = x
					}
				}
				if o.Deny != fmt.Sprint(permSendMessages) {
					t.Errorf("locked channel @everyone overwrite = %+v, want SEND_MESSAGES denied", o)
				}
			}
		})
	}
}

func TestUpload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeHTTP)
	ctx := context.Background()
	small := []byte("line 1\nline 2\n")
	if err := e.a.Upload(ctx, bot.Target{Channel: channelID}, bot.File{Name: "r1.log", Title: "Full log of r1", Content: small}); err != nil {
		t.Fatal(err)
	}
	var big bytes.Buffer
	for i := 0; big.Len() < MaxUpload+2<<20; i++ {
		fmt.Fprintf(&big, "output line %d of a long run ✓\n", i)
	}
	if err := e.a.Upload(ctx, bot.Target{Channel: channelID}, bot.File{Name: "r2.log", Content: big.Bytes()}); err != nil {
		t.Fatalf("a log above the limit is truncated, not refused: %v", err)
	}
	var files = map[string][]byte{}
	for _, m := range e.fake.Messages() {
		for n, b := range m.Files {
			files[n] = b
		}
	}
	if !bytes.Equal(files["r1.log"], small) {
		t.Errorf("small file = %q", files["r1.log"])
	}
	got := files["r2.log"]
	if len(got) > MaxUpload || len(got) < MaxUpload-4096 {
		t.Errorf("truncated file is %d bytes, want just under %d", len(got), MaxUpload)
	}
	if !bytes.HasPrefix(got, []byte("[tebura: the first ")) || !bytes.HasSuffix(got, big.Bytes()[big.Len()-200:]) {
		t.Errorf("truncated file lacks the marker or the end of the log: %q … %q", got[:80], got[len(got)-80:])
	}
	// Refusal by the fake shows the limit is real.
	if err := discordtest.Validate([]byte(`{"content":"` + strings.Repeat("x", 2001) + `"}`)); err == nil {
		t.Error("fake accepts content above 2000")
	}
}

func TestDoctor(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("healthy", func(t *testing.T) {
		e := newEnv(t, ModeHTTP, func(c *config.Discord, _ *Deps) { c.ArchiveCategory = archiveID })
		if err := e.a.Register(ctx); err != nil {
			t.Fatal(err)
		}
		checks := e.a.Doctor(ctx)
		for _, c := range checks {
			if !c.OK {
				t.Errorf("check %q failed: %s", c.Name, c.Detail)
			}
		}
		if len(checks) < 6 {
			t.Errorf("only %d checks: %+v", len(checks), checks)
		}
	})
	t.Run("missing permissions, unknown guild, no commands", func(t *testing.T) {
		e := newEnv(t, ModeHTTP, func(c *config.Discord, _ *Deps) {
			c.GuildIDs = []string{guildID, "200000000000000099"}
		})
		e.fake.AddGuild(discordtest.Guild{ID: guildID, Name: "ops", OwnerID: "999",
			Roles:   map[string]int64{guildID: permViewChannel | permSendMessages, botRoleID: permEmbedLinks},
			Members: map[string][]string{e.fake.BotID: {botRoleID}}})
		failed := map[string]string{}
		for _, c := range e.a.Doctor(ctx) {
			if !c.OK {
				failed[c.Name] = c.Detail
			}
		}
		perm := failed["discord guild "+guildID+" permissions"]
		if !strings.Contains(perm, "ATTACH_FILES") || !strings.Contains(perm, "MANAGE_CHANNELS") || strings.Contains(perm, "EMBED_LINKS") {
			t.Errorf("permission check = %q", perm)
		}
		if d := failed["discord guild 200000000000000099"]; !strings.Contains(d, "scope=bot+applications.commands") {
			t.Errorf("unknown guild check = %q, want the invite URL", d)
		}
		if d := failed["discord commands in guild "+guildID]; !strings.Contains(d, "/runbook") {
			t.Errorf("commands check = %q", d)
		}
	})
	t.Run("bad token", func(t *testing.T) {
		e := newEnv(t, ModeHTTP)
		e.fake.Token = "other"
		checks := e.a.Doctor(ctx)
		if len(checks) != 1 || checks[0].OK || !strings.Contains(checks[0].Detail, "discord.bot_token") {
			t.Errorf("checks = %+v", checks)
		}
	})
}

func TestInviteURL(t *testing.T) {
	t.Parallel()
	got := InviteURL("123")
	want := fmt.Sprintf("https://discord.com/oauth2/authorize?client_id=123&scope=bot+applications.commands&permissions=%d", PermissionsInteger())
	if got != want || PermissionsInteger() != 268487696 {
		t.Errorf("InviteURL = %s (permissions %d)", got, PermissionsInteger())
	}
}
