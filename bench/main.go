// Command bench measures Tebura on this machine and prints one table with
// each figure beside the goal an issue set for it and whether it is met:
// binary size, start-up to ready, idle RSS of serve, the engine overhead
// and peak RSS of `tebura run` on a runbook that writes 100 MiB (and the
// same in-process, and the output path alone), `tebura run` of a no-op
// runbook against `tebura version` on a store with 20,000 past runs,
// `tebura console` command to final reply through a pty and its fdatasync
// calls per command (with strace(1) when installed), command to first
// frame, signed Slack slash command to 200 at 200 req/s, Socket Mode ack,
// alert ingest rate and p99, alert to first diagnostic frame, and an ssh
// step fanned out to 50 real sshd targets against ssh in a shell loop
// (with tebura's peak RSS; skipped without /usr/sbin/sshd). Run it
// from the repository with `go run ./bench` (or `make bench`); it takes
// about two minutes. -binary measures a given build instead.
//
// The in-process figures drive the real packages with their test fakes
// (commands/commandstest, bot/bottest, bot/slack/slacktest) on loopback.
// Each measurement is a function returning rows.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// row is one line of the result table: Met is "yes", "NO" or empty when
// the figure has no goal.
type row struct {
	Figure, Value, Goal, Met string
}

// met renders whether a goal is met.
func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// env is what every measurement shares.
type env struct {
	root   string // repository root
	work   string // scratch directory
	binary string
	starts int
	// prebuilt: binary was given (-binary), not built here.
	prebuilt bool
}

func main() {
	starts := flag.Int("starts", 10, "start-ups to time for the start-up median")
	binary := flag.String("binary", "", "measure this tebura binary instead of building one (to compare two builds)")
	only := flag.String("only", "", "comma-separated measures to run (names as printed while running, e.g. \"tebura run 100 MiB,console command to final reply\"); empty: all")
	flag.Parse()
	if err := run(*starts, *only, *binary, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(starts int, only, binary string, w io.Writer) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "tebura-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	e := &env{root: root, work: work, binary: filepath.Join(work, "tebura"), starts: starts}
	if binary != "" {
		if e.binary, err = filepath.Abs(binary); err != nil {
			return err
		}
		e.prebuilt = true
	}

	var rows []row
	measures := []struct {
		name string
		f    func(*env) ([]row, error)
	}{
		{"build", build}, {"start-up", startup}, {"tebura run 100 MiB", bigOutput}, {"tebura run floor", runFloor},
		{"engine in-process", engineInProcess}, {"output path", outputPath}, {"console command to final reply", consoleReply},
		{"console fdatasync", consoleSyncs},
		{"command to first frame", commandFirstFrame}, {"slash command", slashCommand}, {"socket ack", socketAck},
		{"alert ingest", ingest}, {"alert to first frame", alertFirstFrame}, {"postgres ingest", postgresIngest},
		{"fleet fan-out", fleetFanOut},
		{"replica failover", replicaFailover}, {"replica ingest", replicaIngest},
	}
	begin := time.Now()
	for _, m := range measures {
		if only != "" && m.name != "build" && !slices.Contains(strings.Split(only, ","), m.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s…\n", m.name)
		r, err := m.f(e)
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		rows = append(rows, r...)
	}
	fmt.Fprintf(os.Stderr, "bench: done in %s\n", time.Since(begin).Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tVALUE\tGOAL\tMET?")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Figure, r.Value, r.Goal, r.Met)
	}
	return tw.Flush()
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the repository (no go.mod found)")
		}
		dir = parent
	}
}

// build builds the release binary the way `make build` does.
func build(e *env) ([]row, error) {
	if e.prebuilt {
		return nil, nil
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", e.binary, "./cmd/tebura")
	cmd.Dir = e.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("build: %w", err)
	}
	st, err := os.Stat(e.binary)
	if err != nil {
		return nil, err
	}
	return []row{{"binary size (static, stripped)", fmt.Sprintf("%.1f MB", float64(st.Size())/1e6), "noted", ""}}, nil
}

// freePort returns a loopback address nothing listens on right now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startup starts `tebura serve` with the example config (its example runbooks)
// e.starts times and takes the median time from exec to /readyz 200.
func startup(e *env) ([]row, error) {
	var times []time.Duration
	var idleRSS int64
	client := &http.Client{Timeout: time.Second}
	for i := 0; i < e.starts; i++ {
		addr, err := freePort()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(e.binary, "serve", "--config", filepath.Join(e.root, "config.example.yaml"))
		cmd.Env = append(os.Environ(), "TEBURA_DATA_DIR="+filepath.Join(e.work, fmt.Sprintf("serve-%d", i)),
			"TEBURA_HTTP_LISTEN="+addr, "TEBURA_LOG_LEVEL=warn")
		cmd.Stderr = os.Stderr
		begin := time.Now()
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		ready := false
		for time.Since(begin) < 10*time.Second {
			resp, err := client.Get("http://" + addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					ready = true
					break
				}
			}
			time.Sleep(time.Millisecond)
		}
		elapsed := time.Since(begin)
		if ready && i == e.starts-1 {
			idleRSS = vmRSS(cmd.Process.Pid)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		werr := cmd.Wait()
		if !ready {
			return nil, fmt.Errorf("tebura serve not ready within 10s (%v)", werr)
		}
		if werr != nil {
			return nil, fmt.Errorf("tebura serve exited badly after SIGTERM: %w", werr)
		}
		times = append(times, elapsed)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	med := times[len(times)/2]
	idle := float64(idleRSS) / 1024
	return []row{
		{fmt.Sprintf("start-up to /readyz 200 (median of %d)", len(times)), ms(med), "<= 150 ms", met(med <= 150*time.Millisecond)},
		{"start-up to /readyz 200 (min / max)", ms(times[0]) + " / " + ms(times[len(times)-1]), "", ""},
		{"serve idle RSS", fmt.Sprintf("%.1f MB", idle), "<= 60 MB", met(idle <= 60)},
	}, nil
}

// vmRSS reads a process's resident set in KiB from /proc.
func vmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// ms renders a duration in milliseconds, with two decimals below 10 ms.
func ms(d time.Duration) string {
	v := float64(d.Microseconds()) / 1000
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

// bigScript writes 100 MiB of 100-byte lines to stdout.
const bigScript = `yes "$(printf '%099d' 0)" | head -c 104857600`

// bigOutput runs a runbook that writes 100 MiB through `tebura run`
// (engine, log file capped at 10 MiB, one live subscriber streaming to the
// terminal, here /dev/null), the same script straight to /dev/null, and
// the same script piped through cat(1), the floor of any process that
// shows every line: three whole processes, in turn.
func bigOutput(e *env) ([]row, error) {
	dir := filepath.Join(e.work, "big")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`data_dir: data
runbooks:
  dirs: []
  inline:
    - name: big
      kind: diagnostic
      allow: [bench]
      timeout: 5m
      steps:
        - name: write
          script: '%s'
access:
  roles:
    bench: {members: ["console:bench"]}
`, strings.ReplaceAll(bigScript, "'", "''"))
	cfgPath := filepath.Join(dir, "tebura.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	const rounds = 11
	var engine, direct, piped []time.Duration
	var catRatios []float64 // pair by pair, so that the machine's drift cancels
	var peak int64
	for i := 0; i < rounds; i++ {
		d, err := timed(exec.Command("/bin/sh", "-c", bigScript))
		if err != nil {
			return nil, fmt.Errorf("direct run: %w", err)
		}
		direct = append(direct, d)
		d, err = timed(exec.Command("/bin/sh", "-c", bigScript+" | cat"))
		if err != nil {
			return nil, fmt.Errorf("piped run: %w", err)
		}
		piped = append(piped, d)

		cmd := exec.Command(e.binary, "run", "--config", cfgPath, "--yes", "big")
		cmd.Env = append(os.Environ(), "USER=bench")
		d, err = timed(cmd)
		if err != nil {
			return nil, fmt.Errorf("tebura run: %w", err)
		}
		engine = append(engine, d)
		catRatios = append(catRatios, float64(d)/float64(piped[len(piped)-1]))
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > peak {
			peak = ru.Maxrss // KiB on Linux
		}
	}
	me, md, mc := median(engine), median(direct), median(piped)
	slices.Sort(catRatios)
	ratio, catRatio, peakMB := float64(me)/float64(md), catRatios[len(catRatios)/2], float64(peak)/1024
	return []row{
		{fmt.Sprintf("100 MiB run: tebura run wall time (median of %d)", rounds), ms(me), "", ""},
		{"100 MiB run: same script to /dev/null / piped through cat", ms(md) + " / " + ms(mc), "", ""},
		{"100 MiB run: engine overhead ratio (tebura run)", fmt.Sprintf("%.2fx", ratio), "<= 1.3x", met(ratio <= 1.3)},
		{"100 MiB run: tebura run vs same script | cat (median ratio of pairs)", fmt.Sprintf("%.2fx", catRatio), "<= 1.15x", met(catRatio <= 1.15)},
		{"100 MiB run: peak RSS of tebura run", fmt.Sprintf("%.1f MB", peakMB), "<= 60 MB", met(peakMB <= 60)},
	}, nil
}

// timed runs cmd with its output discarded and returns the wall time.
func timed(cmd *exec.Cmd) (time.Duration, error) {
	cmd.Stdout, cmd.Stderr = nil, nil // /dev/null
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return time.Since(begin), err
	case <-ctx.Done():
		cmd.Process.Kill()
		<-done
		return 0, ctx.Err()
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
