package ssh

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/runbooks"
)

// BenchmarkFanOut runs `true` on 10 loopback sshd targets, 10 at a time,
// through the runner, and reports it against OpenSSH's ssh client doing
// the same as 10 background jobs of a shell loop (ratio: runner/ssh).
func BenchmarkFanOut(b *testing.B) {
	const n = 10
	f := startFleet(b, n)
	r := New(f.cfg)
	var runner, client time.Duration
	for range b.N {
		t0 := time.Now()
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if code, err := r.RunOn(context.Background(), fmt.Sprintf("h%d", i), runbooks.RemoteCommand{Argv: []string{"true"}}, newSyncBuf()); code != 0 || err != nil {
					b.Errorf("h%d: %d %v", i, code, err)
				}
			}()
		}
		wg.Wait()
		runner += time.Since(t0)
		var script strings.Builder
		for _, h := range f.Hosts {
			host, port, _ := net.SplitHostPort(h.Addr)
			fmt.Fprintf(&script, "ssh -q -o BatchMode=yes -o UserKnownHostsFile=%s -i %s -p %s %s true &\n", f.KnownHosts, f.Identity, port, host)
		}
		script.WriteString("wait\n")
		t0 = time.Now()
		cmd := exec.Command("sh", "-c", script.String())
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		client += time.Since(t0)
	}
	b.ReportMetric(float64(runner.Milliseconds())/float64(b.N), "runner-ms/op")
	b.ReportMetric(float64(client.Milliseconds())/float64(b.N), "ssh-loop-ms/op")
	b.ReportMetric(float64(runner)/float64(client), "ratio")
}
