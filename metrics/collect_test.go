package metrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/metrics"
	"github.com/tebura/tebura/runbooks"
)

func TestScrapeTimeGauges(t *testing.T) {
	ctx := context.Background()
	m := metrics.New(metrics.BuildInfo{})
	for _, name := range []string{"tebura_run_queue_depth", "tebura_runs_running", "tebura_locks_held", "tebura_incidents_open"} {
		if got := series(t, m, name); len(got) != 0 {
			t.Errorf("%s exposed before anything is watched: %v", name, got)
		}
	}

	st := openStore(t)
	for _, key := range []string{"db", "api"} {
		if _, err := st.AcquireLock(ctx, runbooks.Lock{Key: key, RunID: "r-" + key, Since: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	queued, running := 3, 2
	m.WatchExecutor(func() (int, int) { return queued, running })
	m.WatchLocks(st.Locks)
	open := map[string]int{"Critical": 2, "warning": 1, "": 1}
	var incErr error
	m.WatchIncidents(func(context.Context) (map[string]int, error) { return open, incErr })

	for name, want := range map[string]map[string]sample{
		"tebura_run_queue_depth": {"": {Value: 3}},
		"tebura_runs_running":    {"": {Value: 2}},
		"tebura_locks_held":      {"": {Value: 2}},
		"tebura_incidents_open":  {"severity=critical": {Value: 2}, "severity=warning": {Value: 1}, "severity=none": {Value: 1}},
	} {
		if got := series(t, m, name); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}

	// Read again at the next scrape: a severity with no open incident left
	// drops to 0 instead of vanishing; a failed read leaves the gauge out.
	queued, running = 0, 1
	open = map[string]int{"warning": 1}
	if got := series(t, m, "tebura_runs_running")[""].Value; got != 1 {
		t.Errorf("running = %v after the change, want 1", got)
	}
	want := map[string]sample{"severity=critical": {Value: 0}, "severity=warning": {Value: 1}, "severity=none": {Value: 0}}
	if got := series(t, m, "tebura_incidents_open"); !reflect.DeepEqual(got, want) {
		t.Errorf("open = %v, want %v", got, want)
	}
	incErr = errors.New("store closed")
	if got := series(t, m, "tebura_incidents_open"); len(got) != 0 {
		t.Errorf("open exposed although its read failed: %v", got)
	}
	incErr = nil // this scrape reads fine, and shows the earlier failure
	if got := value(t, m, "tebura_metrics_collect_errors_total", "collector=incidents"); got != 1 {
		t.Errorf("collect errors = %v, want 1", got)
	}
}

// TestHandler: the text exposition carries build info, the Go and process
// collectors, and help text for every family.
func TestHandler(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{Version: "v1.2.3", Commit: "abc123"})
	_ = m.Handler() // a second handler on the same registry must not panic
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		`tebura_build_info{commit="abc123",go_version="` + runtime.Version() + `",version="v1.2.3"} 1`,
		"# HELP go_goroutines ", "# HELP process_cpu_seconds_total ",
		"# HELP tebura_stream_frames_dropped_total ", `tebura_approvals_total{outcome="refused"} 0`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("exposition lacks %q", want)
		}
	}
}

// TestRegistriesAreSeparate: two Metrics in one process do not collide.
func TestRegistriesAreSeparate(t *testing.T) {
	a, b := metrics.New(metrics.BuildInfo{}), metrics.New(metrics.BuildInfo{})
	a.StreamObserver()(bot.StreamStats{Sent: 1})
	if got := value(t, b, "tebura_stream_frames_sent_total", ""); got != 0 {
		t.Errorf("b sees a's frames: %v", got)
	}
}
