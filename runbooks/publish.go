package runbooks

import (
	"context"
	"sync"
)

// publisher hands transitions to subscribers. Each subscriber has its own
// queue and goroutine: publish never waits for a subscriber, a slow one
// only falls behind, and each sees every transition in publish order.
type publisher struct {
	mu     sync.Mutex
	subs   []*subscriber
	closed bool
	wg     sync.WaitGroup
}

type subscriber struct {
	fn   func(Transition)
	mu   sync.Mutex
	q    []Transition
	busy bool          // a transition is being handed over
	wake chan struct{} // 1-buffered: the queue grew
	stop chan struct{}
	idle *sync.Cond // signalled when the queue empties
}

func (p *publisher) add(fn func(Transition)) {
	s := &subscriber{fn: fn, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	s.idle = sync.NewCond(&s.mu)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.subs = append(p.subs, s)
	p.wg.Add(1)
	go func() { defer p.wg.Done(); s.loop() }()
}

func (p *publisher) publish(t Transition) {
	p.mu.Lock()
	subs := p.subs
	p.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		s.q = append(s.q, t)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (s *subscriber) loop() {
	for {
		s.mu.Lock()
		for len(s.q) > 0 {
			t := s.q[0]
			s.q[0] = Transition{}
			s.q = s.q[1:]
			s.busy = true
			s.mu.Unlock()
			s.fn(t)
			s.mu.Lock()
			s.busy = false
		}
		s.idle.Broadcast()
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-s.stop:
			s.mu.Lock()
			empty := len(s.q) == 0
			s.mu.Unlock()
			if empty {
				return
			}
		}
	}
}

// flush waits until every subscriber's queue is empty and no transition
// is being handed over, or ctx ends.
func (p *publisher) flush(ctx context.Context) error {
	p.mu.Lock()
	subs := p.subs
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, s := range subs {
			s.mu.Lock()
			for len(s.q) > 0 || s.busy {
				s.idle.Wait()
			}
			s.mu.Unlock()
		}
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close delivers what is queued, then stops the goroutines and waits.
func (p *publisher) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	subs := p.subs
	p.mu.Unlock()
	for _, s := range subs {
		close(s.stop)
	}
	p.wg.Wait()
}

// publish hands t to every subscriber without waiting for any.
func (s *Service) publish(t Transition) { s.pub.publish(t) }
