package tickets

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tebura/tebura"
)

// maxAnswer caps what is read of a ticketing system's answer.
const maxAnswer = 1 << 20

// API is a ticketing system's JSON API over HTTPS: what the Jira and
// ServiceNow clients share. Do sends one request with the system's
// authentication and JSON in and out, and turns an answer's status into
// the errors the service retries (a 429 as *Throttled with its
// Retry-After, a 5xx or no answer ETRANSIENT) or shows on the card (401,
// 403, 404 and the rest, each a sentence saying what to check).
type API struct {
	// System names the system in sentences ("Jira").
	System string
	Base   *url.URL
	HTTP   *http.Client
	// Now dates a Retry-After given as a date.
	Now func() time.Time
	// Auth adds the credentials to a request.
	Auth func(*http.Request)
	// Detail reads the system's own error message from an answer's body.
	Detail func(body []byte) string
	// Unauthorized is the sentence for a 401: which keys to check.
	Unauthorized string
	// Forbidden and NotFound make the sentences for a 403 and a 404 from
	// the system's message.
	Forbidden func(detail string) string
	NotFound  func(detail string) string
}

// Do sends method path with in (JSON, when not nil) and decodes an answer
// of status want into out (when not nil).
func (a *API) Do(ctx context.Context, method, path string, in, out any, want int) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return tebura.Wrap(tebura.EINTERNAL, err, a.System+" request not encoded.")
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.Base.String()+path, body)
	if err != nil {
		return tebura.Wrap(tebura.EINTERNAL, err, a.System+" request not built.")
	}
	a.Auth(req)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.HTTP.Do(req)
	if err != nil {
		return tebura.Wrap(tebura.ETRANSIENT, err, a.System+" did not answer.")
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode == want {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return tebura.Wrap(tebura.ETRANSIENT, err, a.System+"'s answer was not the JSON expected.")
		}
		return nil
	}
	return a.failure(resp, b)
}

// failure is the error of an answer whose status was not the one wanted.
func (a *API) failure(resp *http.Response, b []byte) error {
	detail := Clip(strings.Join(strings.Fields(a.Detail(b)), " "), 300)
	switch st := resp.StatusCode; {
	case st == http.StatusTooManyRequests:
		after, _ := ParseRetryAfter(resp.Header.Get("Retry-After"), a.Now())
		return &Throttled{After: after, Err: tebura.Errorf(tebura.ETRANSIENT, "%s asked to slow down (429).", a.System)}
	case st >= 500:
		return tebura.Errorf(tebura.ETRANSIENT, "%s is unavailable (%d).", a.System, st)
	case st == http.StatusUnauthorized:
		return tebura.Errorf(tebura.EUNAUTHENTICATED, "%s", a.Unauthorized)
	case st == http.StatusForbidden:
		return tebura.Errorf(tebura.EFORBIDDEN, "%s", a.Forbidden(detail))
	case st == http.StatusNotFound:
		return tebura.Errorf(tebura.ENOTFOUND, "%s", a.NotFound(detail))
	default:
		return tebura.Errorf(tebura.EINVALID, "%s refused the request (%d): %s", a.System, st, detail)
	}
}

// Clip cuts s to at most n runes, ending with "…" when it cut.
func Clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// NewBase parses a configured system URL; key names the config key for the
// sentence.
func NewBase(raw, key string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil || u.Host == "" {
		return nil, tebura.Errorf(tebura.EINVALID, "%s %q is not a URL.", key, raw)
	}
	return u, nil
}
