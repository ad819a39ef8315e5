package source

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// Alertmanager receives Alertmanager webhook v4 notifications
// (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config):
// one group per request, keyed by groupKey, alerts by fingerprint.
// Authentication is the bearer token or basic auth that Alertmanager's
// http_config sends; Alertmanager itself signs nothing.
type Alertmanager struct {
	cfg config.Alertmanager
}

// NewAlertmanager returns the Alertmanager source.
func NewAlertmanager(cfg config.Alertmanager) *Alertmanager { return &Alertmanager{cfg: cfg} }

// Name implements Source.
func (*Alertmanager) Name() string { return "alertmanager" }

// Verify implements Source.
func (a *Alertmanager) Verify(r *http.Request, _ []byte) error {
	if a.cfg.Insecure && a.cfg.BearerToken == "" && a.cfg.BasicAuth.Username == "" {
		return nil
	}
	return checkBearerOrBasic(r, a.cfg.BearerToken, a.cfg.BasicAuth)
}

// amMessage is the webhook body (notify/webhook.Message in Alertmanager).
// Grafana's webhook shares it and adds fields.
type amMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []amAlert         `json:"alerts"`
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	// Grafana extras.
	SilenceURL   string `json:"silenceURL"`
	DashboardURL string `json:"dashboardURL"`
	PanelURL     string `json:"panelURL"`
	ImageURL     string `json:"imageURL"`
}

// Parse implements Source.
func (a *Alertmanager) Parse(_ http.Header, body []byte) (incident.Batch, error) {
	var m amMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return incident.Batch{}, badRequest("malformed JSON: %v", err)
	}
	if m.Version != "4" {
		return incident.Batch{}, badRequest("version %q is not supported; Alertmanager webhook version 4 is", m.Version)
	}
	return m.batch(a.Name())
}

func (m *amMessage) batch(source string) (incident.Batch, error) {
	if m.GroupKey == "" {
		return incident.Batch{}, badRequest("groupKey is missing")
	}
	if len(m.Alerts) == 0 {
		return incident.Batch{}, badRequest("alerts is empty")
	}
	b := incident.Batch{
		Source: source, GroupKey: m.GroupKey, Labels: m.CommonLabels, Annotations: m.CommonAnnotations,
		Truncated: m.TruncatedAlerts, Alerts: make([]incident.Alert, 0, len(m.Alerts)),
	}
	if len(b.Labels) == 0 {
		b.Labels = m.GroupLabels
	}
	if m.ExternalURL != "" {
		b.Links = append(b.Links, incident.Link{Title: "Alert group", URL: m.ExternalURL})
	}
	for i, x := range m.Alerts {
		st := incident.AlertStatus(x.Status)
		if st != incident.AlertFiring && st != incident.AlertResolved {
			return incident.Batch{}, badRequest("alerts[%d].status %q is neither firing nor resolved", i, x.Status)
		}
		if len(x.Labels) == 0 {
			return incident.Batch{}, badRequest("alerts[%d] has no labels", i)
		}
		fp := x.Fingerprint
		if fp == "" {
			fp = fingerprint(x.Labels)
		}
		al := incident.Alert{
			Source: source, Fingerprint: fp, Status: st, Labels: x.Labels, Annotations: x.Annotations,
			StartsAt: x.StartsAt.UTC(), GeneratorURL: x.GeneratorURL,
		}
		if st == incident.AlertResolved && !x.EndsAt.IsZero() && x.EndsAt.Year() > 1 {
			al.EndsAt = x.EndsAt.UTC()
		}
		for _, l := range []incident.Link{
			{Title: "Dashboard", URL: x.DashboardURL}, {Title: "Panel", URL: x.PanelURL},
			{Title: "Silence", URL: x.SilenceURL}, {Title: "Image", URL: x.ImageURL},
			{Title: "Dashboard", URL: x.Annotations["dashboard"]}, {Title: "Runbook", URL: x.Annotations["runbook_url"]},
		} {
			if l.URL != "" {
				al.Links = append(al.Links, l)
			}
		}
		b.Alerts = append(b.Alerts, al)
	}
	return b, nil
}

// fingerprint derives a stable ID from a label set, for senders that do not
// send one.
func fingerprint(ls map[string]string) string {
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(ls[k]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
