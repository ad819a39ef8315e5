package web

import (
	"html"
	"strconv"
	"strings"

	"github.com/tebura/tebura/bot"
)

// ansiState is the SGR state (colours, bold…) carried from one line of a
// log to the next, as a terminal carries it.
type ansiState struct {
	bold, dim, italic, underline bool
	fg, bg                       int // 0 = default; 30–37, 90–97 / 40–47, 100–107
}

// classes are the CSS classes of the state; the stylesheet colours them
// (the Content-Security-Policy forbids inline styles).
func (st ansiState) classes() string {
	var c []string
	if st.bold {
		c = append(c, "b")
	}
	if st.dim {
		c = append(c, "d")
	}
	if st.italic {
		c = append(c, "i")
	}
	if st.underline {
		c = append(c, "u")
	}
	if st.fg != 0 {
		c = append(c, "f"+strconv.Itoa(st.fg))
	}
	if st.bg != 0 {
		c = append(c, "g"+strconv.Itoa(st.bg))
	}
	return strings.Join(c, " ")
}

// apply reads the parameters of one SGR sequence (ESC [ … m).
func (st *ansiState) apply(params string) {
	if params == "" {
		*st = ansiState{}
		return
	}
	ps := strings.Split(strings.ReplaceAll(params, ":", ";"), ";")
	for i := 0; i < len(ps); i++ {
		n, err := strconv.Atoi(ps[i])
		if err != nil {
			continue
		}
		switch {
		case n == 0:
			*st = ansiState{}
		case n == 1:
			st.bold = true
		case n == 2:
			st.dim = true
		case n == 3:
			st.italic = true
		case n == 4:
			st.underline = true
		case n == 22:
			st.bold, st.dim = false, false
		case n == 23:
			st.italic = false
		case n == 24:
			st.underline = false
		case n >= 30 && n <= 37, n >= 90 && n <= 97:
			st.fg = n
		case n == 39:
			st.fg = 0
		case n >= 40 && n <= 47, n >= 100 && n <= 107:
			st.bg = n
		case n == 49:
			st.bg = 0
		case n == 38 || n == 48:
			i += st.extended(n == 38, ps[i+1:])
		}
	}
}

// extended reads an extended colour (38 or 48 and what follows in rest)
// and returns how many parameters it took: 256 colours (5;n) map their
// first 16 to the named ones; the rest and true colour (2;r;g;b) keep
// the default.
func (st *ansiState) extended(fg bool, rest []string) int {
	switch {
	case len(rest) >= 2 && rest[0] == "5":
		if c, err := strconv.Atoi(rest[1]); err == nil && c < 16 {
			base := 30
			if c >= 8 {
				base, c = 90, c-8
			}
			if fg {
				st.fg = base + c
			} else {
				st.bg = base + 10 + c
			}
		}
		return 2
	case len(rest) >= 1 && rest[0] == "2":
		return 4
	}
	return 0
}

// plainByte marks the bytes a line may hold and still be sent as it is:
// no escape sequence (ESC, or the lead byte 0xC2 of U+009B and U+009D),
// no carriage return, nothing HTML escapes.
var plainByte = func() (t [256]bool) {
	for i := range t {
		t[i] = true
	}
	for _, c := range []byte{0x1b, 0xc2, '\r', '<', '>', '&', '"', '\''} {
		t[c] = false
	}
	return t
}()

// appendLine appends line rendered as HTML (see line) to dst. Most log
// lines need no work at all and are copied as they are.
func (st *ansiState) appendLine(dst, line []byte) []byte {
	if *st == (ansiState{}) {
		plain := true
		for _, c := range line {
			if !plainByte[c] {
				plain = false
				break
			}
		}
		if plain {
			return append(dst, line...)
		}
	}
	return append(dst, st.line(string(line))...)
}

// line renders one log line as HTML: text escaped, SGR colours as spans,
// every other escape sequence dropped, and a carriage return keeping what
// a terminal would show (the text after it).
func (st *ansiState) line(s string) string {
	if i := strings.LastIndexByte(strings.TrimRight(s, "\r"), '\r'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.ReplaceAll(s, "\r", "")
	var b strings.Builder
	open := false
	emit := func(text string) {
		text = bot.StripANSI(text)
		if text == "" {
			return
		}
		if c := st.classes(); c != "" && !open {
			b.WriteString(`<span class="` + c + `">`)
			open = true
		}
		b.WriteString(html.EscapeString(text))
	}
	for {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			emit(s)
			break
		}
		emit(s[:i])
		j := i + 2
		for j < len(s) && s[j] >= 0x30 && s[j] <= 0x3f {
			j++
		}
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
			j++
		}
		if j >= len(s) {
			break // an unterminated sequence at the end: dropped
		}
		if s[j] == 'm' {
			if open {
				b.WriteString("</span>")
				open = false
			}
			st.apply(s[i+2 : j])
		}
		s = s[j+1:]
	}
	if open {
		b.WriteString("</span>")
	}
	return b.String()
}
