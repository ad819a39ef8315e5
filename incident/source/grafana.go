package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// Grafana signature header names. The documented default is
// X-Grafana-Alerting-Signature, the library fallback constant is
// X-Grafana-Alert-Signature; both are accepted
// (https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/integrations/webhook-notifier/,
// grafana/alerting http/hmac.go).
const (
	HeaderGrafanaSignature       = "X-Grafana-Alerting-Signature"
	HeaderGrafanaSignatureLegacy = "X-Grafana-Alert-Signature"
)

// MaxSignatureAge is how far a signed timestamp may be from now, either way.
const MaxSignatureAge = 5 * time.Minute

// Grafana receives Grafana unified alerting webhooks: the Alertmanager
// shape with version "1" and extra links per alert, or that shape without a
// version when a custom payload template (Grafana 12) writes the body.
// Requests are checked with the bearer token or the basic auth a contact
// point sends, and/or the optional HMAC-SHA256 signature, hex(HMAC(secret,
// [ts + ":"] + body)).
type Grafana struct {
	cfg   config.Grafana
	clock func() time.Time
}

// NewGrafana returns the Grafana source; clock may be nil (time.Now).
func NewGrafana(cfg config.Grafana, clock func() time.Time) *Grafana {
	if clock == nil {
		clock = time.Now
	}
	return &Grafana{cfg: cfg, clock: clock}
}

// Name implements Source.
func (*Grafana) Name() string { return "grafana" }

// Verify implements Source. With a bearer token or basic auth configured,
// one of them must match (a contact point sends one or the other). With an
// HMAC secret the signature must match too; with a timestamp header
// configured the timestamp must be present, within MaxSignatureAge, and
// signed. A refusal names what was expected, so that whoever reads it (in
// Tebura's log or in the answer; Grafana logs the answer only at debug
// level) can fix the side that differs.
func (g *Grafana) Verify(r *http.Request, body []byte) error {
	login := g.cfg.BearerToken != "" || g.cfg.BasicAuth.Username != ""
	if login {
		if err := checkBearerOrBasic(r, g.cfg.BearerToken, g.cfg.BasicAuth); err != nil {
			return err
		}
	}
	secret := g.cfg.HMACSecret.Value()
	if secret == "" {
		if !login && !g.cfg.Insecure {
			return unauthorized("no credentials configured")
		}
		return nil
	}
	headers := g.signatureHeaders()
	var sig, found string
	for _, h := range headers {
		if sig = r.Header.Get(h); sig != "" {
			found = h
			break
		}
	}
	want := "want the hex HMAC-SHA256 of the body (no timestamp header: timestamp_header is not set) in " + strings.Join(headers, " or ")
	ts := g.cfg.TimestampHeader
	if ts != "" {
		want = "want the hex HMAC-SHA256 of \"<timestamp>:<body>\" with the Unix timestamp in header " + ts + ", in " + strings.Join(headers, " or ")
	}
	if sig == "" {
		return unauthorized("missing signature: " + want)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	if ts != "" {
		stamp := r.Header.Get(ts)
		sec, err := strconv.ParseInt(stamp, 10, 64)
		if err != nil {
			return unauthorized("missing or malformed signature timestamp: want Unix seconds in header " + ts + " (timestamp_header is set)")
		}
		if age := g.clock().Sub(time.Unix(sec, 0)); age > MaxSignatureAge || age < -MaxSignatureAge {
			return unauthorized(fmt.Sprintf("stale signature timestamp in header %s: more than %s from now", ts, MaxSignatureAge))
		}
		mac.Write([]byte(stamp + ":"))
	}
	mac.Write(body)
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return unauthorized("bad signature in " + found + ": " + want)
	}
	return nil
}

// signatureHeaders lists the headers a signature is looked for in, in
// order: the configured one, then Grafana's documented and library names.
func (g *Grafana) signatureHeaders() []string {
	var hs []string
	for _, h := range []string{g.cfg.SignatureHeader, HeaderGrafanaSignature, HeaderGrafanaSignatureLegacy} {
		if h = http.CanonicalHeaderKey(h); h != "" && !slices.Contains(hs, h) {
			hs = append(hs, h)
		}
	}
	return hs
}

type grafanaMessage struct {
	amMessage
	OrgID   int64  `json:"orgId"`
	State   string `json:"state"`
	Title   string `json:"title"`
	Message string `json:"message"`
}

// grafanaAlertOrgs reads what the Alertmanager shape of an alert lacks:
// newer Grafana puts the org on every alert, where a custom payload that
// drops the top-level orgId keeps it.
type grafanaAlertOrgs struct {
	Alerts []struct {
		OrgID int64 `json:"orgId"`
	} `json:"alerts"`
}

// Parse implements Source.
func (g *Grafana) Parse(_ http.Header, body []byte) (incident.Batch, error) {
	var m grafanaMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return incident.Batch{}, badRequest("malformed JSON: %v", err)
	}
	switch m.Version {
	case "1":
	case "":
		// A custom payload template replaces the whole body and need not
		// write a version; Grafana's shape is still its alerts list.
		if m.Alerts == nil {
			return incident.Batch{}, badRequest(`not a Grafana alert notification: no "version" and no "alerts" list ` +
				`(a custom payload template must keep Grafana's "alerts", each with status and labels)`)
		}
	case "4":
		return incident.Batch{}, badRequest(`version "4" is an Alertmanager webhook; point Alertmanager at /hooks/alertmanager`)
	default:
		return incident.Batch{}, badRequest(`version %q is not a Grafana webhook; Grafana sends "1", or no version from a custom payload template`, m.Version)
	}
	if m.OrgID == 0 {
		var orgs grafanaAlertOrgs
		if json.Unmarshal(body, &orgs) == nil && len(orgs.Alerts) > 0 {
			m.OrgID = orgs.Alerts[0].OrgID
		}
	}
	if m.GroupKey == "" {
		// Grafana's own body always has one; a custom payload may not. Key
		// on the org and the group labels then.
		m.GroupKey = strconv.FormatInt(m.OrgID, 10) + ":" + fingerprint(m.GroupLabels)
	}
	b, err := m.batch(g.Name())
	if err != nil {
		return b, err
	}
	if m.OrgID != 0 {
		b.GroupKey = strconv.FormatInt(m.OrgID, 10) + "/" + b.GroupKey
	}
	return b, nil
}
