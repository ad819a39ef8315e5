package slack

import (
	"context"
	"sync"
	"time"
)

// Stop bounds. Run owns every goroutine the adapter starts: handler
// goroutines (slash commands, clicks, events, Socket Mode envelopes), the
// send queues' drains and the Socket Mode readers. When its context ends it
// cancels the handlers' contexts and waits up to stopWait for the handlers
// to return and the queued messages to go out; then it cancels what is
// still queued (a message held by a Retry-After) and waits up to
// cancelWait for the drains, which honour their context, to end. So the
// wait adds at most stopWait+cancelWait (6 s) to Run's return (closing the
// Socket Mode connection takes at most one second more). It comes after
// the runs' shutdown_grace (30 s by default) and their final frames, and
// must not add much to them. A handler that ignores its
// context is left behind after stopWait, with an error in the log, rather
// than holding shutdown forever.
const (
	stopWait   = 5 * time.Second
	cancelWait = time.Second
)

// group counts running goroutines of one kind so that Run can wait for
// them. Once closed it refuses new ones, so that the wait ends.
type group struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{} // closed once the group is closed and empty
}

func newGroup() *group { return &group{idle: make(chan struct{})} }

// add counts one more goroutine; false once the group is closed.
func (g *group) add() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.n++
	return true
}

// done uncounts a goroutine that add counted.
func (g *group) done() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.n == 0 && g.closed {
		close(g.idle)
	}
}

// close refuses further goroutines and returns a channel closed once the
// running ones are done.
func (g *group) close() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed = true
		if g.n == 0 {
			close(g.idle)
		}
	}
	return g.idle
}

// running returns how many counted goroutines have not finished.
func (g *group) running() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// spawn runs f on a handler goroutine that Run waits for when it stops.
// f's context keeps parent's values, outlives an HTTP request, and ends
// when Run's context does. Once Run is stopping, spawn runs nothing and
// returns false.
func (a *Adapter) spawn(parent context.Context, f func(ctx context.Context)) bool {
	if !a.handlers.add() {
		a.log.Info("slack delivery dropped: the adapter is stopping")
		return false
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	unhook := context.AfterFunc(a.life, cancel)
	go func() {
		defer a.handlers.done()
		defer cancel()
		defer unhook()
		defer func() {
			if r := recover(); r != nil {
				a.log.Error("slack handler panicked", "panic", r)
			}
		}()
		f(ctx)
	}()
	return true
}

// shutdown ends Run: no handler starts any more, running ones see their
// context end and are waited for, then the send queues; within the bounds
// above.
func (a *Adapter) shutdown() {
	a.handler.Store(nil)
	handlersIdle := a.handlers.close()
	a.endLife()
	ctx, cancel := context.WithTimeout(context.Background(), stopWait)
	defer cancel()
	select {
	case <-handlersIdle:
	case <-ctx.Done():
		a.log.Error("slack handlers still running at stop", "running", a.handlers.running(), "waited", stopWait)
	}
	a.out.stop(ctx)
}
