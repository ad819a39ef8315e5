package runbooks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// memLogs is a LogStore in memory; fail makes AppendLog refuse.
type memLogs struct {
	mu     sync.Mutex
	chunks map[string]map[int][]byte
	fail   bool
	calls  int
}

func newMemLogs() *memLogs { return &memLogs{chunks: map[string]map[int][]byte{}} }

func (m *memLogs) AppendLog(_ context.Context, runID string, seq int, chunk []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.fail {
		return errors.New("database unavailable")
	}
	if m.chunks[runID] == nil {
		m.chunks[runID] = map[int][]byte{}
	}
	m.chunks[runID][seq] = bytes.Clone(chunk)
	return nil
}

func (m *memLogs) LogChunks(_ context.Context, runID string, fn func([]byte) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for seq := 0; ; seq++ {
		c, ok := m.chunks[runID][seq]
		if !ok {
			return nil
		}
		if err := fn(c); err != nil {
			return err
		}
	}
}

func (m *memLogs) PruneLogs(context.Context, time.Time) (int, error) { return 0, nil }

func (m *memLogs) text(runID string) string {
	var b strings.Builder
	m.LogChunks(context.Background(), runID, func(c []byte) error { b.Write(c); return nil })
	return b.String()
}

// TestLogCopiedToStore: a run's log reaches the store while the run is
// still going (not only at its end), all of it by the end, capped like
// the file; and another replica (another data dir, the same store) reads
// the whole log through Executor.ReadLog.
func TestLogCopiedToStore(t *testing.T) {
	logs := newMemLogs()
	h := newHarness(t, ExecutorConfig{Logs: logs, LogCapBytes: 1 << 20})
	gate := t.TempDir() + "/go"
	rb := h.load(`name: chatty
kind: diagnostic
timeout: 30s
steps:
  - name: talk
    script: |
      echo "first line"
      while [ ! -e "` + gate + `" ]; do sleep 0.05; done
      i=0; while [ $i -lt 3000 ]; do echo "line $i of the long part"; i=$((i+1)); done
`)
	handle, run, err := h.start(rb, "console:alice")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.text(run.ID), "first line") {
		if time.Now().After(deadline) {
			t.Fatal("the first line never reached the store while the run waited")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if snap := handle.Snapshot(); snap.State.Final() {
		t.Fatalf("run already %s; the test must see the store before the end", snap.State)
	}
	writeFileT(t, gate)
	h.wait(handle)
	file := h.logOf(run.ID)
	if got := logs.text(run.ID); got != file {
		t.Fatalf("the store's copy (%d bytes) differs from the file (%d bytes)", len(got), len(file))
	}
	if len(logs.chunks[run.ID]) < 2 {
		t.Errorf("%d chunks; a %d-byte log should come in several", len(logs.chunks[run.ID]), len(file))
	}

	other := NewExecutor(h.store, ExecutorConfig{DataDir: t.TempDir(), Logs: logs}, nil)
	rc, err := other.ReadLog(context.Background(), h.store.run(run.ID))
	if err != nil {
		t.Fatalf("another replica's ReadLog: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != file {
		t.Errorf("another replica read %d bytes, want the %d of the file", len(got), len(file))
	}
	lonely := NewExecutor(h.store, ExecutorConfig{DataDir: t.TempDir()}, nil)
	if _, err := lonely.ReadLog(context.Background(), h.store.run(run.ID)); err == nil {
		t.Error("a replica without the store's copy read a log it does not have")
	}
}

// TestLogChunksRetry: a chunk the store refused is written again at the
// next flush, and Close says when some of the log never got there.
func TestLogChunksRetry(t *testing.T) {
	logs := newMemLogs()
	logs.fail = true
	c := newLogChunks(logs, "r1", discard())
	c.Write([]byte("kept while the store is down\n"))
	c.flush()
	if logs.text("r1") != "" {
		t.Fatal("a refused chunk is stored")
	}
	logs.mu.Lock()
	logs.fail = false
	logs.mu.Unlock()
	c.Write([]byte("and after\n"))
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := logs.text("r1"); got != "kept while the store is down\nand after\n" {
		t.Errorf("stored %q", got)
	}

	logs.fail = true
	c = newLogChunks(logs, "r2", discard())
	c.Write([]byte("lost\n"))
	if err := c.Close(); err == nil || !strings.Contains(err.Error(), "did not reach the store") {
		t.Errorf("Close with the store down = %v; want it to say the log is incomplete", err)
	}
}

func writeFileT(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
