package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/runbooks"
)

// SSE tuning.
const (
	// sseChunk bounds one read of the log: a reader far behind catches up
	// in pieces, each sent before the next is read.
	sseChunk = 256 << 10
	// sseWriteTimeout bounds one write to a viewer; a viewer that cannot
	// take a chunk in that time is dropped (its browser reconnects and
	// resumes from its last line).
	sseWriteTimeout = 30 * time.Second
	// sseKeepAlive keeps proxies from closing a quiet stream.
	sseKeepAlive = 15 * time.Second
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// runEvents streams a run's log as Server-Sent Events: "lines" events
// whose id is the byte offset in the log after them (a reconnect resumes
// from Last-Event-ID), then one "end" event with the final state. The log
// is read from the file the executor writes (masked and capped): the
// stream waits on the run's subscription, which only signals and never
// waits for a viewer, so a slow viewer slows nobody but itself.
func (s *Server) runEvents(w http.ResponseWriter, r *http.Request, v *viewer) error {
	ctx := r.Context()
	run, err := s.runOf(ctx, r.PathValue("id"), v.Actor)
	if err != nil {
		return err
	}
	var offset int64
	if id := cmpOr(r.Header.Get("Last-Event-ID"), r.URL.Query().Get("from")); id != "" {
		if offset, err = strconv.ParseInt(id, 10, 64); err != nil || offset < 0 {
			return tebura.Errorf(tebura.EINVALID, "Last-Event-ID %q is not a log offset.", id)
		}
	}
	var sub *runbooks.Subscription
	if ex := s.d.Runs.Executor(); ex != nil {
		if h, ok := ex.Handle(run.ID); ok {
			sub = h.Subscribe()
			defer sub.Close()
		}
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	st := &logStream{w: w, rc: rc, offset: offset, dataDir: s.d.DataDir}
	defer st.close()
	if err := st.comment("stream " + run.ID); err != nil {
		return nil
	}
	keep := time.NewTicker(sseKeepAlive)
	defer keep.Stop()
	for {
		if err := st.send(run); err != nil {
			return nil // the viewer went away; its browser reconnects
		}
		if sub == nil {
			break
		}
		select {
		case _, ok := <-sub.C():
			if !ok {
				sub = nil // ended: the final state is stored, the log closed
			}
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
	}
	final, err := s.d.Runs.Store().GetRun(ctx, run.ID)
	if err != nil {
		final = run
	}
	if err := st.send(final); err != nil {
		return nil
	}
	end, _ := json.Marshal(map[string]any{"state": final.State, "label": stateLabel(final.State), "class": stateClass(final.State),
		"exit_code": final.ExitCode, "reason": final.Reason, "truncated": final.Truncated})
	st.event("end", strconv.FormatInt(st.offset, 10), []string{string(end)})
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// logStream is one viewer's position in a run's log.
type logStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	dataDir string
	offset  int64
	ansi    ansiState
	file    *os.File
	buf     []byte
}

// send writes every complete line of the log past the offset, in chunks.
func (st *logStream) send(run *runbooks.Run) error {
	if run.LogPath == "" {
		return nil
	}
	if st.file == nil {
		rel := filepath.Clean(run.LogPath)
		if filepath.IsAbs(rel) || !strings.HasPrefix(rel, "logs"+string(filepath.Separator)) {
			return nil
		}
		f, err := os.Open(filepath.Join(st.dataDir, rel))
		if err != nil {
			return nil // not created yet, or pruned: nothing to send
		}
		st.file = f
	}
	if st.buf == nil {
		st.buf = make([]byte, sseChunk)
	}
	for {
		n, err := st.file.ReadAt(st.buf, st.offset)
		if n == 0 {
			if err != nil && err != io.EOF {
				return nil
			}
			return nil
		}
		chunk := st.buf[:n]
		cut := bytes.LastIndexByte(chunk, '\n')
		if cut < 0 {
			if n == len(st.buf) {
				cut = n - 1 // a line longer than a chunk: sent in pieces
			} else {
				return nil // a partial last line: sent once complete
			}
		}
		chunk = chunk[:cut+1]
		lines := strings.Split(strings.TrimSuffix(string(chunk), "\n"), "\n")
		for i, l := range lines {
			lines[i] = st.ansi.line(l)
		}
		st.offset += int64(len(chunk))
		if err := st.event("lines", strconv.FormatInt(st.offset, 10), lines); err != nil {
			return err
		}
		if n < len(st.buf) {
			return nil
		}
	}
}

func (st *logStream) close() {
	if st.file != nil {
		st.file.Close()
	}
}

// event writes one SSE event and flushes it.
func (st *logStream) event(name, id string, data []string) error {
	st.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	bw := bufio.NewWriterSize(st.w, 32<<10)
	fmt.Fprintf(bw, "event: %s\nid: %s\n", name, id)
	for _, d := range data {
		bw.WriteString("data: ")
		bw.WriteString(d)
		bw.WriteByte('\n')
	}
	bw.WriteByte('\n')
	if err := bw.Flush(); err != nil {
		return err
	}
	return st.rc.Flush()
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

// runLogDownload is the whole log file, as /runbook logs uploads it.
func (s *Server) runLogDownload(w http.ResponseWriter, r *http.Request, v *viewer) error {
	run, err := s.runOf(r.Context(), r.PathValue("id"), v.Actor)
	if err != nil {
		return err
	}
	f, err := runbooks.ReadLog(s.d.DataDir, run)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", run.Runbook+"-"+run.ID+".log"))
	io.Copy(w, f)
	return nil
}
