package main

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tebura/tebura/store/postgres/pgtest"
)

// TestMain lets a test start this test binary as the tebura program, so
// signal handling is tested through main itself; the other tests share
// one PostgreSQL server (pgtest), stopped after them.
func TestMain(m *testing.M) {
	if os.Getenv("TEBURA_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"tebura"}, os.Args[1:]...)
		main()
		return
	}
	os.Exit(pgtest.Main(m))
}

// teburaCmd starts this binary as tebura with args.
func teburaCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "TEBURA_TEST_RUN_MAIN=1", "USER=bob")
	return cmd
}

func TestServeStopsOnSIGTERM(t *testing.T) {
	cleanEnv(t)
	p := writeConfig(t, "http: {listen: \"127.0.0.1:0\"}\nrunbooks: {dirs: []}\n")
	cmd := teburaCmd(t, "serve", "--config", p)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	addrRe := regexp.MustCompile(`msg="tebura serving" addr=(\S+)`)
	sc := bufio.NewScanner(stderr)
	var addr string
	for sc.Scan() {
		if m := addrRe.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	if addr == "" {
		t.Fatal("serve never said it was serving")
	}
	waitReady(t, "http://"+addr)
	rest := make(chan string, 1)
	go func() { b, _ := io.ReadAll(stderr); rest <- string(b) }()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The log is read to its end (the process closed stderr) before Wait:
	// Wait closes the pipe, and a read still under way would lose the
	// last lines.
	var log string
	select {
	case log = <-rest:
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v after SIGTERM, want 0", err)
	}
	if !strings.Contains(log, "tebura stopped") {
		t.Errorf("log after SIGTERM:\n%s", log)
	}
}

func TestRunCancelsOnSIGINT(t *testing.T) {
	cleanEnv(t)
	cfg := runConfig(t)
	cmd := teburaCmd(t, "run", "--config", cfg, "--yes", "forever")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && sc.Text() != "tick" {
	}
	go io.Copy(io.Discard, stdout)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		if code := cmd.ProcessState.ExitCode(); code != 130 {
			t.Fatalf("exit code %d after SIGINT, want 130", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not end after SIGINT")
	}
	// The store says the run was cancelled (the engine killed its group).
	out, _, _ := runCLI(t, "", "runs", "--config", cfg)
	if !strings.Contains(out, "cancelled") {
		t.Errorf("runs:\n%s", out)
	}

}
