package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/tebura/tebura/bot"
)

// Block Kit limits. Each is enforced by the renderer so that Slack never
// answers invalid_blocks or msg_blocks_too_long for a message Tebura built.
const (
	// MaxBlocks is the number of blocks a message may carry.
	// https://docs.slack.dev/reference/block-kit/blocks
	MaxBlocks = 50
	// MaxSectionText is the length of a section block's text.
	// https://docs.slack.dev/reference/block-kit/blocks/section-block
	MaxSectionText = 3000
	// MaxSectionFields is the number of fields of one section block.
	// https://docs.slack.dev/reference/block-kit/blocks/section-block
	MaxSectionFields = 10
	// MaxFieldText is the length of one section field.
	// https://docs.slack.dev/reference/block-kit/blocks/section-block
	MaxFieldText = 2000
	// MaxHeaderText is the length of a header block's text.
	// https://docs.slack.dev/reference/block-kit/blocks/header-block (python-slack-sdk blocks.py)
	MaxHeaderText = 150
	// MaxButtonText is the length of a button's label.
	// https://docs.slack.dev/reference/block-kit/block-elements/button-element
	MaxButtonText = 75
	// MaxButtonValue is the length of a button's value (our callback ID).
	// https://docs.slack.dev/reference/block-kit/block-elements/button-element
	MaxButtonValue = 2000
	// MaxActionID is the length of an action_id.
	// https://docs.slack.dev/reference/block-kit/block-elements/button-element
	MaxActionID = 255
	// MaxActionElements is the number of elements of one actions block.
	// https://docs.slack.dev/reference/block-kit/blocks/actions-block (python-slack-sdk blocks.py)
	MaxActionElements = 25
	// MaxContextElements is the number of elements of one context block.
	// https://docs.slack.dev/reference/block-kit/blocks/context-block (python-slack-sdk blocks.py)
	MaxContextElements = 10
	// MaxTotalText is the practical limit on all block text together: Slack
	// answers msg_blocks_too_long well below the per-block sums (~13k seen).
	// https://github.com/slackapi/bolt-js/issues/2509
	MaxTotalText = 12000
	// MaxFallbackText bounds the top-level text; Slack truncates at 40,000.
	// https://api.slack.com/changelog/2018-04-truncating-really-long-messages
	MaxFallbackText = 3000
)

// Rendered is a bot.Message in Slack's terms: the fallback text shown in
// notifications and the Block Kit blocks.
type Rendered struct {
	Text   string        `json:"text"`
	Blocks []slack.Block `json:"blocks"`
}

// limits is what the adapter declares through bot.Limited, so that bot.Fit
// trims before rendering. The renderer still enforces the hard limits.
func limits() bot.Limits {
	return bot.Limits{
		Header:     MaxHeaderText,
		Text:       MaxSectionText * 2,
		FieldValue: MaxFieldText - 100,
		Fields:     MaxSectionFields * 2,
		Code:       MaxSectionText - 200,
		Buttons:    MaxActionElements,
		ButtonText: MaxButtonText,
		Total:      MaxTotalText - 1000,
	}
}

// levelEmoji is the header prefix that gives a message its tone.
func levelEmoji(l bot.Level) string {
	switch l {
	case bot.LevelSuccess:
		return ":white_check_mark: "
	case bot.LevelWarning:
		return ":warning: "
	case bot.LevelDanger:
		return ":x: "
	}
	return ""
}

// Render turns a message into Block Kit. It never fails: whatever does not
// fit is trimmed with a visible marker, and the result always satisfies the
// limits above.
func Render(m bot.Message) Rendered {
	m = bot.Fit(m, limits())
	var blocks []slack.Block
	budget := MaxTotalText

	header := strings.TrimSpace(oneLine(bot.Unmark(m.Header)))
	if header != "" {
		h := truncate(levelEmoji(m.Level)+header, MaxHeaderText)
		budget -= utf8.RuneCountInString(h)
		blocks = append(blocks, slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, h, true, false)))
	}

	// Buttons, context and links are small and matter most: reserve them
	// first so that a long code block is what gets trimmed.
	var tail []slack.Block
	if len(m.Links) > 0 {
		parts := make([]string, 0, len(m.Links))
		for _, l := range m.Links {
			if !bot.LinkURL(l.URL) {
				continue
			}
			label := oneLine(bot.Unmark(l.Label))
			if label == "" {
				label = l.URL
			}
			parts = append(parts, fmt.Sprintf("<%s|%s>", escapeURL(l.URL), literal(label)))
		}
		if len(parts) > 0 {
			t := truncate(strings.Join(parts, " · "), MaxSectionText)
			budget -= utf8.RuneCountInString(t)
			tail = append(tail, section(t))
		}
	}
	if len(m.Buttons) > 0 {
		var elems []slack.BlockElement
		ids := map[string]bool{}
		for i, b := range m.Buttons {
			if i == MaxActionElements {
				break
			}
			label := truncate(oneLine(bot.Unmark(b.Label)), MaxButtonText)
			budget -= utf8.RuneCountInString(label)
			btn := slack.NewButtonBlockElement(uniqueActionID(b.ActionID, i, ids), truncateBytes(b.CallbackID, MaxButtonValue),
				slack.NewTextBlockObject(slack.PlainTextType, label, true, false))
			switch b.Style {
			case bot.StylePrimary:
				btn.Style = slack.StylePrimary
			case bot.StyleDanger:
				btn.Style = slack.StyleDanger
			}
			elems = append(elems, btn)
		}
		tail = append(tail, slack.NewActionBlock("", elems...))
	}
	if c := strings.TrimSpace(m.Context); c != "" {
		t := truncate(mrkdwn(c), MaxSectionText)
		budget -= utf8.RuneCountInString(t)
		tail = append(tail, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, t, false, false)))
	}

	// Blocks left for the body, leaving room for one trim marker.
	room := MaxBlocks - len(blocks) - len(tail) - 1

	// Code is rendered last in the body but its budget is decided after the
	// paragraphs and fields, which are usually short; keep some room for it.
	const codeReserve = 300
	if m.Code != nil {
		budget -= codeReserve
	}
	var body []slack.Block
	for _, p := range m.Text {
		for _, chunk := range splitRunes(mrkdwn(p), MaxSectionText) {
			if room <= 0 || budget <= 0 {
				break
			}
			chunk = truncate(chunk, budget)
			budget -= utf8.RuneCountInString(chunk)
			body = append(body, section(chunk))
			room--
		}
	}
	if len(m.Fields) > 0 {
		var fields []*slack.TextBlockObject
		flush := func() {
			if len(fields) > 0 && room > 0 {
				body = append(body, slack.NewSectionBlock(nil, fields, nil))
				room--
			}
			fields = nil
		}
		for _, f := range m.Fields {
			t := truncate(fmt.Sprintf("*%s*\n%s", literal(oneLine(bot.Unmark(f.Label))), literal(bot.Unmark(f.Value))), min(MaxFieldText, max(budget, 0)))
			if t == "" {
				break
			}
			budget -= utf8.RuneCountInString(t)
			fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType, t, false, false))
			if len(fields) == MaxSectionFields {
				flush()
			}
		}
		flush()
	}
	if m.Code != nil && room > 0 {
		if t := strings.TrimSpace(m.Code.Title); t != "" && room > 1 {
			t = truncate(literal(oneLine(bot.Unmark(t))), min(MaxSectionText, max(budget, 1)))
			budget -= utf8.RuneCountInString(t)
			body = append(body, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, t, false, false)))
			room--
		}
		body = append(body, section(codeBlock(m.Code, min(MaxSectionText, max(budget, 0)+codeReserve))))
	}

	blocks = append(blocks, body...)
	blocks = append(blocks, tail...)
	return Rendered{Text: fallback(m), Blocks: blocks}
}

// JSON is the rendered message as Slack receives it, for golden files and
// response_url bodies.
func (r Rendered) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return bytes.TrimSpace(b.Bytes()), nil
}

func section(mrkdwn string) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, mrkdwn, false, false), nil, nil)
}

// codeBlock renders a code block within n characters, fences included:
// escaped, ANSI stripped, backticks kept from closing the fence, and trimmed at the top (a log tail) or the bottom
// with a line saying how much was cut.
func codeBlock(c *bot.Code, n int) string {
	const fence = "```"
	lines := strings.Split(strings.TrimRight(bot.StripANSI(bot.Unmark(c.Text)), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.ReplaceAll(escape(l), "`", "`"+zwsp)
	}
	limit := n - 2*len(fence) - 2 // fences and the newlines inside them
	total := 0
	for _, l := range lines {
		total += utf8.RuneCountInString(l) + 1
	}
	if total-1 <= limit {
		return fence + "\n" + strings.Join(lines, "\n") + "\n" + fence
	}
	// Keep whole lines while they fit, leaving room for the marker.
	keep := limit - 40
	var kept []string
	used := 0
	if c.Tail {
		for i := len(lines) - 1; i >= 0; i-- {
			w := utf8.RuneCountInString(lines[i]) + 1
			if used+w > keep {
				if len(kept) == 0 { // one huge line: keep its end
					kept = append(kept, "…"+lastRunes(lines[i], keep-1))
					i--
				}
				kept = reverse(kept)
				return fence + "\n" + fmt.Sprintf("… %d lines above", i+1) + "\n" + strings.Join(kept, "\n") + "\n" + fence
			}
			kept = append(kept, lines[i])
			used += w
		}
	}
	for i, l := range lines {
		w := utf8.RuneCountInString(l) + 1
		if used+w > keep {
			if len(kept) == 0 {
				kept = append(kept, truncate(l, keep))
				i++
			}
			return fence + "\n" + strings.Join(kept, "\n") + "\n" + fmt.Sprintf("… %d more lines", len(lines)-i) + "\n" + fence
		}
		kept = append(kept, l)
		used += w
	}
	return fence + "\n" + strings.Join(kept, "\n") + "\n" + fence
}

// fallback is the top-level text: shown in notifications and by clients
// that cannot render blocks. Slack parses it like mrkdwn, mentions
// included, so the header (an incident's title) is escaped here too.
func fallback(m bot.Message) string {
	var parts []string
	if h := strings.TrimSpace(oneLine(bot.Unmark(m.Header))); h != "" {
		parts = append(parts, literal(h))
	}
	if len(m.Text) > 0 {
		parts = append(parts, mrkdwn(oneLine(m.Text[0])))
	}
	if len(parts) == 0 && m.Code != nil {
		parts = append(parts, literal(oneLine(bot.StripANSI(bot.Unmark(m.Code.Title)))))
	}
	if len(parts) == 0 || strings.TrimSpace(strings.Join(parts, "")) == "" {
		parts = []string{"Tebura"}
	}
	return truncate(strings.Join(parts, ": "), MaxFallbackText)
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape makes &, < and > literal for every field Slack parses (top-level
// text, mrkdwn, topics): they open mentions (<!channel>, <@U1>), channel
// links and <url|label> links there.
// https://docs.slack.dev/messaging/formatting-message-text
func escape(s string) string { return escaper.Replace(s) }

// zwsp (zero-width space) after a backtick keeps a code block's text from
// closing its fence.
const zwsp = "\u200b"

// mrkdwn renders text whose own words may be lightly formatted: escaped,
// with its bot.Verbatim spans made literal.
func mrkdwn(s string) string { return bot.MapSpans(s, escape, literal) }

// literal renders outside text (labels, params, annotations) in mrkdwn
// exactly as it reads. Slack has no escape for its formatting characters,
// so *, ~ and ` become look-alikes that never pair (∗ ∼ ˋ), an _ does too
// unless it sits inside a word (host_1 stays as typed: Slack never
// italicizes there), and a > that starts a line cannot open a quote.
func literal(s string) string {
	s = escape(s)
	if !strings.ContainsAny(s, "*~`_") && !strings.Contains(s, "&gt;") {
		return s
	}
	r := []rune(s)
	var b strings.Builder
	b.Grow(len(s))
	for i, c := range r {
		switch c {
		case '*':
			b.WriteRune('∗')
		case '~':
			b.WriteRune('∼')
		case '`':
			b.WriteRune('ˋ')
		case '_':
			if i > 0 && i+1 < len(r) && isWordRune(r[i-1]) && isWordRune(r[i+1]) {
				b.WriteRune(c)
			} else {
				b.WriteRune('ˍ')
			}
		case '&':
			if (i == 0 || r[i-1] == '\n') && strings.HasPrefix(string(r[i:min(i+4, len(r))]), "&gt;") {
				b.WriteString(zwsp)
			}
			b.WriteRune(c)
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// escapeURL makes a link's URL safe inside <url|label>: the characters that
// would end the URL or start its label are percent-encoded, & is escaped.
func escapeURL(u string) string {
	return strings.NewReplacer("<", "%3C", ">", "%3E", "|", "%7C", "&", "&amp;", " ", "%20").Replace(strings.TrimSpace(u))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// truncate cuts s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// truncateBytes cuts an identifier without a marker; IDs are ASCII.
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func lastRunes(s string, n int) string {
	r := []rune(s)
	if n <= 0 {
		return ""
	}
	if len(r) <= n {
		return s
	}
	return string(r[len(r)-n:])
}

// splitRunes cuts s into pieces of at most n runes.
func splitRunes(s string, n int) []string {
	r := []rune(s)
	var out []string
	for len(r) > n {
		out = append(out, string(r[:n]))
		r = r[n:]
	}
	if len(r) > 0 {
		out = append(out, string(r))
	}
	return out
}

func reverse(s []string) []string {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
	return s
}

// uniqueActionID is button i's action_id, made unique within its block
// (Slack refuses a block whose buttons share one) by a "-<i>" suffix on a
// repeat; clicks are resolved by the button's value (its callback), never
// by its action_id.
func uniqueActionID(id string, i int, seen map[string]bool) string {
	a := truncateBytes(id, MaxActionID)
	if seen[a] {
		suffix := fmt.Sprintf("-%d", i)
		a = truncateBytes(id, MaxActionID-len(suffix)) + suffix
	}
	seen[a] = true
	return a
}
