package web

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/tebura/tebura/runbooks"
)

// fakeLogStore is the store's copy of one run's log as a viewer's replica
// reads it: the chunks the other replica stored so far, how many reads,
// and how many chunks they returned (each chunk should be read once).
type fakeLogStore struct {
	chunks []string
	reads  int
	sent   int
}

func (f *fakeLogStore) read(_ context.Context, _ *runbooks.Run, from int, fn func([]byte) error) error {
	f.reads++
	for _, c := range f.chunks[min(from, len(f.chunks)):] {
		f.sent++
		if err := fn([]byte(c)); err != nil {
			return err
		}
	}
	return nil
}

// TestRemoteLogsReadOncePerInterval: the viewers of a run on another
// replica share one read of the store per remoteLogTTL, which reads only
// the chunks not read before; the first look
// after the run ended reads at once (its last lines), and that copy is
// whole and never read again; a copy unused for
// remoteLogKeep is dropped.
func TestRemoteLogsReadOncePerInterval(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &fakeLogStore{}
	c := newRemoteLogs(func() time.Time { return now }, st.read, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	run := &runbooks.Run{ID: "r1", State: runbooks.StateRunning}

	steps := []struct {
		name      string
		advance   time.Duration
		store     []string
		final     bool
		want      string
		wantReads int
	}{
		{name: "nothing stored yet", want: "", wantReads: 1},
		{name: "retried only after the interval", store: []string{"a\n"}, want: "", wantReads: 1},
		{name: "read after the interval", advance: remoteLogTTL, store: []string{"a\n"}, want: "a\n", wantReads: 2},
		{name: "a second viewer within the interval shares it", advance: remoteLogTTL / 2, store: []string{"a\n", "b\n"}, want: "a\n", wantReads: 2},
		{name: "the next interval reads the news", advance: remoteLogTTL / 2, store: []string{"a\n", "b\n"}, want: "a\nb\n", wantReads: 3},
		{name: "seen ended within the interval: read at once, whole", advance: remoteLogTTL / 10, store: []string{"a\n", "b\n", "c\n"}, final: true, want: "a\nb\nc\n", wantReads: 4},
		{name: "ended and whole: a second viewer shares it", store: []string{"a\n", "b\n", "c\n", "x\n"}, final: true, want: "a\nb\nc\n", wantReads: 4},
		{name: "ended and whole: never read again", advance: 10 * remoteLogTTL, store: []string{"a\n", "b\n", "c\n", "x\n"}, final: true, want: "a\nb\nc\n", wantReads: 4},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		st.chunks = s.store
		if s.final {
			run.State = runbooks.StateSucceeded
		}
		if got := string(c.get(ctx, run)); got != s.want || st.reads != s.wantReads {
			t.Fatalf("%s: got %q after %d reads, want %q after %d", s.name, got, st.reads, s.want, s.wantReads)
		}
	}
	if st.sent != 3 {
		t.Errorf("the store sent %d chunks for a log of 3; each should be read once", st.sent)
	}

	// r1 unused for remoteLogKeep: the next run's first read drops it.
	now = now.Add(remoteLogKeep + time.Second)
	c.get(ctx, &runbooks.Run{ID: "r2", State: runbooks.StateRunning})
	c.mu.Lock()
	_, kept := c.logs["r1"]
	n := len(c.logs)
	c.mu.Unlock()
	if kept || n != 1 {
		t.Fatalf("after %s unused, r1 kept=%v, %d copies held; want it dropped", remoteLogKeep, kept, n)
	}
}

// BenchmarkRemoteLogFollow is what following a run of another replica
// costs this replica from its first line to its end: a 10 MiB log (the
// default log_cap_bytes) stored in 160 chunks of 64 KiB, one new chunk
// per poll. "incremental" reads each chunk once (LogChunksFrom); "whole"
// reads the whole copy at each poll, as ReadLog would.
func BenchmarkRemoteLogFollow(b *testing.B) {
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'a' + byte(i%26)
	}
	const chunks = 160
	for _, mode := range []string{"incremental", "whole"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				stored, readBytes := 0, 0
				read := func(_ context.Context, _ *runbooks.Run, from int, fn func([]byte) error) error {
					if mode == "whole" {
						from = 0
					}
					for i := from; i < stored; i++ {
						readBytes += len(chunk)
						fn(chunk)
					}
					return nil
				}
				now := time.Unix(0, 0)
				c := newRemoteLogs(func() time.Time { return now }, read, slog.New(slog.DiscardHandler))
				run := &runbooks.Run{ID: "r1", State: runbooks.StateRunning}
				for stored < chunks {
					stored++
					now = now.Add(remoteLogTTL)
					if mode == "whole" {
						c.logs = map[string]*remoteLog{} // no copy kept: all of it again
					}
					c.get(context.Background(), run)
				}
				b.ReportMetric(float64(readBytes)/(1<<20), "MiB_read/run")
			}
		})
	}
}
