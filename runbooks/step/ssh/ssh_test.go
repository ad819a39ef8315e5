package ssh

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/tebura/tebura/runbooks"
)

// TestRunsOnRealSSHD: a command runs on a real sshd and its output and
// exit code come back.
func TestRunsOnRealSSHD(t *testing.T) {
	f := startFleet(t, 1)
	r := New(f.cfg)
	out := newSyncBuf()
	code, err := r.RunOn(context.Background(), "h0", runbooks.RemoteCommand{Argv: []string{"sh", "-c", "echo hello; echo oops >&2; exit 3"}}, out)
	if err != nil || code != 3 {
		t.Fatalf("code %d, err %v; want 3, nil", code, err)
	}
	for _, want := range []string{"hello\n", "oops\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output %q lacks %q", out.String(), want)
		}
	}
	if strings.Contains(out.String(), "tebura-pgid") {
		t.Errorf("output shows the wrapper's pgid line: %q", out.String())
	}
}

// injections are values that a shell would split, expand or run.
var injections = []string{
	"plain",
	"two words",
	"$(touch INJECTED)",
	"`touch INJECTED`",
	"; touch INJECTED",
	"'; touch INJECTED; echo '",
	`"; touch INJECTED; echo "`,
	"a\nb; touch INJECTED",
	"*",
	"$HOME",
	"-n",
	"",
	`back\slash`,
	"|| touch INJECTED &",
}

// TestInjectionArgvAndScript: through argv each value arrives as one
// argument with its exact bytes, and through a script's environment as
// the literal value; nothing runs on the remote side.
func TestInjectionArgvAndScript(t *testing.T) {
	f := startFleet(t, 1)
	r := New(f.cfg)
	dir := t.TempDir()
	for _, v := range injections {
		t.Run(fmt.Sprintf("%q", v), func(t *testing.T) {
			out := newSyncBuf()
			argv := []string{"sh", "-c", `cd "$1" && printf '%s|' "$#"; shift; printf '[%s]' "$@"`, "sh", dir, v}
			code, err := r.RunOn(context.Background(), "h0", runbooks.RemoteCommand{Argv: argv}, out)
			if err != nil || code != 0 {
				t.Fatalf("argv: code %d, err %v, output %q", code, err, out.String())
			}
			if want := "2|[" + v + "]"; out.String() != want {
				t.Errorf("argv: remote side got %q, want %q", out.String(), want)
			}
			out = newSyncBuf()
			script := `cd "$DIR" && printf '[%s]' "$TEBURA_PARAM_V"`
			code, err = r.RunOn(context.Background(), "h0", runbooks.RemoteCommand{Script: script, Env: []string{"DIR=" + dir, "TEBURA_PARAM_V=" + v}}, out)
			if err != nil || code != 0 {
				t.Fatalf("script: code %d, err %v, output %q", code, err, out.String())
			}
			if want := "[" + v + "]"; out.String() != want {
				t.Errorf("script: remote side got %q, want %q", out.String(), want)
			}
			if _, err := os.Stat(filepath.Join(dir, "INJECTED")); err == nil {
				t.Fatalf("%q ran a command on the remote side", v)
			}
		})
	}
}

// TestHostKeyRefused: a host whose key is not in known_hosts, or whose key
// changed, is refused before anything runs, with the sentence that says
// how to add it.
func TestHostKeyRefused(t *testing.T) {
	f := startFleet(t, 2)
	host, port, _ := net.SplitHostPort(f.Hosts[0].Addr)
	scan := fmt.Sprintf("ssh-keyscan -p %s %s >> %s", port, host, f.KnownHosts)
	tests := []struct {
		name  string
		known string
		want  []string
	}{
		{"unknown", knownhosts.Line([]string{knownhosts.Normalize(f.Hosts[1].Addr)}, f.Hosts[1].HostKey) + "\n",
			[]string{"is not in " + f.KnownHosts, scan, "SHA256:"}},
		{"changed", knownhosts.Line([]string{knownhosts.Normalize(f.Hosts[0].Addr)}, f.Hosts[1].HostKey) + "\n",
			[]string{"CHANGED", f.KnownHosts + ":1", scan}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(f.KnownHosts, []byte(tt.known), 0o600); err != nil {
				t.Fatal(err)
			}
			marker := filepath.Join(t.TempDir(), "ran")
			code, err := New(f.cfg).RunOn(context.Background(), "h0", runbooks.RemoteCommand{Argv: []string{"touch", marker}}, newSyncBuf())
			if err == nil || code != -1 {
				t.Fatalf("code %d, err %v; want the host key refused", code, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the command ran on a host whose key was refused")
			}
		})
	}
}

// pgrep lists the processes whose command line holds marker.
func pgrep(t *testing.T, marker string) string {
	t.Helper()
	out, err := exec.Command("pgrep", "-af", marker).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
			return "" // none
		}
		t.Fatalf("pgrep: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// noneLeft waits (bounded) for the processes holding marker to be gone:
// killed processes are reaped by init a moment after the kill.
func noneLeft(t *testing.T, marker string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := pgrep(t, marker)
		if left == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("remote processes left behind:\n%s", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStopLeavesNoRemoteProcess: cancel and timeout kill the remote
// process group, a background child included (checked with pgrep on the
// server side, which is this machine).
func TestStopLeavesNoRemoteProcess(t *testing.T) {
	f := startFleet(t, 1)
	r := New(f.cfg)
	for _, how := range []string{"cancel", "timeout"} {
		t.Run(how, func(t *testing.T) {
			marker := fmt.Sprintf("%d.%d", 900+time.Now().Nanosecond()%99, time.Now().UnixNano()%1000000)
			out := newSyncBuf()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			script := "sleep " + marker + " &\necho started\nsleep " + marker + "\n"
			done := make(chan struct{})
			var code int
			var err error
			if how == "timeout" {
				var c context.CancelFunc
				ctx, c = context.WithTimeout(ctx, 30*time.Second)
				defer c()
			}
			go func() {
				defer close(done)
				code, err = r.RunOn(ctx, "h0", runbooks.RemoteCommand{Script: script}, out)
			}()
			if !out.waitFor("started\n", 10*time.Second) {
				t.Fatalf("the remote script did not start: %q", out.String())
			}
			if pgrep(t, marker) == "" {
				t.Fatal("pgrep finds no remote process before the stop: the check below could not fail")
			}
			if how == "cancel" {
				cancel()
			} else {
				// The same path as a deadline: the context ends with
				// DeadlineExceeded.
				var c context.CancelFunc
				ctx2, c := context.WithDeadline(ctx, time.Now())
				defer c()
				<-ctx2.Done()
				cancel()
			}
			<-done
			if code != -1 {
				t.Errorf("code %d, err %v; want -1", code, err)
			}
			noneLeft(t, marker)
		})
	}
}
