package runbookchat

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/bolt"
)

// countingStore counts the writes a run's live message makes besides the
// run service's: button callbacks stored and origins recorded.
type countingStore struct {
	*bolt.Store
	callbacks atomic.Int32
	updates   atomic.Int32 // UpdateRun without audit entries: SetOrigin, Link
}

func (s *countingStore) PutCallback(ctx context.Context, cb bot.Callback) error {
	s.callbacks.Add(1)
	return s.Store.PutCallback(ctx, cb)
}

func (s *countingStore) UpdateRun(ctx context.Context, id string, fn func(*runbooks.Run) error) (*runbooks.Run, error) {
	s.updates.Add(1)
	return s.Store.UpdateRun(ctx, id, fn)
}

// liveFlows are runbook flows on a bolt store behind a countingStore, with
// a recording chat, and runbook yaml loaded.
func liveFlows(t *testing.T, yaml string) (*Flows, *countingStore, *bottest.Chat) {
	t.Helper()
	dir := t.TempDir()
	bs, err := bolt.Open(filepath.Join(dir, "tebura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := &countingStore{Store: bs}
	if err := os.WriteFile(filepath.Join(dir, "rb.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	reg, problems := runbooks.Load(runbooks.LoadOptions{Dirs: []string{dir}})
	if len(problems) > 0 {
		t.Fatalf("runbook problems: %v", problems)
	}
	exec := runbooks.NewExecutor(st, runbooks.ExecutorConfig{DataDir: dir}, nil)
	chat := bottest.NewChat(bot.Limits{})
	b := New(Deps{Store: st, Executor: exec, Audit: audit.New(st, nil, nil), DataDir: dir,
		Registry: func() *runbooks.Registry { return reg }, Chats: map[string]bot.Chat{chat.Name(): chat}})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = exec.Shutdown(ctx)
		_ = b.Wait(ctx)
		b.d.Runs.Stop()
		bs.Close()
	})
	return b, st, chat
}

// TestQuickRunWritesNoButtonNorOrigin: a run that ends within its
// message's hold is one message without a [Cancel] button, so no callback
// is stored for it, and the message is posted once the run has ended, so
// nothing will redraw it and its place is not written either: the run's
// request+start and end are the only writes.
func TestQuickRunWritesNoButtonNorOrigin(t *testing.T) {
	b, st, chat := liveFlows(t, "name: quick\nkind: diagnostic\nsteps:\n  - {name: hi, run: [echo, hi]}\n")
	ctx := context.Background()
	run, err := b.StartRun(ctx, RunRequest{Runbook: "quick", By: "automation:test", Platform: bottest.Platform, Target: bot.Target{Channel: "C1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRun(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	msgs := chat.Messages()
	if len(msgs) != 1 || len(msgs[0].Versions()) != 1 || !strings.Contains(bottest.Text(msgs[0].Last()), "quick — succeeded") {
		t.Fatalf("messages = %d (%v); want one post, the final frame", len(msgs), msgs)
	}
	if n := st.callbacks.Load(); n != 0 {
		t.Errorf("%d button callbacks stored for a run whose message never showed a button", n)
	}
	if n := st.updates.Load(); n != 0 {
		t.Errorf("%d run updates besides the run service's; want none (the final post's place is not needed)", n)
	}
}

// TestLiveRunStoresCancelBeforeShowingIt: a run still going when its
// message's hold ends is posted with a [Cancel] button whose callback is
// stored before the post (a click at once finds it), and the message's
// place is recorded so that it is redrawn if the run is interrupted.
func TestLiveRunStoresCancelBeforeShowingIt(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	b, st, chat := liveFlows(t, "name: slow\nkind: diagnostic\nsteps:\n  - {name: wait, script: 'until [ -e "+gate+" ]; do sleep 0.01; done'}\n")
	ctx := context.Background()
	var mu sync.Mutex
	var found []error
	chat.OnPost(func(ref bot.MessageRef) {
		for _, m := range chat.Messages() {
			for _, bt := range m.Last().Buttons {
				_, err := st.GetCallback(ctx, bt.CallbackID)
				mu.Lock()
				found = append(found, err)
				mu.Unlock()
			}
		}
	})
	run, err := b.StartRun(ctx, RunRequest{Runbook: "slow", By: "automation:test", Platform: bottest.Platform, Target: bot.Target{Channel: "C1"}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(chat.Messages()) == 0 || len(chat.Messages()[0].Last().Buttons) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no live frame with a button was posted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	msg := chat.Messages()[0]
	cb, err := st.GetCallback(ctx, msg.Last().Buttons[0].CallbackID)
	if err != nil || cb.Action != actionCancel || cb.Subject != run.ID {
		t.Fatalf("callback of the live frame's button = %+v, %v; want cancel of %s", cb, err, run.ID)
	}
	mu.Lock()
	if len(found) != 1 || found[0] != nil {
		t.Errorf("at the post, the button's callback lookups gave %v; want it stored before the post", found)
	}
	mu.Unlock()
	for {
		stored, err := st.GetRun(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Origin.Message == msg.Ref.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("origin = %+v; want the live message %s recorded", stored.Origin, msg.Ref.ID)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitRun(ctx, run.ID); err != nil {
		t.Fatal(err)
	}
	if last := msg.Last(); len(last.Buttons) != 0 || !strings.Contains(bottest.Text(last), "slow — succeeded") {
		t.Errorf("final frame = %q with buttons %v; want succeeded, no button", bottest.Text(last), last.Buttons)
	}
	if n := st.callbacks.Load(); n != 1 {
		t.Errorf("%d callbacks stored; want the one [Cancel]", n)
	}
}
