package bot

import (
	"strings"
	"unicode/utf8"
)

// StripANSI removes terminal escape sequences from s, so that a command's
// coloured output reads cleanly in a chat message: CSI sequences
// (ESC [ … final byte, colours and cursor moves), OSC sequences
// (ESC ] … terminated by BEL or ESC \, window titles and hyperlinks), their
// 8-bit forms (U+009B, U+009D), and other two-byte ESC sequences. An
// unterminated sequence at the end of s is dropped. Everything else,
// including invalid UTF-8, is kept as is.
func StripANSI(s string) string {
	if !strings.ContainsAny(s, "\x1b\u009b\u009d") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		switch {
		case s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[':
			i = skipCSI(s, i+2)
		case strings.HasPrefix(s[i:], "\u009b"):
			i = skipCSI(s, i+len("\u009b"))
		case s[i] == 0x1b && i+1 < len(s) && s[i+1] == ']':
			i = skipOSC(s, i+2)
		case strings.HasPrefix(s[i:], "\u009d"):
			i = skipOSC(s, i+len("\u009d"))
		case s[i] == 0x1b && i+1 < len(s) && s[i+1] >= 0x20 && s[i+1] <= 0x2f:
			// nF escape (ESC ( B, charset selection): intermediates, then a final byte.
			j := i + 1
			for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
				j++
			}
			i = skipChar(s, j)
		case s[i] == 0x1b:
			// ESC followed by one character (ESC 7, ESC M, ESC =), or a lone ESC at the end.
			i = skipChar(s, i+1)
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

// skipCSI returns the index after a CSI sequence's final byte (0x40–0x7E),
// given the index of its first parameter byte.
func skipCSI(s string, i int) int {
	for i < len(s) {
		c := s[i]
		i++
		if c >= 0x40 && c <= 0x7e {
			return i
		}
	}
	return i
}

// skipOSC returns the index after an OSC sequence's terminator (BEL, ESC \
// or the 8-bit ST U+009C).
func skipOSC(s string, i int) int {
	for i < len(s) {
		switch {
		case s[i] == 0x07:
			return i + 1
		case s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\':
			return i + 2
		case strings.HasPrefix(s[i:], "\u009c"):
			return i + len("\u009c")
		}
		i++
	}
	return i
}

// skipChar returns the index after the character at i, never splitting a
// UTF-8 sequence.
func skipChar(s string, i int) int {
	if i >= len(s) {
		return len(s)
	}
	_, n := utf8.DecodeRuneInString(s[i:])
	return i + n
}
