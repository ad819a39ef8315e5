package web

import (
	"strings"
	"testing"
)

func TestANSILine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "hello", "hello"},
		{"escaped", `<img src=x onerror="a()">&`, "&lt;img src=x onerror=&#34;a()&#34;&gt;&amp;"},
		{"red then reset", "\x1b[31mred\x1b[0m plain", `<span class="f31">red</span> plain`},
		{"bold green", "\x1b[1;32mok\x1b[m", `<span class="b f32">ok</span>`},
		{"256 colour low", "\x1b[38;5;9mx", `<span class="f91">x</span>`},
		{"true colour ignored", "\x1b[38;2;1;2;3mx", "x"},
		{"256 colour background", "\x1b[48;5;1mx", `<span class="g41">x</span>`},
		{"true colour then bold", "\x1b[38;2;1;2;3;1mx", `<span class="b">x</span>`},
		{"cursor moves dropped", "a\x1b[2Kb\x1b[1A", "ab"},
		{"osc title dropped", "\x1b]0;title\x07text", "text"},
		{"carriage return keeps the last", "10%\r50%\r100%", "100%"},
		{"unterminated dropped", "x\x1b[3", "x"},
		{"background", "\x1b[41;97mX\x1b[49mY", `<span class="f97 g41">X</span><span class="f97">Y</span>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var st ansiState
			if got := st.line(tc.in); got != tc.want {
				t.Errorf("line(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	// Colour carries to the next line, as in a terminal.
	var st ansiState
	st.line("\x1b[33mstart")
	if got := st.line("next"); got != `<span class="f33">next</span>` {
		t.Errorf("carried colour: %q", got)
	}
}

func TestMarkdownHTML(t *testing.T) {
	md := "# Postmortem: #1 <b>x</b>\n\n| a | b |\n|---|---|\n| 1 \\| 2 | [log](/ui/runs/r1) |\n| x | [bad](javascript:alert(1)) |\n\n- [ ] root cause\n- `code` and _em_\n\ntext <script>\n"
	got := string(markdownHTML(md))
	for _, want := range []string{
		"<h2>Postmortem: #1 &lt;b&gt;x&lt;/b&gt;</h2>",
		"<th>a</th><th>b</th>",
		"<td>1 | 2</td>",
		`<a href="/ui/runs/r1" rel="noreferrer">log</a>`,
		"<li>☐ root cause</li>",
		"<code>code</code> and <em>em</em>",
		"<p>text &lt;script&gt;</p>",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
	if strings.Contains(got, `href="javascript`) {
		t.Errorf("javascript: link rendered:\n%s", got)
	}
}
