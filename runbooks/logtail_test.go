package runbooks

import (
	"context"
	"strings"
	"testing"
	"time"
)

// tailLogs is memLogs with LogChunksFrom, counting its calls.
type tailLogs struct {
	*memLogs
	tails int
}

func (t *tailLogs) LogChunksFrom(ctx context.Context, runID string, from int, fn func([]byte) error) error {
	t.tails++
	seq := 0
	return t.LogChunks(ctx, runID, func(c []byte) error {
		seq++
		if seq <= from {
			return nil
		}
		return fn(c)
	})
}

// TestLogChunksFrom: a reader that kept the first chunks of a run's log
// gets only the later ones, through the store's LogChunksFrom when it has
// one and by skipping the first chunks when it does not; nothing for a
// run that never started or without a LogStore.
func TestLogChunksFrom(t *testing.T) {
	mem := newMemLogs()
	for seq, c := range []string{"zero\n", "one\n", "two\n"} {
		mem.AppendLog(context.Background(), "r1", seq, []byte(c))
	}
	started := &Run{ID: "r1", StartedAt: time.Unix(1, 0)}
	tail := &tailLogs{memLogs: mem}
	cases := []struct {
		name  string
		logs  LogStore
		run   *Run
		from  int
		want  string
		tails int // LogChunksFrom calls so far
	}{
		{name: "store without LogTailer, from 0", logs: mem, run: started, from: 0, want: "zero\none\ntwo\n"},
		{name: "store without LogTailer, from 2", logs: mem, run: started, from: 2, want: "two\n"},
		{name: "store without LogTailer, past the end", logs: mem, run: started, from: 3, want: ""},
		{name: "LogTailer, from 1", logs: tail, run: started, from: 1, want: "one\ntwo\n", tails: 1},
		{name: "never started", logs: tail, run: &Run{ID: "r1"}, from: 0, want: "", tails: 1},
		{name: "no LogStore", logs: nil, run: started, from: 0, want: "", tails: 1},
	}
	for _, c := range cases {
		e := &Executor{cfg: ExecutorConfig{Logs: c.logs}}
		var b strings.Builder
		if err := e.LogChunksFrom(context.Background(), c.run, c.from, func(chunk []byte) error { b.Write(chunk); return nil }); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if b.String() != c.want || tail.tails != c.tails {
			t.Errorf("%s: got %q (%d LogChunksFrom calls), want %q (%d)", c.name, b.String(), tail.tails, c.want, c.tails)
		}
	}
}
