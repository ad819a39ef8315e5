package bot

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func lines(from, to int) string {
	var b []string
	for i := from; i <= to; i++ {
		b = append(b, fmt.Sprintf("line %02d", i))
	}
	return strings.Join(b, "\n")
}

func TestFit(t *testing.T) {
	tests := []struct {
		name  string
		in    Message
		lim   Limits
		check func(t *testing.T, got Message)
	}{
		{
			name: "fits unchanged",
			in: Message{Header: "restart-api — running", Text: []string{"hello"},
				Fields: []Field{{"env", "prod"}}, Code: &Code{Text: "a\nb"},
				Buttons: []Button{{Label: "Cancel", ActionID: "cancel"}}},
			lim: DefaultLimits,
			check: func(t *testing.T, got Message) {
				want := Message{Header: "restart-api — running", Text: []string{"hello"},
					Fields: []Field{{"env", "prod"}}, Code: &Code{Text: "a\nb"},
					Buttons: []Button{{Label: "Cancel", ActionID: "cancel"}}}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %+v", got)
				}
			},
		},
		{
			name: "header cut with ellipsis",
			in:   Message{Header: "restart-api — running for a very long time"},
			lim:  Limits{Header: 12},
			check: func(t *testing.T, got Message) {
				if got.Header != "restart-api…" {
					t.Errorf("header = %q", got.Header)
				}
			},
		},
		{
			name: "header rune safe",
			in:   Message{Header: "日本語のヘッダー"},
			lim:  Limits{Header: 4},
			check: func(t *testing.T, got Message) {
				if got.Header != "日本語…" {
					t.Errorf("header = %q", got.Header)
				}
			},
		},
		{
			name: "text paragraph cut and later dropped",
			in:   Message{Text: []string{"first para", "second paragraph is long", "third"}},
			lim:  Limits{Text: 30},
			check: func(t *testing.T, got Message) {
				want := []string{"first para", "second … (truncated)"}
				if !reflect.DeepEqual(got.Text, want) {
					t.Errorf("text = %q, want %q", got.Text, want)
				}
			},
		},
		{
			name: "text with no room left for the next paragraph marks the cut",
			in:   Message{Text: []string{"0123456789", "more"}},
			lim:  Limits{Text: 12},
			check: func(t *testing.T, got Message) {
				want := []string{"0123456789", "… (truncated)"}
				if !reflect.DeepEqual(got.Text, want) {
					t.Errorf("text = %q, want %q", got.Text, want)
				}
			},
		},
		{
			name: "fields beyond count dropped with a context note, values cut",
			in: Message{Context: "r42", Fields: []Field{
				{"env", "production-eu-west-1"}, {"service", "api"}, {"a", "1"}, {"b", "2"}}},
			lim: Limits{Fields: 2, FieldValue: 10},
			check: func(t *testing.T, got Message) {
				want := []Field{{"env", "productio…"}, {"service", "api"}}
				if !reflect.DeepEqual(got.Fields, want) {
					t.Errorf("fields = %q", got.Fields)
				}
				if got.Context != "r42 · +2 more fields" {
					t.Errorf("context = %q", got.Context)
				}
			},
		},
		{
			name: "tail code keeps the last lines",
			in:   Message{Code: &Code{Text: lines(1, 20), Tail: true}},
			lim:  Limits{Code: 60},
			check: func(t *testing.T, got Message) {
				want := "… 16 earlier lines not shown\nline 17\nline 18\nline 19\nline 20"
				if got.Code.Text != want {
					t.Errorf("code =\n%s\nwant\n%s", got.Code.Text, want)
				}
				if n := utf8.RuneCountInString(got.Code.Text); n > 60 {
					t.Errorf("code has %d runes, limit 60", n)
				}
			},
		},
		{
			name: "head code keeps the first lines",
			in:   Message{Code: &Code{Text: lines(1, 20)}},
			lim:  Limits{Code: 60},
			check: func(t *testing.T, got Message) {
				want := "line 01\nline 02\nline 03\nline 04\n… 16 more lines not shown"
				if got.Code.Text != want {
					t.Errorf("code =\n%s\nwant\n%s", got.Code.Text, want)
				}
			},
		},
		{
			name: "tail code with one huge last line keeps its end",
			in:   Message{Code: &Code{Text: "short\n" + strings.Repeat("é", 100) + "END", Tail: true}},
			lim:  Limits{Code: 50},
			check: func(t *testing.T, got Message) {
				c := got.Code.Text
				if !strings.HasPrefix(c, "… 1 earlier line not shown\n…") || !strings.HasSuffix(c, "éEND") {
					t.Errorf("code = %q", c)
				}
				if n := utf8.RuneCountInString(c); n > 50 || !utf8.ValidString(c) {
					t.Errorf("code has %d runes (limit 50), valid=%v", n, utf8.ValidString(c))
				}
			},
		},
		{
			name: "buttons beyond limit dropped with a text note, labels cut",
			in: Message{Text: []string{"pick"}, Buttons: []Button{
				{Label: "Approve this change", ActionID: "approve"}, {Label: "Deny", ActionID: "deny"},
				{Label: "Later", ActionID: "later"}}},
			lim: Limits{Buttons: 2, ButtonText: 8},
			check: func(t *testing.T, got Message) {
				if len(got.Buttons) != 2 || got.Buttons[0].Label != "Approve…" || got.Buttons[1].Label != "Deny" {
					t.Errorf("buttons = %+v", got.Buttons)
				}
				if len(got.Text) != 2 || !strings.Contains(got.Text[1], "+1 more action not shown") {
					t.Errorf("text = %q", got.Text)
				}
			},
		},
		{
			name: "button note survives a full text budget",
			in: Message{Text: []string{strings.Repeat("x", 200)},
				Buttons: []Button{{Label: "A"}, {Label: "B"}}},
			lim: Limits{Buttons: 1, Text: 100},
			check: func(t *testing.T, got Message) {
				if len(got.Text) != 2 || !strings.HasSuffix(got.Text[0], "… (truncated)") ||
					!strings.Contains(got.Text[1], "+1 more action") {
					t.Errorf("text = %q", got.Text)
				}
				if n := utf8.RuneCountInString(strings.Join(got.Text, "")); n > 100 {
					t.Errorf("text has %d runes, limit 100", n)
				}
			},
		},
		{
			name: "total shrinks the code block first",
			in: Message{Header: "h", Text: []string{strings.Repeat("t", 50)},
				Code: &Code{Text: lines(1, 100), Tail: true}},
			lim: Limits{Code: 400, Total: 200},
			check: func(t *testing.T, got Message) {
				if n := size(got); n > 200 {
					t.Errorf("size %d > total 200", n)
				}
				if len(got.Text) != 1 || len(got.Text[0]) != 50 {
					t.Errorf("text was cut before code: %q", got.Text)
				}
				if !strings.HasPrefix(got.Code.Text, "… ") || !strings.HasSuffix(got.Code.Text, "line 100") {
					t.Errorf("code = %q", got.Code.Text)
				}
				var kept int
				fmt.Sscanf(got.Code.Text, "… %d earlier", &kept)
				if shown := strings.Count(got.Code.Text, "\n"); kept+shown != 100 {
					t.Errorf("marker says %d hidden, %d shown: not 100 lines", kept, shown)
				}
			},
		},
		{
			name: "zero limits mean no limit",
			in:   Message{Header: strings.Repeat("h", 500), Code: &Code{Text: lines(1, 500)}},
			lim:  Limits{},
			check: func(t *testing.T, got Message) {
				if len(got.Header) != 500 || got.Code.Text != lines(1, 500) {
					t.Error("message changed under zero limits")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := deepCopy(tt.in)
			got := Fit(tt.in, tt.lim)
			tt.check(t, got)
			if !reflect.DeepEqual(tt.in, orig) {
				t.Error("Fit modified its input")
			}
			if again := Fit(got, tt.lim); !reflect.DeepEqual(again, got) {
				t.Errorf("Fit is not idempotent:\n%+v\n%+v", got, again)
			}
		})
	}
}

func deepCopy(m Message) Message {
	c := m
	c.Text = append([]string(nil), m.Text...)
	c.Fields = append([]Field(nil), m.Fields...)
	c.Buttons = append([]Button(nil), m.Buttons...)
	c.Links = append([]Link(nil), m.Links...)
	if m.Code != nil {
		cc := *m.Code
		c.Code = &cc
	}
	if m.Text == nil {
		c.Text = nil
	}
	if m.Fields == nil {
		c.Fields = nil
	}
	if m.Buttons == nil {
		c.Buttons = nil
	}
	if m.Links == nil {
		c.Links = nil
	}
	return c
}

// TestFitRuneSafe cuts multi-byte text at every limit and checks that the
// result is valid UTF-8 and within the limit.
func TestFitRuneSafe(t *testing.T) {
	s := strings.Repeat("ü日🙂x", 30) + "\n" + strings.Repeat("é", 40)
	for lim := 1; lim < 130; lim++ {
		for _, tail := range []bool{false, true} {
			got := Fit(Message{Header: s, Text: []string{s}, Fields: []Field{{"k", s}},
				Code: &Code{Text: s, Tail: tail}, Buttons: []Button{{Label: s}}},
				Limits{Header: lim, Text: lim, FieldValue: lim, Code: lim, ButtonText: lim})
			for name, v := range map[string]string{"header": got.Header, "text": strings.Join(got.Text, ""),
				"field": got.Fields[0].Value, "code": got.Code.Text, "button": got.Buttons[0].Label} {
				if !utf8.ValidString(v) {
					t.Fatalf("limit %d tail %v: %s is invalid UTF-8: %q", lim, tail, name, v)
				}
				if n := utf8.RuneCountInString(v); n > lim && !(name == "text" && lim < 13) {
					t.Fatalf("limit %d tail %v: %s has %d runes: %q", lim, tail, name, n, v)
				}
			}
		}
	}
}

type limitedChat struct {
	fakeChat
	l Limits
}

func (c *limitedChat) Limits() Limits { return c.l }

func TestLimitsOf(t *testing.T) {
	if got := LimitsOf(&fakeChat{}); got != DefaultLimits {
		t.Errorf("plain chat: %+v, want defaults", got)
	}
	want := Limits{Code: 7}
	if got := LimitsOf(&limitedChat{l: want}); got != want {
		t.Errorf("limited chat: %+v, want %+v", got, want)
	}
}

func TestStripANSI(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"\x1b[31mred\x1b[0m ok", "red ok"},
		{"\x1b[1;32;40mbold\x1b[m", "bold"},
		{"a\x1b[2K\x1b[1Gb", "ab"},
		{"\x1b]0;title\x07text", "text"},
		{"\x1b]8;;https://x.example\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"\u009b31mred\u009b0m", "red"},
		{"\x1b(Bascii", "ascii"},
		{"\x1b7saved\x1b8", "saved"},
		{"日本\x1b[33m語\x1b[0m", "日本語"},
		{"cut\x1b[31", "cut"},
		{"trailing esc\x1b", "trailing esc"},
		{"bad \xff utf8", "bad \xff utf8"},
	}
	for _, tt := range tests {
		if got := StripANSI(tt.in); got != tt.want {
			t.Errorf("StripANSI(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func BenchmarkFitTail(b *testing.B) {
	m := Message{Header: "restart-api — running", Code: &Code{Text: lines(1, 5000), Tail: true}}
	for b.Loop() {
		Fit(m, DefaultLimits)
	}
}

// FuzzFit checks, for any input and limit, that Fit keeps UTF-8 valid, keeps
// every limited part within its limit, and is idempotent.
func FuzzFit(f *testing.F) {
	f.Add("header", "para one", "line 1\nline 2\nline 3", "label", 10, true, 3)
	f.Add("日本語のヘッダー", "ü日🙂x", strings.Repeat("é\n", 50), "🙂🙂🙂", 7, false, 1)
	f.Add("", "", "", "", 1, true, 0)
	f.Fuzz(func(t *testing.T, header, text, code, label string, limit int, tail bool, nButtons int) {
		if limit < 1 || limit > 500 || nButtons < 0 || nButtons > 20 {
			t.Skip()
		}
		for _, s := range []string{header, text, code, label} {
			if !utf8.ValidString(s) {
				t.Skip()
			}
		}
		m := Message{Header: header, Text: []string{text, text}, Fields: []Field{{"k", label}, {"k2", text}},
			Code: &Code{Text: code, Tail: tail}}
		for range nButtons {
			m.Buttons = append(m.Buttons, Button{Label: label})
		}
		l := Limits{Header: limit, FieldValue: limit, Fields: 1, Code: limit, Buttons: 2, ButtonText: limit}
		got := Fit(m, l)
		check := func(name, s string) {
			if !utf8.ValidString(s) {
				t.Fatalf("%s is invalid UTF-8: %q", name, s)
			}
			if n := utf8.RuneCountInString(s); n > limit {
				t.Fatalf("%s has %d runes, limit %d: %q", name, n, limit, s)
			}
		}
		check("header", got.Header)
		check("code", got.Code.Text)
		check("field", got.Fields[0].Value)
		for _, b := range got.Buttons {
			check("button", b.Label)
		}
		if len(got.Fields) > 1 || len(got.Buttons) > 2 {
			t.Fatalf("counts not limited: %d fields, %d buttons", len(got.Fields), len(got.Buttons))
		}
		if again := Fit(got, l); !reflect.DeepEqual(again, got) {
			t.Fatalf("not idempotent:\n%+v\n%+v", got, again)
		}
	})
}

// FuzzStripANSI: the result holds no ESC, stays valid UTF-8, and stripping
// twice changes nothing.
func FuzzStripANSI(f *testing.F) {
	for _, s := range []string{"\x1b[31mred\x1b[0m", "\x1b]0;t\x07x", "\x1b(é", "\x1bé", "\u009b1m日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := StripANSI(s)
		if strings.Contains(got, "\x1b") {
			t.Fatalf("ESC left in %q", got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("valid input %q became invalid %q", s, got)
		}
		if utf8.ValidString(s) && StripANSI(got) != got {
			t.Fatalf("not idempotent: %q → %q", got, StripANSI(got))
		}
	})
}
