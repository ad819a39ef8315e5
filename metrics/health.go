package metrics

import (
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Tebura's own health: what an operator alerts on when Tebura itself, not
// a service it watches, is unwell or piling up: run logs pruned, the
// watchdog alert gone quiet, a chat platform out of reach.

// health holds those families and the state behind the scrape-time ones.
type health struct {
	logsPrunedFiles prometheus.Counter
	logsPrunedBytes prometheus.Counter
	groupsFolded    prometheus.Counter

	unreachableDesc, unreachableOverDesc  *prometheus.Desc
	watchdogMissingDesc, watchdogSeenDesc *prometheus.Desc

	mu       sync.Mutex
	now      func() time.Time
	reach    map[string]*reachState // platform → state
	after    time.Duration          // chat unreachable threshold (log and gauge)
	logger   *slog.Logger
	watchdog func() (lastSeen time.Time, missing bool)
}

// reachState is what the calls to one platform said lately.
type reachState struct {
	failingSince time.Time // start of the first failed call since the last good one; zero when reachable
	logged       bool      // the outage was logged as over the threshold
}

// DefaultChatUnreachableAfter is the threshold of WatchChat when none is
// given.
const DefaultChatUnreachableAfter = 2 * time.Minute

func newHealth() *health {
	return &health{
		logsPrunedFiles: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "run_logs_pruned_files_total",
			Help: "Run log files deleted by runbooks.log_retention and runbooks.log_total_bytes.",
		}),
		logsPrunedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "run_logs_pruned_bytes_total",
			Help: "Bytes of run logs deleted by runbooks.log_retention and runbooks.log_total_bytes.",
		}),
		groupsFolded: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "incident_groups_folded_total",
			Help: "New alert groups folded into the overflow incident by incidents.max_open and incidents.max_new_per_minute (an alert storm).",
		}),
		unreachableDesc: prometheus.NewDesc(namespace+"_chat_unreachable_seconds",
			"Seconds since the first failed chat API call (no answer or 5xx) after the last good one, by platform; 0 while calls get answers.", []string{"platform"}, nil),
		unreachableOverDesc: prometheus.NewDesc(namespace+"_chat_unreachable",
			"1 while a chat platform has been unreachable for longer than watchdog.chat_unreachable_after, by platform; else 0.", []string{"platform"}, nil),
		watchdogMissingDesc: prometheus.NewDesc(namespace+"_watchdog_missing",
			"1 while the configured watchdog alert has not arrived for watchdog.missing_after; else 0.", nil, nil),
		watchdogSeenDesc: prometheus.NewDesc(namespace+"_watchdog_last_seen_timestamp_seconds",
			"When the watchdog alert last arrived (Unix seconds); 0 when it never did since start.", nil, nil),
		now:    time.Now,
		reach:  map[string]*reachState{},
		after:  DefaultChatUnreachableAfter,
		logger: slog.New(slog.DiscardHandler),
	}
}

// LogsPruned counts run logs deleted by the retention bounds.
func (m *Metrics) LogsPruned(files int, bytes int64) {
	m.health.logsPrunedFiles.Add(float64(max(files, 0)))
	m.health.logsPrunedBytes.Add(float64(max(bytes, 0)))
}

// WatchChat sets the threshold after which a chat platform whose API calls
// fail (no answer, or 5xx) counts as unreachable: tebura_chat_unreachable
// turns 1 and logger says "chat platform unreachable" once per outage
// (and "chat platform reachable again" after it). clock nil is time.Now.
func (m *Metrics) WatchChat(after time.Duration, logger *slog.Logger, clock func() time.Time) {
	h := m.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if after > 0 {
		h.after = after
	}
	if logger != nil {
		h.logger = logger
	}
	if clock != nil {
		h.now = clock
	}
}

// WatchWatchdog makes tebura_watchdog_missing and
// tebura_watchdog_last_seen_timestamp_seconds read f at every scrape.
// Until it is called (no watchdog configured) they are not exposed.
func (m *Metrics) WatchWatchdog(f func() (lastSeen time.Time, missing bool)) {
	m.health.mu.Lock()
	defer m.health.mu.Unlock()
	m.health.watchdog = f
}

// observeCall records whether a chat API call that started at start got
// an answer (ok: any status below 500, 429 included: the platform is
// there, only busy).
func (h *health) observeCall(platform string, start time.Time, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := h.reach[platform]
	if st == nil {
		st = &reachState{}
		h.reach[platform] = st
	}
	if ok {
		if st.logged {
			h.logger.Info("chat platform reachable again", "platform", platform,
				"unreachable_for", h.now().Sub(st.failingSince).Round(time.Second).String())
		}
		st.failingSince, st.logged = time.Time{}, false
		return
	}
	if st.failingSince.IsZero() || start.Before(st.failingSince) {
		st.failingSince = start
	}
	if down := h.now().Sub(st.failingSince); !st.logged && down > h.after {
		st.logged = true
		h.logger.Error("chat platform unreachable", "platform", platform,
			"unreachable_for", down.Round(time.Second).String(), "threshold", h.after.String())
	}
}

// Describe implements prometheus.Collector.
func (h *health) Describe(ch chan<- *prometheus.Desc) {
	h.logsPrunedFiles.Describe(ch)
	h.logsPrunedBytes.Describe(ch)
	h.groupsFolded.Describe(ch)
	ch <- h.unreachableDesc
	ch <- h.unreachableOverDesc
	ch <- h.watchdogMissingDesc
	ch <- h.watchdogSeenDesc
}

// Collect implements prometheus.Collector.
func (h *health) Collect(ch chan<- prometheus.Metric) {
	h.logsPrunedFiles.Collect(ch)
	h.logsPrunedBytes.Collect(ch)
	h.groupsFolded.Collect(ch)
	h.mu.Lock()
	now := h.now()
	platforms := make([]string, 0, len(h.reach))
	for p := range h.reach {
		platforms = append(platforms, p)
	}
	sort.Strings(platforms)
	for _, p := range platforms {
		st := h.reach[p]
		down, over := 0.0, 0.0
		if !st.failingSince.IsZero() {
			d := now.Sub(st.failingSince)
			down = d.Seconds()
			if d > h.after {
				over = 1
			}
		}
		ch <- prometheus.MustNewConstMetric(h.unreachableDesc, prometheus.GaugeValue, down, p)
		ch <- prometheus.MustNewConstMetric(h.unreachableOverDesc, prometheus.GaugeValue, over, p)
	}
	watchdog := h.watchdog
	h.mu.Unlock()
	if watchdog != nil {
		seen, missing := watchdog()
		v, ts := 0.0, 0.0
		if missing {
			v = 1
		}
		if !seen.IsZero() {
			ts = float64(seen.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(h.watchdogMissingDesc, prometheus.GaugeValue, v)
		ch <- prometheus.MustNewConstMetric(h.watchdogSeenDesc, prometheus.GaugeValue, ts)
	}
}
