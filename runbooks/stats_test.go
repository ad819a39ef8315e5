package runbooks

import (
	"context"
	"testing"
)

func TestExecutorStats(t *testing.T) {
	h := newHarness(t, ExecutorConfig{MaxConcurrent: 1})
	if got, want := h.exec.Stats(), (ExecutorStats{MaxConcurrent: 1}); got != want {
		t.Fatalf("idle Stats() = %+v, want %+v", got, want)
	}
	rb := h.load("name: s\nkind: diagnostic\nsteps:\n  - run: [sleep, '1000']\n")
	first, r1, err := h.start(rb, "console:a")
	if err != nil {
		t.Fatal(err)
	}
	second, r2, err := h.start(rb, "console:b")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.exec.Stats(), (ExecutorStats{Queued: 1, Running: 1, MaxConcurrent: 1}); got != want {
		t.Errorf("busy Stats() = %+v, want %+v", got, want)
	}

	// Cancelling the running run hands its slot to the queued one.
	if err := h.exec.Cancel(context.Background(), r1.ID, "console:z"); err != nil {
		t.Fatal(err)
	}
	h.wait(first)
	waitFor(t, second, "second running", func(s Snapshot) bool { return s.State == StateRunning })
	if got, want := h.exec.Stats(), (ExecutorStats{Queued: 0, Running: 1, MaxConcurrent: 1}); got != want {
		t.Errorf("after cancel Stats() = %+v, want %+v", got, want)
	}
	if err := h.exec.Cancel(context.Background(), r2.ID, "console:z"); err != nil {
		t.Fatal(err)
	}
	h.wait(second)
	if got, want := h.exec.Stats(), (ExecutorStats{MaxConcurrent: 1}); got != want {
		t.Errorf("drained Stats() = %+v, want %+v", got, want)
	}
}
