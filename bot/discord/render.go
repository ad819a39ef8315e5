package discord

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/tebura/tebura/bot"
)

// Embed colours per level (Discord's own palette where it has one).
const (
	colorInfo    = 0x5865F2
	colorSuccess = 0x57F287
	colorWarning = 0xFEE75C
	colorDanger  = 0xED4245
)

// maxFooterUsed caps the context line well below Discord's 2048 so that
// it cannot crowd out the message; noteRoom is kept for the renderer's own
// "+N more … not shown" notes.
const (
	maxFooterUsed = 512
	noteRoom      = 80
)

// zwsp is put after every backtick inside code blocks so that log output
// cannot close the fence.
const zwsp = "\u200b"

// payload is what the adapter sends for one bot.Message: the JSON shape of
// the body of create message, edit message, follow-ups and interaction
// responses.
type payload struct {
	Content         string                            `json:"content"`
	Embeds          []*discordgo.MessageEmbed         `json:"embeds"`
	Components      []discordgo.MessageComponent      `json:"components"`
	AllowedMentions *discordgo.MessageAllowedMentions `json:"allowed_mentions"`
	Flags           discordgo.MessageFlags            `json:"flags,omitempty"`
}

// noMentions keeps log output and user text from pinging anyone.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// render turns a message into the Discord payload the adapter sends: one
// embed (header as title, level as colour, text, links and the code block in
// the description, fields, context as footer) and buttons in action rows.
// Every Discord limit is enforced here, with a visible marker where
// something was cut, so the platform never answers 400.
func render(m bot.Message) payload {
	r := renderer{}
	e := &discordgo.MessageEmbed{
		Title: cutEnd(oneLine(bot.Unmark(m.Header)), MaxEmbedTitle, "…"),
		Color: levelColor(m.Level),
	}
	e.Fields = r.fields(m.Fields)
	comps := r.buttons(m.Buttons)
	prose := prose(m)
	code := ""
	if m.Code != nil {
		code = sanitizeCode(bot.Unmark(m.Code.Text))
	}
	// Embed titles and footers are plain text: Discord reads no markdown
	// and no mention there.
	footerText := cutEnd(oneLine(bot.Unmark(m.Context)), maxFooterUsed, "…")
	footer := func() *discordgo.MessageEmbedFooter {
		return footerOf(joinNonEmpty(" · ", append([]string{footerText}, r.notes...)...))
	}

	// Share the 6000 characters: title and footer first (with room for the
	// notes), then the description, which keeps at least 2000 characters
	// when fields compete for room, then the fields in order.
	avail := MaxEmbedTotal - runes(e.Title) - runes(footerText) - noteRoom
	fieldsSize := 0
	for _, f := range e.Fields {
		fieldsSize += runes(f.Name) + runes(f.Value)
	}
	e.Description = describe(prose, m.Code, code, MaxEmbedDescription)
	if d := runes(e.Description); d+fieldsSize > avail {
		budget := max(avail-fieldsSize, min(d, 2000))
		e.Description = describe(prose, m.Code, code, budget)
		room := avail - runes(e.Description)
		for len(e.Fields) > 0 && fieldsSize > room {
			last := e.Fields[len(e.Fields)-1]
			fieldsSize -= runes(last.Name) + runes(last.Value)
			e.Fields = e.Fields[:len(e.Fields)-1]
			r.droppedFields++
		}
		r.setFieldNote()
	}
	e.Footer = footer()
	if e.Title == "" && e.Description == "" && len(e.Fields) == 0 && e.Footer == nil {
		e.Description = "(empty message)"
	}
	return payload{
		Embeds:          []*discordgo.MessageEmbed{e},
		Components:      comps,
		AllowedMentions: noMentions(),
	}
}

// renderer collects the notes about what did not fit.
type renderer struct {
	notes         []string
	droppedFields int
	fieldNoteAt   int
}

func (r *renderer) fields(fs []bot.Field) []*discordgo.MessageEmbedField {
	out := make([]*discordgo.MessageEmbedField, 0, min(len(fs), MaxEmbedFields))
	for i, f := range fs {
		if i == MaxEmbedFields {
			r.droppedFields = len(fs) - MaxEmbedFields
			break
		}
		v := strings.TrimSpace(bot.Unmark(f.Value))
		out = append(out, &discordgo.MessageEmbedField{
			Name:   orDash(cutEnd(literal(oneLine(bot.Unmark(f.Label))), MaxFieldName, "…")),
			Value:  orDash(cutEnd(literal(v), MaxFieldValue, "…")),
			Inline: runes(v) <= 40 && !strings.Contains(v, "\n"),
		})
	}
	r.fieldNoteAt = -1
	r.setFieldNote()
	return out
}

// setFieldNote keeps one "+N more fields" note up to date.
func (r *renderer) setFieldNote() {
	if r.droppedFields == 0 {
		return
	}
	note := fmt.Sprintf("+%d more %s not shown", r.droppedFields, plural(r.droppedFields, "field", "fields"))
	if r.fieldNoteAt >= 0 {
		r.notes[r.fieldNoteAt] = note
		return
	}
	r.fieldNoteAt = len(r.notes)
	r.notes = append(r.notes, note)
}

func (r *renderer) buttons(bs []bot.Button) []discordgo.MessageComponent {
	var rows []discordgo.MessageComponent
	var row []discordgo.MessageComponent
	seen := map[string]bool{}
	shown, dropped := 0, 0
	for _, b := range bs {
		id, ok := CustomID(b.ActionID, b.CallbackID)
		if !ok || seen[id] || shown == MaxButtonsPerRow*MaxActionRows {
			dropped++
			continue
		}
		seen[id] = true
		label := strings.TrimSpace(oneLine(bot.Unmark(b.Label)))
		if label == "" {
			label = b.ActionID
		}
		row = append(row, discordgo.Button{
			Label:    cutEnd(label, MaxButtonLabel, "…"),
			Style:    buttonStyle(b.Style),
			CustomID: id,
		})
		shown++
		if len(row) == MaxButtonsPerRow {
			rows = append(rows, discordgo.ActionsRow{Components: row})
			row = nil
		}
	}
	if len(row) > 0 {
		rows = append(rows, discordgo.ActionsRow{Components: row})
	}
	if dropped > 0 {
		r.notes = append(r.notes, fmt.Sprintf("+%d more %s not shown", dropped, plural(dropped, "action", "actions")))
	}
	if rows == nil {
		rows = []discordgo.MessageComponent{} // an edit must clear old buttons
	}
	return rows
}

// CustomID returns the custom_id a button carries: "<action>:<callbackID>"
// when that fits Discord's 100 characters, else the callback ID alone (the
// action is resolved server-side from the callback either way). ok is false
// when even the callback ID does not fit or is empty.
func CustomID(action, callbackID string) (id string, ok bool) {
	if callbackID == "" || len(callbackID) > MaxCustomID {
		return "", false
	}
	if action != "" && !strings.Contains(action, ":") {
		if full := action + ":" + callbackID; utf8.RuneCountInString(full) <= MaxCustomID {
			return full, true
		}
	}
	if strings.Contains(callbackID, ":") {
		// ":<id>" keeps ParseCustomID from splitting the ID itself.
		if len(callbackID) == MaxCustomID {
			return "", false
		}
		return ":" + callbackID, true
	}
	return callbackID, true
}

// ParseCustomID splits a custom_id made by CustomID.
func ParseCustomID(id string) (action, callbackID string) {
	if a, cb, ok := strings.Cut(id, ":"); ok {
		return a, cb
	}
	return "", id
}

func buttonStyle(s bot.ButtonStyle) discordgo.ButtonStyle {
	switch s {
	case bot.StylePrimary:
		return discordgo.PrimaryButton
	case bot.StyleDanger:
		return discordgo.DangerButton
	default:
		return discordgo.SecondaryButton
	}
}

func levelColor(l bot.Level) int {
	switch l {
	case bot.LevelSuccess:
		return colorSuccess
	case bot.LevelWarning:
		return colorWarning
	case bot.LevelDanger:
		return colorDanger
	default:
		return colorInfo
	}
}

// boldRe finds *bold* (Slack's and the message model's) to turn into
// Discord's **bold**; an escaped character inside (a verbatim span's \*)
// is part of the text, never a delimiter.
var boldRe = regexp.MustCompile(`(^|[\s(])\*((?:\\.|[^*\n\\])+)\*`)

// prose is the text and the links, Discord-flavoured: bot.Verbatim spans
// and link labels are made literal, links that are not http(s) dropped.
func prose(m bot.Message) string {
	var parts []string
	for _, p := range m.Text {
		if p = strings.TrimSpace(p); p != "" {
			p = bot.MapSpans(p, func(s string) string { return s }, literal)
			parts = append(parts, boldRe.ReplaceAllString(p, "$1**$2**"))
		}
	}
	var links []string
	for _, l := range m.Links {
		if !bot.LinkURL(l.URL) {
			continue
		}
		u := linkURL(l.URL)
		// Brackets read better as parentheses than escaped in a link label.
		label := literal(strings.NewReplacer("[", "(", "]", ")").Replace(oneLine(bot.Unmark(l.Label))))
		if label == "" {
			label = literal(u)
		}
		links = append(links, "["+label+"]("+u+")")
	}
	if len(links) > 0 {
		parts = append(parts, strings.Join(links, " · "))
	}
	return strings.Join(parts, "\n\n")
}

// describe builds the embed description within budget: the prose, then the
// code block. When both do not fit, the prose gets what the code leaves (at
// least a quarter), and the code is trimmed at its head (tails) or its end.
func describe(prose string, c *bot.Code, code string, budget int) string {
	if c == nil {
		return cutEnd(prose, budget, "… (truncated)")
	}
	title := ""
	if t := strings.TrimSpace(oneLine(bot.Unmark(c.Title))); t != "" {
		title = "**" + literal(t) + "**\n"
	}
	const fences = len("```\n") + len("\n```")
	sep := 0
	if prose != "" {
		sep = 2
	}
	need := runes(prose) + sep + runes(title) + fences + runes(code)
	if need > budget {
		codeRoom := budget - sep - runes(title) - fences
		proseRoom := max(budget/4, codeRoom-runes(code))
		prose = cutEnd(prose, min(runes(prose), proseRoom), "… (truncated)")
		if prose == "" {
			sep = 0
		}
		room := budget - runes(prose) - sep - runes(title) - fences
		if room < 40 {
			return cutEnd(prose, budget, "… (truncated)")
		}
		if c.Tail {
			code = cutLinesStart(code, room)
		} else {
			code = cutLinesEnd(code, room)
		}
	}
	out := title + "```\n" + code + "\n```"
	if prose != "" {
		out = prose + "\n\n" + out
	}
	return out
}

// literal renders outside text (labels, params, annotations, topics) in
// Discord markdown exactly as it reads: each character that could format,
// spoil, quote, open a masked link [text](url) or a mention <@id> gets a
// backslash, Discord's escape; # and - get one at the start of a line,
// where they open a heading or a list; @everyone and @here get a
// zero-width space after the @ (as discord.py's escape_mentions does).
// allowed_mentions already keeps anyone from being pinged; this keeps the
// text from looking like a mention or a link it is not.
func literal(s string) string {
	s = massMention.Replace(s)
	var b strings.Builder
	b.Grow(len(s))
	lineStart := true
	for _, c := range s {
		switch c {
		case '\\', '*', '_', '~', '`', '|', '[', ']', '<', '>':
			b.WriteByte('\\')
		case '#', '-':
			if lineStart {
				b.WriteByte('\\')
			}
		}
		b.WriteRune(c)
		switch c {
		case '\n':
			lineStart = true
		case ' ', '\t':
		default:
			lineStart = false
		}
	}
	return b.String()
}

var massMention = strings.NewReplacer("@everyone", "@"+zwsp+"everyone", "@here", "@"+zwsp+"here")

// linkURL makes an http(s) URL safe inside [label](url): characters that
// would end the URL early are percent-encoded.
func linkURL(u string) string {
	return strings.NewReplacer("(", "%28", ")", "%29", " ", "%20", "<", "%3C", ">", "%3E").Replace(strings.TrimSpace(u))
}

// sanitizeCode strips terminal escapes and neutralizes backticks so the
// text cannot end the code fence.
func sanitizeCode(s string) string {
	s = stripControls(bot.StripANSI(s))
	s = strings.TrimRight(s, "\n")
	return strings.ReplaceAll(s, "`", "`"+zwsp)
}

// cutLinesStart keeps the last lines of s within limit runes, with a marker
// line saying how many lines were dropped above.
func cutLinesStart(s string, limit int) string {
	if runes(s) <= limit {
		return s
	}
	lines := strings.Split(s, "\n")
	total := len(lines)
	kept, size := 0, 0
	for i := len(lines) - 1; i >= 0; i-- {
		n := runes(lines[i]) + 1
		marker := len(fmt.Sprintf("… %d lines above", total-kept-1)) + 1
		if size+n+marker > limit {
			break
		}
		size += n
		kept++
	}
	dropped := total - kept
	marker := fmt.Sprintf("… %d %s above", dropped, plural(dropped, "line", "lines"))
	if kept == 0 {
		// One huge last line: keep its end.
		last := lines[len(lines)-1]
		room := limit - runes(marker) - 2
		rs := []rune(last)
		return marker + "\n…" + string(rs[max(len(rs)-room, 0):])
	}
	return marker + "\n" + strings.Join(lines[total-kept:], "\n")
}

// cutLinesEnd keeps the first lines of s within limit runes, with a marker
// line saying how many lines follow.
func cutLinesEnd(s string, limit int) string {
	if runes(s) <= limit {
		return s
	}
	lines := strings.Split(s, "\n")
	total := len(lines)
	kept, size := 0, 0
	for _, l := range lines {
		n := runes(l) + 1
		marker := len(fmt.Sprintf("… %d more lines", total-kept-1)) + 1
		if size+n+marker > limit {
			break
		}
		size += n
		kept++
	}
	dropped := total - kept
	marker := fmt.Sprintf("… %d more %s", dropped, plural(dropped, "line", "lines"))
	if kept == 0 {
		return cutEnd(lines[0], limit-runes(marker)-1, "…") + "\n" + marker
	}
	return strings.Join(lines[:kept], "\n") + "\n" + marker
}

func embedSize(e *discordgo.MessageEmbed) int {
	n := runes(e.Title) + runes(e.Description)
	for _, f := range e.Fields {
		n += runes(f.Name) + runes(f.Value)
	}
	if e.Footer != nil {
		n += runes(e.Footer.Text)
	}
	if e.Author != nil {
		n += runes(e.Author.Name)
	}
	return n
}

func footerOf(s string) *discordgo.MessageEmbedFooter {
	if s == "" {
		return nil
	}
	return &discordgo.MessageEmbedFooter{Text: s}
}

// cutEnd returns s cut to limit runes, ending in marker when cut.
func cutEnd(s string, limit int, marker string) string {
	if runes(s) <= limit {
		return s
	}
	room := limit - runes(marker)
	if room <= 0 {
		return string([]rune(marker)[:max(limit, 0)])
	}
	return strings.TrimRight(string([]rune(s)[:room]), " \n") + marker
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func runes(s string) int { return utf8.RuneCountInString(s) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// stripControls removes control characters other than newline and tab
// (carriage returns of progress bars, bells) that StripANSI leaves.
func stripControls(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
