package metrics_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/metrics"
)

// syncBuf is a log sink safe for the transport's goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogsPrunedCounted(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{})
	m.LogsPruned(3, 300)
	m.LogsPruned(1, 50)
	if f, b := value(t, m, "tebura_run_logs_pruned_files_total", ""), value(t, m, "tebura_run_logs_pruned_bytes_total", ""); f != 4 || b != 350 {
		t.Errorf("pruned files %v bytes %v, want 4 and 350", f, b)
	}
}

// TestChatUnreachable: calls that get no answer or a 5xx make the platform
// unreachable from the first failure on; past the threshold the gauge says
// so and one log line too, and the first answered call ends it. A 429 is
// an answer: the platform is there.
func TestChatUnreachable(t *testing.T) {
	srv := fakeAPI(t)
	base := time.Now()
	var mu sync.Mutex
	offset := time.Duration(0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return base.Add(offset) }
	advance := func(d time.Duration) { mu.Lock(); offset += d; mu.Unlock() }
	logs := &syncBuf{}
	m := metrics.New(metrics.BuildInfo{})
	m.WatchChat(time.Minute, slog.New(slog.NewJSONHandler(logs, nil)), clock)
	client := &http.Client{Transport: m.Transport("slack", nil)}
	call := func(path string) {
		t.Helper()
		resp, err := client.Get(path)
		if err == nil {
			resp.Body.Close()
		}
	}
	const down = "tebura_chat_unreachable_seconds"
	const over = "tebura_chat_unreachable"

	call(srv.URL + "/api/limited")
	if v := value(t, m, over, "platform=slack"); v != 0 {
		t.Fatalf("after a 429 unreachable = %v, want 0", v)
	}
	call(srv.URL + "/api/broken") // 500: the outage starts
	advance(30 * time.Second)
	call("http://127.0.0.1:1/api/chat.update") // refused
	if d, o := value(t, m, down, "platform=slack"), value(t, m, over, "platform=slack"); o != 0 || d < 29 {
		t.Fatalf("30 s into the outage: seconds %v, over %v; want ≥ 30 and 0", d, o)
	}
	if strings.Contains(logs.String(), "chat platform unreachable") {
		t.Fatal("logged before the threshold")
	}
	advance(31 * time.Second)
	call(srv.URL + "/api/broken")
	call(srv.URL + "/api/broken")
	if d, o := value(t, m, down, "platform=slack"), value(t, m, over, "platform=slack"); o != 1 || d < 60 {
		t.Fatalf("61 s into the outage: seconds %v, over %v; want > 60 and 1", d, o)
	}
	if n := strings.Count(logs.String(), `"msg":"chat platform unreachable"`); n != 1 {
		t.Errorf("logged %d times, want once per outage:\n%s", n, logs)
	}
	call(srv.URL + "/api/chat.postMessage")
	if d, o := value(t, m, down, "platform=slack"), value(t, m, over, "platform=slack"); d != 0 || o != 0 {
		t.Errorf("after an answered call: seconds %v, over %v; want 0 and 0", d, o)
	}
	if !strings.Contains(logs.String(), `"msg":"chat platform reachable again"`) {
		t.Error("the end of the outage is not logged")
	}
}
