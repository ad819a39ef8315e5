package slack

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/tebura/tebura/bot"
)

// hostile is text an alert label, an annotation, a param or a run's output
// may carry: every Slack control sequence and formatting character.
const hostile = "<!channel> <!here> <!everyone> <@U012AB3CD> <#C1|general> <!subteam^S1> <http://evil.example|Click to approve> &lt;!channel&gt; *bold* _it_ ~strike~ `code` ```fence``` > quote"

// textObjects walks rendered blocks and returns the text of every text
// object by type ("mrkdwn", "plain_text").
func textObjects(t *testing.T, blocks any) map[string][]string {
	t.Helper()
	raw, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if typ, ok := v["type"].(string); ok && (typ == "mrkdwn" || typ == "plain_text") {
				out[typ] = append(out[typ], v["text"].(string))
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
	return out
}

var ourLink = regexp.MustCompile(`<(https?://[^|<>\s]+)\|[^<>]*>`)

// TestRenderNeutralizesOutsideText: outside text in every field of a
// message reaches Slack with no raw control sequence in any parsed field,
// no formatting of its own, plain_text objects as given, and only http(s)
// links.
func TestRenderNeutralizesOutsideText(t *testing.T) {
	m := bot.Message{
		Header:  "Incident #1: " + hostile,
		Text:    []string{"*" + bot.Verbatim(hostile) + "*", "Severity " + bot.Verbatim(hostile) + "."},
		Fields:  []bot.Field{{Label: "Labels", Value: "service=" + hostile}, {Label: hostile, Value: "x"}},
		Code:    &bot.Code{Title: hostile, Text: hostile + "\n```\n<!channel>"},
		Context: "incident #1 · " + bot.Verbatim(hostile),
		Links: []bot.Link{
			{Label: hostile, URL: "https://ok.example/runbook?a=1&b=<2>|x"},
			{Label: "js", URL: "javascript:alert(1)"},
			{Label: "slack", URL: "slack://channel?id=C1"},
			{Label: "data", URL: "data:text/html,hi"},
		},
		Buttons: []bot.Button{{Label: hostile, ActionID: "ack", CallbackID: "cb1"}},
	}
	r := Render(m)
	objs := textObjects(t, r.Blocks)
	parsed := append([]string{r.Text}, objs["mrkdwn"]...)
	for _, s := range parsed {
		rest := s
		for _, l := range ourLink.FindAllStringSubmatch(s, -1) {
			if !strings.HasPrefix(l[1], "https://ok.example/") {
				t.Errorf("link to %q in %q", l[1], s)
			}
			rest = strings.Replace(rest, l[0], "", 1)
		}
		if strings.ContainsAny(rest, "<>") {
			t.Errorf("raw < or > reaches Slack in a parsed field: %q", rest)
		}
		for _, f := range []string{"*bold*", "_it_", "~strike~", "`code`", "```fence```"} {
			// Inside the code block nothing formats; only its fence matters.
			if strings.Contains(s, f) && !strings.HasPrefix(s, "```") {
				t.Errorf("%s keeps its formatting in %q", f, s)
			}
		}
		if strings.Contains(s, "\n&gt; quote") || strings.HasPrefix(s, "&gt;") {
			t.Errorf("a quote opens in %q", s)
		}
		if strings.ContainsAny(s, "\uFDD0\uFDD1") {
			t.Errorf("verbatim marks reach Slack: %q", s)
		}
	}
	if !strings.Contains(r.Text, "Incident #1: &lt;!channel&gt;") {
		t.Errorf("top-level text does not carry the escaped title: %q", r.Text)
	}
	// The code block: one fence pair, whatever the output holds.
	for _, s := range objs["mrkdwn"] {
		if strings.HasPrefix(s, "```") && strings.Count(s, "```") != 2 {
			t.Errorf("output closes the code fence: %q", s)
		}
	}
	// plain_text is not parsed: the header and the button say what was given.
	plain := strings.Join(objs["plain_text"], "\n")
	for _, want := range []string{"Incident #1: " + strings.Join(strings.Fields(hostile), " ")[:60], strings.Join(strings.Fields(hostile), " ")[:60]} {
		if !strings.Contains(plain, want) {
			t.Errorf("plain_text lacks %q as given:\n%s", want, plain)
		}
	}
	links := strings.Join(ourLink.FindAllString(strings.Join(objs["mrkdwn"], "\n"), -1), "\n")
	if strings.Count(links, "<https://") != 1 || !strings.Contains(links, "https://ok.example/runbook?a=1&amp;b=%3C2%3E%7Cx|") {
		t.Errorf("links = %q, want only the https one, its URL escaped", links)
	}
}

// TestLiteral: Slack has no escape for formatting characters; outside
// text gets look-alikes that never pair, except _ inside a word.
func TestLiteral(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"host_1:9100", "host_1:9100"},
		{"_italic_", "ˍitalicˍ"},
		{"a *b* c", "a ∗b∗ c"},
		{"~/path ~x~", "∼/path ∼x∼"},
		{"`x`", "ˋxˋ"},
		{"<!here> & co", "&lt;!here&gt; &amp; co"},
		{"> quoted\n> again", "\u200b&gt; quoted\n\u200b&gt; again"},
		{"a > b", "a &gt; b"},
	} {
		if got := literal(tc.in); got != tc.want {
			t.Errorf("literal(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
