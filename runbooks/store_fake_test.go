package runbooks

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"

	"github.com/tebura/tebura"
)

// fakeStore is an in-memory Store. Like bbolt it serializes writes with one
// mutex, so UpdateRun's read-modify-write is atomic; runs are copied in and
// out through JSON, as a real store would.
type fakeStore struct {
	mu    sync.Mutex
	seq   int
	runs  map[string][]byte
	locks map[string]Lock
}

func newFakeStore() *fakeStore {
	return &fakeStore{runs: map[string][]byte{}, locks: map[string]Lock{}}
}

func decodeRun(b []byte) *Run {
	var r Run
	if err := json.Unmarshal(b, &r); err != nil {
		panic(err)
	}
	return &r
}

func (s *fakeStore) CreateRun(_ context.Context, run *Run) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	run.ID = fmt.Sprintf("r%d", s.seq)
	b, _ := json.Marshal(run)
	s.runs[run.ID] = b
	return nil
}

func (s *fakeStore) GetRun(_ context.Context, id string) (*Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.runs[id]
	if !ok {
		return nil, tebura.Errorf(tebura.ENOTFOUND, "Run %s does not exist.", id)
	}
	return decodeRun(b), nil
}

func (s *fakeStore) UpdateRun(_ context.Context, id string, fn func(*Run) error) (*Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.runs[id]
	if !ok {
		return nil, tebura.Errorf(tebura.ENOTFOUND, "Run %s does not exist.", id)
	}
	r := decodeRun(b)
	if err := fn(r); err != nil {
		return nil, err
	}
	nb, _ := json.Marshal(r)
	s.runs[id] = nb
	return decodeRun(nb), nil
}

func (s *fakeStore) ListRuns(_ context.Context, opt ListOptions) ([]*Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Run
	for _, b := range s.runs {
		r := decodeRun(b)
		if len(opt.States) > 0 && !containsState(opt.States, r.State) {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RequestedAt.After(out[j].RequestedAt) })
	if opt.Limit > 0 && len(out) > opt.Limit {
		out = out[:opt.Limit]
	}
	return out, nil
}

func containsState(list []State, s State) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (s *fakeStore) AcquireLock(_ context.Context, l Lock) (Lock, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, held := s.locks[l.Key]; held && cur.RunID != l.RunID {
		return cur, tebura.Errorf(tebura.ECONFLICT, "Lock %s is held by run %s.", l.Key, cur.RunID)
	}
	s.locks[l.Key] = l
	return l, nil
}

func (s *fakeStore) ReleaseLock(_ context.Context, key, runID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, held := s.locks[key]; held && cur.RunID == runID {
		delete(s.locks, key)
	}
	return nil
}

func (s *fakeStore) Locks(context.Context) ([]Lock, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Lock
	for _, l := range s.locks {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (s *fakeStore) run(id string) *Run {
	r, err := s.GetRun(context.Background(), id)
	if err != nil {
		panic(err)
	}
	return r
}
