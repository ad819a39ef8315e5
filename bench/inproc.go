package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/commands/commandstest"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
)

// inTB runs f once with a testing.TB, so that the packages' test harnesses
// (commands/commandstest, bot/bottest, the slack and incident fakes) serve this program as they
// serve tests. testing.Benchmark supplies a *testing.B; its later calls,
// which only calibrate b.N, do nothing. Cleanups registered by f run when
// f returns. A harness that fails (t.Fatal) makes inTB return an error.
func inTB(what string, f func(tb testing.TB)) error {
	calls, ok := 0, false
	testing.Benchmark(func(b *testing.B) {
		calls++
		if calls > 1 {
			return
		}
		f(b)
		ok = !b.Failed()
	})
	if !ok {
		return fmt.Errorf("%s: the harness failed", what)
	}
	return nil
}

// pct returns the q-quantile of lat (sorted in place).
func pct(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[min(len(lat)-1, int(q*float64(len(lat))))]
}

// commandFirstFrame measures issue 3's command to first frame: from a
// `/runbook run` of a no-approval runbook handed to the bot to the first
// message the fake chat receives (commandstest: real commands, bolt store,
// executor, audit chain). Since issue 11 a run that ends within the
// stream's hold is one message, posted once its end is committed, so for
// this quick runbook the first frame is the final one.
func commandFirstFrame(e *env) ([]row, error) {
	const quick = "name: quick\ndescription: Ends at once\nkind: diagnostic\nallow: [dev]\ntimeout: 1m\nsteps:\n  - {name: hi, run: [echo, hi]}\n"
	const n = 300
	var lat []time.Duration
	err := inTB("command to first frame", func(tb testing.TB) {
		h := commandstest.New(tb, commandstest.Options{Roles: map[string][]string{"dev": {"console:alice"}}, Runbooks: []string{quick}})
		alice := bottest.User("alice")
		for range n {
			lat = append(lat, h.FirstPost(alice, "/runbook run quick"))
			h.WaitFinal(h.LastRun().ID)
		}
	})
	if err != nil {
		return nil, err
	}
	p50, p99 := pct(lat, 0.50), pct(lat, 0.99)
	return []row{
		{fmt.Sprintf("command to first frame (a quick run's one message) p50 (%d runs, commandstest)", n), ms(p50), "", ""},
		{"command to first frame p99", ms(p99), "<= 5 ms", met(p99 <= 5*time.Millisecond)},
	}, nil
}

// engineInProcess measures issue 2's engine overhead inside the process:
// the runbooks executor (bolt store, default 10 MiB log cap, one live
// subscriber snapshotting every change) running bigScript, against the
// same script to /dev/null and piped into cat(1), the floor of any reader.
func engineInProcess(e *env) ([]row, error) {
	dir := filepath.Join(e.work, "engine")
	st, err := bolt.Open(filepath.Join(dir, "tebura.db"), bolt.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ex := runbooks.NewExecutor(st, runbooks.ExecutorConfig{DataDir: dir}, nil)
	const rounds = 5
	var direct, piped, engine []time.Duration
	for range rounds {
		d, err := timed(exec.Command("/bin/sh", "-c", bigScript))
		if err != nil {
			return nil, err
		}
		direct = append(direct, d)
		d, err = timed(exec.Command("/bin/sh", "-c", bigScript+" | cat"))
		if err != nil {
			return nil, err
		}
		piped = append(piped, d)

		run := &runbooks.Run{Runbook: "big", Kind: runbooks.KindDiagnostic, RequestedBy: "console:bench", RequestedAt: time.Now(), State: runbooks.StateApproved}
		if err := st.CreateRun(context.Background(), run); err != nil {
			return nil, err
		}
		t0 := time.Now()
		h, err := ex.Start(context.Background(), run, runbooks.Job{Steps: []runbooks.RenderedStep{{Name: "write", Kind: runbooks.StepScript, Interpreter: []string{"/bin/sh"}, Script: bigScript}}})
		if err != nil {
			return nil, err
		}
		sub := h.Subscribe()
		for range sub.C() {
			sub.Snapshot()
		}
		<-h.Done()
		engine = append(engine, time.Since(t0))
		sub.Close()
		if s := h.Snapshot(); s.State != runbooks.StateSucceeded || s.Bytes < 100<<20 {
			return nil, fmt.Errorf("engine run: %+v", s)
		}
	}
	me, md, mc := median(engine), median(direct), median(piped)
	ratio := float64(me) / float64(md)
	return []row{
		{fmt.Sprintf("100 MiB in-process: executor (median of %d)", rounds), ms(me), "", ""},
		{"100 MiB in-process: same script | cat (any pipe reader)", ms(mc), "", ""},
		{"100 MiB in-process: engine overhead ratio vs /dev/null", fmt.Sprintf("%.2fx", ratio), "<= 1.3x", met(ratio <= 1.3)},
		{"100 MiB in-process: engine overhead ratio vs | cat", fmt.Sprintf("%.2fx", float64(me)/float64(mc)), "", ""},
	}, nil
}
