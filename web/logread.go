package web

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/tebura/tebura/runbooks"
)

// openRunLog opens run's log (masked, capped) by the read path of chat's
// /runbook logs: the file under the data dir when this replica ran the
// run, else the copy in the store, so that any replica serves any run's
// log, also after the replica that ran it is gone.
func (s *Server) openRunLog(ctx context.Context, run *runbooks.Run) (io.ReadCloser, error) {
	if ex := s.d.Runs.Executor(); ex != nil {
		return ex.ReadLog(ctx, run)
	}
	return runbooks.ReadLog(s.d.DataDir, run)
}

// skipTo moves r to byte off: a seek on a file, a read past the start of
// the store's copy.
func skipTo(r io.Reader, off int64) error {
	if off == 0 {
		return nil
	}
	if sk, ok := r.(io.Seeker); ok {
		_, err := sk.Seek(off, io.SeekStart)
		return err
	}
	if _, err := io.CopyN(io.Discard, r, off); err != nil && err != io.EOF {
		return err
	}
	return nil
}

// remoteLogTTL bounds how often this replica reads the store's copy of a
// run's log that another replica writes: the viewers of a run share one
// read per interval, however many they are. Shorter than ssePoll, so that
// each poll of a lone viewer reads.
const remoteLogTTL = ssePoll / 2

// remoteLogKeep is how long an unread copy stays in memory.
const remoteLogKeep = time.Minute

// remoteLogs caches the store's copies of the logs of runs that do not
// run in this process, for the live streams that poll them.
type remoteLogs struct {
	now  func() time.Time
	read chunkReader
	log  *slog.Logger

	mu   sync.Mutex
	logs map[string]*remoteLog
}

// remoteLog is one run's copy; mu serialises its reads from the store.
// seq is the next chunk to read: stored chunks never change, so each is
// read once. done: read after the run ended, so it is whole.
type remoteLog struct {
	mu   sync.Mutex
	data []byte
	seq  int
	at   time.Time
	used time.Time
	done bool
}

// chunkReader reads the chunks of a run's log in the store from seq from
// on (runbooks.Executor.LogChunksFrom).
type chunkReader func(ctx context.Context, run *runbooks.Run, from int, fn func(chunk []byte) error) error

// logChunksFrom is the executor's read of the store's copy; nothing
// without an executor.
func (s *Server) logChunksFrom(ctx context.Context, run *runbooks.Run, from int, fn func(chunk []byte) error) error {
	if ex := s.d.Runs.Executor(); ex != nil {
		return ex.LogChunksFrom(ctx, run, from, fn)
	}
	return nil
}

// newRemoteLogs reads logs with read.
func newRemoteLogs(now func() time.Time, read chunkReader, log *slog.Logger) *remoteLogs {
	return &remoteLogs{now: now, read: read, log: log, logs: map[string]*remoteLog{}}
}

// get returns run's log as the store holds it, read at most once per
// remoteLogTTL while it runs, and once more as soon as it is seen ended
// (the last lines of a run arrive with its end); after that it no longer
// changes and is not read again until dropped. nil when the store has
// none yet.
func (c *remoteLogs) get(ctx context.Context, run *runbooks.Run) []byte {
	now := c.now()
	c.mu.Lock()
	l := c.logs[run.ID]
	if l == nil {
		l = &remoteLog{}
		c.logs[run.ID] = l
		for id, o := range c.logs {
			if now.Sub(o.used) > remoteLogKeep && o != l {
				delete(c.logs, id)
			}
		}
	}
	l.used = now
	c.mu.Unlock()

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done || !run.State.Final() && !l.at.IsZero() && now.Sub(l.at) < remoteLogTTL {
		return l.data
	}
	l.at = now // tried: a failed read waits for the next interval too
	data, seq := l.data, l.seq
	err := c.read(ctx, run, seq, func(chunk []byte) error {
		data, seq = append(data, chunk...), seq+1
		return nil
	})
	if err != nil {
		c.log.Warn("run log not read from the store", "run_id", run.ID, "err", err)
		return l.data
	}
	// The executor stores every chunk before the final state: read after
	// run was seen final, the copy is whole and is not read again.
	l.data, l.seq, l.done = data, seq, run.State.Final()
	return l.data
}
