package bolt

import (
	"context"
	"reflect"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura/runbooks"
)

// listIDs lists the IDs of the runs in states, newest first.
func listIDs(t *testing.T, s *Store, states ...runbooks.State) []string {
	t.Helper()
	runs, err := s.ListRuns(context.Background(), runbooks.ListOptions{States: states})
	if err != nil {
		t.Fatalf("ListRuns(%v): %v", states, err)
	}
	var ids []string
	for _, r := range runs {
		ids = append(ids, r.ID)
	}
	return ids
}

// indexed lists the keys of the index of active runs as run IDs.
func indexed(t *testing.T, s *Store) []string {
	t.Helper()
	var ids []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketActive)).ForEach(func(k, _ []byte) error {
			seq, _ := keySeq(k)
			ids = append(ids, runID(seq))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestActiveRunsListedFromTheIndex: listing runs in states that are not
// final (what recovery at every start and the expiry of approvals ask)
// reads the index of active runs, never the finished history: a finished
// run whose record cannot even be decoded does not stop it, and the index
// holds exactly the runs that are not final as they change.
func TestActiveRunsListedFromTheIndex(t *testing.T) {
	s, _, _ := openTest(t)
	ctx := context.Background()
	for _, st := range []runbooks.State{runbooks.StateRunning, runbooks.StateSucceeded, runbooks.StatePendingApproval, runbooks.StateQueued} {
		if err := s.CreateRun(ctx, &runbooks.Run{Runbook: "rb", State: st}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.UpdateRun(ctx, "r1", func(r *runbooks.Run) error { r.State = runbooks.StateFailed; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateRun(ctx, "r3", func(r *runbooks.Run) error { r.State = runbooks.StateApproved; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, want := indexed(t, s), []string{"r3", "r4"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("index = %q, want %q", got, want)
	}
	// The history is not read: r1 and r2 (finished) are unreadable now.
	raw(t, s, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketRuns))
		for _, seq := range []uint64{1, 2} {
			if err := b.Put(seqKey(seq), []byte("not a record")); err != nil {
				return err
			}
		}
		return nil
	})
	tests := []struct {
		states []runbooks.State
		want   []string
	}{
		{[]runbooks.State{runbooks.StateRunning, runbooks.StateQueued, runbooks.StateApproved}, []string{"r4", "r3"}},
		{[]runbooks.State{runbooks.StatePendingApproval}, nil},
		{[]runbooks.State{runbooks.StateQueued}, []string{"r4"}},
	}
	for _, tt := range tests {
		if got := listIDs(t, s, tt.states...); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ListRuns(%v) = %q, want %q", tt.states, got, tt.want)
		}
	}
}

// TestActiveIndexBuiltForOlderDatabases: a database written by a release
// that kept no index of active runs (or that created runs since, past the
// index) gets the index rebuilt at Open, so recovery still finds every run
// left running.
func TestActiveIndexBuiltForOlderDatabases(t *testing.T) {
	s, clock, path := openTest(t)
	ctx := context.Background()
	for _, st := range []runbooks.State{runbooks.StateRunning, runbooks.StateSucceeded, runbooks.StateQueued} {
		if err := s.CreateRun(ctx, &runbooks.Run{Runbook: "rb", State: st}); err != nil {
			t.Fatal(err)
		}
	}
	// As the previous release wrote: no index, then a run created without it.
	raw(t, s, func(tx *bbolt.Tx) error {
		if err := tx.DeleteBucket([]byte(bucketActive)); err != nil {
			return err
		}
		b := tx.Bucket([]byte(bucketRuns))
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		v, err := marshal(&runbooks.Run{ID: runID(seq), Runbook: "rb", State: runbooks.StateRunning})
		if err != nil {
			return err
		}
		return b.Put(seqKey(seq), v)
	})
	s = reopen(t, s, clock, path)
	if got, want := listIDs(t, s, runbooks.StateRunning, runbooks.StateQueued), []string{"r4", "r3", "r1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("active runs after reopen = %q, want %q", got, want)
	}
	// Runs created by the older release after this one indexed them.
	raw(t, s, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketRuns))
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		v, err := marshal(&runbooks.Run{ID: runID(seq), Runbook: "rb", State: runbooks.StateApproved})
		if err != nil {
			return err
		}
		return b.Put(seqKey(seq), v)
	})
	s = reopen(t, s, clock, path)
	if got, want := listIDs(t, s, runbooks.StateApproved), []string{"r5"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("approved runs after reopen = %q, want %q", got, want)
	}
}

// TestOpenOfAReadyDatabaseWritesNothing: opening a database whose buckets
// and index are in place commits no transaction (no fsync), which a
// one-shot command such as tebura run pays at every call.
func TestOpenOfAReadyDatabaseWritesNothing(t *testing.T) {
	s, clock, path := openTest(t)
	if err := s.CreateRun(context.Background(), &runbooks.Run{Runbook: "rb", State: runbooks.StateRunning}); err != nil {
		t.Fatal(err)
	}
	txid := func(s *Store) int {
		var id int
		if err := s.db.View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil }); err != nil {
			t.Fatal(err)
		}
		return id
	}
	before := txid(s)
	s = reopen(t, s, clock, path)
	if after := txid(s); after != before {
		t.Errorf("reopening committed %d transaction(s); want none", after-before)
	}
}
