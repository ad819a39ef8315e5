package bot

import (
	"net/url"
	"strings"
)

// Verbatim spans are delimited by two Unicode noncharacters, which are
// reserved for a program's internal use and never mean anything in chat.
const (
	verbatimOpen  = '\uFDD0'
	verbatimClose = '\uFDD1'
)

var unmarker = strings.NewReplacer(string(verbatimOpen), "", string(verbatimClose), "")

// Verbatim marks s, text from outside (an alert's labels and annotations, a
// param, a run's output), for use inside Message.Text or Message.Context,
// whose own words may carry light formatting. Every renderer shows a
// verbatim span as the characters it holds: no formatting, mention, channel
// link or masked link of its medium is read in it. Header, field labels and
// values, link labels, button labels and code are verbatim already and need
// no marking.
func Verbatim(s string) string {
	return string(verbatimOpen) + Unmark(s) + string(verbatimClose)
}

// Unmark removes Verbatim's marks, for media that have no formatting to
// neutralize (a terminal, a JSON event) and for fields that are shown
// verbatim anyway.
func Unmark(s string) string {
	if !strings.ContainsAny(s, string(verbatimOpen)+string(verbatimClose)) {
		return s
	}
	return unmarker.Replace(s)
}

// Spans calls f for each piece of s in order: verbatim is true for text
// marked by Verbatim and false for the caller's own words. A span whose end
// was cut off (by trimming) runs to the end of s: what is left of outside
// text stays verbatim.
func Spans(s string, f func(text string, verbatim bool)) {
	for s != "" {
		i := strings.IndexRune(s, verbatimOpen)
		if i < 0 {
			f(unmarker.Replace(s), false)
			return
		}
		if i > 0 {
			f(unmarker.Replace(s[:i]), false)
		}
		s = s[i+len(string(verbatimOpen)):]
		j := strings.IndexRune(s, verbatimClose)
		if j < 0 {
			f(unmarker.Replace(s), true)
			return
		}
		f(unmarker.Replace(s[:j]), true)
		s = s[j+len(string(verbatimClose)):]
	}
}

// MapSpans rewrites s span by span: own words through markup, verbatim
// spans through verbatim. Renderers use it to escape each kind for their
// medium.
func MapSpans(s string, markup, verbatim func(string) string) string {
	var b strings.Builder
	Spans(s, func(t string, v bool) {
		if v {
			b.WriteString(verbatim(t))
		} else {
			b.WriteString(markup(t))
		}
	})
	return b.String()
}

// LinkURL reports whether u may be shown as a link: an absolute http or
// https URL with a host. Alert annotations and source links come from
// outside; a javascript:, data:, slack: or file: URL must never become a
// button-like link in chat, so every renderer drops a link that fails this.
func LinkURL(u string) bool {
	p, err := url.Parse(strings.TrimSpace(u))
	if err != nil || p.Host == "" || p.User != nil {
		return false
	}
	switch strings.ToLower(p.Scheme) {
	case "http", "https":
		return true
	}
	return false
}
