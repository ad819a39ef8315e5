package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/discord"
	"github.com/tebura/tebura/bot/discord/discordtest"
	"github.com/tebura/tebura/bot/slack/slacktest"
)

// Control sequences of both platforms and the formatting characters of
// both, as an alert label, an annotation, a param or a run's output may
// carry them.
const (
	slackControls   = "<!channel> <!here> <!everyone> <@U0EVIL1> <#C0EVIL1|general> <!subteam^S0EVIL1> <http://evil.example|Click to approve> <javascript:alert(1)|Open>"
	discordControls = "@everyone @here <@500000000000000666> <@&400000000000000666> <#300000000000000666> [Click to approve](https://evil.example/approve) <https://evil.example/raw>"
	formatting      = "*bold* _it_ ~strike~ `code` ||spoiler||"
	hostile         = slackControls + " " + discordControls + " " + formatting
)

// echoBook prints its param and a run output full of control sequences:
// ANSI colours, a code fence, mentions.
const echoBook = `name: echo-it
description: Echo what it is given
kind: diagnostic
params:
  - {name: msg, type: string, required: true}
allow: [dev]
timeout: 30s
steps:
  - name: echo
    run: [/bin/sh, -c, 'printf "%s\n" "$TEBURA_PARAM_MSG"; printf "\033[31m<!channel> @everyone\033[0m\n\140\140\140\n[pwn](javascript:alert(1)) <@U0EVIL2>\n"']
`

// hostileAlert is an Alertmanager notification whose every field that
// reaches chat carries the control sequences, and whose links are of
// schemes that must never become links.
func hostileAlert(t *testing.T) []byte {
	t.Helper()
	labels := map[string]string{
		"alertname": "Evil " + hostile, "service": hostile, "severity": hostile,
		"env": hostile, "instance": hostile, "team": "ops",
	}
	now := time.Now().UTC()
	alert := map[string]any{
		"status": "firing", "labels": labels,
		"annotations": map[string]string{
			"summary": hostile, "description": hostile + "\n# heading\n- item\n> quote",
			"runbook_url": "javascript:alert(document.cookie)", "dashboard": "data:text/html,<script>alert(1)</script>",
		},
		"startsAt": now.Add(-time.Minute).Format(time.RFC3339), "endsAt": "0001-01-01T00:00:00Z",
		"generatorURL": "javascript:alert(2)", "fingerprint": "e1e1e1e1e1e1e1e1",
		"silenceURL": "slack://channel?team=T1&id=C1", "dashboardURL": "file:///etc/passwd",
		"panelURL": "vbscript:msgbox(1)", "imageURL": "https://images.example/panel.png?a=1&b=<!channel>",
	}
	b, err := json.Marshal(map[string]any{
		"version": "4", "groupKey": `{}:{team="ops"}`, "status": "firing", "receiver": "tebura",
		"groupLabels": map[string]string{"team": "ops"}, "commonLabels": labels,
		"commonAnnotations": map[string]string{"summary": hostile},
		"externalURL":       "https://alertmanager.example/#/alerts?filter=<!here>",
		"alerts":            []any{alert},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const mentionIncidents = `sources:
  alertmanager: {bearer_token: am-bearer-token-1}
automations:
  - name: echo
    match: ['team="ops"']
    diagnostics: [echo-it]
    params: {msg: '{{ .Labels.service }}'}
`

// TestNoMentionsFromOutside sends every Slack and Discord control
// sequence through every field an alert (title, labels, annotations,
// severity, links), a param and a run's output can reach, through the
// real server against the fake Slack and the fake Discord, and checks
// what each fake received: no raw mention, channel link or masked link in
// any field the platform parses, no formatting of outside text, plain
// text left as given, allowed_mentions parse [] on every Discord message,
// and no link that is not http(s).
func TestNoMentionsFromOutside(t *testing.T) {
	t.Run("slack", testSlackMentions)
	t.Run("discord", testDiscordMentions)
}

func testSlackMentions(t *testing.T) {
	cleanEnv(t)
	const signingSecret = "mention-test-signing-secret"
	api := slacktest.New()
	t.Cleanup(api.Close)
	api.AddChannel("C1", "general", true)
	cfg := strings.Replace(baseConfig(mentionIncidents+"incidents: {announce_channel: C1}\n"+
		"slack: {enabled: true, mode: http, bot_token: "+slacktest.BotToken+", signing_secret: "+signingSecret+", api_url: "+api.URL+"}\n"),
		"dev: {members: [console:alice]}", "dev: {members: [console:alice, slack:U0ALICE]}", 1)
	dir := writeTree(t, map[string]string{"rb/echo.yaml": echoBook, "tebura.yaml": cfg})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "error")

	if code := post(t, ts.base+"/hooks/alertmanager", hostileAlert(t), "Authorization", "Bearer am-bearer-token-1"); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	waitSlack(t, api, "the diagnostic's last frame", "echo-it — succeeded")

	// The same through a param typed in a slash command.
	form := url.Values{"command": {"/runbook"}, "text": {`run echo-it msg="` + hostile + `"`}, "user_id": {"U0ALICE"}, "user_name": {"alice"},
		"channel_id": {"C1"}, "team_id": {slacktest.TeamID}, "response_url": {api.ResponseURL()}, "trigger_id": {slacktest.TriggerID()}}
	if code := slashSigned(t, ts.base, signingSecret, form); code != http.StatusOK {
		t.Fatalf("slash command answered %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for countSlack(api, "echo-it — succeeded") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the slash command's run never finished on Slack")
		}
		time.Sleep(5 * time.Millisecond)
	}
	ts.stop(t)

	var parsed, plain []string
	add := func(where, s string) { parsed = append(parsed, where+": "+s) }
	for _, c := range api.Calls() {
		for _, k := range []string{"text", "topic", "purpose", "initial_comment", "title"} {
			if v := c.Form.Get(k); v != "" {
				add(c.Method+" "+k, v)
			}
		}
		if b := c.Form.Get("blocks"); b != "" {
			mrkdwn, pt := slackTexts(t, []byte(b))
			for _, s := range mrkdwn {
				add(c.Method+" mrkdwn", s)
			}
			plain = append(plain, pt...)
		}
		if f := c.Form.Get("files"); f != "" {
			var fs []struct{ Title string }
			_ = json.Unmarshal([]byte(f), &fs)
			for _, x := range fs {
				add(c.Method+" file title", x.Title)
			}
		}
	}
	for _, r := range api.Responses() {
		add("response_url text", r.Text)
		mrkdwn, pt := slackTexts(t, r.Blocks)
		for _, s := range mrkdwn {
			add("response_url mrkdwn", s)
		}
		plain = append(plain, pt...)
	}
	all := strings.Join(parsed, "\n")
	for _, want := range []string{
		"conversations.setTopic topic: Incident #1: Evil &lt;!channel&gt;",       // title
		"chat.postMessage text: Incident #1: Evil &lt;!channel&gt;",              // notification text
		"service=&lt;!channel&gt; &lt;!here&gt;",                                 // labels
		"severity=&lt;!channel&gt;",                                              // the severity label; the incident falls back to the default severity
		"*&lt;!channel&gt;",                                                      // summary, literal inside its bold
		"&lt;@U0EVIL2&gt;",                                                       // run output
		"msg='&lt;!channel&gt;",                                                  // param
		"<https://alertmanager.example/#/alerts?filter=%3C!here%3E|Alert group>", // and another
		"[pwn](javascript:alert(1))",                                             // output shown, as text
	} {
		if !strings.Contains(all, want) {
			t.Errorf("Slack never received %q; the test would prove nothing", want)
		}
	}
	link := regexp.MustCompile(`<([^<>|]*)\|[^<>]*>`)
	for _, s := range parsed {
		rest := s
		for _, m := range link.FindAllStringSubmatch(s, -1) {
			if !strings.HasPrefix(m[1], "https://") && !strings.HasPrefix(m[1], "http://") {
				t.Errorf("a %q link reaches Slack: %s", m[1], s)
			}
			rest = strings.Replace(rest, m[0], "", 1)
		}
		if strings.ContainsAny(rest, "<>") {
			t.Errorf("a raw control sequence reaches Slack in a parsed field: %s", rest)
		}
		if strings.Contains(s, "```") {
			if strings.Count(s, "```") != 2 {
				t.Errorf("run output closes its code fence: %s", s)
			}
			continue // formatting characters are inert in a code block
		}
		for _, f := range []string{"*bold*", "_it_", "~strike~", "`code`"} {
			if strings.Contains(s, f) {
				t.Errorf("outside text keeps its formatting %s: %s", f, s)
			}
		}
	}
	// plain_text is not parsed and stays as given: the card's header.
	if !strings.Contains(strings.Join(plain, "\n"), "Incident #1: Evil <!channel> <!here> <!everyone>") {
		t.Errorf("the header was not left as given in plain_text:\n%s", strings.Join(plain, "\n"))
	}
}

// slashSigned posts a signed slash command and returns the status.
func slashSigned(t *testing.T, base, secret string, form url.Values) int {
	t.Helper()
	body := form.Encode()
	stamp := fmt.Sprint(time.Now().Unix())
	return post(t, base+"/slack/commands", []byte(body), "Content-Type", "application/x-www-form-urlencoded",
		"X-Slack-Request-Timestamp", stamp, "X-Slack-Signature", "v0="+hexHMAC(secret, "v0:"+stamp+":"+body))
}

func hexHMAC(secret, msg string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(msg))
	return hex.EncodeToString(mac.Sum(nil))
}

// countSlack counts the calls and response_url bodies that carry s.
func countSlack(api *slacktest.Server, s string) int {
	n := 0
	for _, c := range api.Calls() {
		if strings.Contains(c.Form.Get("blocks"), s) {
			n++
		}
	}
	for _, r := range api.Responses() {
		if strings.Contains(string(r.Blocks), s) {
			n++
		}
	}
	return n
}

// slackTexts returns the texts of the mrkdwn and the plain_text objects
// of Block Kit blocks.
func slackTexts(t *testing.T, blocks []byte) (mrkdwn, plain []string) {
	t.Helper()
	if len(blocks) == 0 {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(blocks, &v); err != nil {
		t.Fatalf("blocks do not decode: %v", err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			switch v["type"] {
			case "mrkdwn":
				mrkdwn = append(mrkdwn, v["text"].(string))
			case "plain_text":
				plain = append(plain, v["text"].(string))
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(v)
	return mrkdwn, plain
}

// IDs of the fake Discord.
const (
	mGuild    = "200000000000000001"
	mAnnounce = "300000000000000001"
	mBotRole  = "400000000000000009"
	mAlice    = "500000000000000001"
)

func testDiscordMentions(t *testing.T) {
	cleanEnv(t)
	fake := discordtest.New(t)
	fake.AddGuild(discordtest.Guild{
		ID: mGuild, Name: "ops", OwnerID: "999",
		Roles:   map[string]int64{mGuild: 0, mBotRole: discord.PermissionsInteger()},
		Members: map[string][]string{fake.BotID: {mBotRole}, mAlice: {}},
	})
	fake.AddChannel(discordtest.Channel{ID: mAnnounce, GuildID: mGuild, Name: "incidents", Type: 0})
	cfg := strings.Replace(baseConfig(mentionIncidents+
		"discord: {enabled: true, mode: gateway, bot_token: "+fake.Token+", application_id: \""+fake.AppID+"\", guild_ids: [\""+mGuild+"\"], api_url: "+fake.APIURL+", gateway_url: "+fake.GatewayURL+", channels: {incidents: \""+mAnnounce+"\"}}\n"),
		"dev: {members: [console:alice]}", "dev: {members: [console:alice, \"discord:"+mAlice+"\"]}", 1)
	cfg = strings.Replace(cfg, `console: {enabled: "true", user: alice, channel: console}`, `console: {enabled: auto}`, 1)
	dir := writeTree(t, map[string]string{"rb/echo.yaml": echoBook, "tebura.yaml": cfg})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "error")

	if code := post(t, ts.base+"/hooks/alertmanager", hostileAlert(t), "Authorization", "Bearer am-bearer-token-1"); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	waitDiscord(t, fake, "the diagnostic's last frame", "echo-it — succeeded", 1)
	// The same through a param typed in a slash command.
	alice := discordtest.Invoker{GuildID: mGuild, ChannelID: mAnnounce, UserID: mAlice, Name: "alice"}
	if err := fake.Dispatch(fake.NewCommand(alice, "runbook", "run",
		discordtest.Option{Name: "name", Value: "echo-it"}, discordtest.Option{Name: "args", Value: `msg="` + hostile + `"`})); err != nil {
		t.Fatal(err)
	}
	waitDiscord(t, fake, "the slash command's last frame", "echo-it — succeeded", 2)
	ts.stop(t)

	var markdown []string // fields Discord reads markdown and mentions in
	var messages int
	for _, c := range fake.Calls() {
		if len(c.Body) == 0 || c.Body[0] != '{' {
			continue
		}
		var body map[string]any
		if err := json.Unmarshal(c.Body, &body); err != nil {
			t.Fatalf("%s %s: body does not decode: %v", c.Method, c.Path, err)
		}
		if topic, ok := body["topic"].(string); ok {
			markdown = append(markdown, "topic: "+topic)
		}
		msg := body
		if d, ok := body["data"].(map[string]any); ok { // an interaction response
			msg = d
		}
		_, hasContent := msg["content"]
		_, hasEmbeds := msg["embeds"]
		if !hasContent && !hasEmbeds {
			continue
		}
		messages++
		am, _ := msg["allowed_mentions"].(map[string]any)
		if parse, ok := am["parse"].([]any); !ok || len(parse) != 0 {
			t.Errorf("%s %s: allowed_mentions = %v, want parse []", c.Method, c.Path, msg["allowed_mentions"])
		}
		if s, _ := msg["content"].(string); s != "" {
			markdown = append(markdown, "content: "+s)
		}
		embeds, _ := msg["embeds"].([]any)
		for _, e := range embeds {
			e := e.(map[string]any)
			if s, _ := e["description"].(string); s != "" {
				markdown = append(markdown, "description: "+s)
			}
			fields, _ := e["fields"].([]any)
			for _, f := range fields {
				f := f.(map[string]any)
				markdown = append(markdown, "field name: "+f["name"].(string), "field value: "+f["value"].(string))
			}
		}
	}
	if messages < 4 {
		t.Fatalf("only %d messages reached Discord; the test would prove nothing", messages)
	}
	all := strings.Join(markdown, "\n")
	for _, want := range []string{
		`topic: Incident #1: Evil \<!channel\>`, // title
		`service=\<!channel\>`,                  // labels
		`@` + "\u200b" + `everyone`,             // neutralized
		`\[Click to approve\](https://evil.example/approve)`,
		"```\n==> step 1/1: echo\n<!channel> <!here> <!everyone> <@U0EVIL1>", // run output, as printed, inside its code block
		`msg='\<!channel\>`,                                                  // param
		`[Alert group](https://alertmanager.example/#/alerts?filter=%3C!here%3E)`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("Discord never received %q; the test would prove nothing", want)
		}
	}
	masked := regexp.MustCompile(`(^|[^\\])\[((?:\\.|[^\]\\])*)\]\(([^)\s]*)\)`)
	mention := regexp.MustCompile(`(^|[^\\])<[@#]|@(everyone|here)`)
	for _, s := range markdown {
		prose, code := s, ""
		if i := strings.Index(s, "```\n"); i >= 0 {
			prose, code = s[:i], s[i:]
			if n := strings.Count(code, "```"); n != 2 {
				t.Errorf("run output closes its code fence (%d fences): %s", n, s)
			}
		}
		for _, m := range masked.FindAllStringSubmatch(prose, -1) {
			if !strings.HasPrefix(m[3], "https://discord.com/channels/") && !strings.HasPrefix(m[3], "https://alertmanager.example/") {
				t.Errorf("a masked link to %q reaches Discord: %s", m[3], s)
			}
		}
		if mention.MatchString(prose) {
			t.Errorf("a mention reaches Discord unescaped: %s", s)
		}
		for _, f := range []string{" *bold*", " _it_", " ~strike~", " `code`", " ||spoiler||", "\n# heading", "\n- item", "\n> quote"} {
			if strings.Contains(prose, f) {
				t.Errorf("outside text keeps its formatting %q: %s", f, s)
			}
		}
		for _, bad := range []string{"javascript:alert(document", "data:text/html", "slack://", "file:///", "vbscript:"} {
			if strings.Contains(prose, "("+bad) {
				t.Errorf("a %s link reaches Discord: %s", bad, s)
			}
		}
	}
}

// waitDiscord waits until n message bodies sent to the fake Discord carry
// text.
func waitDiscord(t *testing.T, fake *discordtest.Server, what, text string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		seen := 0
		for _, m := range fake.Messages() {
			b, _ := json.Marshal(m.Message)
			if strings.Contains(string(b), text) {
				seen++
			}
		}
		if seen >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s on Discord (%d calls)", what, len(fake.Calls()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
