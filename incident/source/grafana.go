package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
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
// shape with version "1" and extra links per alert. Requests are checked
// with the optional HMAC-SHA256 signature, hex(HMAC(secret, [ts + ":"] +
// body)), and/or the bearer token or basic auth a contact point sends.
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
// signed.
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
	var sig string
	for _, h := range []string{g.cfg.SignatureHeader, HeaderGrafanaSignature, HeaderGrafanaSignatureLegacy} {
		if h != "" {
			if sig = r.Header.Get(h); sig != "" {
				break
			}
		}
	}
	if sig == "" {
		return unauthorized("missing signature header")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	if h := g.cfg.TimestampHeader; h != "" {
		ts := r.Header.Get(h)
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return unauthorized("missing or malformed signature timestamp")
		}
		if age := g.clock().Sub(time.Unix(sec, 0)); age > MaxSignatureAge || age < -MaxSignatureAge {
			return unauthorized("stale signature timestamp")
		}
		mac.Write([]byte(ts + ":"))
	}
	mac.Write(body)
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return unauthorized("bad signature")
	}
	return nil
}

type grafanaMessage struct {
	amMessage
	OrgID   int64  `json:"orgId"`
	State   string `json:"state"`
	Title   string `json:"title"`
	Message string `json:"message"`
}

// Parse implements Source.
func (g *Grafana) Parse(_ http.Header, body []byte) (incident.Batch, error) {
	var m grafanaMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return incident.Batch{}, badRequest("malformed JSON: %v", err)
	}
	if m.Version != "1" {
		return incident.Batch{}, badRequest("version %q is not supported; the Grafana webhook version 1 is", m.Version)
	}
	if m.GroupKey == "" {
		// Grafana always sends one; key on the org and group labels otherwise.
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
