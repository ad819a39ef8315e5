package source

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"text/template"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// Generic receives any JSON object and maps it to one alert with the
// configured templates (sources.generic.<name>): key (required; the group
// key and fingerprint), title, status, severity and labels. Templates see
// the decoded body: `{{ .alert.id }}`, `{{ index .tags 0 }}`. A missing field
// is an error (400), not an empty string.
type Generic struct {
	name     string
	cfg      config.GenericSource
	key      *template.Template
	title    *template.Template
	status   *template.Template
	severity *template.Template
	labels   map[string]*template.Template
}

// Words the status template may render, case-insensitively.
var (
	firingWords   = []string{"firing", "triggered", "trigger", "alerting", "alert", "problem", "open", "down", "critical", "warning", "error"}
	resolvedWords = []string{"resolved", "resolve", "ok", "closed", "recovered", "recovery", "normal", "up"}
)

// NewGeneric compiles the templates of generic source name.
func NewGeneric(name string, cfg config.GenericSource) (*Generic, error) {
	g := &Generic{name: name, cfg: cfg, labels: map[string]*template.Template{}}
	where := "sources.generic." + name
	if strings.TrimSpace(cfg.Key) == "" {
		return nil, fmt.Errorf("%s.key: set a template for the alert key, like {{ .id }}", where)
	}
	var err error
	parse := func(field, text string) *template.Template {
		if err != nil || text == "" {
			return nil
		}
		var t *template.Template
		t, err = template.New(field).Option("missingkey=error").Parse(text)
		if err != nil {
			err = fmt.Errorf("%s.%s: %w", where, field, err)
		}
		return t
	}
	g.key = parse("key", cfg.Key)
	g.title = parse("title", cfg.Title)
	g.status = parse("status", cfg.Status)
	g.severity = parse("severity", cfg.Severity)
	for _, k := range sortedNames(cfg.Labels) {
		g.labels[k] = parse("labels."+k, cfg.Labels[k])
	}
	if err != nil {
		return nil, err
	}
	return g, nil
}

// Name implements Source.
func (g *Generic) Name() string { return "generic/" + g.name }

// Verify implements Source: the bearer token or the basic auth configured
// (either one when both are).
func (g *Generic) Verify(r *http.Request, _ []byte) error {
	if g.cfg.Insecure && g.cfg.BearerToken == "" && g.cfg.BasicAuth.Username == "" {
		return nil
	}
	return checkBearerOrBasic(r, g.cfg.BearerToken, g.cfg.BasicAuth)
}

func exec(t *template.Template, data any) (string, error) {
	if t == nil {
		return "", nil
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", badRequest("%s: %v", t.Name(), err)
	}
	return strings.TrimSpace(b.String()), nil
}

// Parse implements Source.
func (g *Generic) Parse(_ http.Header, body []byte) (incident.Batch, error) {
	var data map[string]any
	if err := json.Unmarshal(body, &data); err != nil {
		return incident.Batch{}, badRequest("malformed JSON (want an object): %v", err)
	}
	key, err := exec(g.key, data)
	if err != nil {
		return incident.Batch{}, err
	}
	if key == "" {
		return incident.Batch{}, badRequest("key: the template rendered an empty key")
	}
	title, err := exec(g.title, data)
	if err != nil {
		return incident.Batch{}, err
	}
	sev, err := exec(g.severity, data)
	if err != nil {
		return incident.Batch{}, err
	}
	status := incident.AlertFiring
	if g.status != nil {
		s, err := exec(g.status, data)
		if err != nil {
			return incident.Batch{}, err
		}
		switch {
		case contains(resolvedWords, s):
			status = incident.AlertResolved
		case contains(firingWords, s):
		default:
			return incident.Batch{}, badRequest("status: %q is neither firing nor resolved", s)
		}
	}
	ls := map[string]string{}
	for _, k := range sortedNames(g.labels) {
		v, err := exec(g.labels[k], data)
		if err != nil {
			return incident.Batch{}, err
		}
		if v != "" {
			ls[k] = v
		}
	}
	if sev != "" {
		ls["severity"] = sev
	}
	ann := map[string]string{}
	if title != "" {
		ann["summary"] = title
	}
	return incident.Batch{
		Source: g.Name(), GroupKey: key, Title: title, Severity: sev, Labels: ls,
		Alerts: []incident.Alert{{Source: g.Name(), Fingerprint: key, Status: status, Labels: ls, Annotations: ann}},
	}, nil
}

func contains(words []string, s string) bool {
	for _, w := range words {
		if strings.EqualFold(w, s) {
			return true
		}
	}
	return false
}

func sortedNames[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
