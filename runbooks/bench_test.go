package runbooks

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// floodScript writes n bytes of 100-byte lines as fast as the machine can.
func floodScript(n string) string {
	return `yes "$(printf '%099d' 0)" | head -c ` + n
}

// heapSampler records the peak HeapInuse while it runs.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak uint64
}

func sampleHeap(every time.Duration) *heapSampler {
	s := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			s.peak = max(s.peak, ms.HeapInuse)
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *heapSampler) Stop() uint64 {
	close(s.stop)
	<-s.done
	return s.peak
}

// TestFloodBoundedHeap: 200 MB of output as fast as it comes. The run
// completes, the log stops at its cap with the marker, and the engine's
// heap stays bounded (measured, sampled every 5ms, with a live subscriber).
func TestFloodBoundedHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MB of output")
	}
	const capBytes = 4 << 20
	h := newHarness(t, ExecutorConfig{LogCapBytes: capBytes})
	runtime.GC()
	sampler := sampleHeap(5 * time.Millisecond)
	handle, err := h.exec.Start(context.Background(), h.approvedRun(t), Job{
		Steps: []RenderedStep{{Name: "flood", Kind: StepScript, Interpreter: []string{"/bin/sh"}, Script: floodScript("200000000")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sub := handle.Subscribe()
	snaps := 0
	for range sub.C() {
		sub.Snapshot()
		snaps++
	}
	peak := sampler.Stop()
	snap := sub.Snapshot()
	t.Logf("peak HeapInuse %.1f MiB, %d snapshots, %d lines", float64(peak)/(1<<20), snaps, snap.Lines)
	if snap.State != StateSucceeded || snap.Bytes < 200000000 || !snap.Truncated {
		t.Fatalf("snapshot = %+v", snap)
	}
	if peak > 32<<20 {
		t.Errorf("peak HeapInuse %d MiB, want < 32 MiB", peak>>20)
	}
	log := h.logOf(handle.RunID())
	if len(log) > capBytes+200 {
		t.Errorf("log is %d bytes, cap %d", len(log), capBytes)
	}
	lines := strings.Split(strings.TrimSuffix(log, "\n"), "\n")
	marker := lines[len(lines)-1]
	if !strings.HasPrefix(marker, "[tebura: log truncated at ") || !strings.HasSuffix(marker, " more bytes dropped]") {
		t.Errorf("last log line = %q", marker)
	}
	if s := h.store.run(handle.RunID()); !s.Truncated || s.LogBytes > capBytes {
		t.Errorf("stored = %+v", s)
	}
}

func (h *harness) approvedRun(t testing.TB) *Run {
	run := &Run{Runbook: "bench", Kind: KindDiagnostic, RequestedBy: "console:bench", RequestedAt: time.Now(), State: StateApproved}
	if err := h.store.CreateRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	return run
}

// BenchmarkEngineOverhead compares a step writing 100 MB through the
// executor (one live subscriber that snapshots on every notification, the
// default 10 MiB log cap, a redactor with one value and one pattern)
// against the same command writing to /dev/null. The "ratio" metric is
// engine wall time / direct wall time; the goal is ≤ 1.3. "ratio-vs-cat"
// divides by the same command piped into cat(1) instead: the cost of any
// pipe reader at all, which is the floor for the engine.
//
// Three producers: "fold" is the command (head|tr|fold, 100-byte
// lines, a few hundred MB/s); "yes" is the fastest producer there is, whose
// /dev/null baseline copies nothing at all, so its ratio is the worst case;
// "yes-secret" is yes with the redactor's configured value on every line.
//
//	go test -run '^$' -bench EngineOverhead -benchtime 5x ./runbooks
func BenchmarkEngineOverhead(b *testing.B) {
	for _, bc := range []struct{ name, script string }{
		{"fold", `head -c 100000000 /dev/zero | tr '\0' a | fold -w 100`},
		{"yes", floodScript("100000000")},
		// Every line carries the configured secret: the masking cost.
		{"yes-secret", `yes "$(printf 'configured-secret-value %076d' 0)" | head -c 100000000`},
	} {
		b.Run(bc.name, func(b *testing.B) { benchOverhead(b, bc.script) })
	}
}

func benchOverhead(b *testing.B, script string) {
	red, err := NewRedactor([]string{"configured-secret-value"}, []string{`ghp_[A-Za-z0-9]{20,}`})
	if err != nil {
		b.Fatal(err)
	}
	h := &harness{store: newFakeStore(), dir: b.TempDir()}
	h.exec = NewExecutor(h.store, ExecutorConfig{DataDir: h.dir}, nil)
	var direct, piped, engine time.Duration
	b.SetBytes(100000000) // ns/op and MB/s cover all three runs of an iteration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		cmd := exec.Command("/bin/sh", "-c", script+" > /dev/null")
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		direct += time.Since(start)

		start = time.Now()
		cmd = exec.Command("/bin/sh", "-c", script+" | cat > /dev/null")
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		piped += time.Since(start)

		start = time.Now()
		handle, err := h.exec.Start(context.Background(), h.approvedRun(b), Job{
			Steps:  []RenderedStep{{Name: "flood", Kind: StepScript, Interpreter: []string{"/bin/sh"}, Script: script}},
			Masker: red,
		})
		if err != nil {
			b.Fatal(err)
		}
		sub := handle.Subscribe()
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range sub.C() {
				sub.Snapshot()
			}
		}()
		<-handle.Done()
		wg.Wait()
		engine += time.Since(start)
		if s := handle.Snapshot(); s.State != StateSucceeded || s.Bytes < 100000000 {
			b.Fatalf("snapshot = %+v", s)
		}
	}
	b.ReportMetric(float64(engine)/float64(direct), "ratio")
	b.ReportMetric(float64(engine)/float64(piped), "ratio-vs-cat")
	b.ReportMetric(float64(direct.Milliseconds())/float64(b.N), "direct-ms/op")
}

// BenchmarkOutputWrite measures the engine's own output path without a
// child or a pipe: 100 MB of 100-byte lines written in 256 KiB chunks (as
// readOutput delivers a flood) or 4 KB ones into a capped log, with no
// redactor ("plain"),
// the benchmark's redactor whose secrets never appear ("redact-absent"),
// and output in which every 10th line carries a configured secret and a
// token matched by a pattern ("redact-present"); "-echo" also hands every
// line to an echo, as tebura run does.
//
//	go test -run '^$' -bench OutputWrite ./runbooks
func BenchmarkOutputWrite(b *testing.B) {
	line := strings.Repeat("0", 99) + "\n"
	secret := "line with s3cr3t-value and ghp_abcdefghijklmnopqrstuv in it"
	secretLine := secret + strings.Repeat(".", 99-len(secret)) + "\n"
	plain := []byte(strings.Repeat(line, 256<<10/100))
	mixed := []byte(strings.Repeat(strings.Repeat(line, 9)+secretLine, 256<<10/1000))
	red, err := NewRedactor([]string{"s3cr3t-value", "never-printed-secret"}, []string{`ghp_[A-Za-z0-9]{20,}`})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		m     Masker
		chunk []byte
		echo  io.Writer
	}{
		{"plain", nil, plain, nil},
		{"plain-4k", nil, plain[:4000], nil}, // a pipe read per 4 KiB write of the child
		{"redact-absent", red, plain, nil},
		{"redact-present", red, mixed, nil},
		// tebura run: every line also goes to the terminal, past the cap.
		{"plain-echo", nil, plain, io.Discard},
		{"plain-4k-echo", nil, plain[:4000], io.Discard},
		{"redact-absent-echo", red, plain, io.Discard},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(100000000)
			for i := 0; i < b.N; i++ {
				f, err := os.Create(filepath.Join(dir, "log"))
				if err != nil {
					b.Fatal(err)
				}
				h := newHandle(nil, "r1", bc.m, DefaultTailLines)
				o := newOutput(h, bc.m, f, DefaultLogCapBytes, bc.echo)
				for n := 0; n < 100000000; n += len(bc.chunk) {
					o.Write(bc.chunk)
				}
				if err := o.close(); err != nil {
					b.Fatal(err)
				}
				h.Snapshot()
			}
		})
	}
}
