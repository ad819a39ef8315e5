package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tebura/tebura/runbooks/step/ssh/sshdtest"
)

// fleetTargets and fleetParallel are the fan-out the fleet issue set a goal
// for: one command on 50 loopback sshd targets, 10 at a time.
const (
	fleetTargets  = 50
	fleetParallel = 10
	fleetRounds   = 5
)

// fleetFanOut times `tebura run` of an ssh step running `true` on 50 real
// sshd targets (one process each, on loopback), parallel 10, against
// OpenSSH's ssh client doing the same from a shell: 10 background jobs,
// each a loop over its 5 targets. Both pay a full connection and login
// per target. The ratio is the median of pairs run back to back, so that
// the machine's drift cancels; the peak RSS is tebura run's (getrusage of
// the child), the highest of the rounds.
func fleetFanOut(e *env) ([]row, error) {
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		return []row{{"fleet fan-out (50 targets, parallel 10)", "skipped: /usr/sbin/sshd is missing (apt-get install openssh-server)", "", ""}}, nil
	}
	if _, err := exec.LookPath("ssh"); err != nil {
		return []row{{"fleet fan-out (50 targets, parallel 10)", "skipped: the ssh client is missing", "", ""}}, nil
	}
	dir := filepath.Join(e.work, "fleet")
	f, err := sshdtest.Launch(dir, fleetTargets)
	if f != nil {
		defer f.Stop()
	}
	if err != nil {
		return nil, err
	}
	var targets strings.Builder
	jobs := make([]strings.Builder, fleetParallel)
	for i, h := range f.Hosts {
		host, port, _ := net.SplitHostPort(h.Addr)
		fmt.Fprintf(&targets, "  h%02d: {address: %s, port: %s, user: %s, identity: %s, labels: {role: bench}}\n", i, host, port, f.User, f.Identity)
		fmt.Fprintf(&jobs[i%fleetParallel], "ssh -q -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s -i %s -p %s %s@%s true; ",
			f.KnownHosts, f.Identity, port, f.User, host)
	}
	var loop strings.Builder
	for i := range jobs {
		fmt.Fprintf(&loop, "( %s) &\n", jobs[i].String())
	}
	loop.WriteString("wait\n")
	cfg := `data_dir: ` + filepath.Join(dir, "data") + `
ssh: {known_hosts: ` + f.KnownHosts + `}
targets:
` + targets.String() + `runbooks:
  dirs: []
  inline:
    - name: fleet-true
      kind: diagnostic
      allow: [bench]
      steps:
        - name: fan-out
          ssh: {on: role=bench, run: ["true"], parallel: ` + fmt.Sprint(fleetParallel) + `}
access:
  roles:
    bench: {members: ["console:bench"]}
`
	cfgPath := filepath.Join(dir, "tebura.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	var teb, shell []time.Duration
	var ratios []float64
	var peak int64
	for range fleetRounds {
		d, err := timed(exec.Command("/bin/sh", "-c", loop.String()))
		if err != nil {
			return nil, fmt.Errorf("ssh loop: %w", err)
		}
		shell = append(shell, d)
		cmd := exec.Command(e.binary, "run", "--config", cfgPath, "--yes", "fleet-true")
		cmd.Env = append(os.Environ(), "USER=bench")
		d, err = timed(cmd)
		if err != nil {
			out, _ := exec.Command(e.binary, "run", "--config", cfgPath, "--yes", "fleet-true").CombinedOutput()
			return nil, fmt.Errorf("tebura run: %w\n%s", err, lastLines(string(out), 15))
		}
		teb = append(teb, d)
		ratios = append(ratios, float64(d)/float64(shell[len(shell)-1]))
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > peak {
			peak = ru.Maxrss // KiB on Linux
		}
	}
	slices.Sort(ratios)
	ratio, peakMB := ratios[len(ratios)/2], float64(peak)/1024
	return []row{
		{fmt.Sprintf("fleet fan-out: tebura run, 50 targets, parallel 10 (median of %d)", fleetRounds), ms(median(teb)), "", ""},
		{"fleet fan-out: ssh in a shell loop, 10 background jobs", ms(median(shell)), "", ""},
		{"fleet fan-out: tebura run vs ssh loop (median ratio of pairs)", fmt.Sprintf("%.2fx", ratio), "<= 1.2x", met(ratio <= 1.2)},
		{"fleet fan-out: peak RSS of tebura run", fmt.Sprintf("%.1f MB", peakMB), "<= 60 MB", met(peakMB <= 60)},
	}, nil
}

// lastLines is the end of a failed command's output, for the error.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
