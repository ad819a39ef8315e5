package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/tebura/tebura/bot"
)

// TestInterleaveBreaksInPlace is the tmux bug: a log line written to the
// same terminal between two updates must survive, and the update after it
// must be re-printed in full below it, not drawn over it.
func TestInterleaveBreaksInPlace(t *testing.T) {
	out := &syncBuffer{}
	a := New(Options{Out: out, TTY: true, Width: 80})
	ctx := context.Background()
	logs := slog.New(slog.NewTextHandler(a.Interleave(out), &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, at slog.Attr) slog.Attr {
			if at.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return at
		},
	}))
	const logLine = `level=INFO msg="run ended" run_id=r2 runbook=restart-unit` + "\n"

	ref, err := a.Post(ctx, bot.Target{}, bot.Message{Header: "restart-unit — running", Text: []string{"step 1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Edit(ctx, ref, bot.Message{Header: "restart-unit — running", Text: []string{"step 2"}}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\x1b[3F\x1b[J── m1 (update 1) ──") {
		t.Fatalf("update 1 with nothing in between was not redrawn in place:\n%q", out.String())
	}
	logs.Info("run ended", "run_id", "r2", "runbook", "restart-unit")
	if err := a.Edit(ctx, ref, bot.Message{Header: "✔ restart-unit — succeeded"}); err != nil {
		t.Fatal(err)
	}

	got := out.String()
	i := strings.Index(got, logLine)
	if i < 0 {
		t.Fatalf("log line missing or broken:\n%q", got)
	}
	if want := "── m1 (update 2) ──\n✔ restart-unit — succeeded\n"; got[i+len(logLine):] != want {
		t.Errorf("after the log line:\n%q\nwant the update re-printed in full:\n%q", got[i+len(logLine):], want)
	}
	if j := strings.LastIndex(got, "\x1b["); j > i {
		t.Errorf("a cursor move after the log line would draw over it:\n%q", got)
	}
	// The block printed after the log line is the bottom again: the next
	// update redraws it in place.
	if err := a.Edit(ctx, ref, bot.Message{Header: "✔ restart-unit — succeeded", Text: []string{"exit 0"}}); err != nil {
		t.Fatal(err)
	}
	if want := "\x1b[2F\x1b[J── m1 (update 3) ──\n✔ restart-unit — succeeded\n  exit 0\n"; !strings.HasSuffix(out.String(), want) {
		t.Errorf("update 3 not redrawn in place over update 2:\n%q\nwant suffix\n%q", out.String(), want)
	}
}

// TestInterleaveConcurrent writes log lines and updates at once: every log
// line and every block comes out whole (syncBuffer splits writes into small
// chunks, so an unlocked writer would mix them).
func TestInterleaveConcurrent(t *testing.T) {
	out := &syncBuffer{}
	a := New(Options{Out: out, TTY: true})
	ctx := context.Background()
	w := a.Interleave(out)
	ref, _ := a.Post(ctx, bot.Target{}, bot.Message{Header: "job"})
	const n = 50
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range n {
			fmt.Fprintf(w, "log line %02d is a long enough line to be split into chunks\n", i)
		}
	}()
	go func() {
		defer wg.Done()
		for i := range n {
			_ = a.Edit(ctx, ref, bot.Message{Header: fmt.Sprintf("job frame %02d, also long enough to be split", i)})
		}
	}()
	wg.Wait()
	got := out.String()
	for i := range n {
		if line := fmt.Sprintf("log line %02d is a long enough line to be split into chunks\n", i); !strings.Contains(got, line) {
			t.Fatalf("log line %d not intact:\n%q", i, got)
		}
	}
	if !strings.Contains(got, fmt.Sprintf("job frame %02d, also long enough to be split\n", n-1)) {
		t.Errorf("last frame not intact:\n%q", got)
	}
}

// TestWriteFailureLoggedThroughInterleave: the adapter logs a failed write
// after releasing its lock, so a logger writing through Interleave does not
// deadlock.
func TestWriteFailureLoggedThroughInterleave(t *testing.T) {
	logOut := &syncBuffer{}
	sink := &lateWriter{}
	a := New(Options{Out: failWriter{}, TTY: true, Logger: slog.New(slog.NewTextHandler(sink, nil))})
	sink.set(a.Interleave(logOut))
	if _, err := a.Post(context.Background(), bot.Target{}, bot.Message{Header: "x"}); err == nil {
		t.Fatal("Post to a failing output: no error")
	}
	if !strings.Contains(logOut.String(), "console write failed") {
		t.Errorf("write failure not logged: %q", logOut.String())
	}
}

func TestRunPrintsHint(t *testing.T) {
	for _, jsonMode := range []bool{false, true} {
		t.Run(fmt.Sprintf("json=%v", jsonMode), func(t *testing.T) {
			out := &syncBuffer{}
			a := New(Options{Out: out, JSON: jsonMode, Hint: "Type /tebura help."})
			if err := a.Run(context.Background(), bot.HandlerFunc(func(context.Context, bot.Event) {})); err != nil {
				t.Fatal(err)
			}
			want := "Type /tebura help.\n"
			if jsonMode {
				want = ""
			}
			if got := out.String(); got != want {
				t.Errorf("output %q, want %q", got, want)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// lateWriter forwards to a writer set after the logger using it is built.
type lateWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lateWriter) set(w io.Writer) {
	l.mu.Lock()
	l.w = w
	l.mu.Unlock()
}

func (l *lateWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	w := l.w
	l.mu.Unlock()
	return w.Write(p)
}
