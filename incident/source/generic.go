package source

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"text/template"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// Generic receives any JSON object and maps it to one alert with the
// configured templates (sources.generic.<name>, filled from its preset):
// key (required; the group key and fingerprint), title, status, severity
// and labels. Templates see the decoded body, numbers with their exact
// text: `{{ .alert.id }}`, `{{ index .tags 0 }}`; the helpers are described
// in generic_template.go. A missing field is an error (400), not an empty
// string, unless default or get reads it.
type Generic struct {
	name      string
	cfg       config.GenericSource // preset applied
	set       *template.Template   // one template per configured field
	has       map[string]bool      // fields with a template
	labels    []string             // label names, sorted
	statusMap map[string]string    // rendered status → firing | resolved | ignored
}

// Words the status template may render, case-insensitively, when
// status_map does not name the text.
var (
	firingWords   = []string{"firing", "triggered", "trigger", "alerting", "alert", "problem", "open", "down", "critical", "warning", "error"}
	resolvedWords = []string{"resolved", "resolve", "ok", "closed", "recovered", "recovery", "normal", "up"}
)

// NewGeneric applies the preset of generic source name and compiles its
// templates. Its errors are *config.KeyError, so the configuration loader,
// which runs it for every generic source, can point at the key.
func NewGeneric(name string, cfg config.GenericSource) (*Generic, error) {
	where := "sources.generic." + name
	cfg, err := ApplyPreset(cfg)
	if err != nil {
		return nil, &config.KeyError{Key: where + ".preset", Msg: err.Error()}
	}
	if strings.TrimSpace(cfg.Key) == "" {
		return nil, &config.KeyError{Key: where + ".key", Msg: "set a template for the alert key, like {{ .id }}"}
	}
	if cfg.HMACSecret != "" && cfg.SignatureHeader == "" {
		return nil, &config.KeyError{Key: where + ".signature_header", Msg: "name the header that carries the signature"}
	}
	g := &Generic{name: name, cfg: cfg, has: map[string]bool{}, labels: slices.Sorted(maps.Keys(cfg.Labels)), statusMap: map[string]string{}}
	for k, v := range cfg.StatusMap {
		if !config.ValidMappedStatus(v) {
			return nil, &config.KeyError{Key: where + ".status_map." + k, Msg: fmt.Sprintf("is %q; use firing, resolved or ignored", v)}
		}
		g.statusMap[k] = strings.ToLower(v)
	}
	if len(g.statusMap) > 0 && cfg.Status == "" {
		return nil, &config.KeyError{Key: where + ".status", Msg: "set a template whose text status_map maps"}
	}
	g.set = template.New(where).Option("missingkey=error").Funcs(mappingFuncs())
	fields := map[string]string{"key": cfg.Key, "title": cfg.Title, "status": cfg.Status, "severity": cfg.Severity}
	for _, k := range g.labels {
		fields["labels."+k] = cfg.Labels[k]
	}
	for _, field := range slices.Sorted(maps.Keys(fields)) {
		if fields[field] == "" {
			continue
		}
		t, err := g.set.New(field).Parse(fields[field])
		if err != nil {
			return nil, &config.KeyError{Key: where + "." + field, Msg: err.Error()}
		}
		rewriteTree(t.Tree)
		g.has[field] = true
	}
	return g, nil
}

// Name implements Source.
func (g *Generic) Name() string { return "generic/" + g.name }

// Verify implements Source. Every configured credential must pass: the
// bearer token or basic auth (Authorization header; either one when both
// are set) and the signature (hex HMAC-SHA256
// of the raw body in signature_header, optionally prefixed "sha256=").
func (g *Generic) Verify(r *http.Request, body []byte) error {
	if !g.cfg.Authenticated() {
		if g.cfg.Insecure {
			return nil
		}
		return unauthorized("no credentials configured")
	}
	if g.cfg.BearerToken != "" || g.cfg.BasicAuth != (config.BasicAuth{}) {
		if err := checkBearerOrBasic(r, g.cfg.BearerToken, g.cfg.BasicAuth); err != nil {
			return err
		}
	}
	if secret := g.cfg.HMACSecret.Value(); secret != "" {
		return checkHexHMAC(r.Header, g.cfg.SignatureHeader, secret, body)
	}
	return nil
}

// checkHexHMAC checks header h against hex(HMAC-SHA256(secret, body)) in
// constant time, as Sentry (Sentry-Hook-Signature) and GitHub-style senders
// ("sha256=<hex>") sign.
func checkHexHMAC(hdr http.Header, h, secret string, body []byte) error {
	got := strings.TrimSpace(hdr.Get(h))
	if got == "" {
		return unauthorized("missing signature header " + h)
	}
	if len(got) > 7 && strings.EqualFold(got[:7], "sha256=") {
		got = got[7:]
	}
	sig, err := hex.DecodeString(got)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return unauthorized("bad signature in " + h + " (want the hex HMAC-SHA256 of the body)")
	}
	return nil
}

// Parse implements Source. The status is rendered first: a delivery whose
// status maps to ignored (a sender's test button) is answered 200 without
// rendering anything else.
func (g *Generic) Parse(h http.Header, body []byte) (incident.Batch, error) {
	data, err := decodeObject(body)
	if err != nil {
		return incident.Batch{}, err
	}
	set, err := withHeader(g.set, h)
	if err != nil {
		return incident.Batch{}, fmt.Errorf("generic %s: %w", g.name, err)
	}
	render := func(field string) (string, error) {
		if !g.has[field] {
			return "", nil
		}
		var b bytes.Buffer
		if err := set.ExecuteTemplate(&b, field, data); err != nil {
			return "", badRequest("%s: %v", field, err)
		}
		return strings.TrimSpace(b.String()), nil
	}
	status := incident.AlertFiring
	if g.has["status"] {
		s, err := render("status")
		if err != nil {
			return incident.Batch{}, err
		}
		switch g.classify(s) {
		case "ignored":
			return incident.Batch{}, ErrIgnored
		case "resolved":
			status = incident.AlertResolved
		case "firing":
		default:
			return incident.Batch{}, badRequest("%s", g.unknownStatus(s))
		}
	}
	key, err := render("key")
	if err != nil {
		return incident.Batch{}, err
	}
	if key == "" {
		return incident.Batch{}, badRequest("key: the template rendered an empty key")
	}
	title, err := render("title")
	if err != nil {
		return incident.Batch{}, err
	}
	sev, err := render("severity")
	if err != nil {
		return incident.Batch{}, err
	}
	ls := map[string]string{}
	for _, k := range g.labels {
		v, err := render("labels." + k)
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

// decodeObject decodes one JSON object, numbers as json.Number so ids keep
// their exact text.
func decodeObject(body []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest("malformed JSON: more data after the object")
	}
	data, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("malformed JSON: want an object, got %s", jsonKind(v))
	}
	return data, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// classify maps a rendered status to firing, resolved or ignored: status_map
// (exact text, then case-insensitively, then its "*" entry), then the
// built-in words; "" when nothing matches.
func (g *Generic) classify(s string) string {
	if v, ok := g.statusMap[s]; ok {
		return v
	}
	for _, k := range slices.Sorted(maps.Keys(g.statusMap)) {
		if strings.EqualFold(k, s) {
			return g.statusMap[k]
		}
	}
	if v, ok := g.statusMap["*"]; ok {
		return v
	}
	switch {
	case contains(resolvedWords, s):
		return "resolved"
	case contains(firingWords, s):
		return "firing"
	}
	return ""
}

// unknownStatus is the one-line reason for a status nothing maps: the
// value and the accepted words.
func (g *Generic) unknownStatus(s string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status: %q is neither firing nor resolved; accepted: ", s)
	if len(g.statusMap) > 0 {
		keys := slices.Sorted(maps.Keys(g.statusMap))
		for i, k := range keys {
			keys[i] = fmt.Sprintf("%q", k)
		}
		fmt.Fprintf(&b, "status_map keys %s; ", strings.Join(keys, ", "))
	}
	fmt.Fprintf(&b, "firing words %s; resolved words %s", strings.Join(firingWords, ", "), strings.Join(resolvedWords, ", "))
	return b.String()
}

func contains(words []string, s string) bool {
	for _, w := range words {
		if strings.EqualFold(w, s) {
			return true
		}
	}
	return false
}
