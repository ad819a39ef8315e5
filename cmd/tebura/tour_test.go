package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/bottest"
)

// tourServer is `go run ./cmd/tebura …` as the README writes it: this test
// binary started as the program (TestMain), in the checkout, its console
// on a pipe.
type tourServer struct {
	cmd  *exec.Cmd
	in   interface{ Write([]byte) (int, error) }
	out  *bottest.SyncBuffer
	errb *bottest.SyncBuffer
	addr string
	done chan error
}

var servingAddr = regexp.MustCompile(`msg="tebura serving" addr=(\S+)`)

// goRunArgs parses a README command line `[NAME=VALUE ...] go run
// ./cmd/tebura ARGS  # comment` into its environment and ARGS.
func goRunArgs(t *testing.T, f fence, line string) (env, args []string) {
	t.Helper()
	line, _, _ = strings.Cut(line, " #")
	words := strings.Fields(line)
	for len(words) > 0 && strings.Contains(words[0], "=") {
		env, words = append(env, words[0]), words[1:]
	}
	if len(words) < 3 || words[0] != "go" || words[1] != "run" || words[2] != "./cmd/tebura" {
		t.Fatalf("%s: %q is not `go run ./cmd/tebura …`", f, line)
	}
	return env, words[3:]
}

// startTour starts the server with args and env in the checkout, with its
// data in a temporary dir and its listener on a free port (the only two
// differences from what the reader runs).
func startTour(t *testing.T, env, args []string) *tourServer {
	t.Helper()
	s := &tourServer{out: &bottest.SyncBuffer{}, errb: &bottest.SyncBuffer{}, done: make(chan error, 1)}
	s.cmd = teburaCmd(t, args...)
	s.cmd.Dir = repoRoot
	s.cmd.Env = append(append(s.cmd.Env, env...), "TEBURA_DATA_DIR="+t.TempDir(), "TEBURA_HTTP_LISTEN=127.0.0.1:0")
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.errb
	in, err := s.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.in = in
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("console:\n%s\nstderr:\n%s", s.out.String(), s.errb.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := servingAddr.FindStringSubmatch(s.errb.String()); m != nil {
			s.addr = m[1]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server never said it was serving; stderr:\n%s", s.errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	waitReady(t, "http://"+s.addr)
	return s
}

// typeLines types the console lines of a ```text tour-console block (each
// line up to the first run of two spaces, which starts its comment), and
// waits for each to be handled before the next, as a person would.
func (s *tourServer) typeLines(t *testing.T, f fence) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(f.Body), "\n") {
		input, _, _ := strings.Cut(l, "  ")
		if input = strings.TrimSpace(input); input == "" {
			continue
		}
		if _, err := s.in.Write([]byte(input + "\n!wait\n")); err != nil {
			t.Fatal(err)
		}
	}
}

// waitOut waits until the console printed want, count times.
func (s *tourServer) waitOut(t *testing.T, want string, count int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(s.out.String(), want) < count {
		if time.Now().After(deadline) {
			t.Fatalf("the console never printed %q (%d times)", want, count)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// laterThanNow, run between two blocks, returns once the clock has left
// the second the first block stamped into $now: the docs send the resolve
// "later", and a resolve whose endsAt is not after the alert's startsAt is
// taken for a stale one of an earlier cycle.
const laterThanNow = `while [ "$(date -u +%Y-%m-%dT%H:%M:%SZ)" = "$now" ]; do sleep 0.1; done` + "\n"

// shell runs the ```sh blocks as one script, in the checkout, against the
// server's real address instead of 127.0.0.1:8080, with between run
// between two blocks.
func (s *tourServer) shell(t *testing.T, between string, blocks ...fence) {
	t.Helper()
	var script strings.Builder
	for i, b := range blocks {
		if !strings.Contains(b.Body, "http://127.0.0.1:8080/") {
			t.Fatalf("%s: the block does not send to http://127.0.0.1:8080/", b)
		}
		if i > 0 {
			script.WriteString(between)
		}
		script.WriteString(strings.ReplaceAll(b.Body, "http://127.0.0.1:8080/", "http://"+s.addr+"/"))
	}
	cmd := exec.Command("sh", "-e", "-c", script.String())
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", blocks[0], err, out)
	}
	t.Logf("%s: the webhook answered %q", blocks[0], out)
}

var impactStarted = regexp.MustCompile(`Impact started: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)`)

// checkImpact finds the postmortem's impact start and checks that it is
// the alert the reader just sent: after the test began, not the date
// written in the example file.
func (s *tourServer) checkImpact(t *testing.T, began time.Time) {
	t.Helper()
	m := impactStarted.FindStringSubmatch(s.out.String())
	if m == nil {
		t.Fatal("the postmortem has no impact start")
	}
	at, err := time.Parse(time.DateTime, m[1])
	if err != nil {
		t.Fatal(err)
	}
	if at.Before(began.Add(-time.Second).Truncate(time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("the postmortem says the impact started at %s; the alert was sent between %s and now",
			at.Format(time.DateTime), began.UTC().Format(time.DateTime))
	}
}

func tourFences(t *testing.T, file, lang, mark string, n int) []fence {
	t.Helper()
	fs, _ := readFences(t, file)
	got := marked(fs, lang, mark)
	if len(got) != n {
		t.Fatalf("%s: %d ```%s %s block(s), want %d", file, len(got), lang, mark, n)
	}
	return got
}

// TestDocsReadmeTour runs the README's quick start and tour as written: the
// start command, the console lines, the curl of the example alert with its
// startsAt stamped to now, and the postmortem at the end, whose impact
// window must be today's on any date. Then the incident page's loop that
// lets the alert resolve the incident by itself.
func TestDocsReadmeTour(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed; the tour sends its alert with curl")
	}
	cleanEnv(t)
	quick := tourFences(t, "README.md", "sh", "quickstart", 1)[0]
	_, quickArgs := goRunArgs(t, quick, strings.Split(strings.TrimSpace(quick.Body), "\n")[0])
	makefile, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "go run ./cmd/tebura " + strings.Join(quickArgs, " "); !strings.Contains(string(makefile), "\t"+want+"\n") {
		t.Errorf("%s: says `make run` is the same as %q, but the Makefile does not run that", quick, want)
	}
	serve := tourFences(t, "README.md", "sh", "tour-serve", 1)[0]
	env, args := goRunArgs(t, serve, strings.TrimSpace(serve.Body))
	if !slices.Equal(args, quickArgs) {
		t.Errorf("%s: the tour starts %v, the quick start %v; the tour must be the quick start plus a token", serve, args, quickArgs)
	}
	console := tourFences(t, "README.md", "text", "tour-console", 2)
	alert := tourFences(t, "README.md", "sh", "tour-alert", 1)[0]

	t.Run("readme", func(t *testing.T) {
		s := startTour(t, env, args)
		s.typeLines(t, console[0])
		s.waitOut(t, "host-diagnostics (diagnostic)", 1) // /runbook list
		s.waitOut(t, "You are not an approver of `demo-restart`", 1)
		s.waitOut(t, "✔ demo-restart — succeeded", 1)

		began := time.Now().UTC()
		s.shell(t, "", alert)
		s.waitOut(t, "Incident #1: HighLatency on api", 1)
		s.waitOut(t, "Requested by  automation:api-latency", 1)
		s.waitOut(t, "dry_run=true unit=api.service", 1)
		s.typeLines(t, console[1])
		s.waitOut(t, "You are not an approver of `demo-restart`", 2)
		s.waitOut(t, "✔ demo-restart — succeeded", 2)
		s.waitOut(t, "resolved incident #1", 1)
		s.waitOut(t, "# Postmortem: #1 HighLatency on api", 1)
		s.checkImpact(t, began)
	})

	t.Run("incidents-cycle", func(t *testing.T) {
		cycle := tourFences(t, "docs/incidents.md", "sh", "cycle", 2)
		s := startTour(t, env, args)
		began := time.Now().UTC()
		s.shell(t, laterThanNow, cycle...)
		s.waitOut(t, "Every alert resolved; incident #1 resolved automatically.", 1)
		if _, err := s.in.Write([]byte("/incident postmortem #1\n")); err != nil {
			t.Fatal(err)
		}
		s.waitOut(t, "# Postmortem: #1 HighLatency on api", 1)
		s.checkImpact(t, began)
	})
}
