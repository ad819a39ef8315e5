package web

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/runbooks"
)

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	Name, ID string
	Data     []string
}

// sseClient reads events from a stream as they come.
type sseClient struct {
	t      testing.TB
	events chan sseEvent
	resp   *http.Response
}

func (b *browser) stream(path, lastID string) *sseClient {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", b.h.Srv.URL+path, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b.t.Fatalf("GET %s = %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := &sseClient{t: b.t, events: make(chan sseEvent, 1024), resp: resp}
	go func() {
		defer close(c.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Name != "" {
					c.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[len("event: "):]
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[len("id: "):]
			case strings.HasPrefix(line, "data: "):
				ev.Data = append(ev.Data, line[len("data: "):])
			}
		}
	}()
	return c
}

// until reads events until one holds want (in its data), returning every
// event read; it fails after 20s.
func (c *sseClient) until(want string) []sseEvent {
	c.t.Helper()
	var got []sseEvent
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				c.t.Fatalf("stream ended before %q; got %v", want, got)
			}
			got = append(got, ev)
			if strings.Contains(strings.Join(ev.Data, "\n"), want) {
				return got
			}
		case <-timeout:
			c.t.Fatalf("no %q within 20s; got %v", want, got)
		}
	}
}

// untilEnd reads events up to the end event.
func (c *sseClient) untilEnd() []sseEvent {
	c.t.Helper()
	var got []sseEvent
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-c.events:
			if !ok {
				c.t.Fatalf("stream closed without an end event; got %v", got)
			}
			got = append(got, ev)
			if ev.Name == "end" {
				return got
			}
		case <-timeout:
			c.t.Fatalf("no end event within 20s; got %v", got)
		}
	}
}

// startGated starts the gated runbook as b; closing the returned gate lets
// it print its last line.
func (h *webHarness) startGated(b *browser) (id string, open func()) {
	h.T.Helper()
	gate := filepath.Join(h.T.TempDir(), "gate")
	form := "/ui/runbooks/gated"
	r := b.post(form, form, url.Values{"p_gate": {gate}})
	if r.StatusCode != http.StatusSeeOther {
		h.T.Fatalf("start gated = %d:\n%s", r.StatusCode, r.Body)
	}
	return strings.TrimPrefix(r.Header.Get("Location"), "/ui/runs/"), func() {
		if err := os.WriteFile(gate, nil, 0o600); err != nil {
			h.T.Fatal(err)
		}
	}
}

// TestLiveLogStreams: lines appear while the run is running (the run
// waits on the test's gate), with ANSI colours as spans and text escaped;
// the end event carries the final state; a reconnect from Last-Event-ID
// gets only what came after.
func TestLiveLogStreams(t *testing.T) {
	h := newWebHarness(t)
	b := h.signIn(alice)
	id, open := h.startGated(b)
	s := b.stream("/ui/runs/"+id+"/events", "")
	before := s.until("first &lt;b&gt;line&lt;/b&gt;")
	if run := h.waitState(id, runbooks.StateRunning); run.State != runbooks.StateRunning {
		t.Fatal("unreachable")
	}
	var all []string
	lastID := ""
	for _, ev := range before {
		if ev.Name == "end" {
			t.Fatal("stream ended before the gate opened")
		}
		all = append(all, ev.Data...)
		lastID = ev.ID
	}
	joined := strings.Join(all, "\n")
	if !strings.Contains(joined, `<span class="f31">red line</span>`) {
		t.Errorf("ANSI red not rendered as a span:\n%s", joined)
	}
	if strings.Contains(joined, "<b>") || strings.Contains(joined, "\x1b") {
		t.Errorf("unescaped text or raw escapes in the stream:\n%s", joined)
	}

	// A second viewer resuming from the first one's position gets only
	// the lines after it.
	resumed := b.stream("/ui/runs/"+id+"/events", lastID)
	open()
	after := s.untilEnd()
	if end := strings.Join(after[len(after)-1].Data, ""); !strings.Contains(end, `"state":"succeeded"`) {
		t.Errorf("end event = %s, want state succeeded", end)
	}
	var tail []string
	for _, ev := range after[:len(after)-1] {
		tail = append(tail, ev.Data...)
	}
	if !strings.Contains(strings.Join(tail, "\n"), "last line") {
		t.Errorf("the last line did not come before end: %v", after)
	}
	got := resumed.untilEnd()
	var text []string
	for _, ev := range got {
		text = append(text, ev.Data...)
	}
	rt := strings.Join(text, "\n")
	if strings.Contains(rt, "first") || !strings.Contains(rt, "last line") {
		t.Errorf("resumed stream: want only what followed Last-Event-ID %s, got:\n%s", lastID, rt)
	}

	// A finished run streams its whole log, then end.
	whole := b.stream("/ui/runs/"+id+"/events", "").untilEnd()
	var w []string
	for _, ev := range whole {
		w = append(w, ev.Data...)
	}
	if ws := strings.Join(w, "\n"); !strings.Contains(ws, "first") || !strings.Contains(ws, "last line") {
		t.Errorf("stream of a finished run:\n%s", ws)
	}
	if r := b.do("GET", "/ui/runs/"+id+"/events?from=-3", nil); r.StatusCode != http.StatusBadRequest {
		t.Errorf("negative offset = %d, want 400", r.StatusCode)
	}
}

// TestSlowViewerDoesNotBlockRun: a viewer that never reads its stream
// (its socket buffers fill) does not hold the run back: a flood of output
// finishes, and a reading viewer gets the last line.
func TestSlowViewerDoesNotBlockRun(t *testing.T) {
	h := newWebHarness(t)
	b := h.signIn(alice)
	form := "/ui/runbooks/flood"
	r := b.post(form, form, url.Values{"p_n": {"300000"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("start flood = %d:\n%s", r.StatusCode, r.Body)
	}
	id := strings.TrimPrefix(r.Header.Get("Location"), "/ui/runs/")

	// The stalled viewer: a raw connection with a tiny receive buffer that
	// sends the request and never reads.
	u, _ := url.Parse(h.Srv.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	cookie := ""
	for _, c := range b.c.Jar.Cookies(u) {
		cookie = c.Name + "=" + c.Value
	}
	if _, err := conn.Write([]byte("GET /ui/runs/" + id + "/events HTTP/1.1\r\nHost: " + u.Host + "\r\nCookie: " + cookie + "\r\n\r\n")); err != nil {
		t.Fatal(err)
	}

	final := h.WaitFinal(id)
	if final.State != runbooks.StateSucceeded {
		t.Fatalf("flood = %s (%s), want succeeded while a viewer stalls", final.State, final.Reason)
	}
	b.stream("/ui/runs/"+id+"/events", "").until("done-flooding")
}

// TestStreamOfPendingRunWaitsForItsStart: the page of a run waiting for
// approval streams nothing and does not end; once approved (here from
// another browser) its log streams and ends with its final state.
func TestStreamOfPendingRunWaitsForItsStart(t *testing.T) {
	h := newWebHarness(t)
	a := h.signIn(alice)
	form := "/ui/runbooks/restart-api"
	r := a.post(form, form, url.Values{"p_env": {"staging"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("request = %d:\n%s", r.StatusCode, r.Body)
	}
	runPath := r.Header.Get("Location")
	s := a.stream(runPath+"/events", "")
	b := h.signIn(bob)
	if r := b.post(runPath, runPath+"/approve", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve = %d:\n%s", r.StatusCode, r.Body)
	}
	got := s.untilEnd()
	var lines []string
	for _, ev := range got {
		lines = append(lines, ev.Data...)
	}
	all := strings.Join(lines, "\n")
	if !strings.Contains(all, "restarting api in staging") || !strings.Contains(all, `"state":"succeeded"`) {
		t.Fatalf("stream of a run approved while watched:\n%s", all)
	}
}
