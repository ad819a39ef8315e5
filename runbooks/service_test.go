package runbooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tebura/tebura/audit"
)

// memAudit is an audit.Store in memory.
type memAudit struct {
	mu      sync.Mutex
	entries []audit.Entry
	appends int // entries appended alone, each a transaction of its own
}

func (m *memAudit) AppendAudit(_ context.Context, fn func(last *audit.Entry) (audit.Entry, error)) (audit.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.appends++
	var last *audit.Entry
	if len(m.entries) > 0 {
		last = &m.entries[len(m.entries)-1]
	}
	e, err := fn(last)
	if err == nil {
		m.entries = append(m.entries, e)
	}
	return e, err
}

func (m *memAudit) AuditEntries(_ context.Context, fn func(audit.Entry) error) error {
	m.mu.Lock()
	es := append([]audit.Entry(nil), m.entries...)
	m.mu.Unlock()
	for _, e := range es {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (m *memAudit) actions() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.entries {
		out = append(out, e.Actor+" "+string(e.Action)+" "+e.Subject)
	}
	return out
}

// atomicStore is a fakeStore that writes a run and its audit entries in
// one call, counting the calls, as store/bolt does in one transaction.
type atomicStore struct {
	*fakeStore
	audit         *memAudit
	atomicCreates int
	plainCreates  int
	// writes counts every write of a run (create, update), each one
	// transaction of a real store, with or without entries.
	writes atomic.Int64
	// startedCreates counts CreateRunStarted calls that stored a run;
	// failStarted, when set, is what CreateRunStarted fails with.
	startedCreates int
	failStarted    error
}

func (s *atomicStore) CreateRun(ctx context.Context, run *Run) error {
	s.plainCreates++
	return s.fakeStore.CreateRun(ctx, run)
}

func (s *atomicStore) CreateRunAudited(ctx context.Context, run *Run, entries AuditEntries) error {
	s.atomicCreates++
	s.writes.Add(1)
	if err := s.fakeStore.CreateRun(ctx, run); err != nil {
		return err
	}
	return s.appendEntries(run, entries)
}

// CreateRunStarted stores a run created started, its lock and its entries
// in one write, refusing a lock another run holds, as store/bolt does in
// one transaction.
func (s *atomicStore) CreateRunStarted(_ context.Context, run *Run, fn func(*Run) error, entries AuditEntries) error {
	if s.failStarted != nil {
		return s.failStarted
	}
	f := s.fakeStore
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _ := json.Marshal(run)
	r := decodeRun(b)
	r.ID = fmt.Sprintf("r%d", f.seq+1)
	if err := fn(r); err != nil {
		return err
	}
	if cur, held := f.locks[r.LockKey]; r.LockKey != "" && held && cur.RunID != r.ID {
		return &LockedError{Lock: cur}
	}
	if err := s.appendEntries(r, entries); err != nil {
		return err
	}
	f.seq++
	if r.LockKey != "" {
		f.locks[r.LockKey] = Lock{Key: r.LockKey, RunID: r.ID, Holder: r.RequestedBy, Since: r.StartedAt}
	}
	b, _ = json.Marshal(r)
	f.runs[r.ID] = b
	*run = *decodeRun(b)
	s.startedCreates++
	s.writes.Add(1)
	return nil
}

func (s *atomicStore) UpdateRun(ctx context.Context, id string, fn func(*Run) error) (*Run, error) {
	s.writes.Add(1)
	return s.fakeStore.UpdateRun(ctx, id, fn)
}

func (s *atomicStore) UpdateRunAudited(ctx context.Context, id string, fn func(*Run) error, entries AuditEntries) (*Run, error) {
	s.writes.Add(1)
	run, err := s.fakeStore.UpdateRun(ctx, id, fn)
	if err != nil {
		return nil, err
	}
	return run, s.appendEntries(run, entries)
}

func (s *atomicStore) appendEntries(run *Run, entries AuditEntries) error {
	if entries == nil {
		return nil
	}
	s.audit.mu.Lock()
	defer s.audit.mu.Unlock()
	var last *audit.Entry
	if n := len(s.audit.entries); n > 0 {
		last = &s.audit.entries[n-1]
	}
	es, err := entries(run, last)
	if err != nil {
		return err
	}
	s.audit.entries = append(s.audit.entries, es...)
	return nil
}

type svcHarness struct {
	*harness
	st    *atomicStore
	audit *memAudit
	svc   *Service
	now   time.Time
}

func newSvcHarness(t *testing.T, subs ...func(Transition)) *svcHarness {
	return newSvcHarnessCfg(t, ExecutorConfig{}, subs...)
}

func newSvcHarnessCfg(t *testing.T, cfg ExecutorConfig, subs ...func(Transition)) *svcHarness {
	h := newHarness(t, ExecutorConfig{})
	a := &memAudit{}
	st := &atomicStore{fakeStore: h.store, audit: a}
	cfg.DataDir = h.dir
	h.exec = NewExecutor(st, cfg, nil)
	sh := &svcHarness{harness: h, st: st, audit: a, now: t0}
	sh.svc = NewService(ServiceConfig{Store: st, Executor: h.exec, Audit: audit.New(a, nil, func() time.Time { return sh.now }),
		Clock: func() time.Time { return sh.now }, Subscribers: subs})
	t.Cleanup(sh.svc.Stop)
	return sh
}

const approvalBook = `
name: restart
kind: remediation
allow: [dev]
approval: {required: 2, approvers: [sre]}
params:
  - {name: token, type: string, secret: true, default: hunter2}
steps:
  - {name: go, run: [echo, "restarting {{ .Params.token }}"]}
`

// TestServiceOneRecordOneChain: one request through the service is one
// atomic create (run and request entry together), its approvals, start and
// end are audited by the service in one vocabulary, and every change is
// published, in order, to each subscriber.
func TestServiceOneRecordOneChain(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	sh := newSvcHarness(t, func(tr Transition) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%s %s>%s %s", tr.Run.ID, tr.From, tr.To, tr.Actor))
	})
	rb := sh.load(approvalBook)
	ctx := context.Background()
	p, err := sh.svc.Request(ctx, Request{Runbook: rb, By: "slack:UREQ", Via: ViaChat})
	if err != nil {
		t.Fatal(err)
	}
	if sh.st.atomicCreates != 1 || sh.st.plainCreates != 0 {
		t.Fatalf("the request was stored with %d atomic and %d separate creates; want one atomic", sh.st.atomicCreates, sh.st.plainCreates)
	}
	run := p.Run
	if run.State != StatePendingApproval || run.Required != 2 || !run.ExpiresAt.Equal(t0.Add(DefaultApprovalExpiry)) {
		t.Fatalf("run = %+v", run)
	}
	hash := run.PlanHash
	if _, now, err := sh.svc.Approve(ctx, run.ID, Decision{By: "slack:UB"}, false, hash, nil); err != nil || now {
		t.Fatalf("first approval: now=%v err=%v", now, err)
	}
	if _, _, err := sh.svc.Approve(ctx, run.ID, Decision{By: "slack:UREQ"}, false, hash, nil); err == nil {
		t.Fatal("the requester approved their own run")
	}
	approved, now, err := sh.svc.Approve(ctx, run.ID, Decision{By: "slack:UC"}, false, hash, nil)
	if err != nil || !now {
		t.Fatalf("second approval: now=%v err=%v", now, err)
	}
	h, err := sh.svc.Start(ctx, approved, rb, "slack:UC")
	if err != nil {
		t.Fatal(err)
	}
	<-h.Done()
	if err := sh.svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"slack:UREQ run.request r1",
		"slack:UB run.approve r1",
		"slack:UC run.approve r1",
		"slack:UC run.start r1",
		"system run.end r1",
	}
	if got := sh.audit.actions(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, e := range sh.audit.entries {
		for k, v := range e.Detail {
			if strings.Contains(v, "hunter2") {
				t.Errorf("%s detail %s shows the secret: %q", e.Action, k, v)
			}
		}
	}
	if _, err := audit.Verify(ctx, sh.audit); err != nil {
		t.Errorf("chain: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	wantT := []string{
		"r1 >pending_approval slack:UREQ",
		"r1 pending_approval>pending_approval slack:UB",
		"r1 pending_approval>pending_approval slack:UREQ", // refused
		"r1 pending_approval>approved slack:UC",
		"r1 approved>running system",
		"r1 running>succeeded system",
	}
	if strings.Join(seen, "\n") != strings.Join(wantT, "\n") {
		t.Errorf("transitions:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(wantT, "\n"))
	}
}

// TestServiceSlowSubscriber: a subscriber that does not return holds up
// neither the service nor the other subscribers, and once it returns it
// gets every transition, in order.
func TestServiceSlowSubscriber(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var slow, fast []Transition
	fastDone := make(chan struct{}, 100)
	sh := newSvcHarness(t,
		func(tr Transition) {
			<-release
			mu.Lock()
			slow = append(slow, tr)
			mu.Unlock()
		},
		func(tr Transition) {
			mu.Lock()
			fast = append(fast, tr)
			mu.Unlock()
			fastDone <- struct{}{}
		})
	rb := sh.load(`
name: hello
kind: diagnostic
allow: [dev]
steps:
  - {name: hi, run: [echo, hi]}
`)
	ctx := context.Background()
	const runs = 20
	for range runs {
		p, err := sh.svc.Request(ctx, Request{Runbook: rb, By: "slack:U1", Via: ViaChat, Gate: NoApproval})
		if err != nil {
			t.Fatal(err)
		}
		h, err := sh.svc.Start(ctx, p.Run, rb, "slack:U1")
		if err != nil {
			t.Fatal(err)
		}
		<-h.Done() // the executor's end went through while the slow subscriber sleeps
	}
	for range runs * 3 { // created, running, succeeded
		<-fastDone
	}
	close(release)
	if err := sh.svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(slow) != runs*3 || len(fast) != runs*3 {
		t.Fatalf("slow got %d, fast %d transitions; want %d each", len(slow), len(fast), runs*3)
	}
	last := map[string]State{}
	for i, tr := range slow {
		if tr != fast[i] && (tr.Run.ID != fast[i].Run.ID || tr.To != fast[i].To) {
			t.Fatalf("transition %d: slow saw %s>%s of %s, fast %s>%s of %s", i, tr.From, tr.To, tr.Run.ID, fast[i].From, fast[i].To, fast[i].Run.ID)
		}
		if tr.From != last[tr.Run.ID] {
			t.Fatalf("run %s: %s>%s after %s", tr.Run.ID, tr.From, tr.To, last[tr.Run.ID])
		}
		last[tr.Run.ID] = tr.To
	}
}

// TestServiceOneTransactionPerTransition: with a store that writes a run
// and its audit entries together, a run's life is three transactions, each
// one fsync in store/bolt: the request with its entry, the start (queued
// or running) with the run.start entry, the end with the run.end entry. No
// entry is appended on its own, the chain verifies, and a run that waited
// in the queue has its run.start entry once, with its queued write.
func TestServiceOneTransactionPerTransition(t *testing.T) {
	sh := newSvcHarnessCfg(t, ExecutorConfig{MaxConcurrent: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	block := sh.load(`
name: block
kind: diagnostic
allow: [dev]
params:
  - {name: gate, type: string, required: true}
steps:
  - {name: wait, script: 'while [ ! -e "$TEBURA_PARAM_GATE" ]; do sleep 0.01; done'}
`)
	rb := sh.load(`
name: hello
kind: diagnostic
allow: [dev]
steps:
  - {name: hi, run: [echo, hi]}
`)
	gate := filepath.Join(t.TempDir(), "open")
	first, err := sh.svc.Request(ctx, Request{Runbook: block, Params: map[string]string{"gate": gate}, By: "slack:U1", Via: ViaChat, Gate: NoApproval})
	if err != nil {
		t.Fatal(err)
	}
	h1, err := sh.svc.Start(ctx, first.Run, block, "slack:U1")
	if err != nil {
		t.Fatal(err)
	}
	second, err := sh.svc.Request(ctx, Request{Runbook: rb, By: "slack:U2", Via: ViaChat, Gate: NoApproval})
	if err != nil {
		t.Fatal(err)
	}
	h2, err := sh.svc.Start(ctx, second.Run, rb, "slack:U2")
	if err != nil {
		t.Fatal(err)
	}
	if st := h2.Snapshot().State; st != StateQueued {
		t.Fatalf("second run is %s; want queued behind the first", st)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*Handle{h1, h2} {
		select {
		case <-h.Done():
		case <-ctx.Done():
			t.Fatalf("run %s did not end", h.RunID())
		}
	}
	// first: request, running, end; second: request, queued, running, end.
	sh.checkTransactions(t, 7, "3 for the first run, 4 for the queued one",
		"slack:U1 run.request r1",
		"slack:U1 run.start r1",
		"slack:U2 run.request r2",
		"slack:U2 run.start r2",
		"system run.end r1",
		"system run.end r2",
	)
}

// TestServiceCreateAndStartOneTransaction: a run that needs no approval is
// created already running, with its lock and its run.request and run.start
// entries, in one write before any step runs, and ends in a second; the
// request and the start are still published as two transitions, and the
// chain reads request, start, end. When no slot is free it is stored first
// and queued, as before; a held lock stores it and ends it failed, as
// before.
func TestServiceCreateAndStartOneTransaction(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	sh := newSvcHarnessCfg(t, ExecutorConfig{MaxConcurrent: 1}, func(tr Transition) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%s %s>%s %s", tr.Run.ID, tr.From, tr.To, tr.Actor))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	block := sh.load(`
name: block
kind: diagnostic
allow: [dev]
lock: gate
params:
  - {name: gate, type: string, required: true}
steps:
  - {name: wait, script: 'while [ ! -e "$TEBURA_PARAM_GATE" ]; do sleep 0.01; done'}
`)
	hello := sh.load(`
name: hello
kind: diagnostic
allow: [dev]
steps:
  - {name: hi, run: [echo, hi]}
`)
	locked := sh.load(`
name: locked
kind: diagnostic
allow: [dev]
lock: gate
steps:
  - {name: hi, run: [echo, hi]}
`)
	gate := filepath.Join(t.TempDir(), "open")
	first, err := sh.svc.Prepare(ctx, Request{Runbook: block, Params: map[string]string{"gate": gate}, By: "slack:U1", Via: ViaChat, Gate: NoApproval})
	if err != nil {
		t.Fatal(err)
	}
	h1, err := sh.svc.CreateAndStart(ctx, first, "slack:U1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := sh.st.writes.Load(); got != 1 || sh.st.startedCreates != 1 {
		t.Fatalf("%d run writes (%d created started) before the first run's end; want 1: request and start together", got, sh.st.startedCreates)
	}
	stored, err := sh.st.GetRun(ctx, first.Run.ID)
	if err != nil || stored.State != StateRunning || stored.LogPath == "" || first.Run.State != StateRunning {
		t.Fatalf("stored = %+v, %v; want it running with its log, as the request's run is", stored, err)
	}
	if locks, _ := sh.st.Locks(ctx); len(locks) != 1 || locks[0].RunID != first.Run.ID {
		t.Fatalf("locks = %+v; want gate held by %s", locks, first.Run.ID)
	}

	// Every slot is taken: stored first, then queued (its start rides with
	// the queued write).
	second, err := sh.svc.Prepare(ctx, Request{Runbook: hello, By: "slack:U2", Via: ViaChat, Gate: NoApproval})
	if err != nil {
		t.Fatal(err)
	}
	h2, err := sh.svc.CreateAndStart(ctx, second, "slack:U2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := h2.Snapshot().State; st != StateQueued {
		t.Fatalf("second run is %s; want queued behind the first", st)
	}

	// The lock is held: stored, then ended failed by the start, as before.
	third, err := sh.svc.Prepare(ctx, Request{Runbook: locked, By: "slack:U3", Via: ViaAutomation, Gate: NoApproval})
	if err != nil {
		t.Fatal(err)
	}
	var held *LockedError
	if _, err := sh.svc.CreateAndStart(ctx, third, "slack:U3", nil); !errors.As(err, &held) || held.Lock.RunID != first.Run.ID {
		t.Fatalf("err = %v; want the lock held by %s", err, first.Run.ID)
	}
	if r, err := sh.st.GetRun(ctx, third.Run.ID); err != nil || r.State != StateFailed || !strings.Contains(r.Reason, "lock held by run "+first.Run.ID) {
		t.Fatalf("locked run = %+v, %v; want it stored failed with the holder", r, err)
	}

	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, h := range []*Handle{h1, h2} {
		select {
		case <-h.Done():
		case <-ctx.Done():
			t.Fatalf("run %s did not end", h.RunID())
		}
	}
	if err := sh.svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// first: started create, end; second: request, queued, running, end;
	// third: request, failed end.
	sh.checkTransactions(t, 8, "2 for the first run, 4 for the queued one, 2 for the locked one",
		"slack:U1 run.request r1",
		"slack:U1 run.start r1",
		"slack:U2 run.request r2",
		"slack:U2 run.start r2",
		"slack:U3 run.request r3",
		"system run.end r3",
		"system run.end r1",
		"system run.end r2",
	)
	mu.Lock()
	defer mu.Unlock()
	wantT := []string{
		"r1 >approved slack:U1",
		"r1 approved>running system",
		"r2 >approved slack:U2",
		"r2 approved>queued system",
		"r3 >approved slack:U3",
		"r3 approved>failed system",
		"r1 running>succeeded system",
		"r2 queued>running system",
		"r2 running>succeeded system",
	}
	if strings.Join(seen, "\n") != strings.Join(wantT, "\n") {
		t.Errorf("transitions:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(wantT, "\n"))
	}
}

// TestServiceCreateAndStartStoreFails: when the one transaction fails,
// nothing was stored and nothing runs: no ID, no log, no live handle, and
// the slot it had taken is free for the next run.
func TestServiceCreateAndStartStoreFails(t *testing.T) {
	sh := newSvcHarnessCfg(t, ExecutorConfig{MaxConcurrent: 1})
	ctx := context.Background()
	marker := filepath.Join(t.TempDir(), "ran")
	rb := sh.load(`
name: touch
kind: diagnostic
allow: [dev]
params:
  - {name: path, type: string, required: true}
steps:
  - {name: touch, run: [touch, "{{ .Params.path }}"]}
`)
	p, err := sh.svc.Prepare(ctx, Request{Runbook: rb, Params: map[string]string{"path": marker}, By: "slack:U1", Via: ViaChat, Gate: NoApproval})
	if err != nil {
		t.Fatal(err)
	}
	disk := errors.New("disk full")
	sh.st.failStarted = disk
	if h, err := sh.svc.CreateAndStart(ctx, p, "slack:U1", nil); !errors.Is(err, disk) || h != nil {
		t.Fatalf("CreateAndStart = %v, %v; want the store's error and no handle", h, err)
	}
	if p.Run.ID != "" || sh.st.writes.Load() != 0 || len(sh.audit.entries) != 0 {
		t.Fatalf("ID %q, %d writes, %d entries after a failed create; want nothing stored", p.Run.ID, sh.st.writes.Load(), len(sh.audit.entries))
	}
	if st := sh.exec.Stats(); st.Running != 0 || st.Queued != 0 {
		t.Fatalf("executor after a failed create: %+v; want the slot free", st)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("the step ran although its run was never stored (stat: %v)", err)
	}

	sh.st.failStarted = nil
	p, err = sh.svc.Prepare(ctx, Request{Runbook: rb, Params: map[string]string{"path": marker}, By: "slack:U1", Via: ViaChat, Gate: NoApproval})
	if err != nil {
		t.Fatal(err)
	}
	h, err := sh.svc.CreateAndStart(ctx, p, "slack:U1", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-h.Done()
	if s := h.Snapshot(); s.State != StateSucceeded {
		t.Fatalf("next run = %+v; want it to take the freed slot and succeed", s)
	}
}

// TestServiceCreateAndStartLogNotOpened: a run created started whose log
// cannot be opened still runs, and is stored without a log path, as a run
// started after its request is, so that nothing points at a missing file.
func TestServiceCreateAndStartLogNotOpened(t *testing.T) {
	sh := newSvcHarness(t)
	if err := os.WriteFile(filepath.Join(sh.dir, "logs"), nil, 0o600); err != nil { // a file where the logs directory goes
		t.Fatal(err)
	}
	ctx := context.Background()
	rb := sh.load("name: hello\nkind: diagnostic\nallow: [dev]\nsteps:\n  - {name: hi, run: [echo, hi]}\n")
	p, err := sh.svc.Prepare(ctx, Request{Runbook: rb, By: "slack:U1", Via: ViaChat, Gate: NoApproval})
	if err != nil {
		t.Fatal(err)
	}
	h, err := sh.svc.CreateAndStart(ctx, p, "slack:U1", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-h.Done()
	run, err := sh.st.GetRun(ctx, p.Run.ID)
	if err != nil || run.State != StateSucceeded || run.LogPath != "" || sh.st.startedCreates != 1 {
		t.Fatalf("run = %+v, %v (%d created started); want it created started, succeeded, with no log path", run, err, sh.st.startedCreates)
	}
}

// checkTransactions checks that the runs were written writes times
// (why says which), that no audit entry was appended in a transaction of
// its own, and that the chain, which must verify, holds want in order.
func (sh *svcHarness) checkTransactions(t *testing.T, writes int64, why string, want ...string) {
	t.Helper()
	if got := sh.st.writes.Load(); got != writes {
		t.Errorf("%d run writes; want %d (%s)", got, writes, why)
	}
	if sh.audit.appends != 0 {
		t.Errorf("%d audit entries were appended in transactions of their own; want each with its run's write", sh.audit.appends)
	}
	if got := sh.audit.actions(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := audit.Verify(context.Background(), sh.audit); err != nil {
		t.Errorf("chain: %v", err)
	}
}
