package web

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/runbooks"
)

// SSE tuning.
const (
	// sseChunk bounds one read of the log: a reader far behind catches up
	// in pieces, each sent before the next is read.
	sseChunk = 16 << 10
	// sseWriteTimeout bounds one write to a viewer; a viewer that cannot
	// take a chunk in that time is dropped (its browser reconnects and
	// resumes from its last line).
	sseWriteTimeout = 30 * time.Second
	// sseKeepAlive keeps proxies from closing a quiet stream.
	sseKeepAlive = 15 * time.Second
	// ssePoll is how often a stream of a run that does not run in this
	// process (pending approval, queued, or on another replica) looks at
	// the store for news: its state, and the chunks of its log that the
	// replica running it stores about every second.
	ssePoll = 500 * time.Millisecond
)

// runEvents streams a run's log as Server-Sent Events: "lines" events
// whose id is the byte offset in the log after them (a reconnect resumes
// from Last-Event-ID), then one "end" event with the final state. The log
// (masked and capped) is read from the file the executor writes when the
// run runs here: the stream waits on the run's subscription, which only
// signals and never waits for a viewer, so a slow viewer slows nobody but
// itself. A run on another replica (or one that ran on a replica now
// gone) is streamed from the store's copy of its log, polled every
// ssePoll; that never touches the run either.
func (s *Server) runEvents(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ctx := r.Context()
	run, err := s.runOf(ctx, r.PathValue("id"), v.Actor)
	if err != nil {
		return err
	}
	var offset int64
	if id := cmp.Or(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("from")); id != "" {
		if offset, err = strconv.ParseInt(id, 10, 64); err != nil || offset < 0 {
			return tebura.Errorf(tebura.EINVALID, "Last-Event-ID %q is not a log offset.", id)
		}
	}
	// The run's live handle, once it runs in this process: a pending run
	// that gets approved while someone watches starts streaming then.
	var sub *runbooks.Subscription
	subscribed := false
	subscribe := func() {
		if subscribed {
			return
		}
		if ex := s.d.Runs.Executor(); ex != nil {
			if h, ok := ex.Handle(run.ID); ok {
				sub, subscribed = h.Subscribe(), true
			}
		}
	}
	defer func() {
		if sub != nil {
			sub.Close()
		}
	}()
	subscribe()
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	st := &logStream{w: w, rc: rc, offset: offset, dataDir: s.d.DataDir, cache: s.events, runID: run.ID, remote: s.remote}
	defer st.close()
	if err := st.comment("stream " + run.ID); err != nil {
		return nil
	}
	keep := time.NewTicker(sseKeepAlive)
	defer keep.Stop()
	poll := time.NewTicker(ssePoll)
	defer poll.Stop()
	for {
		if err := st.send(ctx, run); err != nil {
			return nil // the viewer went away; its browser reconnects
		}
		if sub == nil && run.State.Final() {
			break
		}
		var changed <-chan struct{}
		var polled <-chan time.Time
		if sub != nil {
			changed = sub.C()
		} else {
			polled = poll.C
		}
		select {
		case _, ok := <-changed:
			if !ok {
				sub = nil // ended: the final state is stored, the log closed
			}
		case <-polled:
			// Not running here (yet): waiting for approval or in the
			// queue, or running on another replica.
		case <-keep.C:
			if err := st.comment("keep-alive"); err != nil {
				return nil
			}
			continue
		case <-ctx.Done():
			return nil
		}
		// A queued run gets its log path when it starts; the final state
		// comes from the store.
		if fresh, err := s.d.Runs.Store().GetRun(ctx, run.ID); err == nil {
			run = fresh
		}
		subscribe()
	}
	s.finish(ctx, st, run)
	return nil
}

// finish sends what the log holds past the viewer's offset and the "end"
// event with the run's final state, as stored.
func (s *Server) finish(ctx context.Context, st *logStream, run *runbooks.Run) {
	if final, err := s.d.Runs.Store().GetRun(ctx, run.ID); err == nil {
		run = final
	}
	if err := st.send(ctx, run); err != nil {
		return
	}
	end, _ := json.Marshal(map[string]any{"state": run.State, "label": stateLabel(run.State), "class": stateClass(run.State),
		"exit_code": run.ExitCode, "reason": run.Reason, "truncated": run.Truncated})
	st.event("end", strconv.FormatInt(st.offset, 10), []string{string(end)})
}

// logStream is one viewer's position in a run's log.
type logStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	dataDir string
	// remote reads the store's copy when the file is not here; srv is
	// whose read path it uses.
	remote *remoteLogs
	srv    *Server
	offset int64
	ansi   ansiState
	file   *os.File
	buf    []byte
	cache  *eventCache
	runID  string
}

// send writes every complete line of the log past the offset, in chunks
// of at most sseChunk bytes, each one event. The log is the file when
// this replica runs or ran the run, else the store's copy (another
// replica runs it, or ran it and is gone).
func (st *logStream) send(ctx context.Context, run *runbooks.Run) error {
	if run.LogPath == "" {
		return nil
	}
	if st.file == nil {
		rel := filepath.Clean(run.LogPath)
		if filepath.IsAbs(rel) || !strings.HasPrefix(rel, "logs"+string(filepath.Separator)) {
			return nil
		}
		if f, err := os.Open(filepath.Join(st.dataDir, rel)); err == nil {
			st.file = f
		}
	}
	var src io.ReaderAt = st.file
	if st.file == nil {
		if st.remote == nil || run.StartedAt.IsZero() {
			return nil // not created yet, or pruned: nothing to send
		}
		data := st.remote.get(ctx, run)
		if int64(len(data)) <= st.offset {
			return nil
		}
		src = bytes.NewReader(data)
	}
	if st.buf == nil {
		st.buf = make([]byte, sseChunk)
	}
	for {
		n, _ := src.ReadAt(st.buf, st.offset)
		if n == 0 {
			return nil
		}
		chunk := st.buf[:n]
		cut := bytes.LastIndexByte(chunk, '\n')
		if cut < 0 {
			if n < len(st.buf) {
				return nil // a partial last line: sent once complete
			}
			cut = n - 1 // a line longer than a chunk: sent in pieces
		}
		chunk = chunk[:cut+1]
		end := st.offset + int64(len(chunk))
		ev := st.cache.render(eventKey{run: st.runID, from: st.offset, to: end, state: st.ansi}, chunk)
		st.ansi = ev.state
		st.offset = end
		if err := st.write(ev.data); err != nil {
			return err
		}
		if n < len(st.buf) {
			return nil
		}
	}
}

// write sends one rendered event and flushes it.
func (st *logStream) write(data []byte) error {
	st.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := st.w.Write(data); err != nil {
		return err
	}
	return st.rc.Flush()
}

// eventKey is one rendered piece of a log: the same bytes from the same
// colour state render to the same event, whoever watches.
type eventKey struct {
	run      string
	from, to int64
	state    ansiState
}

// renderedEvent is a "lines" event ready to send, and the colour state
// after it.
type renderedEvent struct {
	data  []byte
	state ansiState
}

// eventCacheSize bounds the events kept: viewers of a live run read the
// same new lines at each notification, so the last few are what they ask.
const eventCacheSize = 64

// eventCache renders each piece of a log once for all its viewers: 100
// people following a busy run cost one rendering, not a hundred.
type eventCache struct {
	mu    sync.Mutex
	m     map[eventKey]renderedEvent
	order []eventKey
}

func newEventCache() *eventCache { return &eventCache{m: map[eventKey]renderedEvent{}} }

// render returns the event of chunk (complete lines) from k.state.
func (c *eventCache) render(k eventKey, chunk []byte) renderedEvent {
	c.mu.Lock()
	ev, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return ev
	}
	st := k.state
	data := make([]byte, 0, len(chunk)+len(chunk)/8+64)
	data = append(data, "event: lines\nid: "...)
	data = strconv.AppendInt(data, k.to, 10)
	data = append(data, '\n')
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		line := chunk
		if i >= 0 {
			line, chunk = chunk[:i], chunk[i+1:]
		} else {
			chunk = nil
		}
		data = append(data, "data: "...)
		data = st.appendLine(data, line)
		data = append(data, '\n')
	}
	data = append(data, '\n')
	ev = renderedEvent{data: data, state: st}
	c.mu.Lock()
	if _, ok := c.m[k]; !ok {
		c.m[k] = ev
		c.order = append(c.order, k)
		if len(c.order) > eventCacheSize {
			delete(c.m, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.mu.Unlock()
	return ev
}

func (st *logStream) close() {
	if st.file != nil {
		st.file.Close()
	}
}

// event writes one SSE event and flushes it.
func (st *logStream) event(name, id string, data []string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "event: %s\nid: %s\n", name, id)
	for _, d := range data {
		b.WriteString("data: " + d + "\n")
	}
	b.WriteByte('\n')
	return st.write(b.Bytes())
}

// comment writes an SSE comment (ignored by browsers; keeps the stream
// open through proxies).
func (st *logStream) comment(text string) error {
	st.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := io.WriteString(st.w, ": "+text+"\n\n"); err != nil {
		return err
	}
	return st.rc.Flush()
}

// runLogDownload is the whole log, as /runbook logs uploads it: the file,
// or the store's copy when another replica ran the run.
func (s *Server) runLogDownload(w http.ResponseWriter, r *http.Request, v *viewer) error {
	run, err := s.runOf(r.Context(), r.PathValue("id"), v.Actor)
	if err != nil {
		return err
	}
	f, err := s.openRunLog(r.Context(), run)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", run.Runbook+"-"+run.ID+".log"))
	io.Copy(w, f)
	return nil
}
