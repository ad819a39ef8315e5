package tebura

import "strings"

// Slug turns s into a channel name Slack and Discord both accept:
// lowercase a-z, 0-9 and "_" kept, every run of other characters made one
// "-", no leading or trailing "-", at most max bytes, never empty
// ("incident").
//
// It lives here because two sides need the same rule and may not import
// each other: the incident domain names channels with it (channel_template,
// {{ .Slug }}, the rules' slug function), and each chat adapter applies it
// again with its platform's length limit to whatever name it is handed.
func Slug(s string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > max {
		out = strings.TrimRight(out[:max], "-")
	}
	if out == "" {
		out = "incident"
	}
	return out
}
