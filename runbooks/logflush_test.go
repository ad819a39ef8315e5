package runbooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogFlushedForViewers: while someone watches a run, the lines a
// notification announces are in the log file, not in the writer's buffer
// (the web view's live log reads the file); nobody watching, they may wait.
func TestLogFlushedForViewers(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "x.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := newHandle(nil, "r1", nil, 4)
	o := newOutput(h, nil, f, 1<<20, nil)
	o.Write([]byte("before anyone looked\n"))
	if b, _ := os.ReadFile(f.Name()); len(b) != 0 {
		t.Fatalf("log written without a viewer: %q (expected buffered)", b)
	}
	sub := h.Subscribe()
	defer sub.Close()
	if b, _ := os.ReadFile(f.Name()); string(b) != "before anyone looked\n" {
		t.Fatalf("after Subscribe the file holds %q, want the buffered line", b)
	}
	<-sub.C()
	h.mu.Lock()
	h.notified = h.notified.Add(-notifyEvery) // the next write notifies at once
	h.mu.Unlock()
	o.Write([]byte("while watched\n"))
	<-sub.C()
	if b, _ := os.ReadFile(f.Name()); !strings.HasSuffix(string(b), "while watched\n") {
		t.Fatalf("after a notification the file holds %q, want the new line", b)
	}
}
