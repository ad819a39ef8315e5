package bot

import (
	"strings"
	"testing"
)

func TestSpans(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string // markup spans as m(…), verbatim spans as v(…)
	}{
		{"no marks", "plain *bold*", "m(plain *bold*)"},
		{"one span", "*" + Verbatim("a*b") + "* done", "m(*)v(a*b)m(* done)"},
		{"two spans", Verbatim("x") + " and " + Verbatim("y"), "v(x)m( and )v(y)"},
		{"cut end stays verbatim", strings.TrimSuffix(Verbatim("<!channel>"), "\uFDD1"), "v(<!channel>)"},
		{"marks inside outside text cannot close a span", Verbatim("a\uFDD1 *b* \uFDD0c"), "v(a *b* c)"},
		{"stray close mark dropped", "a\uFDD1b", "m(ab)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			Spans(tc.in, func(s string, v bool) {
				if v {
					b.WriteString("v(" + s + ")")
				} else {
					b.WriteString("m(" + s + ")")
				}
			})
			if b.String() != tc.want {
				t.Errorf("Spans(%q) = %s, want %s", tc.in, b.String(), tc.want)
			}
			if got := Unmark(tc.in); strings.ContainsAny(got, "\uFDD0\uFDD1") {
				t.Errorf("Unmark(%q) = %q keeps a mark", tc.in, got)
			}
		})
	}
}

func TestLinkURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://grafana.example/d/abc?var=1&x=2", true},
		{"http://runbooks.example/latency", true},
		{"HTTPS://Example.com/x", true},
		{"javascript:alert(1)", false},
		{"JavaScript://example.com/%0aalert(1)", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"slack://channel?team=T1&id=C1", false},
		{"file:///etc/passwd", false},
		{"//evil.example/x", false},
		{"/relative/path", false},
		{"https://slack.com@evil.example/", false},
		{"", false},
		{"http://", false},
	} {
		if got := LinkURL(tc.url); got != tc.ok {
			t.Errorf("LinkURL(%q) = %v, want %v", tc.url, got, tc.ok)
		}
	}
}
