package runbooks

import "context"

// LogTailer is a LogStore that reads a log from a given chunk on, so that
// a replica following a run that another replica runs (the web view's
// live log) reads each chunk once instead of the whole log at each look.
// A LogStore without it is read from the start and the chunks before from
// are skipped.
type LogTailer interface {
	// LogChunksFrom calls fn with run's chunks of seq from and after, in
	// seq order; not at all when there are none.
	LogChunksFrom(ctx context.Context, runID string, from int, fn func(chunk []byte) error) error
}

// LogChunksFrom calls fn with the chunks of run's log in the store
// (ExecutorConfig.Logs) from seq from on: chunks are numbered 0, 1, 2…
// without gaps and never change once stored, so a reader that keeps what
// it read asks only for the chunks after it. Nothing is called without a
// LogStore.
func (e *Executor) LogChunksFrom(ctx context.Context, run *Run, from int, fn func(chunk []byte) error) error {
	if e.cfg.Logs == nil || run.StartedAt.IsZero() {
		return nil
	}
	if t, ok := e.cfg.Logs.(LogTailer); ok {
		return t.LogChunksFrom(ctx, run.ID, from, fn)
	}
	seq := 0
	return e.cfg.Logs.LogChunks(ctx, run.ID, func(chunk []byte) error {
		seq++
		if seq <= from {
			return nil
		}
		return fn(chunk)
	})
}
