// Package source receives alert webhooks: one file per source
// (Alertmanager, Grafana, PagerDuty, generic JSON) that verifies the request
// and parses the body into an incident.Batch, and one HTTP handler that all
// of them share. The handler answers 2xx only after the batch was handed to
// ingest and ingest returned, i.e. after it is durably stored; a sender that
// sees anything else retries, and ingest is idempotent.
package source

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
)

// DefaultMaxBody is the body limit when none is configured. PagerDuty caps
// Events API payloads at 512 KB
// (https://github.com/PagerDuty/developer-docs/blob/main/docs/events-API-v2/05-Rate-Limits.md);
// an Alertmanager group of several hundred alerts stays well under 4 MiB.
const DefaultMaxBody = 4 << 20

// Source verifies and parses one kind of webhook.
type Source interface {
	// Name is the source's name in batches and logs: "alertmanager",
	// "grafana", "pagerduty", "generic/<name>".
	Name() string
	// Verify authenticates the request from its headers and raw body. It
	// returns an *Error with status 401 (or 400 when the body cannot even be
	// read for the credentials it carries).
	Verify(r *http.Request, body []byte) error
	// Parse normalizes the body. It returns an *Error with status 400 and a
	// one-line reason, or ErrIgnored for valid deliveries that carry no
	// alert (a PagerDuty service event).
	Parse(h http.Header, body []byte) (incident.Batch, error)
}

// ErrIgnored is returned by Parse for a valid delivery that carries nothing
// to ingest; the handler answers 200.
var ErrIgnored = errors.New("source: nothing to ingest")

// Error is a refusal with its HTTP status and a one-line reason that is safe
// to send back (it never contains secrets or payload).
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s", e.Status, e.Reason) }

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Reason: fmt.Sprintf(format, args...)}
}

func unauthorized(reason string) error {
	return &Error{Status: http.StatusUnauthorized, Reason: reason}
}

// IngestFunc stores a batch; it returns only after the batch is durable.
// (*incident.Service).Ingest fits once its Result is handed on, see
// Ingester.
type IngestFunc func(ctx context.Context, b incident.Batch) error

// Limits bound what the handler accepts.
type Limits struct {
	MaxBody int64 // bytes; zero means DefaultMaxBody
	// Admission sheds load on every mounted route; nil means one with the
	// default AdmitOptions, shared by the routes of one Mount.
	Admission *Admission
}

// Answer is what the handler decided about one request, handed to a Source
// that words its own answers (see Answerer).
type Answer struct {
	// Status is the HTTP status the handler chose: 200 once the batch is
	// stored or the delivery ignored, else the refusal's 4xx or 5xx.
	Status int
	// Reason is a refusal's one-line reason, safe to send back; empty on
	// success.
	Reason string
	// Ignored marks a valid delivery that carried nothing to ingest.
	Ignored bool
	// Batch is what was stored: set when Status is 200 and not Ignored.
	Batch incident.Batch
}

// Answerer is an optional capability of a Source whose senders read the
// answer: the PagerDuty Events API's clients (go-pagerduty, Alertmanager's
// pagerduty_configs) decode a JSON body and expect 202, where the other
// senders only look at the status of the handler's one-line text. The
// handler still decides what happened; the Answerer only words it, and may
// choose another status of the same class (202 for 200).
type Answerer interface {
	// Answer writes the answer to r, whose body is body (nil when it was
	// not read), and reports whether it did; false leaves the answer to the
	// handler's plain text.
	Answer(w http.ResponseWriter, r *http.Request, body []byte, a Answer) bool
}

// Handler returns the HTTP handler for src: POST (and PUT for Grafana) only;
// body over the limit → 413; bad credentials → 401; malformed body → 400
// with a one-line reason; ingest failure → 503 for transient errors (the
// sender retries), 400 for invalid batches, 500 otherwise; 200 once ingest
// returned. The answer is one line of text ("ok", "ignored" or the reason),
// unless src is an Answerer. It never logs payloads or secrets.
func Handler(src Source, ingest IngestFunc, limits Limits, logger *slog.Logger) http.Handler {
	max := limits.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := logger.With("source", src.Name())
	answerer, _ := src.(Answerer)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		var body []byte
		reply := func(a Answer) {
			if answerer != nil && answerer.Answer(w, r, body, a) {
				return
			}
			switch {
			case a.Status >= 300:
				http.Error(w, oneLine(a.Reason), a.Status)
			case a.Ignored:
				_, _ = fmt.Fprintln(w, "ignored")
			default:
				_, _ = fmt.Fprintln(w, "ok")
			}
		}
		if r.Method != http.MethodPost && (r.Method != http.MethodPut || src.Name() != "grafana") {
			w.Header().Set("Allow", http.MethodPost)
			reply(Answer{Status: http.StatusMethodNotAllowed, Reason: "method not allowed; send POST"})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
		if err != nil {
			body = nil
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				log.Warn("webhook refused", "status", http.StatusRequestEntityTooLarge, "limit_bytes", max)
				reply(Answer{Status: http.StatusRequestEntityTooLarge, Reason: fmt.Sprintf("body larger than %d bytes", max)})
				return
			}
			log.Warn("webhook body unreadable", "err", err)
			reply(Answer{Status: http.StatusBadRequest, Reason: "could not read the body"})
			return
		}
		if err := src.Verify(r, body); err != nil {
			reply(refusal(log, err, http.StatusUnauthorized))
			return
		}
		b, err := src.Parse(r.Header, body)
		if errors.Is(err, ErrIgnored) {
			log.Debug("webhook ignored")
			reply(Answer{Status: http.StatusOK, Ignored: true})
			return
		}
		if err != nil {
			reply(refusal(log, err, http.StatusBadRequest))
			return
		}
		if err := ingest(r.Context(), b); err != nil {
			status := http.StatusInternalServerError
			reason := "could not store the alerts; retry later"
			switch tebura.ErrorCode(err) {
			case tebura.EINVALID:
				status, reason = http.StatusBadRequest, tebura.ErrorMessage(err)
			case tebura.ETRANSIENT:
				status = http.StatusServiceUnavailable
			}
			log.Error("webhook ingest failed", "status", status, "group_key", b.GroupKey, "err", err)
			reply(Answer{Status: status, Reason: oneLine(reason)})
			return
		}
		log.Debug("webhook ingested", "group_key", b.GroupKey, "alerts", len(b.Alerts), "duration", time.Since(start))
		reply(Answer{Status: http.StatusOK, Batch: b})
	})
}

// refusal logs a refusal and turns it into an Answer: the status and reason
// of an *Error, else fallback.
func refusal(log *slog.Logger, err error, fallback int) Answer {
	status, reason := fallback, http.StatusText(fallback)
	var e *Error
	if errors.As(err, &e) {
		status, reason = e.Status, e.Reason
	}
	log.Warn("webhook refused", "status", status, "reason", reason)
	return Answer{Status: status, Reason: oneLine(reason)}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}

// secretEqual compares a presented credential with the configured one in
// constant time; hashing first hides the length too.
func secretEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// checkBearerOrBasic accepts the request if it carries the configured
// bearer token or the configured basic auth (either one when both are
// set), as Alertmanager's http_config and Grafana's contact point send
// them. The scheme is matched case-insensitively (RFC 9110 section 11.1):
// Alertmanager sends its `authorization.type` as written, `bearer` included.
func checkBearerOrBasic(r *http.Request, token config.Secret, basic config.BasicAuth) error {
	if token.Value() != "" {
		scheme, cred, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		if strings.EqualFold(scheme, "Bearer") && secretEqual(strings.TrimSpace(cred), token.Value()) {
			return nil
		}
	}
	if basic.Username != "" {
		// net/http matches the Basic scheme case-insensitively already.
		if u, p, ok := r.BasicAuth(); ok && secretEqual(u, basic.Username) && secretEqual(p, basic.Password.Value()) {
			return nil
		}
	}
	if r.Header.Get("Authorization") == "" {
		return unauthorized("missing credentials")
	}
	return unauthorized("bad credentials")
}

// Mount adds the handlers of the configured sources to mux:
// POST /hooks/alertmanager, /hooks/grafana, /hooks/pagerduty (and the
// PagerDuty Events API's own paths under it, PagerDutyEventsV2Path and
// PagerDutyEventsV1Path) and /hooks/generic/{name}. A source is mounted
// when it has credentials or insecure: true; a generic source with neither
// is an error. Each source's batches carry its default_severity (see
// incident.Batch.DefaultSeverity). limits is optional (at most one; the
// zero Limits means DefaultMaxBody). Every route sits behind one Admission
// (limits.Admission, or a default one): when too many webhook requests are
// in flight, the rest get 503 with Retry-After before their body is read.
// It returns the mounted paths.
func Mount(mux *http.ServeMux, cfg config.Sources, ingest IngestFunc, logger *slog.Logger, limits ...Limits) ([]string, error) {
	var lim Limits
	if len(limits) > 0 {
		lim = limits[0]
	}
	adm := lim.Admission
	if adm == nil {
		adm = NewAdmission(AdmitOptions{}, logger)
	}
	var paths []string
	add := func(src Source, defaultSeverity string, path ...string) {
		h := adm.Wrap(Handler(src, withDefaultSeverity(ingest, defaultSeverity), lim, logger))
		for _, p := range path {
			mux.Handle(p, h)
		}
		paths = append(paths, path...)
	}
	am := cfg.Alertmanager
	if am.Enabled() {
		add(NewAlertmanager(am), am.DefaultSeverity, "/hooks/alertmanager")
	}
	g := cfg.Grafana
	if g.Enabled() {
		add(NewGrafana(g, nil), g.DefaultSeverity, "/hooks/grafana")
	}
	pd := cfg.PagerDuty
	if pd.Enabled() {
		add(NewPagerDuty(pd, nil), pd.DefaultSeverity, "/hooks/pagerduty", PagerDutyEventsV2Path, PagerDutyEventsV1Path)
	}
	var errs []error
	for _, name := range sortedNames(cfg.Generic) {
		gc := cfg.Generic[name]
		if !gc.Enabled() {
			errs = append(errs, fmt.Errorf("sources.generic.%s: set bearer_token, basic_auth or hmac_secret, or insecure: true to accept unauthenticated requests", name))
			continue
		}
		src, err := NewGeneric(name, gc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		add(src, gc.DefaultSeverity, "/hooks/generic/"+name)
	}
	return paths, errors.Join(errs...)
}

// withDefaultSeverity hands ingest the batches with the source's
// default_severity (config.DefaultSeverity when empty): the incident
// service maps a severity outside config.Severities to it.
func withDefaultSeverity(ingest IngestFunc, severity string) IngestFunc {
	severity = cmp.Or(severity, config.DefaultSeverity)
	return func(ctx context.Context, b incident.Batch) error {
		b.DefaultSeverity = severity
		return ingest(ctx, b)
	}
}

// Ingester adapts (*incident.Service).Ingest to an IngestFunc, handing each
// Result to react (the chat layer) after the batch is stored. react runs on
// the request's goroutine with a context detached from the request, so a
// sender that hangs up does not cancel the reaction; keep it quick or hand
// the work to a goroutine of your own.
func Ingester(ingest func(context.Context, incident.Batch) (incident.Result, error), react func(context.Context, incident.Result)) IngestFunc {
	return func(ctx context.Context, b incident.Batch) error {
		res, err := ingest(ctx, b)
		if err != nil {
			return err
		}
		if react != nil {
			react(context.WithoutCancel(ctx), res)
		}
		return nil
	}
}
