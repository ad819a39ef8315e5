package console

import (
	"context"
	"strings"
	"testing"

	"github.com/tebura/tebura/bot"
)

// esc is what a run's output or an alert may carry to take over a
// terminal: colours, clear screen, a window title (OSC), an OSC 8
// hyperlink, 8-bit CSI, a bell and a carriage return.
const esc = "\x1b[31mred\x1b[0m\x1b[2J\x1b]0;pwned\x07\x1b]8;;javascript:alert(1)\x1b\\click\x1b]8;;\x1b\\\u009b2J\a\rX"

// TestEveryFieldIsCleaned: terminal control sequences are removed from
// every field of a message and of a file, titles included, and Verbatim's
// marks never reach the terminal or a JSON reader; only http(s) links are
// shown.
func TestEveryFieldIsCleaned(t *testing.T) {
	m := bot.Message{
		Header: "h" + esc, Text: []string{"t " + bot.Verbatim("v"+esc)},
		Fields:  []bot.Field{{Label: "l" + esc, Value: "v" + esc}},
		Code:    &bot.Code{Title: "ct" + esc, Text: "c" + esc},
		Links:   []bot.Link{{Label: "ok" + esc, URL: "https://ok.example/x"}, {Label: "js", URL: "javascript:alert(1)"}},
		Buttons: []bot.Button{{Label: "b" + esc, ActionID: "a", CallbackID: "cb"}},
		Context: "ctx " + bot.Verbatim(esc),
	}
	for _, json := range []bool{false, true} {
		out := &syncBuffer{}
		a := New(Options{Out: out, JSON: json, FileDir: t.TempDir()})
		ctx := context.Background()
		if _, err := a.Post(ctx, bot.Target{Channel: "ops"}, m); err != nil {
			t.Fatal(err)
		}
		if err := a.Upload(ctx, bot.Target{}, bot.File{Name: "r1.log", Title: "log" + esc, Content: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		if strings.ContainsAny(got, "\x1b\u009b\u009d\a\r\uFDD0\uFDD1") || strings.Contains(got, `\u001b`) {
			t.Errorf("json=%v: control characters or marks reach the terminal: %q", json, got)
		}
		if !json && (strings.Contains(got, "javascript:") || !strings.Contains(got, "https://ok.example/x")) {
			t.Errorf("links: %q", got)
		}
	}
}
