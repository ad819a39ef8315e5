package storetest

import (
	"bytes"
	"testing"
	"time"
)

// testLogs checks the store's copy of run logs: chunks come back in seq
// order whatever order they were written in, a chunk written again
// replaces the first, runs do not see each other's chunks (even when one
// ID prefixes the other), and bytes of every value survive.
func testLogs(t *testing.T, open func(t *testing.T) Stores) {
	st := open(t)
	if st.Logs == nil {
		t.Skip("store keeps no run logs")
	}
	ctx := t.Context()
	read := func(runID string) [][]byte {
		t.Helper()
		var out [][]byte
		if err := st.Logs.LogChunks(ctx, runID, func(c []byte) error { out = append(out, bytes.Clone(c)); return nil }); err != nil {
			t.Fatalf("LogChunks(%s): %v", runID, err)
		}
		return out
	}
	if got := read("r1"); len(got) != 0 {
		t.Fatalf("a run with no log has %d chunks", len(got))
	}
	binary := []byte{0, 1, 2, 0xff, '\n', 0}
	writes := []struct {
		run   string
		seq   int
		chunk []byte
	}{
		{"r1", 1, []byte("second\n")},
		{"r1", 0, []byte("first\n")},
		{"r10", 0, []byte("another run\n")},
		{"r1", 2, []byte("retried, then replaced\n")},
		{"r1", 2, binary},
		{"r1", 10, []byte("tenth sorts after the second\n")},
	}
	for _, w := range writes {
		if err := st.Logs.AppendLog(ctx, w.run, w.seq, w.chunk); err != nil {
			t.Fatalf("AppendLog(%s, %d): %v", w.run, w.seq, err)
		}
	}
	want := [][]byte{[]byte("first\n"), []byte("second\n"), binary, []byte("tenth sorts after the second\n")}
	got := read("r1")
	if len(got) != len(want) {
		t.Fatalf("r1 has %d chunks, want %d: %q", len(got), len(want), got)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("r1 chunk %d = %q, want %q", i, got[i], want[i])
		}
	}
	if got := read("r10"); len(got) != 1 || string(got[0]) != "another run\n" {
		t.Errorf("r10 chunks = %q", got)
	}

	// Retention: r1's last chunk is written an hour after the others.
	st.Clock.Advance(time.Hour)
	if err := st.Logs.AppendLog(ctx, "r1", 11, []byte("an hour later\n")); err != nil {
		t.Fatal(err)
	}
	n, err := st.Logs.PruneLogs(ctx, Epoch().Add(30*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("PruneLogs = %d, %v; want r10's log pruned (1 run)", n, err)
	}
	if got := read("r10"); len(got) != 0 {
		t.Errorf("r10 kept %d chunks past its retention", len(got))
	}
	if got := read("r1"); len(got) != 5 {
		t.Errorf("r1 has %d chunks after the prune, want all 5: its last was written within the retention", len(got))
	}
	if n, err := st.Logs.PruneLogs(ctx, Epoch().Add(30*time.Minute)); err != nil || n != 0 {
		t.Errorf("second PruneLogs = %d, %v; want nothing", n, err)
	}
}
