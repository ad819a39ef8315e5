package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/runbooks"
)

// newRun returns a run as the engine would create it, times in UTC.
func newRun(at time.Time, runbook string, state runbooks.State) *runbooks.Run {
	return &runbooks.Run{
		Runbook:     runbook,
		Kind:        runbooks.KindRemediation,
		Params:      map[string]string{"env": "prod", "service": "api"},
		Secret:      []string{"token"},
		PlanHash:    "sha256:abc",
		LockKey:     "restart-api",
		RequestedBy: "slack:U1",
		RequestedAt: at,
		Required:    1,
		ExpiresAt:   at.Add(15 * time.Minute),
		State:       state,
		Origin:      runbooks.Origin{Platform: "slack", Channel: "C1", Message: "1700000000.000100"},
	}
}

// wantCode fails unless err carries the tebura code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tebura.ErrorCode(err); got != code {
		t.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

func testRuns(t *testing.T, open func(t *testing.T) Stores) {
	st := open(t)
	ctx := t.Context()
	now := st.Clock.Now()

	var created []*runbooks.Run
	for i := 1; i <= 3; i++ {
		r := newRun(now.Add(time.Duration(i)*time.Second), fmt.Sprintf("rb%d", i), runbooks.StatePendingApproval)
		if err := st.Runs.CreateRun(ctx, r); err != nil {
			t.Fatalf("CreateRun: %v", err)
		}
		if want := fmt.Sprintf("r%d", i); r.ID != want {
			t.Fatalf("CreateRun assigned ID %q, want %q", r.ID, want)
		}
		created = append(created, r)
	}
	for _, want := range created {
		got, err := st.Runs.GetRun(ctx, want.ID)
		if err != nil {
			t.Fatalf("GetRun(%s): %v", want.ID, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetRun(%s) =\n%+v\nwant\n%+v", want.ID, got, want)
		}
	}

	// What GetRun returns is the caller's copy.
	got, _ := st.Runs.GetRun(ctx, "r1")
	got.Params["env"] = "mutated"
	got.State = runbooks.StateFailed
	again, err := st.Runs.GetRun(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if again.Params["env"] != "prod" || again.State != runbooks.StatePendingApproval {
		t.Errorf("changing a returned run changed the store: %+v", again)
	}

	for _, id := range []string{"r4", "r0", "r01", "x1", "", "r-1", "1", "r1x"} {
		_, err := st.Runs.GetRun(ctx, id)
		wantCode(t, err, tebura.ENOTFOUND)
	}
}

func testUpdateRun(t *testing.T, open func(t *testing.T) Stores) {
	st := open(t)
	ctx := t.Context()
	now := st.Clock.Now()
	r := newRun(now, "restart", runbooks.StatePendingApproval)
	if err := st.Runs.CreateRun(ctx, r); err != nil {
		t.Fatal(err)
	}

	t.Run("writes", func(t *testing.T) {
		got, err := st.Runs.UpdateRun(ctx, r.ID, func(run *runbooks.Run) error {
			run.Reason = "checked"
			return nil
		})
		if err != nil || got.Reason != "checked" || got.ID != r.ID {
			t.Fatalf("UpdateRun = %+v, %v", got, err)
		}
		stored, _ := st.Runs.GetRun(ctx, r.ID)
		if stored.Reason != "checked" {
			t.Errorf("stored Reason = %q, want checked", stored.Reason)
		}
	})

	t.Run("error writes nothing", func(t *testing.T) {
		errStop := errors.New("stop")
		got, err := st.Runs.UpdateRun(ctx, r.ID, func(run *runbooks.Run) error {
			run.State = runbooks.StateRunning
			run.Reason = "half done"
			return errStop
		})
		if !errors.Is(err, errStop) || got != nil {
			t.Fatalf("UpdateRun = %v, %v; want nil and the fn's error", got, err)
		}
		stored, _ := st.Runs.GetRun(ctx, r.ID)
		if stored.State != runbooks.StatePendingApproval || stored.Reason != "checked" {
			t.Errorf("a failed update was written: %+v", stored)
		}
	})

	t.Run("tebura error passes through", func(t *testing.T) {
		_, err := st.Runs.UpdateRun(ctx, r.ID, func(*runbooks.Run) error {
			return tebura.Errorf(tebura.ECONFLICT, "already approved")
		})
		wantCode(t, err, tebura.ECONFLICT)
		if tebura.ErrorMessage(err) != "already approved" {
			t.Errorf("message = %q", tebura.ErrorMessage(err))
		}
	})

	t.Run("unknown run", func(t *testing.T) {
		called := false
		_, err := st.Runs.UpdateRun(ctx, "r999", func(*runbooks.Run) error { called = true; return nil })
		wantCode(t, err, tebura.ENOTFOUND)
		if called {
			t.Error("fn was called for a missing run")
		}
	})

	t.Run("ID is kept", func(t *testing.T) {
		got, err := st.Runs.UpdateRun(ctx, r.ID, func(run *runbooks.Run) error { run.ID = "r77"; return nil })
		if err != nil || got.ID != r.ID {
			t.Fatalf("UpdateRun = %+v, %v", got, err)
		}
		if _, err := st.Runs.GetRun(ctx, "r77"); tebura.ErrorCode(err) != tebura.ENOTFOUND {
			t.Errorf("changing the ID created r77: %v", err)
		}
	})

	t.Run("50 concurrent approvals, one wins", func(t *testing.T) {
		errTaken := errors.New("already approved")
		const n = 50
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			mu      sync.Mutex
			winners []string
			others  int
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				by := fmt.Sprintf("slack:U%d", i)
				_, err := st.Runs.UpdateRun(ctx, r.ID, func(run *runbooks.Run) error {
					if len(run.Approvals) != 0 {
						return errTaken
					}
					run.Approvals = append(run.Approvals, runbooks.Decision{By: by, At: now})
					run.State = runbooks.StateApproved
					return nil
				})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					winners = append(winners, by)
				case errors.Is(err, errTaken):
					others++
				default:
					t.Errorf("UpdateRun: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 || others != n-1 {
			t.Fatalf("%d winners %q and %d refused; want exactly one winner", len(winners), winners, others)
		}
		stored, _ := st.Runs.GetRun(ctx, r.ID)
		if len(stored.Approvals) != 1 || stored.Approvals[0].By != winners[0] || stored.State != runbooks.StateApproved {
			t.Errorf("stored approvals %+v, state %s; want only %s", stored.Approvals, stored.State, winners[0])
		}
	})
}

func testListRuns(t *testing.T, open func(t *testing.T) Stores) {
	st := open(t)
	ctx := t.Context()
	now := st.Clock.Now()

	if runs, err := st.Runs.ListRuns(ctx, runbooks.ListOptions{}); err != nil || len(runs) != 0 {
		t.Fatalf("ListRuns on an empty store = %v, %v", runs, err)
	}
	states := []runbooks.State{
		runbooks.StateSucceeded, runbooks.StateRunning, runbooks.StateFailed,
		runbooks.StateRunning, runbooks.StateQueued, runbooks.StatePendingApproval,
	}
	for i, s := range states {
		if err := st.Runs.CreateRun(ctx, newRun(now.Add(time.Duration(i)*time.Minute), "rb", s)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		opt  runbooks.ListOptions
		want []string
	}{
		{"all newest first", runbooks.ListOptions{}, []string{"r6", "r5", "r4", "r3", "r2", "r1"}},
		{"limit", runbooks.ListOptions{Limit: 2}, []string{"r6", "r5"}},
		{"limit above count", runbooks.ListOptions{Limit: 100}, []string{"r6", "r5", "r4", "r3", "r2", "r1"}},
		{"one state", runbooks.ListOptions{States: []runbooks.State{runbooks.StateRunning}}, []string{"r4", "r2"}},
		{"two states", runbooks.ListOptions{States: []runbooks.State{runbooks.StateRunning, runbooks.StateQueued}}, []string{"r5", "r4", "r2"}},
		{"state and limit", runbooks.ListOptions{Limit: 1, States: []runbooks.State{runbooks.StateRunning}}, []string{"r4"}},
		{"no match", runbooks.ListOptions{States: []runbooks.State{runbooks.StateDenied}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs, err := st.Runs.ListRuns(ctx, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range runs {
				ids = append(ids, r.ID)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Errorf("ListRuns(%+v) = %q, want %q", tt.opt, ids, tt.want)
			}
		})
	}
	// A run that changes state moves between the lists: r2 ends, r6 is
	// approved, r3 (failed) never comes back.
	for id, to := range map[string]runbooks.State{"r2": runbooks.StateSucceeded, "r6": runbooks.StateApproved} {
		if _, err := st.Runs.UpdateRun(ctx, id, func(r *runbooks.Run) error { r.State = to; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	active := []runbooks.State{runbooks.StateRunning, runbooks.StateQueued, runbooks.StateApproved, runbooks.StatePendingApproval}
	after := []struct {
		states []runbooks.State
		want   []string
	}{
		{active, []string{"r6", "r5", "r4"}},
		{[]runbooks.State{runbooks.StateRunning}, []string{"r4"}},
		{[]runbooks.State{runbooks.StatePendingApproval}, nil},
		{[]runbooks.State{runbooks.StateSucceeded, runbooks.StateFailed}, []string{"r3", "r2", "r1"}},
		{[]runbooks.State{runbooks.StateSucceeded, runbooks.StateRunning}, []string{"r4", "r2", "r1"}},
	}
	for _, tt := range after {
		runs, err := st.Runs.ListRuns(ctx, runbooks.ListOptions{States: tt.states})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range runs {
			ids = append(ids, r.ID)
		}
		if !reflect.DeepEqual(ids, tt.want) {
			t.Errorf("after the changes, ListRuns(%v) = %q, want %q", tt.states, ids, tt.want)
		}
	}
}

func testLocks(t *testing.T, open func(t *testing.T) Stores) {
	st := open(t)
	ctx := t.Context()
	now := st.Clock.Now()

	held, err := st.Runs.AcquireLock(ctx, runbooks.Lock{Key: "restart-api", RunID: "r1", Holder: "slack:U1"})
	if err != nil {
		t.Fatalf("AcquireLock on a free key: %v", err)
	}
	if held.RunID != "r1" || !held.Since.Equal(now) {
		t.Errorf("AcquireLock = %+v; want run r1 since the store's clock %v", held, now)
	}
	if again, err := st.Runs.AcquireLock(ctx, runbooks.Lock{Key: "restart-api", RunID: "r1", Holder: "slack:U1"}); err != nil || again.RunID != "r1" {
		t.Errorf("re-acquire by the holder = %+v, %v; want no error", again, err)
	}
	holder, err := st.Runs.AcquireLock(ctx, runbooks.Lock{Key: "restart-api", RunID: "r2", Holder: "slack:U2", Since: now.Add(time.Minute)})
	wantCode(t, err, tebura.ECONFLICT)
	if holder.RunID != "r1" || holder.Holder != "slack:U1" || !holder.Since.Equal(now) {
		t.Errorf("conflict reported holder %+v; want r1 by slack:U1 since %v", holder, now)
	}
	if _, err := st.Runs.AcquireLock(ctx, runbooks.Lock{Key: "other", RunID: "r2", Holder: "slack:U2"}); err != nil {
		t.Errorf("a different key: %v", err)
	}

	// Release by a run that does not hold it is ignored.
	if err := st.Runs.ReleaseLock(ctx, "restart-api", "r2"); err != nil {
		t.Fatal(err)
	}
	locks, err := st.Runs.Locks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(locks, func(i, j int) bool { return locks[i].Key < locks[j].Key })
	if len(locks) != 2 || locks[0].Key != "other" || locks[1].Key != "restart-api" || locks[1].RunID != "r1" {
		t.Fatalf("Locks = %+v; want other (r2) and restart-api (r1)", locks)
	}
	if err := st.Runs.ReleaseLock(ctx, "restart-api", "r1"); err != nil {
		t.Fatal(err)
	}
	if err := st.Runs.ReleaseLock(ctx, "restart-api", "r1"); err != nil {
		t.Errorf("releasing a free key: %v", err)
	}
	if err := st.Runs.ReleaseLock(ctx, "never-held", "r1"); err != nil {
		t.Errorf("releasing an unknown key: %v", err)
	}
	locks, _ = st.Runs.Locks(ctx)
	if len(locks) != 1 || locks[0].Key != "other" {
		t.Fatalf("Locks after release = %+v; want only other", locks)
	}

	t.Run("concurrent acquire, one wins", func(t *testing.T) {
		const n = 20
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			mu      sync.Mutex
			winners []string
			seen    = map[string]int{} // holder reported to losers
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				id := fmt.Sprintf("r%d", 100+i)
				got, err := st.Runs.AcquireLock(ctx, runbooks.Lock{Key: "deploy", RunID: id, Holder: "slack:U" + id})
				mu.Lock()
				defer mu.Unlock()
				switch tebura.ErrorCode(err) {
				case "":
					winners = append(winners, id)
				case tebura.ECONFLICT:
					seen[got.RunID]++
				default:
					t.Errorf("AcquireLock: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("winners %q; want exactly one", winners)
		}
		if seen[winners[0]] != n-1 || len(seen) != 1 {
			t.Errorf("losers were told holders %v; want %s %d times", seen, winners[0], n-1)
		}
	})
}
