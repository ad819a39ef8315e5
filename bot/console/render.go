package console

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/tebura/tebura/bot"
)

// levelIcon marks a message's tone at the start of its header line.
func levelIcon(l bot.Level) string {
	switch l {
	case bot.LevelInfo:
		return "•"
	case bot.LevelSuccess:
		return "✔"
	case bot.LevelWarning:
		return "▲"
	case bot.LevelDanger:
		return "✖"
	}
	return ""
}

// Render returns m as a readable plain-text block, the way the console shows
// it: the header line (with an icon for the level), paragraphs, fields as
// aligned "label  value" rows, the code block framed by │, links,
// buttons as "[1] Approve  [2] Deny" and the context line last. Every line
// ends in a newline. Terminal escapes in the content are removed, so run
// output cannot move the operator's cursor.
//
// frame > 0 marks the block as the frame-th update of a message with a
// "── update N ──" line on top; the adapter draws its own rule naming the
// message instead and passes 0.
func Render(m bot.Message, frame int) string {
	var b strings.Builder
	if frame > 0 {
		fmt.Fprintf(&b, "── update %d ──\n", frame)
	}
	if m.Header != "" || m.Level != "" {
		icon := levelIcon(m.Level)
		switch {
		case icon != "" && m.Header != "":
			fmt.Fprintf(&b, "%s %s\n", icon, clean(m.Header))
		case icon != "":
			fmt.Fprintf(&b, "%s\n", icon)
		default:
			fmt.Fprintf(&b, "%s\n", clean(m.Header))
		}
	}
	for _, p := range m.Text {
		for _, line := range strings.Split(clean(p), "\n") {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	if len(m.Fields) > 0 {
		width := 0
		for _, f := range m.Fields {
			width = max(width, utf8.RuneCountInString(clean(f.Label)))
		}
		for _, f := range m.Fields {
			label := clean(f.Label)
			pad := strings.Repeat(" ", width-utf8.RuneCountInString(label))
			value := strings.ReplaceAll(clean(f.Value), "\n", "\n  "+strings.Repeat(" ", width+2))
			fmt.Fprintf(&b, "  %s%s  %s\n", label, pad, value)
		}
	}
	if m.Code != nil {
		title := clean(m.Code.Title)
		if title != "" {
			fmt.Fprintf(&b, "  ┌─ %s\n", title)
		} else {
			b.WriteString("  ┌─\n")
		}
		text := strings.TrimRight(clean(m.Code.Text), "\n")
		for _, line := range strings.Split(text, "\n") {
			if line == "" {
				b.WriteString("  │\n")
				continue
			}
			fmt.Fprintf(&b, "  │ %s\n", line)
		}
		b.WriteString("  └─\n")
	}
	for _, l := range m.Links {
		if !bot.LinkURL(l.URL) {
			continue // a javascript: or file: URL is no link to follow
		}
		if l.Label != "" {
			fmt.Fprintf(&b, "  ↗ %s: %s\n", clean(l.Label), clean(l.URL))
		} else {
			fmt.Fprintf(&b, "  ↗ %s\n", clean(l.URL))
		}
	}
	if len(m.Buttons) > 0 {
		parts := make([]string, len(m.Buttons))
		for i, btn := range m.Buttons {
			parts[i] = fmt.Sprintf("[%d] %s", i+1, clean(btn.Label))
		}
		fmt.Fprintf(&b, "  %s\n", strings.Join(parts, "  "))
	}
	if m.Context != "" {
		fmt.Fprintf(&b, "  · %s\n", strings.ReplaceAll(clean(m.Context), "\n", " "))
	}
	return b.String()
}

// clean removes terminal escapes, bot.Verbatim's marks and carriage
// returns and replaces other control characters (except newline and tab)
// with U+FFFD. A terminal reads no markup, so verbatim text needs nothing
// more.
func clean(s string) string {
	s = bot.StripANSI(bot.Unmark(s))
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\r':
			return -1
		case isControl(r):
			return '\uFFFD'
		}
		return r
	}, s)
}

func isControl(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0)
}
