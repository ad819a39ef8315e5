package source

import (
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tebura/tebura"
)

// errBusy is the refusal of a request the Admission sheds (503, so that the
// sender retries after Retry-After).
var errBusy = tebura.Errorf(tebura.ETRANSIENT, "busy; retry later")

// Admission defaults, used when AdmitOptions leaves a field zero. Ingest
// ends in one bolt write transaction at a time, so a few dozen requests in
// flight already keep the store busy; more only hold memory (each may carry
// a body of up to the body limit).
const (
	DefaultMaxInFlight = 32
	DefaultMaxWaiting  = 64
	DefaultQueueWait   = 100 * time.Millisecond
	DefaultRetryAfter  = time.Second
)

// AdmitOptions bound the webhook work the process takes on at once.
type AdmitOptions struct {
	// MaxInFlight is the most requests being read, parsed and stored at
	// once (DefaultMaxInFlight when zero).
	MaxInFlight int
	// MaxWaiting is the most requests waiting for a free slot; beyond it a
	// request is refused at once (DefaultMaxWaiting when zero).
	MaxWaiting int
	// QueueWait is how long a request waits for a slot before it is refused
	// (DefaultQueueWait when zero).
	QueueWait time.Duration
	// RetryAfter is the Retry-After the refusal carries (DefaultRetryAfter
	// when zero; rounded up to whole seconds).
	RetryAfter time.Duration
}

// Admission is load shedding for the webhook endpoints: a bounded number of
// requests in flight, a short bounded wait for a slot, and beyond that
// 503 Service Unavailable with Retry-After, before the body is read. Every
// alert sender retries a 503 (Alertmanager, Grafana and PagerDuty all do),
// and ingest is idempotent, so a flood costs latency, not alerts, and the
// process's memory stays bounded by MaxInFlight × the body limit.
// One Admission is shared by all the routes it wraps.
type Admission struct {
	slots      chan struct{}
	maxWaiting int64
	wait       time.Duration
	retryAfter string
	log        *slog.Logger

	waiting  atomic.Int64
	admitted atomic.Int64
	refused  atomic.Int64
}

// NewAdmission returns an Admission; logger may be nil.
func NewAdmission(opt AdmitOptions, logger *slog.Logger) *Admission {
	if opt.MaxInFlight <= 0 {
		opt.MaxInFlight = DefaultMaxInFlight
	}
	if opt.MaxWaiting <= 0 {
		opt.MaxWaiting = DefaultMaxWaiting
	}
	if opt.QueueWait <= 0 {
		opt.QueueWait = DefaultQueueWait
	}
	if opt.RetryAfter <= 0 {
		opt.RetryAfter = DefaultRetryAfter
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	secs := int((opt.RetryAfter + time.Second - 1) / time.Second)
	return &Admission{
		slots: make(chan struct{}, opt.MaxInFlight), maxWaiting: int64(opt.MaxWaiting), wait: opt.QueueWait,
		retryAfter: strconv.Itoa(secs), log: logger,
	}
}

// AdmitStats count the Admission's decisions.
type AdmitStats struct {
	Admitted, Refused int64
	InFlight, Waiting int
}

// Stats returns the counts so far.
func (a *Admission) Stats() AdmitStats {
	return AdmitStats{Admitted: a.admitted.Load(), Refused: a.refused.Load(), InFlight: len(a.slots), Waiting: int(a.waiting.Load())}
}

// Wrap returns h behind the admission control.
func (a *Admission) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.acquire(r) {
			n := a.refused.Add(1)
			// One line per 1,000 refusals: a flood must not flood the log too.
			if n == 1 || n%1000 == 0 {
				a.log.Warn("webhook refused, too busy", "status", tebura.HTTPStatus(errBusy.Code), "path", r.URL.Path,
					"in_flight", cap(a.slots), "refused_total", n)
			}
			w.Header().Set("Retry-After", a.retryAfter)
			tebura.HTTPError(w, errBusy)
			return
		}
		defer func() { <-a.slots }()
		a.admitted.Add(1)
		h.ServeHTTP(w, r)
	})
}

// acquire takes a slot at once, or waits up to the queue wait when fewer
// than MaxWaiting already wait.
func (a *Admission) acquire(r *http.Request) bool {
	select {
	case a.slots <- struct{}{}:
		return true
	default:
	}
	if a.waiting.Add(1) > a.maxWaiting {
		a.waiting.Add(-1)
		return false
	}
	defer a.waiting.Add(-1)
	t := time.NewTimer(a.wait)
	defer t.Stop()
	select {
	case a.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-r.Context().Done():
		return false
	}
}
