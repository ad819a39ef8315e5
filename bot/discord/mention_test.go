package discord

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/tebura/tebura/bot"
)

// hostile is text an alert, a param or a run's output may carry: Discord
// mentions, masked links, markdown, spoilers, headings and quotes.
const hostile = "@everyone @here <@123456789012345678> <@&223456789012345678> <#323456789012345678> [Click to approve](https://evil.example) **bold** _it_ ~~strike~~ ||spoiler|| `code` ```fence```\n# heading\n- item\n> quote"

// unescapedMention finds <@…>, <@&…> or <#…> whose < is not escaped.
var unescapedMention = regexp.MustCompile(`(^|[^\\])<[@#]`)

// maskedLink finds [label](url) where the [ is not escaped.
var maskedLink = regexp.MustCompile(`(^|[^\\])\[((?:\\.|[^\]\\])*)\]\(([^)\s]*)\)`)

// TestRenderNeutralizesOutsideText: outside text in every markdown field of
// the embed is literal (no unescaped mention, masked link or markdown of
// its own), links are http(s) only, and mentions are never parsed.
func TestRenderNeutralizesOutsideText(t *testing.T) {
	m := bot.Message{
		Header:  "Incident #1: " + hostile,
		Text:    []string{"*" + bot.Verbatim(hostile) + "*", "Severity " + bot.Verbatim(hostile) + "."},
		Fields:  []bot.Field{{Label: "Labels", Value: "service=" + hostile}, {Label: hostile, Value: "x"}},
		Code:    &bot.Code{Title: hostile, Text: hostile + "\n```"},
		Context: "incident #1 · " + bot.Verbatim(hostile),
		Links: []bot.Link{
			{Label: hostile, URL: "https://ok.example/runbook?a=(1)"},
			{Label: "js", URL: "javascript:alert(1)"},
			{Label: "data", URL: "data:text/html,hi"},
		},
	}
	p := render(m)
	if p.AllowedMentions == nil || len(p.AllowedMentions.Parse) != 0 {
		t.Errorf("allowed_mentions = %+v, want parse []", p.AllowedMentions)
	}
	e := p.Embeds[0]
	markdown := []string{e.Description}
	for _, f := range e.Fields {
		markdown = append(markdown, f.Name, f.Value)
	}
	for _, s := range markdown {
		code := ""
		if i := strings.Index(s, "```\n"); i >= 0 {
			s, code = s[:i], s[i:]
		}
		for _, l := range maskedLink.FindAllStringSubmatch(s, -1) {
			if l[3] != "https://ok.example/runbook?a=%281%29" {
				t.Errorf("masked link to %q in %q", l[3], s)
			}
		}
		if unescapedMention.MatchString(s) {
			t.Errorf("a mention reaches Discord unescaped in %q", s)
		}
		for _, raw := range []string{"@everyone", "@here", "**bold**", " _it_", "~~strike~~", "||spoiler||", " `code`", "\n# heading", "\n- item", "\n> quote"} {
			if strings.Contains(s, raw) {
				t.Errorf("%q reaches Discord unescaped in %q", raw, s)
			}
		}
		if code != "" && strings.Count(code, "```") != 2 {
			t.Errorf("output closes the code fence: %q", code)
		}
		if strings.ContainsAny(s, "\uFDD0\uFDD1") {
			t.Errorf("verbatim marks reach Discord: %q", s)
		}
	}
	if !strings.Contains(e.Description, "**") {
		t.Errorf("the message's own bold is lost: %q", e.Description)
	}
	// Titles and footers are plain text on Discord: shown as given.
	if !strings.HasPrefix(e.Title, "Incident #1: @everyone @here <@123456789012345678>") {
		t.Errorf("title = %q", e.Title)
	}
	if e.Footer == nil || strings.ContainsAny(e.Footer.Text, "\uFDD0\uFDD1") {
		t.Errorf("footer = %+v", e.Footer)
	}
	raw, _ := json.Marshal(p)
	for _, bad := range []string{"javascript:", "data:text"} {
		if strings.Contains(string(raw), bad) {
			t.Errorf("payload links %s", bad)
		}
	}
}

func TestTopicText(t *testing.T) {
	got := topicText("Incident #1: [approve](https://evil.example) <@1> @everyone (critical)")
	want := "Incident #1: \\[approve\\](https://evil.example) \\<@1\\> @\u200beveryone (critical)"
	if got != want {
		t.Errorf("topicText = %q, want %q", got, want)
	}
}
