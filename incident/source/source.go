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
	"log/slog"
	"maps"
	"net/http"
	"slices"
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
	// returns a *tebura.Error: EUNAUTHENTICATED (401), or EINVALID (400)
	// when the body cannot even be read for the credentials it carries.
	Verify(r *http.Request, body []byte) error
	// Parse normalizes the body. It returns a *tebura.Error, EINVALID (400)
	// with a one-line reason, or ErrIgnored for valid deliveries that carry
	// no alert (a PagerDuty service event).
	Parse(h http.Header, body []byte) (incident.Batch, error)
}

// ErrIgnored is returned by Parse for a valid delivery that carries nothing
// to ingest; the handler answers 200.
var ErrIgnored = errors.New("source: nothing to ingest")

// badRequest is a Parse refusal: EINVALID with a reason that is safe to
// send back (it never contains secrets or payload).
func badRequest(format string, args ...any) error {
	return tebura.Errorf(tebura.EINVALID, format, args...)
}

// unauthorized is a Verify refusal: EUNAUTHENTICATED with a reason that
// names what is missing or wrong, never the secret.
func unauthorized(reason string) error {
	return tebura.Errorf(tebura.EUNAUTHENTICATED, "%s", reason)
}

// errMethod refuses a request of another method than POST (PUT too for
// Grafana). It is not logged: a scanner's GETs are not the operators'
// concern.
var errMethod = tebura.Errorf(tebura.EMETHOD, "method not allowed; send POST")

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
				http.Error(w, a.Reason, a.Status)
			case a.Ignored:
				_, _ = fmt.Fprintln(w, "ignored")
			default:
				_, _ = fmt.Fprintln(w, "ok")
			}
		}
		if r.Method != http.MethodPost && (r.Method != http.MethodPut || src.Name() != "grafana") {
			w.Header().Set("Allow", http.MethodPost)
			reply(answer(errMethod))
			return
		}
		body, err := tebura.ReadBody(w, r, max)
		if err != nil {
			body = nil
			reply(refusal(log.With("limit_bytes", max), err, tebura.EINVALID))
			return
		}
		if err := src.Verify(r, body); err != nil {
			reply(refusal(log, err, tebura.EUNAUTHENTICATED))
			return
		}
		b, err := src.Parse(r.Header, body)
		if errors.Is(err, ErrIgnored) {
			log.Debug("webhook ignored")
			reply(Answer{Status: http.StatusOK, Ignored: true})
			return
		}
		if err != nil {
			reply(refusal(log, err, tebura.EINVALID))
			return
		}
		if err := ingest(r.Context(), b); err != nil {
			// An invalid batch says why; anything else is said in the
			// source's words, keeping transient (503: the sender retries)
			// apart from the rest (500).
			if code := tebura.ErrorCode(err); code != tebura.EINVALID {
				if code != tebura.ETRANSIENT {
					code = tebura.EINTERNAL
				}
				err = tebura.Wrap(code, err, "could not store the alerts; retry later")
			}
			a := answer(err)
			log.Error("webhook ingest failed", "status", a.Status, "group_key", b.GroupKey, "err", err)
			reply(a)
			return
		}
		log.Debug("webhook ingested", "group_key", b.GroupKey, "alerts", len(b.Alerts), "duration", time.Since(start))
		reply(Answer{Status: http.StatusOK, Batch: b})
	})
}

// refusal logs a refusal and turns it into an Answer. An error that is not
// a *tebura.Error gets the fallback code and the status's text as reason.
func refusal(log *slog.Logger, err error, fallback string) Answer {
	var te *tebura.Error
	if !errors.As(err, &te) {
		te = tebura.Wrap(fallback, err, http.StatusText(tebura.HTTPStatus(fallback)))
	}
	a := answer(te)
	if te.Err != nil {
		log = log.With("err", te.Err)
	}
	log.Warn("webhook refused", "status", a.Status, "reason", a.Reason)
	return a
}

// answer is the Answer for a refusal: the status of its code, from the one
// table (tebura.HTTPStatus), and its message as a one-line reason. Every
// error that reaches it was worded by the handler or a Source for the
// sender, so the message is sent even for a 5xx.
func answer(err error) Answer {
	return Answer{Status: tebura.HTTPStatus(tebura.ErrorCode(err)), Reason: oneLine(tebura.ErrorMessage(err))}
}

// oneLine keeps a reason to one line of at most 300 bytes: a template's
// error can quote much of what it was given.
func oneLine(s string) string {
	s = tebura.OneLine(s)
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
	for _, name := range slices.Sorted(maps.Keys(cfg.Generic)) {
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
