package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
)

// floorConfig is `tebura run`'s config for the floor: one runbook whose
// step does nothing.
const floorConfig = `data_dir: data
runbooks:
  dirs: []
  inline:
    - name: noop
      kind: diagnostic
      allow: [bench]
      steps:
        - {name: nothing, run: ["true"]}
access:
  roles:
    bench: {members: ["console:bench"]}
`

// pastRuns is how many finished runs the floor's data dir holds, as a
// bot that has served for a while has: `tebura run` must not pay for its
// history.
const pastRuns = 20000

// runFloor times `tebura run` of a no-op runbook against `tebura version`,
// the process start floor, alternating the two, and compares their
// medians, on a data dir holding pastRuns finished runs with their audit
// entries.
func runFloor(e *env) ([]row, error) {
	const pairs = 20
	dir := filepath.Join(e.work, "floor")
	cfgPath := filepath.Join(dir, "tebura.yaml")
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfgPath, []byte(floorConfig), 0o644); err != nil {
		return nil, err
	}
	seeded, err := seedRuns(e, filepath.Join(dir, "data", "tebura.db"), pastRuns)
	if err != nil {
		return nil, fmt.Errorf("seed %d runs: %w", pastRuns, err)
	}
	var runs, versions, diffs []time.Duration
	for range pairs + 1 { // the first pair warms the page cache
		cmd := exec.Command(e.binary, "run", "--config", cfgPath, "--yes", "noop")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "USER=bench")
		r, err := timed(cmd)
		if err != nil {
			return nil, fmt.Errorf("tebura run noop: %w", err)
		}
		v, err := timed(exec.Command(e.binary, "version"))
		if err != nil {
			return nil, fmt.Errorf("tebura version: %w", err)
		}
		runs, versions, diffs = append(runs, r), append(versions, v), append(diffs, r-v)
	}
	runs, versions, diffs = runs[1:], versions[1:], diffs[1:]
	mr, mv, md := median(runs), median(versions), median(diffs)
	return []row{
		{fmt.Sprintf("tebura run no-op / tebura version (medians of %d, alternated; %d past runs in the store, seeded in %s)", pairs, pastRuns, seeded.Round(time.Millisecond)), ms(mr) + " / " + ms(mv), "", ""},
		{"tebura run no-op minus tebura version (median of pairs)", ms(md), "<= 5 ms", met(md <= 5*time.Millisecond)},
	}, nil
}

// seedRuns writes n finished runs, each with its request, start and end
// entries on the audit chain, to a new database at path, through the
// store. They are written on tmpfs when the machine has one (a commit
// there costs no disk flush) and the file is then copied into place.
func seedRuns(e *env, path string, n int) (time.Duration, error) {
	begin := time.Now()
	scratch := filepath.Join(e.work, "seed")
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "tebura-bench-seed-")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(d)
		scratch = d
	}
	tmp := filepath.Join(scratch, "tebura.db")
	st, err := bolt.Open(tmp, bolt.Options{})
	if err != nil {
		return 0, err
	}
	log := audit.New(st, nil, nil)
	ctx := context.Background()
	at := time.Now().Add(-time.Duration(n) * time.Minute)
	for i := range n {
		at = at.Add(time.Minute)
		run := &runbooks.Run{Runbook: "noop", Kind: runbooks.KindDiagnostic, Params: map[string]string{"n": strconv.Itoa(i)},
			RequestedBy: "console:bench", RequestedAt: at, StartedAt: at, EndedAt: at.Add(3 * time.Millisecond),
			State: runbooks.StateSucceeded, Reason: "1 of 1 steps ran, in 3ms", LogPath: filepath.Join("logs", "r"+strconv.Itoa(i+1)+".log")}
		err := st.CreateRunAudited(ctx, run, func(r *runbooks.Run, last *audit.Entry) ([]audit.Entry, error) {
			var es []audit.Entry
			for _, n := range []audit.Note{
				{Actor: r.RequestedBy, Action: audit.ActionRunRequest, Subject: r.ID, Detail: map[string]string{"runbook": r.Runbook, "params": "n=\"" + r.Params["n"] + "\"", "via": "cli"}},
				{Actor: r.RequestedBy, Action: audit.ActionRunStart, Subject: r.ID, Detail: map[string]string{"runbook": r.Runbook}},
				{Actor: "system", Action: audit.ActionRunEnd, Subject: r.ID, Detail: map[string]string{"runbook": r.Runbook, "state": string(r.State), "exit_code": "0"}},
			} {
				en := log.Next(last, n)
				es = append(es, en)
				last = &en
			}
			return es, nil
		})
		if err != nil {
			st.Close()
			return 0, err
		}
	}
	if err := st.Close(); err != nil {
		return 0, err
	}
	if err := copyFile(tmp, path); err != nil {
		return 0, err
	}
	return time.Since(begin), nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// outputPath measures the engine's own output path, without a child or a
// pipe, as `tebura run` uses it (every line also to the terminal): the
// runbooks package's BenchmarkOutputWrite cases ending in -echo, 100 MB
// each, through `go test -bench`.
func outputPath(e *env) ([]row, error) {
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "OutputWrite/.*echo", "-benchtime", "3x", "-count", "1", "./runbooks")
	cmd.Dir = e.root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go test -bench OutputWrite: %w\n%s", err, out.String())
	}
	var rows []row
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		// BenchmarkOutputWrite/plain-echo-2   3   41234567 ns/op   2425.13 MB/s
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasPrefix(f[0], "BenchmarkOutputWrite/") || f[3] != "ns/op" || f[5] != "MB/s" {
			continue
		}
		name := strings.TrimPrefix(f[0], "BenchmarkOutputWrite/")
		if i := strings.LastIndexByte(name, '-'); i > 0 && strings.Trim(name[i+1:], "0123456789") == "" {
			name = name[:i] // the GOMAXPROCS suffix
		}
		nsop, err := strconv.ParseFloat(f[2], 64)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row{"output path, 100 MB of lines, " + name + " (engine alone, no child)",
			ms(time.Duration(nsop)) + " (" + f[4] + " MB/s)", "noted", ""})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no OutputWrite figures in:\n%s", out.String())
	}
	return rows, nil
}
