package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/storetest"
)

// bigRun is a run whose record takes several pages, so that it needs new
// space rather than fitting in pages the file already has.
func bigRun(i int) *runbooks.Run {
	return &runbooks.Run{Runbook: "diag", State: runbooks.StateApproved, RequestedBy: "console:alice",
		Params: runbooks.Values{"note": fmt.Sprintf("%d-%s", i, strings.Repeat("x", 16<<10))}}
}

// TestDiskFullDrill is issue 7's disk-full drill at the store: once the
// data disk is full, writes fail with ETRANSIENT and a sentence that says
// what to do; the failed transaction leaves nothing behind; the file
// reopens cleanly (while still full and after space is freed) and passes
// bbolt's consistency check.
func TestDiskFullDrill(t *testing.T) {
	dir := storetest.TinyDisk(t, "2m")
	path := filepath.Join(dir, "tebura.db")
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	note := map[string]string{} // run ID → its note
	for i := range 3 {
		r := bigRun(i)
		if err := s.CreateRun(ctx, r); err != nil {
			t.Fatalf("before the disk is full: %v", err)
		}
		ids = append(ids, r.ID)
		note[r.ID] = r.Params["note"]
	}
	filler := storetest.FillDisk(t, dir)

	// Pages already in the file may still take a record or two; a full
	// disk shows at the first write that needs new space.
	var failure error
	for i := 3; i < 200 && failure == nil; i++ {
		r := bigRun(i)
		if err := s.CreateRun(ctx, r); err != nil {
			failure = err
			if r.ID != "" {
				t.Errorf("a failed CreateRun left the ID %q on the run", r.ID)
			}
			break
		}
		ids = append(ids, r.ID)
		note[r.ID] = r.Params["note"]
	}
	if failure == nil {
		t.Fatal("200 runs of 16 KiB were stored on a full 2 MiB disk")
	}
	if code := tebura.ErrorCode(failure); code != tebura.ETRANSIENT {
		t.Errorf("error code %s, want %s: %v", code, tebura.ETRANSIENT, failure)
	}
	if msg := tebura.ErrorMessage(failure); msg != DiskFullMessage {
		t.Errorf("user message %q, want %q", msg, DiskFullMessage)
	}
	if !strings.Contains(failure.Error(), "no space left on device") {
		t.Errorf("the operator detail does not name the cause: %v", failure)
	}
	if err := s.PutMeta(ctx, "big", make([]byte, 256<<10)); tebura.ErrorCode(err) != tebura.ETRANSIENT {
		t.Errorf("PutMeta on a full disk: %v, want ETRANSIENT", err)
	}
	// Reads still work.
	if _, err := s.GetRun(ctx, ids[0]); err != nil {
		t.Errorf("read on a full disk: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close on a full disk: %v", err)
	}

	check := func(when string, s *Store) {
		t.Helper()
		err := s.db.View(func(tx *bbolt.Tx) error {
			for err := range tx.Check() {
				return err
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: bbolt consistency check: %v", when, err)
		}
		runs, err := s.ListRuns(ctx, runbooks.ListOptions{})
		if err != nil {
			t.Fatalf("%s: list runs: %v", when, err)
		}
		if len(runs) != len(ids) {
			t.Errorf("%s: %d runs stored, want the %d that were acknowledged", when, len(runs), len(ids))
		}
		for _, id := range ids {
			r, err := s.GetRun(ctx, id)
			if err != nil || r.Params["note"] != note[id] {
				t.Errorf("%s: run %s not stored whole: %v", when, id, err)
			}
		}
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen while the disk is full: %v", err)
	}
	check("reopened on the full disk", s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after freeing space: %v", err)
	}
	defer s.Close()
	check("after freeing space", s)
	next := bigRun(999)
	if err := s.CreateRun(ctx, next); err != nil {
		t.Fatalf("write after freeing space: %v", err)
	}
	if want := fmt.Sprintf("r%d", len(ids)+1); next.ID != want {
		t.Errorf("next run got %s, want %s (the failed one must not have used a number)", next.ID, want)
	}
}

func TestNoSpace(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true},
		{fmt.Errorf("tx: %w", syscall.EDQUOT), true},
		{errors.New("file resize error: truncate x: no space left on device"), true},
		{syscall.EIO, false},
		{errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := noSpace(tt.err); got != tt.want {
			t.Errorf("noSpace(%v) = %v, want %v", tt.err, got, tt.want)
		}
		err := storageError(tt.err, "test")
		if got := tebura.ErrorCode(err) == tebura.ETRANSIENT; got != tt.want {
			t.Errorf("storageError(%v) code %s", tt.err, tebura.ErrorCode(err))
		}
	}
}
