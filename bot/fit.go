package bot

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// DefaultLimits are used for adapters that do not declare their own: roughly
// the intersection of Slack Block Kit and Discord embeds, so a message that
// fits them fits both platforms.
//
// Sources: Slack header.text 150, section.text 3000, section.fields 10,
// button text 75 (https://docs.slack.dev/reference/block-kit/blocks);
// Discord embed field value 1024, ≤ 5 buttons per action row, 6000 characters
// across an embed
// (https://discord.com/developers/docs/resources/message#embed-object-embed-limits,
// https://discord.com/developers/docs/components/reference).
//
// It is a value to copy; nothing assigns to it.
var DefaultLimits = Limits{
	Header:     150,
	Text:       3000,
	FieldValue: 1024,
	Fields:     10,
	Code:       2900,
	Buttons:    5,
	ButtonText: 75,
	Total:      6000,
}

// LimitsOf returns c's declared limits if it implements Limited, and
// DefaultLimits otherwise.
func LimitsOf(c Chat) Limits {
	if l, ok := c.(Limited); ok {
		return l.Limits()
	}
	return DefaultLimits
}

// Markers Fit leaves where it cut, so that readers see that something is
// missing instead of silently getting less.
const (
	ellipsis        = "…"
	truncatedMarker = "… (truncated)"
)

// Fit returns m trimmed to l with a visible marker at every cut: the header
// ends in "…"; the paragraph that crosses the text limit ends in
// "… (truncated)" and later ones are dropped; fields beyond the count are
// dropped and the context says "+N more fields"; field values and button
// labels end in "…"; a code block keeps its last lines under
// "… N earlier lines not shown" when Tail is set, else its first lines above
// "… N more lines not shown"; buttons beyond the count are dropped with a text
// note. If the whole message is still above l.Total, the code block and then
// the text shrink further. Cuts never split a UTF-8 sequence.
//
// m is not modified. Fitting a fitted message changes nothing.
func Fit(m Message, l Limits) Message {
	out := m
	out.Header = cutEnd(m.Header, l.Header, ellipsis)

	var notes []string
	if l.Buttons > 0 && len(m.Buttons) > l.Buttons {
		n := len(m.Buttons) - l.Buttons
		notes = append(notes, fmt.Sprintf("_+%d more %s not shown (no room for buttons here)._", n, plural(n, "action", "actions")))
		out.Buttons = m.Buttons[:l.Buttons:l.Buttons]
	}
	if len(out.Buttons) > 0 {
		bs := make([]Button, len(out.Buttons))
		for i, b := range out.Buttons {
			b.Label = cutEnd(b.Label, l.ButtonText, ellipsis)
			bs[i] = b
		}
		out.Buttons = bs
	}

	if len(m.Fields) > 0 {
		fs := m.Fields
		if l.Fields > 0 && len(fs) > l.Fields {
			n := len(fs) - l.Fields
			fs = fs[:l.Fields]
			out.Context = joinContext(m.Context, fmt.Sprintf("+%d more %s", n, plural(n, "field", "fields")))
		}
		nf := make([]Field, len(fs))
		for i, f := range fs {
			f.Value = cutEnd(f.Value, l.FieldValue, ellipsis)
			nf[i] = f
		}
		out.Fields = nf
	}

	out.Text = fitText(m.Text, notes, l.Text)
	if m.Code != nil {
		c := *m.Code
		c.Text = fitCode(c.Text, l.Code, c.Tail)
		out.Code = &c
	}

	if l.Total > 0 {
		if excess := size(out) - l.Total; excess > 0 && out.Code != nil {
			// Refit from the original text so the marker counts real lines.
			c := *out.Code
			c.Text = fitCode(m.Code.Text, max(1, runes(c.Text)-excess), c.Tail)
			out.Code = &c
		}
		if excess := size(out) - l.Total; excess > 0 {
			out.Text = fitText(out.Text, nil, max(1, runes(strings.Join(out.Text, ""))-excess))
		}
	}
	return out
}

// fitText keeps paragraphs while they fit in limit runes together with the
// notes, which are always kept at the end.
func fitText(paras, notes []string, limit int) []string {
	if limit <= 0 {
		if len(notes) == 0 {
			return paras
		}
		return append(append([]string(nil), paras...), notes...)
	}
	if len(notes) == 0 && runes(strings.Join(paras, "")) <= limit {
		return paras
	}
	room := limit
	for _, n := range notes {
		room -= runes(n)
	}
	var out []string
	for i, p := range paras {
		n := runes(p)
		if n <= room {
			out = append(out, p)
			room -= n
			continue
		}
		// This paragraph crosses the limit: cut it (or, when there is no
		// room worth using, mark the cut on its own), drop the rest.
		if room > runes(truncatedMarker) {
			out = append(out, cutEnd(p, room, truncatedMarker))
		} else if i > 0 || room > 0 {
			out = append(out, truncatedMarker)
		}
		break
	}
	return append(out, notes...)
}

// fitCode trims a code block's text to limit runes by whole lines, marking
// the dropped lines at the top (tail) or the bottom.
func fitCode(text string, limit int, tail bool) string {
	if limit <= 0 || runes(text) <= limit {
		return text
	}
	lines := strings.Split(text, "\n")
	marker := func(n int) string {
		if tail {
			return fmt.Sprintf("… %d earlier %s not shown", n, plural(n, "line", "lines"))
		}
		return fmt.Sprintf("… %d more %s not shown", n, plural(n, "line", "lines"))
	}
	// Reserve room for the widest marker this text can need plus its newline
	// (the plural form of the largest count).
	widest := runes(marker(len(lines))) + 1
	if len(lines) == 1 {
		widest++ // "line" → "lines"
	}
	room := limit - widest
	if room <= 0 {
		if len(lines) == 1 {
			return cutEnd(text, limit, ellipsis)
		}
		return cutEnd(marker(len(lines)), limit, ellipsis)
	}
	var kept []string
	used := 0
	if tail {
		for i := len(lines) - 1; i >= 0; i-- {
			n := runes(lines[i])
			if len(kept) > 0 {
				n++ // the newline joining it to the next kept line
			}
			if used+n > room {
				if len(kept) == 0 {
					// A single last line longer than the room: keep its end.
					kept = append(kept, cutStart(lines[i], room, ellipsis))
				}
				break
			}
			kept = append(kept, lines[i])
			used += n
		}
		for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
			kept[i], kept[j] = kept[j], kept[i]
		}
		if len(kept) == len(lines) {
			return strings.Join(kept, "\n") // only an overlong line was cut, and it says so
		}
		return marker(len(lines)-len(kept)) + "\n" + strings.Join(kept, "\n")
	}
	for i := 0; i < len(lines); i++ {
		n := runes(lines[i])
		if len(kept) > 0 {
			n++
		}
		if used+n > room {
			if len(kept) == 0 {
				kept = append(kept, cutEnd(lines[i], room, ellipsis))
			}
			break
		}
		kept = append(kept, lines[i])
		used += n
	}
	if len(kept) == len(lines) {
		return strings.Join(kept, "\n")
	}
	return strings.Join(kept, "\n") + "\n" + marker(len(lines)-len(kept))
}

// size is a rough rendered size of m in runes: everything a reader sees.
func size(m Message) int {
	n := runes(m.Header) + runes(m.Context)
	for _, p := range m.Text {
		n += runes(p)
	}
	for _, f := range m.Fields {
		n += runes(f.Label) + runes(f.Value)
	}
	if m.Code != nil {
		n += runes(m.Code.Title) + runes(m.Code.Text)
	}
	for _, l := range m.Links {
		n += runes(l.Label) + len(l.URL)
	}
	for _, b := range m.Buttons {
		n += runes(b.Label)
	}
	return n
}

// cutEnd returns s if it fits in limit runes (0 = no limit), else its first
// runes followed by marker, limit runes in all.
func cutEnd(s string, limit int, marker string) string {
	if limit <= 0 || runes(s) <= limit {
		return s
	}
	mk := runes(marker)
	if limit <= mk {
		marker, mk = ellipsis, 1
	}
	return prefix(s, limit-mk) + marker
}

// cutStart returns s if it fits in limit runes, else marker followed by its
// last runes, limit runes in all.
func cutStart(s string, limit int, marker string) string {
	if limit <= 0 || runes(s) <= limit {
		return s
	}
	mk := runes(marker)
	if limit <= mk {
		marker, mk = ellipsis, 1
	}
	keep := limit - mk
	total := runes(s)
	i := 0
	for off := range s {
		if i == total-keep {
			return marker + s[off:]
		}
		i++
	}
	return marker
}

// prefix returns the first n runes of s.
func prefix(s string, n int) string {
	if n <= 0 {
		return ""
	}
	i := 0
	for off := range s {
		if i == n {
			return s[:off]
		}
		i++
	}
	return s
}

func runes(s string) int { return utf8.RuneCountInString(s) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func joinContext(ctx, note string) string {
	if ctx == "" {
		return note
	}
	return ctx + " · " + note
}
