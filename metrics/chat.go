package metrics

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura/bot"
)

// Transport wraps rt (nil: http.DefaultTransport) so that every chat API
// call counts in tebura_chat_api_requests_total{platform,method,code} and
// tebura_chat_api_duration_seconds, and every 429 answer in
// tebura_chat_rate_limited_total with its Retry-After seconds in
// tebura_chat_rate_limit_wait_seconds_total. Give it to the adapters as
// their Deps.HTTPClient's Transport:
//
//	slack.Deps{HTTPClient: &http.Client{Timeout: 30 * time.Second, Transport: m.Transport("slack", nil)}}
//
// The method label never carries IDs or tokens: for Slack it is the Web API
// method ("chat.update"), "response_url", "file_upload" or "other"; for
// Discord the HTTP method and the route with IDs and tokens replaced
// ("PATCH /channels/:id/messages/:id").
func (m *Metrics) Transport(platform string, rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	name := methodOther
	switch platform {
	case "slack":
		name = slackMethod
	case "discord":
		name = discordRoute
	}
	return &transport{m: m, platform: platform, next: rt, method: name}
}

// transport is the counting RoundTripper.
type transport struct {
	m        *Metrics
	platform string
	next     http.RoundTripper
	method   func(*http.Request) string
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	method := t.method(req)
	t.m.chatDuration.WithLabelValues(t.platform, method).Observe(time.Since(start).Seconds())
	t.m.health.observeCall(t.platform, start, err == nil && resp.StatusCode < 500)
	if err != nil {
		t.m.chatCalls.WithLabelValues(t.platform, method, "error").Inc()
		return resp, err
	}
	t.m.chatCalls.WithLabelValues(t.platform, method, strconv.Itoa(resp.StatusCode)).Inc()
	if resp.StatusCode == http.StatusTooManyRequests {
		t.m.rateLimited.WithLabelValues(t.platform).Inc()
		t.m.rateLimitWait.WithLabelValues(t.platform).Add(retryAfter(resp.Header))
	}
	return resp, nil
}

// maxRetryAfter caps one Retry-After, so a garbage header cannot make the
// wait counter meaningless.
const maxRetryAfter = 3600

// retryAfter reads the seconds a 429 asks to wait: Retry-After (Slack:
// https://docs.slack.dev/apis/web-api/rate-limits, Discord:
// https://discord.com/developers/docs/topics/rate-limits), else Discord's
// X-RateLimit-Reset-After; 0 when neither parses.
func retryAfter(h http.Header) float64 {
	for _, k := range []string{"Retry-After", "X-RateLimit-Reset-After"} {
		if v, err := strconv.ParseFloat(strings.TrimSpace(h.Get(k)), 64); err == nil && v >= 0 {
			return min(v, maxRetryAfter)
		}
	}
	return 0
}

func methodOther(*http.Request) string { return "other" }

// slackMethodName matches Web API method names: "chat.update",
// "files.getUploadURLExternal", "apps.connections.open".
var slackMethodName = regexp.MustCompile(`^[a-z]+(\.[a-zA-Z]+)+$`)

// slackMethod names a Slack call without IDs or tokens.
func slackMethod(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/actions/") || strings.HasPrefix(p, "/commands/"):
		return "response_url" // hooks.slack.com/actions/T…/…/<secret>
	case strings.HasPrefix(p, "/upload/"):
		return "file_upload" // files.slack.com/upload/v1/…
	}
	last := p[strings.LastIndexByte(p, '/')+1:]
	if slackMethodName.MatchString(last) && len(last) <= 64 {
		return last
	}
	return "other"
}

// discordWord matches the fixed words of Discord routes.
var discordWord = regexp.MustCompile(`^(@[a-z]+|[a-z][a-z0-9_-]*)$`)

// maxRouteSegments bounds a Discord route label.
const maxRouteSegments = 8

// discordRoute turns a Discord REST URL into its route: the API prefix
// (/api, /api/v10) dropped, snowflakes → :id, interaction and webhook
// tokens → :token, emoji → :emoji, anything else unexpected → :param.
func discordRoute(r *http.Request) string {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(segs) > 0 && segs[0] == "api" {
		segs = segs[1:]
		if len(segs) > 0 && len(segs[0]) > 1 && segs[0][0] == 'v' && isDigits(segs[0][1:]) {
			segs = segs[1:]
		}
	}
	if len(segs) > maxRouteSegments {
		segs = append(segs[:maxRouteSegments:maxRouteSegments], "…")
	}
	out := make([]string, len(segs))
	for i, s := range segs {
		prev, prev2 := "", ""
		if i > 0 {
			prev = segs[i-1]
		}
		if i > 1 {
			prev2 = segs[i-2]
		}
		switch {
		case s == "…":
			out[i] = s
		case isDigits(s):
			out[i] = ":id"
		case (prev2 == "webhooks" || prev2 == "interactions") && isDigits(prev):
			out[i] = ":token"
		case prev == "reactions":
			out[i] = ":emoji"
		case discordWord.MatchString(s) && len(s) <= 32:
			out[i] = s
		default:
			out[i] = ":param"
		}
	}
	return r.Method + " /" + strings.Join(out, "/")
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// StreamObserver returns the hook for bot.StreamOptions.OnClose: each
// closed stream adds its frames sent, dropped (replaced by a newer frame
// before being sent) and failed edits to the stream counters.
func (m *Metrics) StreamObserver() func(bot.StreamStats) {
	return func(s bot.StreamStats) {
		m.framesSent.Add(float64(max(0, s.Sent)))
		m.framesDropped.Add(float64(max(0, s.Dropped)))
		m.editsFailed.Add(float64(max(0, s.Failed)))
	}
}
