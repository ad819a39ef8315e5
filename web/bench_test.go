package web

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/runbooks"
)

// BenchmarkIncidentPage: /ui/incidents/{n} of an incident with 1,000
// timeline entries, server time (the handler called directly, no
// network). Goal: p99 ≤ 50 ms.
func BenchmarkIncidentPage(b *testing.B) {
	h := newWebHarnessB(b)
	ctx := context.Background()
	ch, err := h.Inc.Declare(ctx, "Checkout latency above SLO", "sev2", "console:bob")
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		if err := h.Inc.Note(ctx, ch.Incident.ID, "console:bob", fmt.Sprintf("note %d: looked at the dashboards, nothing new <b>%d</b>", i, i)); err != nil {
			b.Fatal(err)
		}
	}
	cookie := h.sessionCookie(b, bob)
	mux := http.NewServeMux()
	h.Web.Mount(mux)
	var times []time.Duration
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/ui/incidents/1", nil)
		req.Header.Set("Cookie", cookie)
		rec := httptest.NewRecorder()
		start := time.Now()
		mux.ServeHTTP(rec, req)
		times = append(times, time.Since(start))
		if rec.Code != 200 {
			b.Fatalf("GET = %d", rec.Code)
		}
	}
	b.StopTimer()
	slices.Sort(times)
	p := func(q float64) float64 {
		return float64(times[min(len(times)-1, int(q*float64(len(times))))].Microseconds()) / 1000
	}
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

// pacedBook prints 10,000 lines a second for 3 seconds (100 lines every
// 10 ms, paced on the clock), then its final line.
const pacedBook = `
name: paced
description: 10,000 lines a second for 3 seconds
kind: diagnostic
allow: [sre, dev]
timeout: 1m
steps:
  - name: print
    run: [perl, -MIO::Handle, '-MTime::HiRes=time,sleep', -e, '$|=0; my $t0=time; for my $tick (1..300) { for my $i (1..100) { printf "tick %d line %d of the paced output, a realistic log line length\n", $tick, $i } STDOUT->flush(); my $next=$t0+$tick*0.01; my $d=$next-time; sleep($d) if $d>0 } print "final line\n"']
`

// BenchmarkSSEViewers: 100 viewers follow a run printing 10,000 lines/s.
// Every viewer must get the final line; reported: the run's duration
// without and with the viewers (goal: ≤ 10 % slower) and the growth of
// the process's RSS while they watch (goal: ≤ 30 MB; the viewers are in
// this process too, so this is an upper bound for the server's).
func BenchmarkSSEViewers(b *testing.B) {
	h := newWebHarnessB(b, pacedBook)
	cookie := h.sessionCookie(b, alice)
	for b.Loop() {
		base := h.pacedRun(b, 0, cookie)
		rss0 := rssBytes()
		peak := rss0
		stop := make(chan struct{})
		var mu sync.Mutex
		go func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
					if r := rssBytes(); r > 0 {
						mu.Lock()
						peak = max(peak, r)
						mu.Unlock()
					}
				}
			}
		}()
		with := h.pacedRun(b, 100, cookie)
		close(stop)
		mu.Lock()
		growth := peak - rss0
		mu.Unlock()
		b.ReportMetric(base.Seconds()*1000, "run-ms-alone")
		b.ReportMetric(with.Seconds()*1000, "run-ms-100-viewers")
		b.ReportMetric((with.Seconds()/base.Seconds()-1)*100, "slowdown-%")
		b.ReportMetric(float64(growth)/(1<<20), "rss-growth-MB")
	}
}

// pacedRun starts the paced runbook with n viewers following it from the
// start, and returns the run's duration once every viewer got the final
// line.
func (h *webHarness) pacedRun(b *testing.B, n int, cookie string) time.Duration {
	b.Helper()
	ctx := context.Background()
	rb, _ := h.Registry().Get("paced")
	p, err := h.Runbooks.Runs().Prepare(ctx, runbooks.Request{Runbook: rb, By: "console:alice", Via: runbooks.ViaWeb})
	if err != nil {
		b.Fatal(err)
	}
	// Stored and started in one step; the viewers attach at once.
	handle, err := h.Runbooks.Runs().CreateAndStart(ctx, p, "console:alice", nil)
	if err != nil {
		b.Fatal(err)
	}
	id := handle.RunID()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", h.Srv.URL+"/ui/runs/"+id+"/events", nil)
			req.Header.Set("Cookie", cookie)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 0, 16<<10), 1<<20)
			final := false
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "data: final line") {
					final = true
				}
				if line == "event: end" {
					break
				}
			}
			if !final {
				errs <- fmt.Errorf("a viewer never got the final line")
			}
		})
	}
	<-handle.Done()
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	run, err := h.Store.GetRun(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	if run.State != runbooks.StateSucceeded {
		log, _ := os.ReadFile(h.DataDir + "/" + run.LogPath)
		b.Fatalf("paced run = %s (%s):\n%.2000s", run.State, run.Reason, log)
	}
	return run.EndedAt.Sub(run.StartedAt)
}

// rssBytes is this process's resident set size (Linux), 0 elsewhere.
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
