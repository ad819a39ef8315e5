package runbooks

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/tebura/tebura"
)

// LogStore keeps run logs in the store, in chunks, so that every replica
// sharing the store can serve a log another replica wrote (/runbook logs,
// the full-log upload) and a log outlives the replica that ran it. The
// executor copies each run's (masked, capped) log there as it is produced
// when ExecutorConfig.Logs is set.
type LogStore interface {
	// AppendLog stores chunk seq (0, 1, 2…) of run's log; storing a seq
	// again replaces it, so a retried write is harmless.
	AppendLog(ctx context.Context, runID string, seq int, chunk []byte) error
	// LogChunks calls fn with run's chunks in seq order; not at all when
	// the run has none.
	LogChunks(ctx context.Context, runID string, fn func(chunk []byte) error) error
	// PruneLogs removes the chunks of every run whose last chunk was
	// written before before (by the store's clock), and says of how many
	// runs: the leader applies runbooks.log_retention to the copies as
	// each replica does to its files.
	PruneLogs(ctx context.Context, before time.Time) (int, error)
}

// Chunking of the copy in the store: a chunk is written when this much
// output is waiting, or when the oldest waiting byte is this old, so that
// a replica that dies loses at most a second of its runs' output.
const (
	logChunkBytes = 64 << 10
	logChunkEvery = time.Second
)

// logChunks is the writer that copies a run's log to a LogStore. Write only
// appends to a buffer (the child process never waits for the store); a
// goroutine of its own writes the chunks; Close writes the rest.
type logChunks struct {
	st    LogStore
	runID string
	log   *slog.Logger

	mu     sync.Mutex
	buf    []byte
	kick   chan struct{}
	closed chan struct{}
	done   chan struct{}
	seq    int
	failed bool
}

func newLogChunks(st LogStore, runID string, log *slog.Logger) *logChunks {
	c := &logChunks{st: st, runID: runID, log: log, kick: make(chan struct{}, 1), closed: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c
}

// Write implements io.Writer; it never blocks on the store.
func (c *logChunks) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf = append(c.buf, p...)
	full := len(c.buf) >= logChunkBytes
	c.mu.Unlock()
	if full {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

func (c *logChunks) loop() {
	defer close(c.done)
	t := time.NewTicker(logChunkEvery)
	defer t.Stop()
	for {
		select {
		case <-c.closed:
			c.flush()
			return
		case <-c.kick:
		case <-t.C:
		}
		c.flush()
	}
}

// flush writes what is waiting, one chunk of at most logChunkBytes at a
// time. A chunk the store refused is kept and tried again at the next
// flush.
func (c *logChunks) flush() {
	for {
		c.mu.Lock()
		n := min(len(c.buf), logChunkBytes)
		chunk := bytes.Clone(c.buf[:n])
		seq := c.seq
		c.mu.Unlock()
		if n == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		err := c.st.AppendLog(ctx, c.runID, seq, chunk)
		cancel()
		c.mu.Lock()
		if err != nil {
			if !c.failed {
				c.log.Warn("run log chunk not stored; retrying", "run_id", c.runID, "seq", seq, "err", err)
			}
			c.failed = true
			c.mu.Unlock()
			return
		}
		c.buf = c.buf[n:]
		c.seq++
		c.mu.Unlock()
	}
}

// Close writes what is left and stops the goroutine.
func (c *logChunks) Close() error {
	close(c.closed)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) > 0 {
		return tebura.Errorf(tebura.ETRANSIENT, "The last %d bytes of run %s's log did not reach the store.", len(c.buf), c.runID)
	}
	return nil
}

// fileOrNone is the run's log file as output takes it: nil (no log) when it
// could not be opened.
func fileOrNone(file *os.File) io.WriteCloser {
	if file == nil {
		return nil
	}
	return file
}

// logMirror is the store's copy of run's log (output.mirror), nil without
// a LogStore.
func (e *Executor) logMirror(runID string) *logChunks {
	if e.cfg.Logs == nil {
		return nil
	}
	return newLogChunks(e.cfg.Logs, runID, e.log)
}

// ReadLog opens a run's log: its file under the data dir when this
// replica ran it, else the copy in the store (ExecutorConfig.Logs), which
// every replica can read.
func (e *Executor) ReadLog(ctx context.Context, run *Run) (io.ReadCloser, error) {
	rc, err := ReadLog(e.cfg.DataDir, run)
	if err == nil || e.cfg.Logs == nil || tebura.ErrorCode(err) != tebura.ENOTFOUND || run.StartedAt.IsZero() {
		return rc, err
	}
	var buf bytes.Buffer
	found := false
	if serr := e.cfg.Logs.LogChunks(ctx, run.ID, func(chunk []byte) error { found = true; _, werr := buf.Write(chunk); return werr }); serr != nil {
		return nil, serr
	}
	if !found {
		return nil, err
	}
	return io.NopCloser(&buf), nil
}
