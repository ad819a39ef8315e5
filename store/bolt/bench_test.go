package bolt

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/runbooks"
)

// both runs fn on a fresh store twice: with fsync (as in production, so the
// figure is mostly the disk's sync latency) and without (the store's own CPU
// cost).
func both(b *testing.B, fn func(b *testing.B, s *Store)) {
	for _, fsync := range []bool{true, false} {
		name := "fsync"
		if !fsync {
			name = "nosync"
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "tebura.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.db.NoSync = !fsync
			fn(b, s)
		})
	}
}

// BenchmarkCreateUpdateRun is one run request followed by one approval: two
// write transactions.
func BenchmarkCreateUpdateRun(b *testing.B) {
	both(b, func(b *testing.B, s *Store) {
		ctx := b.Context()
		now := time.Now()
		for b.Loop() {
			r := &runbooks.Run{Runbook: "restart-api", Params: map[string]string{"env": "prod"}, RequestedBy: "slack:U1", RequestedAt: now, Required: 1, State: runbooks.StatePendingApproval}
			if err := s.CreateRun(ctx, r); err != nil {
				b.Fatal(err)
			}
			if _, err := s.UpdateRun(ctx, r.ID, func(run *runbooks.Run) error {
				run.Approvals = append(run.Approvals, runbooks.Decision{By: "slack:U2", At: now})
				run.State = runbooks.StateApproved
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMark is one dedupe check of a new key.
func BenchmarkMark(b *testing.B) {
	both(b, func(b *testing.B, s *Store) {
		ctx := b.Context()
		i := 0
		for b.Loop() {
			i++
			if _, err := s.Mark(ctx, "slack-event", fmt.Sprint(i), time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAuditRecord is one audit entry appended to the chain.
func BenchmarkAuditRecord(b *testing.B) {
	both(b, func(b *testing.B, s *Store) {
		ctx := b.Context()
		l := audit.New(s, nil, nil)
		detail := map[string]string{"runbook": "restart-api", "env": "prod"}
		for b.Loop() {
			if err := l.Record(ctx, "slack:U1", audit.ActionRunApprove, "r1", detail); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetRun is one run read, for comparison with the writes.
func BenchmarkGetRun(b *testing.B) {
	both(b, func(b *testing.B, s *Store) {
		ctx := b.Context()
		r := &runbooks.Run{Runbook: "restart-api", Params: map[string]string{"env": "prod"}, State: runbooks.StateRunning}
		if err := s.CreateRun(ctx, r); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.GetRun(ctx, r.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
