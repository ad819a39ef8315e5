package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tebura/tebura/store/postgres/pgtest"
)

// replica is a `tebura serve` process of the replica measures: its
// address and the moment its log first said each watched message.
type replica struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{}

	mu   sync.Mutex
	seen map[string]time.Time
}

// startReplica starts the binary as replica id on the database dsn and
// waits until it answers /readyz.
func startReplica(e *env, dsn, id string) (*replica, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(e.work, "replica-"+id+"-"+fmt.Sprint(time.Now().UnixNano()))
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "tebura.yaml")
	body := `data_dir: ` + filepath.Join(dir, "data") + `
http: {listen: "` + addr + `"}
runbooks: {dirs: []}
store: {driver: postgres, postgres: {dsn: "` + dsn + `", max_conns: 10}}
replica: {id: ` + id + `}
console: {enabled: "false"}
incidents: {max_open: 0, max_new_per_minute: 0}
sources:
  alertmanager: {bearer_token: bench-token}
log: {level: info}
`
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return nil, err
	}
	r := &replica{cmd: exec.Command(e.binary, "serve", "--config", cfg), addr: addr, done: make(chan struct{}), seen: map[string]time.Time{}}
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(r.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			now := time.Now()
			for _, msg := range []string{`msg=leading`, `msg="tebura serving"`} {
				// The heartbeat's lease logs "leading" too: only the
				// leader lease counts.
				if strings.Contains(sc.Text(), msg) && (msg != `msg=leading` || strings.Contains(sc.Text(), "lease=leader")) {
					r.mu.Lock()
					if _, ok := r.seen[msg]; !ok {
						r.seen[msg] = now
					}
					r.mu.Unlock()
				}
			}
		}
		r.cmd.Wait()
	}()
	client := &http.Client{Timeout: time.Second}
	for begin := time.Now(); time.Since(begin) < 30*time.Second; time.Sleep(10 * time.Millisecond) {
		resp, err := client.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r, nil
			}
		}
	}
	r.kill()
	return nil, fmt.Errorf("replica %s not ready within 30s", id)
}

// saw is when the replica's log first said msg (zero: not yet).
func (r *replica) saw(msg string) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[msg]
}

// kill ends the process with SIGKILL and waits for it.
func (r *replica) kill() {
	r.cmd.Process.Kill()
	<-r.done
}

// benchDatabase starts PostgreSQL (fsync on) and creates database name.
func benchDatabase(name string) (*pgtest.Server, string, error) {
	srv, err := pgtest.Start(pgtest.Options{Durable: true})
	if err != nil {
		return nil, "", fmt.Errorf("start PostgreSQL (install postgresql): %w", err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.DSN("postgres"))
	if err == nil {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
		conn.Close(ctx)
	}
	if err != nil {
		srv.Stop()
		return nil, "", err
	}
	return srv, srv.DSN(name), nil
}

// replicaFailover measures issue 14's leader failover: two replicas on
// one PostgreSQL database; the leader is killed with SIGKILL and the time
// until the other logs that it leads (its leader work may run from then)
// is taken, five times (the killed one is started again as a follower
// between drills); the median and the worst.
func replicaFailover(e *env) ([]row, error) {
	srv, dsn, err := benchDatabase("failover")
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	const drills = 5
	leader, err := startReplica(e, dsn, "a")
	if err != nil {
		return nil, err
	}
	for leader.saw("msg=leading").IsZero() {
		time.Sleep(10 * time.Millisecond)
	}
	var took []time.Duration
	for i := range drills {
		follower, err := startReplica(e, dsn, fmt.Sprintf("r%d", i))
		if err != nil {
			leader.kill()
			return nil, err
		}
		time.Sleep(1500 * time.Millisecond) // renewals in their rhythm
		if !follower.saw("msg=leading").IsZero() {
			leader.kill()
			follower.kill()
			return nil, errors.New("two replicas lead at once")
		}
		leader.kill()
		killed := time.Now()
		for follower.saw("msg=leading").IsZero() {
			if time.Since(killed) > 30*time.Second {
				follower.kill()
				return nil, errors.New("no new leader within 30s")
			}
			time.Sleep(5 * time.Millisecond)
		}
		took = append(took, follower.saw("msg=leading").Sub(killed))
		leader = follower
	}
	leader.kill()
	med, worst := median(took), took[0]
	for _, d := range took {
		worst = max(worst, d)
	}
	return []row{
		{fmt.Sprintf("leader failover, kill -9 to the new leader (median of %d, PostgreSQL)", drills), ms(med), "<= 5 s", met(med <= 5*time.Second)},
		{"leader failover, worst of those drills", ms(worst), "noted", ""},
	}, nil
}

// replicaIngest measures issue 14's ingest with two replicas: 400
// 100-alert Alertmanager payloads from 4 senders, each delivered to one
// replica and delivered again (as a retry) to the other, over HTTP into
// two `tebura serve` on one PostgreSQL database (fsync on); alerts
// received per second (both deliveries count, as the senders sent them)
// and the p99 webhook latency.
func replicaIngest(e *env) ([]row, error) {
	srv, dsn, err := benchDatabase("ingest")
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	rs := make([]*replica, 2)
	for i := range rs {
		if rs[i], err = startReplica(e, dsn, fmt.Sprintf("ingest-%d", i)); err != nil {
			return nil, err
		}
		defer rs[i].kill()
	}
	const requests, senders = 400, 4
	start := time.Now().UTC().Truncate(time.Second)
	payloads := make([][]byte, requests)
	for k := range payloads {
		payloads[k] = amPayload(k, start)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	lat := make([]time.Duration, 2*requests)
	errs := make(chan error, senders)
	var wg sync.WaitGroup
	t0 := time.Now()
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := s; k < requests; k += senders {
				for try := range 2 {
					req, _ := http.NewRequest(http.MethodPost, "http://"+rs[(k+try)%2].addr+"/hooks/alertmanager", bytes.NewReader(payloads[k]))
					req.Header.Set("Authorization", "Bearer bench-token")
					req.Header.Set("Content-Type", "application/json")
					t := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						errs <- err
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					lat[2*k+try] = time.Since(t)
					if resp.StatusCode != http.StatusOK {
						errs <- fmt.Errorf("ingest answered %d", resp.StatusCode)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	rate := float64(2*requests*100) / elapsed.Seconds()
	p99 := pct(lat, 0.99)
	return []row{
		{fmt.Sprintf("alert ingest rate, two replicas on PostgreSQL (%d x 100 alerts, each sent to both, %d senders)", requests, senders), fmt.Sprintf("%.0f alerts/s", rate), ">= 5000 alerts/s", met(rate >= 5000)},
		{"alert ingest webhook p99, two replicas on PostgreSQL", ms(p99), "<= 100 ms", met(p99 <= 100*time.Millisecond)},
	}, nil
}
