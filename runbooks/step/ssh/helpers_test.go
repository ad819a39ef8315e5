package ssh

import (
	"strings"
	"sync"
	"time"
)

// syncBuf collects output from the session's two copiers, and lets a test
// wait for a text to arrive.
type syncBuf struct {
	mu  sync.Mutex
	b   strings.Builder
	got chan struct{}
}

func newSyncBuf() *syncBuf { return &syncBuf{got: make(chan struct{}, 1)} }

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.got <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until the output holds want, at most d.
func (s *syncBuf) waitFor(want string, d time.Duration) bool {
	timeout := time.After(d)
	for !strings.Contains(s.String(), want) {
		select {
		case <-s.got:
		case <-timeout:
			return false
		}
	}
	return true
}
