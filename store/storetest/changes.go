package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/hints"
)

// testChanges: a change is stored once however often it is sent (also
// concurrently), the window query returns one service's changes in it,
// newest first, and pruning drops only what is older than its bound.
func testChanges(t *testing.T, open func(t *testing.T) Stores) {
	s := open(t)
	if s.Changes == nil {
		t.Skip("store keeps no changes")
	}
	ctx := context.Background()
	base := s.Clock.Now()
	put := func(c hints.Change) bool {
		t.Helper()
		ok, err := s.Changes.PutChange(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for i := range 5 {
		put(hints.Change{ID: fmt.Sprint("api-", i), Service: "api", Version: fmt.Sprint("v", i), Source: "generic", At: base.Add(time.Duration(i) * time.Minute)})
	}
	put(hints.Change{ID: "db-1", Service: "db", Version: "v9", Source: "generic", At: base.Add(2 * time.Minute)})

	// The same delivery sent twice at once, and again later: stored once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for range 8 {
		wg.Go(func() {
			ok, err := s.Changes.PutChange(ctx, hints.Change{ID: "api-dup", Service: "api", Version: "dup", Source: "github", At: base.Add(90 * time.Second)})
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				stored++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if stored != 1 {
		t.Errorf("the same change sent 8 times concurrently was stored %d times, want 1", stored)
	}
	if put(hints.Change{ID: "api-dup", Service: "api", Version: "dup", Source: "github", At: base.Add(90 * time.Second)}) {
		t.Error("a change sent again was stored again")
	}

	got, err := s.Changes.Changes(ctx, "api", base.Add(time.Minute), base.Add(3*time.Minute), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"v3", "v2", "dup", "v1"}
	if versions(got) != fmt.Sprint(want) {
		t.Errorf("api changes in [1m, 3m] = %s, want %v (newest first, both ends in, db's left out)", versions(got), want)
	}
	got, _ = s.Changes.Changes(ctx, "api", base, base.Add(time.Hour), 2)
	if versions(got) != fmt.Sprint([]string{"v4", "v3"}) {
		t.Errorf("limit 2 = %s, want the two newest", versions(got))
	}

	n, err := s.Changes.PruneChanges(ctx, base.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 { // v0, v1 and dup (1m30s); not db-1 and v2 at exactly 2m
		t.Errorf("pruned %d changes before 2m, want 3", n)
	}
	got, _ = s.Changes.Changes(ctx, "api", base, base.Add(time.Hour), 0)
	if versions(got) != fmt.Sprint([]string{"v4", "v3", "v2"}) {
		t.Errorf("after prune = %s", versions(got))
	}
	// A pruned ID is forgotten with its change: sending it again stores it.
	if !put(hints.Change{ID: "api-0", Service: "api", Version: "v0", Source: "generic", At: base}) {
		t.Error("a pruned change's ID still refused it")
	}
}

func versions(cs []hints.Change) string {
	var vs []string
	for _, c := range cs {
		vs = append(vs, c.Version)
	}
	return fmt.Sprint(vs)
}
