// Package metrics is Tebura's Prometheus instrumentation: the one place
// (with cmd/tebura, which mounts the handler) that imports client_golang.
//
// The domain and adapter packages know nothing about it. Metrics are fed
// from the outside, without touching them:
//   - decorators of the interfaces those packages already accept: a store
//     (Store, RunStore, IncidentStore, Deduper) whose transactions are
//     watched, an http.RoundTripper for the chat adapters' HTTP clients
//     (Transport), a middleware for the webhook handlers (Webhooks);
//   - hooks those packages offer: bot.StreamOptions.OnClose
//     (StreamObserver);
//   - scrape-time collectors over closures the composition root provides
//     (WatchExecutor, WatchLocks, WatchIncidents), so gauges are read from
//     the source of truth when Prometheus asks, never kept in step by hand.
//
// Every Metrics has its own registry: nothing is registered globally, so
// tests and several servers in one process never collide.
package metrics

import (
	"net/http"
	"runtime"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every family: tebura_*.
const namespace = "tebura"

// BuildInfo is what tebura_build_info reports.
type BuildInfo struct {
	Version string // "v1.2.3", or "v0.0.0-dev" for a build not of a release tag
	Commit  string // VCS revision
	// GoVersion is the toolchain that built the binary; empty means
	// runtime.Version().
	GoVersion string
}

// Buckets of the histograms (functions, so that no package-level slice can
// be changed): runs last from a second to an hour; webhooks and chat calls
// from milliseconds to the adapters' timeouts; incidents are acknowledged in
// minutes and resolved in hours.
func runBuckets() []float64 {
	return []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
}

func httpBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
}

func incidentBuckets() []float64 {
	return []float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400}
}

// Metrics holds Tebura's metric families and the registry they live in.
// Create it with New; it is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	runs            *prometheus.CounterVec
	runDuration     *prometheus.HistogramVec
	approvals       *prometheus.CounterVec
	webhooks        *prometheus.CounterVec
	webhookDuration *prometheus.HistogramVec
	incidentsOpened *prometheus.CounterVec
	mtta            *prometheus.HistogramVec
	mttr            *prometheus.HistogramVec
	chatCalls       *prometheus.CounterVec
	chatDuration    *prometheus.HistogramVec
	rateLimited     *prometheus.CounterVec
	rateLimitWait   *prometheus.CounterVec
	framesSent      prometheus.Counter
	framesDropped   prometheus.Counter
	editsFailed     prometheus.Counter
	dedupe          *prometheus.CounterVec
	collectErrors   *prometheus.CounterVec

	severities *labelSet // bounded severity label values
	watch      *watchers
	health     *health
	reconcile  reconcileFamily
	oncall     oncallFamily
	db         dbFamily
}

// New returns Metrics with every family registered on a registry of its
// own, together with the Go runtime and process collectors.
func New(build BuildInfo) *Metrics {
	if build.GoVersion == "" {
		build.GoVersion = runtime.Version()
	}
	m := &Metrics{
		reg:        prometheus.NewRegistry(),
		severities: newLabelSet(maxSeverities),
		watch:      &watchers{},
		health:     newHealth(),
	}
	m.runs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "runs_total",
		Help: "Runs that reached a final state, by runbook and final state (succeeded, failed, timed_out, cancelled, denied, expired, interrupted).",
	}, []string{"runbook", "state"})
	m.runDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "run_duration_seconds",
		Help:    "Wall time of runs that started, from start to final state, by runbook.",
		Buckets: runBuckets(),
	}, []string{"runbook"})
	m.approvals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "approvals_total",
		Help: "Approval decisions by outcome: approved (one per approver), denied, expired (requests nobody decided in time), refused (self-approval, the same approver twice, a changed plan).",
	}, []string{"outcome"})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "webhook_requests_total",
		Help: "Alert webhook requests by source and HTTP status code.",
	}, []string{"source", "code"})
	m.webhookDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "webhook_duration_seconds",
		Help:    "Time to answer an alert webhook (verify, parse, store), by source.",
		Buckets: httpBuckets(),
	}, []string{"source"})
	m.incidentsOpened = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "incidents_opened_total",
		Help: "Incidents opened (from alerts or declared; reopens not included), by severity.",
	}, []string{"severity"})
	m.mtta = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "incident_time_to_ack_seconds",
		Help:    "Time from an incident's start to its acknowledgement (MTTA is sum/count), by severity.",
		Buckets: incidentBuckets(),
	}, []string{"severity"})
	m.mttr = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "incident_time_to_resolve_seconds",
		Help:    "Time from an incident's start to its resolution (MTTR is sum/count), by severity.",
		Buckets: incidentBuckets(),
	}, []string{"severity"})
	m.chatCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "chat_api_requests_total",
		Help: "HTTP calls to the chat platforms' APIs by platform, method (Slack method or Discord route) and HTTP status code (\"error\" when no answer came).",
	}, []string{"platform", "method", "code"})
	m.chatDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "chat_api_duration_seconds",
		Help:    "Time until a chat platform API call's response headers arrived, by platform and method.",
		Buckets: httpBuckets(),
	}, []string{"platform", "method"})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "chat_rate_limited_total",
		Help: "Chat API answers with HTTP 429 (rate limited), by platform.",
	}, []string{"platform"})
	m.rateLimitWait = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "chat_rate_limit_wait_seconds_total",
		Help: "Seconds the chat platforms asked to wait (Retry-After of 429 answers), by platform.",
	}, []string{"platform"})
	m.framesSent = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "stream_frames_sent_total",
		Help: "Live-output frames delivered as message edits, final frames included.",
	})
	m.framesDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "stream_frames_dropped_total",
		Help: "Intermediate live-output frames replaced by a newer one before they were sent (by design: latest wins).",
	})
	m.editsFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "stream_edits_failed_total",
		Help: "Live-output message edits the chat refused (each attempt counts).",
	})
	m.dedupe = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "dedupe_checks_total",
		Help: "Delivery deduplication checks by scope and result: miss (first delivery, handled), hit (redelivery, skipped), error.",
	}, []string{"scope", "result"})
	m.collectErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "metrics_collect_errors_total",
		Help: "Scrape-time reads that failed (the gauge is left out of that scrape), by collector.",
	}, []string{"collector"})
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "Always 1; the labels say which Tebura build is running.",
		ConstLabels: prometheus.Labels{"version": build.Version, "commit": build.Commit, "go_version": build.GoVersion},
	})
	buildInfo.Set(1)

	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		m.runs, m.runDuration, m.approvals,
		m.webhooks, m.webhookDuration,
		m.incidentsOpened, m.mtta, m.mttr,
		m.chatCalls, m.chatDuration, m.rateLimited, m.rateLimitWait,
		m.framesSent, m.framesDropped, m.editsFailed,
		m.dedupe, m.collectErrors,
		newScrapeCollector(m),
		m.health,
	)
	for _, o := range []string{outcomeApproved, outcomeDenied, outcomeExpired, outcomeRefused} {
		m.approvals.WithLabelValues(o) // zero from the start, so rate() sees the first one
	}
	return m
}

// Registry is the registry the families live in, for tests and for
// registering more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the text exposition for GET /metrics. A failing
// scrape-time read leaves its gauge out of that scrape (and counts in
// tebura_metrics_collect_errors_total) instead of failing the scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg, // promhttp_metric_handler_errors_total
		MaxRequestsInFlight: 2,
	})
}

// maxSeverities bounds the severity label: severities come from alert
// labels, which anyone who can send an alert controls.
const maxSeverities = 16

// labelSet bounds a label's values: the first max distinct values are
// kept, later ones become "other".
type labelSet struct {
	max int
	mu  sync.Mutex
	set map[string]bool
}

func newLabelSet(max int) *labelSet { return &labelSet{max: max, set: map[string]bool{}} }

// value returns v, or "other" once max other values were seen.
func (s *labelSet) value(v string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set[v] {
		return v
	}
	if len(s.set) >= s.max {
		return "other"
	}
	s.set[v] = true
	return v
}

// values returns the values kept so far.
func (s *labelSet) values() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.set))
	for v := range s.set {
		out = append(out, v)
	}
	return out
}
