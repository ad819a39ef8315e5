package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

func testDedupe(t *testing.T, open func(t *testing.T) Stores) {
	st := open(t)
	ctx := t.Context()
	const ttl = 10 * time.Minute
	mark := func(scope, key string) bool {
		t.Helper()
		first, err := st.Dedupe.Mark(ctx, scope, key, ttl)
		if err != nil {
			t.Fatalf("Mark(%s, %s): %v", scope, key, err)
		}
		return first
	}
	steps := []struct {
		name    string
		advance time.Duration
		scope   string
		key     string
		want    bool
	}{
		{"first", 0, "slack-event", "Ev1", true},
		{"again", 0, "slack-event", "Ev1", false},
		{"same key other scope", 0, "discord-interaction", "Ev1", true},
		{"other key", 0, "slack-event", "Ev2", true},
		{"just before expiry", ttl - time.Nanosecond, "slack-event", "Ev1", false},
		{"at expiry", time.Nanosecond, "slack-event", "Ev1", true},
		{"remembered again", time.Minute, "slack-event", "Ev1", false},
		{"scope and key do not run together", 0, "slack-event\x00E", "v1", true},
	}
	for _, s := range steps {
		st.Clock.Advance(s.advance)
		if got := mark(s.scope, s.key); got != s.want {
			t.Errorf("%s: Mark(%q, %q) = %v, want %v", s.name, s.scope, s.key, got, s.want)
		}
	}

	t.Run("concurrent marks, one first", func(t *testing.T) {
		const n = 20
		var (
			wg     sync.WaitGroup
			start  = make(chan struct{})
			mu     sync.Mutex
			firsts int
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				first, err := st.Dedupe.Mark(ctx, "socket-envelope", "env-42", ttl)
				if err != nil {
					t.Errorf("Mark: %v", err)
				}
				if first {
					mu.Lock()
					firsts++
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if firsts != 1 {
			t.Errorf("%d callers saw first=true; want exactly 1", firsts)
		}
	})
}

func testCallbacks(t *testing.T, open func(t *testing.T) Stores) {
	st := open(t)
	ctx := t.Context()
	now := st.Clock.Now()
	cb := bot.Callback{ID: "cb-7f3a", Action: "approve", Subject: "r42", Data: map[string]string{"plan": "sha256:abc"}, Created: now, Expires: now.Add(15 * time.Minute)}
	if err := st.Callbacks.PutCallback(ctx, cb); err != nil {
		t.Fatalf("PutCallback: %v", err)
	}
	got, err := st.Callbacks.GetCallback(ctx, cb.ID)
	if err != nil {
		t.Fatalf("GetCallback: %v", err)
	}
	if !reflect.DeepEqual(got, cb) {
		t.Errorf("GetCallback = %+v, want %+v", got, cb)
	}
	_, err = st.Callbacks.GetCallback(ctx, "cb-unknown")
	wantCode(t, err, tebura.ENOTFOUND)

	cb.Action = "deny"
	if err := st.Callbacks.PutCallback(ctx, cb); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Callbacks.GetCallback(ctx, cb.ID); got.Action != "deny" {
		t.Errorf("after replacing, Action = %q, want deny", got.Action)
	}
}

func testMeta(t *testing.T, open func(t *testing.T) Stores) {
	st := open(t)
	ctx := t.Context()
	if v, err := st.Meta.GetMeta(ctx, "config_hash"); err != nil || v != nil {
		t.Fatalf("GetMeta of an absent key = %q, %v; want nil, nil", v, err)
	}
	in := []byte("sha256:1")
	if err := st.Meta.PutMeta(ctx, "config_hash", in); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X' // the store kept its own copy
	got, err := st.Meta.GetMeta(ctx, "config_hash")
	if err != nil || !bytes.Equal(got, []byte("sha256:1")) {
		t.Fatalf("GetMeta = %q, %v; want sha256:1", got, err)
	}
	got[0] = 'Y' // the caller got its own copy
	if again, _ := st.Meta.GetMeta(ctx, "config_hash"); !bytes.Equal(again, []byte("sha256:1")) {
		t.Errorf("changing returned bytes changed the store: %q", again)
	}
	if err := st.Meta.PutMeta(ctx, "config_hash", []byte("sha256:2")); err != nil {
		t.Fatal(err)
	}
	if v, _ := st.Meta.GetMeta(ctx, "config_hash"); string(v) != "sha256:2" {
		t.Errorf("after overwrite GetMeta = %q", v)
	}
	for i := range 3 {
		key := fmt.Sprintf("k%d", i)
		if err := st.Meta.PutMeta(ctx, key, []byte(key)); err != nil {
			t.Fatal(err)
		}
	}
	if v, _ := st.Meta.GetMeta(ctx, "k1"); string(v) != "k1" {
		t.Errorf("GetMeta(k1) = %q", v)
	}
}
