package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// webhookPrefix is where alert webhooks are mounted.
const webhookPrefix = "/hooks/"

// Webhooks wraps the handler of the alert webhooks (a mux that
// incident/source.Mount filled) so that each request counts in
// tebura_webhook_requests_total{source,code} and
// tebura_webhook_duration_seconds{source}. The source is read from the path
// (/hooks/alertmanager → "alertmanager", /hooks/generic/x → "generic/x");
// a request the mux answers 404 counts as source "unknown", so that
// nobody can grow the label set by posting to invented paths.
func (m *Metrics) Webhooks(h http.Handler) http.Handler {
	return m.webhook(h, "")
}

// Webhook is Webhooks for one handler whose source is known.
func (m *Metrics) Webhook(source string, h http.Handler) http.Handler {
	return m.webhook(h, source)
}

func (m *Metrics) webhook(h http.Handler, source string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			code := rec.status
			if code == 0 {
				code = http.StatusOK
			}
			src := source
			if src == "" {
				src = sourceOf(r.URL.Path, code)
			}
			m.webhooks.WithLabelValues(src, strconv.Itoa(code)).Inc()
			m.webhookDuration.WithLabelValues(src).Observe(time.Since(start).Seconds())
		}()
		h.ServeHTTP(rec, r)
	})
}

// maxSourceLen bounds the source label.
const maxSourceLen = 64

// sourceOf names the source of a webhook request from its path.
func sourceOf(path string, code int) string {
	rest, ok := strings.CutPrefix(path, webhookPrefix)
	if !ok || code == http.StatusNotFound || rest == "" {
		return "unknown"
	}
	rest = strings.TrimSuffix(rest, "/")
	parts := strings.SplitN(rest, "/", 3)
	src := parts[0]
	if src == "generic" && len(parts) > 1 {
		src += "/" + parts[1]
	}
	if len(src) > maxSourceLen {
		return "unknown"
	}
	return src
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer (flush,
// deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
