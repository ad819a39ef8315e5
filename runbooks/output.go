package runbooks

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Output limits.
const (
	// MaxLineBytes is the longest line the executor keeps whole. Output
	// without a newline for longer than this is cut into pieces of this
	// size, each treated as a line (the log gets a newline at each cut).
	// Redaction works per line, so a secret straddling a cut is not masked.
	MaxLineBytes = 64 << 10
	// MaxTailLineBytes is the longest tail line shown; longer ones end in "…".
	MaxTailLineBytes = 512
	// DefaultTailLines is how many lines a snapshot's Tail holds by default.
	DefaultTailLines = 40
	// DefaultLogCapBytes caps each run's log file by default.
	DefaultLogCapBytes = 10 << 20
)

// output is where a run's bytes go: it cuts them into lines, masks each
// line, and hands it to the log file (capped) and the handle's tail. It is
// written by one goroutine at a time (the step that runs) and never waits
// for a reader of the output: subscribers are only notified.
type output struct {
	h        *Handle
	masker   Masker // nil when there is nothing to mask
	pending  []byte // the current partial line
	batch    []byte // complete lines waiting to be masked and logged
	scratch  []byte // reused by the redactor for masked copies of batch
	tailSkip int    // lines of the current Write that need not enter the tail

	echo io.Writer // every masked line, past the cap too; nil once a write failed

	file io.WriteCloser
	w    *bufio.Writer
	// mirror gets what the log file gets, unbuffered: the store's copy
	// of the log (LogStore), nil without one.
	mirror  *logChunks
	cap     int64
	written int64 // bytes in the log file
	dropped int64 // bytes of output not written to the log
	logErr  error
}

func newOutput(h *Handle, m Masker, file io.WriteCloser, capBytes int64, echo io.Writer) *output {
	if r, ok := m.(*Redactor); ok && r.Empty() {
		m = nil
	}
	o := &output{h: h, masker: m, file: file, cap: capBytes, echo: echo, pending: make([]byte, 0, 4096)}
	if file != nil {
		o.w = bufio.NewWriterSize(file, 64<<10)
		// At most once per notifyEvery, and only while someone watches:
		// a flood is still written in 64 KiB blocks between viewers'
		// looks. A write error stays in the writer for close to report.
		h.mu.Lock()
		h.flushLog = func() { _ = o.w.Flush() }
		h.mu.Unlock()
	}
	return o
}

// Write implements io.Writer for the step's pipe reader and HTTP bodies.
// The first line of p completes the pending one and the bytes after the
// last newline become the pending one, line by line; the complete lines in
// between are one block: counted with bytes.Count, logged with one copy,
// and only their last TailLines lines are copied to the tail. The
// complete lines of one Write are masked and logged together.
func (o *output) Write(p []byte) (int, error) {
	n := len(p)
	o.h.mu.Lock()
	o.h.bytes += int64(n)
	first := bytes.IndexByte(p, '\n')
	if first < 0 {
		o.addLinesLocked(p)
	} else {
		last := bytes.LastIndexByte(p, '\n')
		o.addLinesLocked(p[:first+1])
		if mid := p[first+1 : last+1]; shortLines(mid) {
			o.addBlockLocked(mid)
		} else {
			o.addLinesLocked(mid)
		}
		o.addLinesLocked(p[last+1:])
	}
	o.flushLocked()
	o.h.notifyLocked()
	o.h.mu.Unlock()
	return n, nil
}

// shortLines reports whether b, which starts a line, certainly holds no
// line longer than MaxLineBytes, looking at one byte in each window of
// MaxLineBytes/2 instead of at every line: if each such window holds a
// newline, no run without one can reach MaxLineBytes-1.
func shortLines(b []byte) bool {
	const window = MaxLineBytes / 2
	for len(b) > 0 {
		w := b[:min(window, len(b))]
		if bytes.IndexByte(w, '\n') < 0 {
			return false
		}
		b = b[len(w):]
	}
	return true
}

// addBlockLocked takes complete lines (b ends in a newline, the pending
// line is empty, no line is over-long) in bulk.
func (o *output) addBlockLocked(b []byte) {
	if len(b) == 0 {
		return
	}
	k := bytes.Count(b, []byte{'\n'})
	o.h.lines += int64(k)
	// The start of the last len(ring) lines: when b holds more, walk back
	// over that many newlines.
	s := -1
	if k > len(o.h.ring) {
		s = len(b) - 1
		for c := 0; c < len(o.h.ring) && s >= 0; c++ {
			s = lastNewline(b[:s])
		}
	}
	for t := b[s+1:]; len(t) > 0; {
		i := bytes.IndexByte(t, '\n')
		o.h.pushTailLocked(t[:i])
		t = t[i+1:]
	}
	if !o.keep(int64(len(b))) {
		return
	}
	if o.masker == nil {
		// Nothing to mask: the block goes out from the read buffer, after
		// the lines batched before it, without being copied into the
		// batch (on a flood that copy was a third of the engine's work).
		o.flushLocked()
		o.sendLocked(b)
		return
	}
	o.batch = append(o.batch, b...)
}

// lastNewline is bytes.LastIndexByte(b, '\n') eight bytes at a time
// (bytes.LastIndexByte looks at one byte at a time, and finding the tail's
// start was a tenth of the engine's CPU time on a flood).
func lastNewline(b []byte) int {
	const ones, highs, newlines = 0x0101010101010101, 0x8080808080808080, 0x0a0a0a0a0a0a0a0a
	i := len(b)
	for i >= 8 {
		x := binary.LittleEndian.Uint64(b[i-8:i]) ^ newlines
		if (x-ones)&^x&highs != 0 {
			break // a newline among these 8 bytes: find it below
		}
		i -= 8
	}
	for i > 0 {
		i--
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}

// addLinesLocked cuts p into lines one at a time: lines that continue the
// pending one, over-long lines cut into MaxLineBytes pieces, the partial
// last line kept pending.
func (o *output) addLinesLocked(p []byte) {
	o.tailSkip = bytes.Count(p, []byte{'\n'}) - len(o.h.ring)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		// Cut over-long lines into MaxLineBytes pieces.
		for len(o.pending)+len(seg) > MaxLineBytes {
			room := MaxLineBytes - len(o.pending)
			o.pending = append(o.pending, seg[:room]...)
			o.emitLocked(o.pending)
			o.pending = o.pending[:0]
			seg = seg[room:]
		}
		if i < 0 {
			o.pending = append(o.pending, seg...)
			break
		}
		if len(o.pending) > 0 {
			o.pending = append(o.pending, seg...)
			o.emitLocked(o.pending)
			o.pending = o.pending[:0]
		} else {
			o.emitLocked(seg)
		}
		p = p[i+1:]
	}
	o.tailSkip = 0
}

// endLine emits a partial last line, so the next step starts on its own.
func (o *output) endLine() {
	o.h.mu.Lock()
	if len(o.pending) > 0 {
		o.tailSkip = 0
		o.emitLocked(o.pending)
		o.pending = o.pending[:0]
	}
	o.flushLocked()
	o.h.notifyLocked()
	o.h.mu.Unlock()
}

// note writes a line of tebura's own (step banners, results).
func (o *output) note(format string, args ...any) {
	o.endLine()
	fmt.Fprintf(o, "==> "+format+"\n", args...)
}

func (o *output) emitLocked(line []byte) {
	o.h.lines++
	if o.tailSkip > 0 {
		o.tailSkip-- // pushed out of the tail by later lines of this Write
	} else {
		o.h.pushTailLocked(line)
	}
	if !o.keep(int64(len(line)) + 1) {
		return
	}
	o.batch = append(o.batch, line...)
	o.batch = append(o.batch, '\n')
}

// keep reports whether n bytes of complete lines go into the batch: for the
// log while it is under its cap, for the echo always. Bytes the log no
// longer takes are counted as dropped.
func (o *output) keep(n int64) bool {
	logging := o.w != nil && o.logErr == nil
	if logging && o.h.truncated {
		o.dropped += n
		logging = false
	}
	return logging || o.echo != nil
}

// flushLocked masks the batched lines and sends them (sendLocked).
func (o *output) flushLocked() {
	if len(o.batch) == 0 {
		return
	}
	data := o.batch
	if r, ok := o.masker.(*Redactor); ok {
		data = r.maskBytes(data, o.scratch)
		if len(data) > 0 && cap(data) > cap(o.scratch) && &data[0] != &o.batch[0] {
			o.scratch = data[:0] // grown by replaceValues (else it is batch or a regexp's copy)
		}
	} else if o.masker != nil {
		data = []byte(o.masker.Mask(string(data)))
	}
	o.batch = o.batch[:0]
	o.sendLocked(data)
}

// sendLocked hands masked complete lines to the echo, and to the log,
// whole lines only, up to the cap. It keeps no reference to data.
func (o *output) sendLocked(data []byte) {
	if o.echo != nil {
		if _, err := o.echo.Write(data); err != nil {
			o.echo = nil // the run goes on; its log is complete
		}
	}
	if o.w == nil || o.logErr != nil || o.h.truncated {
		return
	}
	if room := o.cap - o.written; int64(len(data)) > room {
		cut := bytes.LastIndexByte(data[:max(room, 0)], '\n') + 1
		o.dropped += int64(len(data) - cut)
		o.h.truncated = true
		data = data[:cut]
	}
	if _, err := o.w.Write(data); err != nil {
		o.logErr = err
		return
	}
	if o.mirror != nil {
		o.mirror.Write(data) // only buffers; never fails
	}
	o.written += int64(len(data))
}

// close ends the log: the last partial line, the truncation marker, flush.
func (o *output) close() error {
	o.endLine()
	if o.w == nil {
		return nil
	}
	o.h.mu.Lock()
	defer o.h.mu.Unlock()
	if o.logErr == nil && o.h.truncated {
		marker := fmt.Sprintf("[tebura: log truncated at %d bytes; %d more bytes dropped]\n", o.written, o.dropped)
		io.WriteString(o.w, marker)
		if o.mirror != nil {
			o.mirror.Write([]byte(marker))
		}
	}
	if err := o.w.Flush(); err != nil && o.logErr == nil {
		o.logErr = err
	}
	if err := o.file.Close(); err != nil && o.logErr == nil {
		o.logErr = err
	}
	if o.mirror != nil {
		if err := o.mirror.Close(); err != nil && o.logErr == nil {
			o.logErr = err
		}
	}
	return o.logErr
}

// Snapshot is a run's state and the end of its output at one moment, with
// secrets masked: what a live chat message shows.
type Snapshot struct {
	RunID string
	State State
	// Step is the name of the step running (or the last one that ran).
	Step string
	// Tail holds the last lines of output (TailLines at most, each cut to
	// MaxTailLineBytes), masked.
	Tail []string
	// Lines and Bytes count all output so far, before masking.
	Lines, Bytes int64
	// Truncated says the log file reached its cap.
	Truncated bool
	ExitCode  int
	// Reason says why the run ended, or its place in the queue while queued.
	Reason             string
	StartedAt, EndedAt time.Time
	// Waiting is the manual step the run waits on for an answer; nil when
	// it waits on none.
	Waiting *Prompt
}

// pushTailLocked copies line into the ring of the last lines, reusing
// buffers so that steady output allocates nothing.
func (h *Handle) pushTailLocked(line []byte) {
	if len(h.ring) == 0 {
		return
	}
	i := h.ringNext
	h.ring[i] = append(h.ring[i][:0], line...)
	h.ringNext = (i + 1) % len(h.ring)
	if h.ringLen < len(h.ring) {
		h.ringLen++
	}
}

// tailLocked copies the ring in order (unmasked).
func (h *Handle) tailLocked() []string {
	out := make([]string, 0, h.ringLen)
	start := (h.ringNext - h.ringLen + len(h.ring)) % max(len(h.ring), 1)
	for k := 0; k < h.ringLen; k++ {
		out = append(out, string(h.ring[(start+k)%len(h.ring)]))
	}
	return out
}

// maskTail masks the lines (as one block, which is faster), then cuts each
// (cutting first could split a secret and show half of it).
func maskTail(lines []string, m Masker) []string {
	if m != nil && len(lines) > 0 {
		lines = strings.Split(m.Mask(strings.Join(lines, "\n")), "\n")
	}
	for i, l := range lines {
		if len(l) > MaxTailLineBytes {
			cut := MaxTailLineBytes
			for cut > 0 && !utf8.RuneStart(l[cut]) {
				cut--
			}
			l = l[:cut] + "…"
		}
		lines[i] = l
	}
	return lines
}
