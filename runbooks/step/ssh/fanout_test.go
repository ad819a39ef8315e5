package ssh

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
)

// runStep runs one ssh step through the real executor with this package's
// runner, and returns the ended run's snapshot and its full log.
func runStep(t *testing.T, f *fleet, step runbooks.RenderedStep) (runbooks.Snapshot, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "tebura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ex := runbooks.NewExecutor(st, runbooks.ExecutorConfig{DataDir: dir, Targets: New(f.cfg)}, nil)
	run := &runbooks.Run{Runbook: "fleet", Kind: runbooks.KindRemediation, RequestedBy: "console:test", RequestedAt: time.Now(), State: runbooks.StateApproved}
	if err := st.CreateRun(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	h, err := ex.Start(context.Background(), run, runbooks.Job{Steps: []runbooks.RenderedStep{step}, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.Done():
	case <-time.After(time.Minute):
		t.Fatal("the run did not end within a minute")
	}
	log, err := os.ReadFile(filepath.Join(dir, "logs", run.ID+".log"))
	if err != nil {
		t.Fatal(err)
	}
	return h.Snapshot(), string(log)
}

// ports are the sshd ports of the fleet's hosts, by target name: a script
// tells which host it runs on from $SSH_CONNECTION's last field.
func (f *fleet) port(i int) string {
	_, p, _ := net.SplitHostPort(f.Hosts[i].Addr)
	return p
}

func (f *fleet) names() []string {
	var n []string
	for i := range f.Hosts {
		n = append(n, fmt.Sprintf("h%d", i))
	}
	return n
}

// TestFailFast: h0 fails at once while the others would run for minutes.
// With fail_fast the others are stopped (parallel) or never started (one
// at a time), and the step fails with h0's code; without it every target
// runs and the step still fails.
func TestFailFast(t *testing.T) {
	f := startFleet(t, 3)
	tests := []struct {
		name      string
		parallel  int
		failFast  bool
		summary   string
		ranOthers bool
	}{
		{"fail_fast, parallel", 3, true, "0/3 ok, 1 failed, 2 cancelled", true},
		{"fail_fast, one at a time", 1, true, "0/3 ok, 1 failed, 2 cancelled", false},
		{"without fail_fast", 1, false, "2/3 ok, 1 failed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			marker := fmt.Sprintf("%d.%d", 800+time.Now().Nanosecond()%99, time.Now().UnixNano()%1000000)
			sleep := "sleep " + marker
			if !tt.failFast {
				sleep = "true" // the others succeed quickly
			}
			script := `case "$SSH_CONNECTION" in *" ` + f.port(0) + `") echo failing; exit 7;; esac
echo "running on $SSH_CONNECTION"
` + sleep + "\necho done\n"
			start := time.Now()
			snap, log := runStep(t, f, runbooks.RenderedStep{Name: "fleet", Kind: runbooks.StepSSH, Script: script,
				SSH: &runbooks.SSHRequest{On: "role=api", Targets: f.names(), Parallel: tt.parallel, FailFast: tt.failFast}})
			if snap.State != runbooks.StateFailed || snap.ExitCode != 7 {
				t.Fatalf("state %s, code %d (%s); want failed with h0's 7\n%s", snap.State, snap.ExitCode, snap.Reason, log)
			}
			if !strings.Contains(log, "[h0] failing\n") || !strings.Contains(log, "fleet: "+tt.summary) {
				t.Errorf("log lacks h0's prefixed line or the summary %q:\n%s", tt.summary, log)
			}
			if !strings.Contains(snap.Reason, "h0") {
				t.Errorf("reason %q does not name the failed target", snap.Reason)
			}
			if got := strings.Contains(log, "[h1] running on"); got != tt.ranOthers {
				t.Errorf("h1 ran: %v, want %v:\n%s", got, tt.ranOthers, log)
			}
			if !tt.failFast && !strings.Contains(log, "[h2] done") {
				t.Errorf("without fail_fast h2 should run to its end:\n%s", log)
			}
			if tt.failFast {
				if time.Since(start) > 30*time.Second {
					t.Errorf("fail_fast took %s: the others were waited for", time.Since(start))
				}
				noneLeft(t, marker)
			}
		})
	}
}

// TestParallelLimit: four targets with parallel 2. Each target waits
// (bounded) until two are running, then records how many are: two, never
// more.
func TestParallelLimit(t *testing.T) {
	f := startFleet(t, 4)
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	script := `d="$DIR"; me="$d/running.${SSH_CONNECTION##* }"; : > "$me"
i=0; while [ "$(ls "$d" | grep -c '^running')" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
sleep 0.2
ls "$d" | grep -c '^running' >> "$d/seen"
rm "$me"`
	snap, log := runStep(t, f, runbooks.RenderedStep{Name: "fleet", Kind: runbooks.StepSSH, Script: script, Env: []string{"DIR=" + dir},
		SSH: &runbooks.SSHRequest{On: "role=api", Targets: f.names(), Parallel: 2}})
	if snap.State != runbooks.StateSucceeded {
		t.Fatalf("state %s (%s)\n%s", snap.State, snap.Reason, log)
	}
	b, err := os.ReadFile(filepath.Join(dir, "seen"))
	if err != nil {
		t.Fatal(err)
	}
	var seen []int
	for _, l := range strings.Fields(string(b)) {
		n, _ := strconv.Atoi(l)
		seen = append(seen, n)
	}
	if len(seen) != 4 || slices.Max(seen) != 2 {
		t.Errorf("targets running at once, as each target saw it: %v; want 4 entries, at most 2", seen)
	}
	if !strings.Contains(log, "fleet: 4/4 ok") {
		t.Errorf("log lacks the summary:\n%s", log)
	}
}
