package incident

import (
	"net/url"
	"text/template"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
)

// Bridge renders incidents.bridge_url, the incident's call bridge (a Jitsi
// room named after the slug, or one fixed Zoom/Teams/Meet room), for the
// card, the announcement and the ticket.
type Bridge struct {
	tmpl *template.Template // nil: no bridge
	host string
}

// NewBridge checks text (see config.BridgeHost) and compiles it. An empty
// text is no bridge: URL returns "".
func NewBridge(text string) (*Bridge, error) {
	if text == "" {
		return &Bridge{}, nil
	}
	host, err := config.BridgeHost(text)
	if err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, "incidents.bridge_url "+err.Error())
	}
	t, err := parseTemplate("bridge_url", text)
	if err != nil {
		return nil, tebura.Wrap(tebura.EINVALID, err, "incidents.bridge_url is not a valid template")
	}
	return &Bridge{tmpl: t, host: host}, nil
}

// URL is inc's call bridge, or "" when there is none or the template gave
// something that is not an https URL on the configured host (then ok is
// false, for the caller to log).
func (b *Bridge) URL(inc *Incident) (u string, ok bool) {
	if b == nil || b.tmpl == nil {
		return "", true
	}
	// A template may be executed by several goroutines at once.
	s, err := render(b.tmpl, templateData(inc, inc.Labels, inc.Annotations))
	if err != nil {
		return "", false
	}
	p, err := url.Parse(s)
	if err != nil || p.Scheme != "https" || p.Host != b.host || p.User != nil {
		return "", false
	}
	return s, true
}
