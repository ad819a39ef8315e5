package storetest

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
)

// Sessions keeps the web view's sessions and one-time sign-in links. The
// store expires them on its own clock and hands a link out once.
type Sessions interface {
	PutSession(ctx context.Context, key string, data []byte, expires time.Time) error
	// GetSession and TakeSession return a tebura ENOTFOUND error for an
	// absent or expired key; TakeSession also deletes it, atomically.
	GetSession(ctx context.Context, key string) ([]byte, error)
	TakeSession(ctx context.Context, key string) ([]byte, error)
	DeleteSession(ctx context.Context, key string) error
	PruneSessions(ctx context.Context) (int, error)
}

// SessionStores is one opened store seen as Sessions, with its clock.
type SessionStores struct {
	Sessions Sessions
	Clock    *Clock
	// Reopen closes and opens the store on the same data; nil skips the
	// persistence case.
	Reopen func(t *testing.T) SessionStores
}

// RunSessions checks a Sessions implementation: expiry on the store's
// clock, single use under concurrency, delete, prune and persistence.
func RunSessions(t *testing.T, open func(t *testing.T) SessionStores) {
	t.Run("expiry", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		exp := st.Clock.Now().Add(10 * time.Minute)
		if err := st.Sessions.PutSession(ctx, "k", []byte("alice"), exp); err != nil {
			t.Fatal(err)
		}
		got, err := st.Sessions.GetSession(ctx, "k")
		if err != nil || !bytes.Equal(got, []byte("alice")) {
			t.Fatalf("GetSession = %q, %v; want alice", got, err)
		}
		st.Clock.Advance(10 * time.Minute)
		if _, err := st.Sessions.GetSession(ctx, "k"); tebura.ErrorCode(err) != tebura.ENOTFOUND {
			t.Fatalf("GetSession at expiry: err = %v, want ENOTFOUND", err)
		}
		if _, err := st.Sessions.TakeSession(ctx, "k"); tebura.ErrorCode(err) != tebura.ENOTFOUND {
			t.Fatalf("TakeSession at expiry: err = %v, want ENOTFOUND", err)
		}
		if _, err := st.Sessions.GetSession(ctx, "never"); tebura.ErrorCode(err) != tebura.ENOTFOUND {
			t.Fatalf("GetSession of an unknown key: err = %v, want ENOTFOUND", err)
		}
	})
	t.Run("take_once", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		if err := st.Sessions.PutSession(ctx, "link", []byte("x"), st.Clock.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		const n = 16
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for range n {
			wg.Go(func() {
				if _, err := st.Sessions.TakeSession(ctx, "link"); err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else if tebura.ErrorCode(err) != tebura.ENOTFOUND {
					t.Errorf("TakeSession: %v", err)
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d of %d concurrent takes got the link, want exactly 1", won, n)
		}
	})
	t.Run("delete_and_prune", func(t *testing.T) {
		st := open(t)
		ctx := t.Context()
		now := st.Clock.Now()
		for k, d := range map[string]time.Duration{"short": time.Minute, "long": time.Hour, "gone": time.Hour} {
			if err := st.Sessions.PutSession(ctx, k, []byte(k), now.Add(d)); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.Sessions.DeleteSession(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
		if err := st.Sessions.DeleteSession(ctx, "gone"); err != nil {
			t.Fatalf("second delete: %v", err)
		}
		if _, err := st.Sessions.GetSession(ctx, "gone"); tebura.ErrorCode(err) != tebura.ENOTFOUND {
			t.Fatalf("deleted session: err = %v, want ENOTFOUND", err)
		}
		st.Clock.Advance(2 * time.Minute)
		n, err := st.Sessions.PruneSessions(ctx)
		if err != nil || n != 1 {
			t.Fatalf("PruneSessions = %d, %v; want 1 (short)", n, err)
		}
		if _, err := st.Sessions.GetSession(ctx, "long"); err != nil {
			t.Fatalf("long session after prune: %v", err)
		}
	})
	t.Run("reopen", func(t *testing.T) {
		st := open(t)
		if st.Reopen == nil {
			t.Skip("store does not reopen")
		}
		ctx := t.Context()
		if err := st.Sessions.PutSession(ctx, "s", []byte("kept"), st.Clock.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		st = st.Reopen(t)
		got, err := st.Sessions.GetSession(ctx, "s")
		if err != nil || string(got) != "kept" {
			t.Fatalf("after reopen GetSession = %q, %v; want kept", got, err)
		}
	})
}
