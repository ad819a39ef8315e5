package bolt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/incident"
)

// holdLeader starts an UpdateIncidents that blocks inside its transaction
// until release is closed, and waits until it holds the lead.
func holdLeader(t *testing.T, s *Store) (release chan struct{}, done chan error) {
	t.Helper()
	release, done = make(chan struct{}), make(chan error, 1)
	entered := make(chan struct{})
	go func() {
		var once sync.Once
		done <- s.UpdateIncidents(t.Context(), func(tx incident.Tx) error {
			once.Do(func() { close(entered) })
			<-release
			return tx.SetMark("leader", time.Unix(1, 0))
		})
	}()
	<-entered
	return release, done
}

// waitPending waits until n calls are queued behind the leader.
func waitPending(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.incidentBatch.mu.Lock()
		got := len(s.incidentBatch.pending)
		s.incidentBatch.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestGroupCommit: calls that arrive while a transaction runs share the
// next one; each sees the writes of the calls before it.
func TestGroupCommit(t *testing.T) {
	s, _, _ := openTest(t)
	release, leaderDone := holdLeader(t, s)

	const n = 10
	var mu sync.Mutex
	txs := map[*bbolt.Tx]int{}
	errs := make(chan error, n)
	for k := range n {
		go func() {
			errs <- s.UpdateIncidents(t.Context(), func(tx incident.Tx) error {
				mu.Lock()
				txs[tx.(*incidentTx).tx]++
				mu.Unlock()
				return tx.SetMark(fmt.Sprint("m", k), time.Unix(int64(k+1), 0))
			})
		}()
	}
	waitPending(t, s, n)
	close(release)
	if err := <-leaderDone; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if len(txs) != 1 {
		t.Errorf("the %d queued calls ran in %d transactions, want 1", n, len(txs))
	}
	err := s.ViewIncidents(t.Context(), func(tx incident.Tx) error {
		for k := range n {
			at, ok, err := tx.Mark(fmt.Sprint("m", k))
			if err != nil || !ok || at.Unix() != int64(k+1) {
				t.Errorf("mark m%d = %v, %v, %v after the batch", k, at, ok, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitFailureIsolated: one call's error (and one call's panic)
// fails that call alone; the others of its batch run again and commit,
// and the failing call's writes are gone.
func TestGroupCommitFailureIsolated(t *testing.T) {
	s, _, _ := openTest(t)
	release, leaderDone := holdLeader(t, s)

	const n = 6
	var mu sync.Mutex
	runs := map[int]int{}
	results := make([]error, n)
	panics := make([]any, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[k] = recover() }()
			results[k] = s.UpdateIncidents(t.Context(), func(tx incident.Tx) error {
				mu.Lock()
				runs[k]++
				mu.Unlock()
				if err := tx.SetMark(fmt.Sprint("m", k), time.Unix(int64(k+1), 0)); err != nil {
					return err
				}
				switch k {
				case 2:
					return tebura.Errorf(tebura.ECONFLICT, "call 2 refuses")
				case 4:
					panic("call 4 panics")
				}
				return nil
			})
		}()
		waitPending(t, s, k+1) // queued in order: 0 runs before 2 fails
	}
	close(release)
	if err := <-leaderDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for k := range n {
		switch k {
		case 2:
			if tebura.ErrorCode(results[k]) != tebura.ECONFLICT {
				t.Errorf("call 2: err = %v, want its own ECONFLICT", results[k])
			}
		case 4:
			if panics[k] != "call 4 panics" {
				t.Errorf("call 4: recovered %v, want its own panic", panics[k])
			}
		default:
			if results[k] != nil || panics[k] != nil {
				t.Errorf("call %d failed with %v / %v because of another call", k, results[k], panics[k])
			}
		}
	}
	if runs[0] < 2 {
		t.Errorf("call 0 ran %d times; a failure in its batch should have run it again", runs[0])
	}
	err := s.ViewIncidents(t.Context(), func(tx incident.Tx) error {
		for k := range n {
			_, ok, err := tx.Mark(fmt.Sprint("m", k))
			if err != nil {
				t.Fatal(err)
			}
			if want := k != 2 && k != 4; ok != want {
				t.Errorf("mark of call %d stored = %v, want %v", k, ok, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The store still works.
	if err := s.UpdateIncidents(t.Context(), func(tx incident.Tx) error { return tx.SetMark("after", time.Unix(9, 0)) }); err != nil {
		t.Fatal(err)
	}
}

// TestGroupCommitCancelled: a done context writes nothing.
func TestGroupCommitCancelled(t *testing.T) {
	s, _, _ := openTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	err := s.UpdateIncidents(ctx, func(tx incident.Tx) error { called = true; return nil })
	if !errors.Is(err, ctx.Err()) || called {
		t.Fatalf("err = %v, called = %v; want the context's error and no call", err, called)
	}
}
