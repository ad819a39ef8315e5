package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

// syncBuffer is an io.Writer tests can read while the adapter writes. Each
// Write is split into small chunks with a yield between them, so unserialised
// concurrent writers would interleave.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	for i := 0; i < len(p); i += 16 {
		b.mu.Lock()
		b.buf.Write(p[i:min(i+16, len(p))])
		b.mu.Unlock()
		runtime.Gosched()
	}
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// approvalBot is a tiny handler: a command posts a card with Approve and
// Deny; a click is answered privately.
type approvalBot struct {
	mu     sync.Mutex
	events []bot.Event
}

func (b *approvalBot) HandleEvent(ctx context.Context, ev bot.Event) {
	b.mu.Lock()
	b.events = append(b.events, ev)
	b.mu.Unlock()
	switch ev := ev.(type) {
	case *bot.Command:
		_, _ = ev.Reply.Reply(ctx, bot.Message{
			Header: "restart-api — approval needed",
			Fields: []bot.Field{{Label: "requested by", Value: ev.Actor.Mention()}},
			Buttons: []bot.Button{
				{Label: "Approve", ActionID: "approve", CallbackID: "cb-approve"},
				{Label: "Deny", ActionID: "deny", CallbackID: "cb-deny"},
			},
		})
	case *bot.Click:
		_ = ev.Reply.Private(ctx, bot.Message{Text: []string{"you clicked " + ev.ActionID}})
	}
}

func (b *approvalBot) got() []bot.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]bot.Event(nil), b.events...)
}

func runConsole(t *testing.T, o Options, h bot.Handler) (*Adapter, string) {
	t.Helper()
	out := &syncBuffer{}
	o.Out = out
	a := New(o)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Run(ctx, h); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run did not return at the end of input")
	}
	return a, out.String()
}

func TestScriptedTextSession(t *testing.T) {
	h := &approvalBot{}
	in := strings.Join([]string{
		"/runbook run restart-api env=prod",
		"!wait",
		"!1",
		"!wait",
		"!as bob",
		"!2@m1",
		"!wait",
		"!as",
		"hello there",
		"!9",
		"!1@m99",
		"!x",
		"/",
		"!help",
	}, "\n")
	_, out := runConsole(t, Options{In: strings.NewReader(in), User: "alice"}, h)

	evs := h.got()
	if len(evs) != 3 {
		t.Fatalf("%d events, want 3:\n%s", len(evs), out)
	}
	cmd, ok := evs[0].(*bot.Command)
	if !ok || cmd.Name != "runbook" || cmd.Text != "run restart-api env=prod" ||
		cmd.Actor.ID != "console:alice" || cmd.Platform != "console" || cmd.Channel != "console" {
		t.Errorf("command = %+v", evs[0])
	}
	for i, want := range []struct{ actor, action, cb string }{
		{"console:alice", "approve", "cb-approve"},
		{"console:bob", "deny", "cb-deny"},
	} {
		c, ok := evs[i+1].(*bot.Click)
		if !ok || c.Actor.ID != want.actor || c.ActionID != want.action || c.CallbackID != want.cb || c.Message.ID != "m1" {
			t.Errorf("click %d = %+v, want %+v", i, evs[i+1], want)
		}
	}
	for _, want := range []string{
		"── m1 ──\nrestart-api — approval needed\n  requested by  @alice\n",
		"  [1] Approve  [2] Deny\n",
		"(console:alice pressed [1] Approve on m1)",
		"── m2 (only you see this: console:alice) ──\n  you clicked approve\n",
		"You are now console:bob.",
		"(console:bob pressed [2] Deny on m1)",
		"only you see this: console:bob",
		"You are console:bob.",
		"Ignored: start a line with / for a command",
		"m1 has no button 9; its buttons are [1] Approve [2] Deny.",
		"There is no message m99.",
		`Unknown console key "!x"`,
		"Type a command after the slash",
		"Console keys:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestPressLatestMessageWithButtons(t *testing.T) {
	a := New(Options{})
	ctx := context.Background()
	if _, _, err := a.press("alice", "", 1); tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Errorf("press with no messages: %v", err)
	}
	_, _ = a.Post(ctx, bot.Target{}, bot.Message{Buttons: []bot.Button{{Label: "A", ActionID: "a"}}})
	_, _ = a.Post(ctx, bot.Target{}, bot.Message{Buttons: []bot.Button{{Label: "B", ActionID: "b"}}})
	_, _ = a.Post(ctx, bot.Target{}, bot.Message{Text: []string{"no buttons"}})
	ev, _, err := a.press("alice", "", 1)
	if err != nil || ev.ActionID != "b" || ev.Message.ID != "m2" {
		t.Fatalf("press = %+v, %v; want b on m2", ev, err)
	}
	// Once m2 loses its buttons, m1 is the latest with buttons.
	if err := a.Edit(ctx, bot.MessageRef{ID: "m2"}, bot.Message{Text: []string{"decided"}}); err != nil {
		t.Fatal(err)
	}
	if ev, _, err := a.press("alice", "", 1); err != nil || ev.ActionID != "a" {
		t.Errorf("press = %+v, %v; want a on m1", ev, err)
	}
	if _, _, err := a.press("alice", "m2", 1); err == nil || !strings.Contains(tebura.ErrorMessage(err), "no buttons") {
		t.Errorf("press on a message without buttons: %v", err)
	}
}

func TestEditNotTTYReprints(t *testing.T) {
	out := &syncBuffer{}
	a := New(Options{Out: out})
	ctx := context.Background()
	ref, _ := a.Post(ctx, bot.Target{}, bot.Message{Header: "job — running"})
	for i := 1; i <= 2; i++ {
		if err := a.Edit(ctx, ref, bot.Message{Header: fmt.Sprintf("job — frame %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	want := "── m1 ──\njob — running\n── m1 (update 1) ──\njob — frame 1\n── m1 (update 2) ──\njob — frame 2\n"
	if got := out.String(); got != want {
		t.Errorf("output:\n%q\nwant\n%q", got, want)
	}
	if err := a.Edit(ctx, bot.MessageRef{ID: "m42"}, bot.Message{}); tebura.ErrorCode(err) != tebura.ENOTFOUND {
		t.Errorf("edit of unknown message: %v", err)
	}
}

func TestEditTTYInPlace(t *testing.T) {
	out := &syncBuffer{}
	a := New(Options{Out: out, TTY: true, Width: 20})
	ctx := context.Background()
	ref, _ := a.Post(ctx, bot.Target{}, bot.Message{Header: "job", Text: []string{strings.Repeat("x", 30)}})
	// Block: rule, header, one 32-column text line (2 rows at width 20) = 4 rows.
	_ = a.Edit(ctx, ref, bot.Message{Header: "job", Text: []string{"short"}})
	if got := out.String(); !strings.Contains(got, "\x1b[4F\x1b[J── m1 (update 1) ──\njob\n  short\n") {
		t.Errorf("first edit not redrawn in place over 4 rows:\n%q", got)
	}
	_ = a.Edit(ctx, ref, bot.Message{Header: "job", Text: []string{"again"}})
	if got := out.String(); !strings.HasSuffix(got, "\x1b[3F\x1b[J── m1 (update 2) ──\njob\n  again\n") {
		t.Errorf("second edit not redrawn over 3 rows:\n%q", got)
	}
	// Another message comes after: editing m1 now re-prints instead.
	_, _ = a.Post(ctx, bot.Target{}, bot.Message{Header: "other"})
	_ = a.Edit(ctx, ref, bot.Message{Header: "job", Text: []string{"third"}})
	if got := out.String(); !strings.HasSuffix(got, "── m2 ──\nother\n── m1 (update 3) ──\njob\n  third\n") {
		t.Errorf("edit after another message not re-printed:\n%q", got)
	}
}

func TestTTYInputBreaksInPlace(t *testing.T) {
	out := &syncBuffer{}
	a := New(Options{Out: out, TTY: true})
	ctx := context.Background()
	ref, _ := a.Post(ctx, bot.Target{}, bot.Message{Header: "job"})
	a.handleLine(ctx, bot.HandlerFunc(func(context.Context, bot.Event) {}), &sync.WaitGroup{}, "!as bob")
	_ = a.Edit(ctx, ref, bot.Message{Header: "job 2"})
	if strings.Contains(out.String(), "\x1b[") {
		t.Errorf("redrew in place over the user's input:\n%q", out.String())
	}
}

type jsonOut struct {
	Type    string      `json:"type"`
	Ref     string      `json:"ref"`
	To      string      `json:"to"`
	Frame   int         `json:"frame"`
	Message bot.Message `json:"message"`
	Buttons []outButton `json:"buttons"`
	File    *outFile    `json:"file"`
	Error   string      `json:"error"`
}

func parseJSONLines(t *testing.T, out string) []jsonOut {
	t.Helper()
	var evs []jsonOut
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev jsonOut
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("output line is not JSON: %q: %v", line, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func TestJSONSession(t *testing.T) {
	h := &approvalBot{}
	in := strings.Join([]string{
		`{"type":"command","user":"alice","text":"/runbook run restart-api env=prod"}`,
		`{"type":"wait"}`,
		`{"type":"click","user":"bob","message":"m1","button":"approve"}`,
		`{"type":"click","user":"console:carol","button":"deny"}`,
		`{"type":"click","user":"dave","message":"m1","button":2}`,
		`{"type":"click","user":"erin","message":"m1","button":"APPROVE"}`,
		`{"type":"click","user":"frank","callback_id":"cb-deny"}`,
		`{"type":"wait"}`,
		`{nope`,
		`{"type":"dance"}`,
		`{"type":"click","message":"m1","button":"launch"}`,
		`{"type":"click","message":"m1"}`,
		`{"type":"command","text":"/x","extra":1}`,
		`{"type":"command","text":"/x"} {"type":"command"}`,
	}, "\n")
	_, out := runConsole(t, Options{In: strings.NewReader(in), JSON: true}, h)
	evs := parseJSONLines(t, out)

	post := evs[0]
	if post.Type != "post" || post.Ref != "m1" || post.Message.Header != "restart-api — approval needed" {
		t.Errorf("first output = %+v", post)
	}
	wantButtons := []outButton{{1, "Approve", "approve", "cb-approve"}, {2, "Deny", "deny", "cb-deny"}}
	if fmt.Sprint(post.Buttons) != fmt.Sprint(wantButtons) {
		t.Errorf("buttons = %+v, want %+v", post.Buttons, wantButtons)
	}

	var clicks []string
	for _, ev := range h.got()[1:] {
		c := ev.(*bot.Click)
		clicks = append(clicks, c.Actor.ID+"="+c.ActionID)
	}
	wantClicks := "console:bob=approve console:carol=deny console:dave=deny console:erin=approve console:frank=deny"
	if got := strings.Join(sortedCopy(clicks), " "); got != wantClicks {
		t.Errorf("clicks = %s\nwant     %s", got, wantClicks)
	}

	var privates, errs int
	for _, ev := range evs[1:] {
		switch ev.Type {
		case "private":
			privates++
			if ev.To == "" || ev.Ref == "" {
				t.Errorf("private without recipient or ref: %+v", ev)
			}
		case "error":
			errs++
		default:
			t.Errorf("unexpected output %+v", ev)
		}
	}
	if privates != 5 || errs != 6 {
		t.Errorf("%d private replies and %d errors, want 5 and 6:\n%s", privates, errs, out)
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	for i := range c {
		for j := i + 1; j < len(c); j++ {
			if c[j] < c[i] {
				c[i], c[j] = c[j], c[i]
			}
		}
	}
	return c
}

func TestJSONEditAndPrivate(t *testing.T) {
	out := &syncBuffer{}
	a := New(Options{Out: out, JSON: true})
	ctx := context.Background()
	ref, _ := a.Post(ctx, bot.Target{Channel: "ops", Thread: "m0"}, bot.Message{Header: "h"})
	_ = a.Edit(ctx, ref, bot.Message{Header: "h2"})
	r := &replier{a: a, to: bot.Target{Channel: "console"}, user: "alice"}
	_ = r.Private(ctx, bot.Message{Text: []string{"psst"}})
	want := `{"type":"post","ref":"m1","channel":"ops","thread":"m0","message":{"header":"h"}}
{"type":"edit","ref":"m1","channel":"ops","thread":"m0","frame":1,"message":{"header":"h2"}}
{"type":"private","ref":"m2","channel":"console","to":"alice","message":{"text":["psst"]}}
`
	if got := out.String(); got != want {
		t.Errorf("output:\n%s\nwant\n%s", got, want)
	}
}

// TestConcurrentPostsDoNotInterleave: the writer splits every write, so only
// the adapter's serialisation keeps blocks whole.
func TestConcurrentPostsDoNotInterleave(t *testing.T) {
	for _, jsonMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", jsonMode), func(t *testing.T) {
			out := &syncBuffer{}
			a := New(Options{Out: out, JSON: jsonMode})
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tag := fmt.Sprintf("w%02d", i)
					_, _ = a.Post(context.Background(), bot.Target{}, bot.Message{Header: tag,
						Code: &bot.Code{Text: strings.Repeat(tag+" ", 30) + "\n" + strings.Repeat(tag+" ", 30)}})
				}()
			}
			wg.Wait()
			got := out.String()
			if jsonMode {
				if evs := parseJSONLines(t, got); len(evs) != 20 {
					t.Errorf("%d JSON lines, want 20", len(evs))
				}
				return
			}
			blocks := strings.Split(got, "── m")[1:]
			if len(blocks) != 20 {
				t.Fatalf("%d blocks, want 20", len(blocks))
			}
			for _, b := range blocks {
				lines := strings.Split(strings.TrimSpace(b), "\n")
				tag := lines[1]
				for _, l := range lines[2:] {
					if strings.Contains(l, "w") && !strings.Contains(l, tag) {
						t.Fatalf("block of %s holds a line of another writer: %q", tag, l)
					}
				}
			}
		})
	}
}

func TestRunWaitsForHandlersAtEOF(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	h := bot.HandlerFunc(func(ctx context.Context, ev bot.Event) {
		close(started)
		<-release
	})
	a := New(Options{In: strings.NewReader("/slow\n")})
	done := make(chan error, 1)
	go func() { done <- a.Run(context.Background(), h) }()
	<-started
	select {
	case err := <-done:
		t.Fatalf("Run returned %v while a handler was still running", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil at end of input", err)
	}
}

func TestRunStopsWithContext(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	a := New(Options{In: pr})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, bot.HandlerFunc(func(context.Context, bot.Event) {})) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRunReadError(t *testing.T) {
	a := New(Options{In: io.MultiReader(strings.NewReader("/a\n"), errReader{})})
	err := a.Run(context.Background(), bot.HandlerFunc(func(context.Context, bot.Event) {}))
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("Run = %v, want the read error", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestWaitKeepsOrder: handlers run concurrently, but "!wait" lets a script
// sequence them; without it 50 goroutines would not stay in order.
func TestWaitKeepsOrder(t *testing.T) {
	var mu sync.Mutex
	var got []string
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("/c%d", i), "!wait")
	}
	h := bot.HandlerFunc(func(_ context.Context, ev bot.Event) {
		mu.Lock()
		got = append(got, ev.(*bot.Command).Name)
		mu.Unlock()
	})
	runConsole(t, Options{In: strings.NewReader(strings.Join(lines, "\n"))}, h)
	for i, name := range got {
		if name != fmt.Sprintf("c%d", i) {
			t.Fatalf("event %d is %s: out of input order", i, name)
		}
	}
	if len(got) != 50 {
		t.Errorf("%d events, want 50", len(got))
	}
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		line, name, text string
		ok               bool
	}{
		{"/runbook run x env=prod", "runbook", "run x env=prod", true},
		{"/tebura", "tebura", "", true},
		{"/runbook\trun  x", "runbook", "run  x", true},
		{`/runbook run x msg="a  b"`, "runbook", `run x msg="a  b"`, true},
		{"/", "", "", false},
		{"/ runbook", "", "runbook", false},
	}
	for _, tt := range tests {
		name, text, ok := splitCommand(tt.line)
		if name != tt.name || text != tt.text || ok != tt.ok {
			t.Errorf("splitCommand(%q) = %q, %q, %v; want %q, %q, %v", tt.line, name, text, ok, tt.name, tt.text, tt.ok)
		}
	}
}

func TestUpload(t *testing.T) {
	ctx := context.Background()
	content := []byte("line 1\nline 2\n")

	dir := t.TempDir()
	out := &syncBuffer{}
	a := New(Options{Out: out, FileDir: dir})
	if err := a.Upload(ctx, bot.Target{}, bot.File{Name: "../../r42.log", Title: "Full log of r42", Content: content}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "m1-r42.log")
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, content) {
		t.Errorf("file %s: %q, %v", path, b, err)
	}
	if got := out.String(); !strings.Contains(got, "── m1 file: Full log of r42 (r42.log, 14 bytes) ──") || !strings.Contains(got, "saved to "+path) {
		t.Errorf("output:\n%s", got)
	}

	out = &syncBuffer{}
	a = New(Options{Out: out, JSON: true})
	if err := a.Upload(ctx, bot.Target{}, bot.File{Name: "r42.log", Content: content}); err != nil {
		t.Fatal(err)
	}
	evs := parseJSONLines(t, out.String())
	if len(evs) != 1 || evs[0].Type != "file" || evs[0].File == nil || evs[0].File.Content != string(content) || evs[0].File.Bytes != 14 {
		t.Errorf("file event: %s", out.String())
	}
}

// TestPostFitsToLimits: the console trims like any adapter, with markers.
func TestPostFitsToLimits(t *testing.T) {
	out := &syncBuffer{}
	a := New(Options{Out: out})
	long := strings.Repeat("0123456789\n", 1000)
	if _, err := a.Post(context.Background(), bot.Target{}, bot.Message{Code: &bot.Code{Text: long, Tail: true}}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "earlier lines not shown") || strings.Count(got, "0123456789") > a.Limits().Code/10 {
		t.Errorf("long code not trimmed:\n%.300s", got)
	}
}

func TestTerminalNotATTY(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, w := range []io.Writer{f, &bytes.Buffer{}} {
		if tty, width := Terminal(w); tty || width != 0 {
			t.Errorf("Terminal(%T) = %v, %d; want false, 0", w, tty, width)
		}
	}
}

// TestStreamIntoConsole: a Stream edits a console message; the last block
// printed is the final frame.
func TestStreamIntoConsole(t *testing.T) {
	out := &syncBuffer{}
	a := New(Options{Out: out})
	ctx := context.Background()
	ref, err := a.Post(ctx, bot.Target{}, bot.Message{Header: "job — starting"})
	if err != nil {
		t.Fatal(err)
	}
	s := bot.NewStream(a, ref, bot.StreamOptions{Interval: time.Millisecond})
	for i := range 1000 {
		s.Update(bot.Message{Header: "job — running", Code: &bot.Code{Text: fmt.Sprintf("line %d", i), Tail: true}})
	}
	final := bot.Message{Header: "job — succeeded", Level: bot.LevelSuccess, Code: &bot.Code{Text: "line 999", Tail: true}}
	if err := s.Close(ctx, final); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	st := s.Stats()
	last := got[strings.LastIndex(got, "── m1"):]
	want := fmt.Sprintf("── m1 (update %d) ──\n", st.Sent) + Render(final, 0)
	if last != want {
		t.Errorf("last block:\n%s\nwant\n%s", last, want)
	}
}
