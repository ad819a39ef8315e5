package runbooks

import "errors"

// errReplicaLost is the cause of the runs Abandon stops.
var errReplicaLost = errors.New("this replica lost the database")

// Abandon stops every run of this process, queued or running, because the
// replica lost its heartbeat (it could not reach the shared store): the
// leader is about to mark its runs interrupted and free their locks, so
// they must not go on here, where another replica may take the same lock.
// Running runs are killed like a cancel and end interrupted; queued ones
// end at once. It returns how many it stopped; the executor keeps taking
// new runs.
func (e *Executor) Abandon() int {
	e.mu.Lock()
	waiting := e.queue
	e.queue = nil
	var running []*Handle
	for _, h := range e.handles {
		running = append(running, h)
	}
	e.mu.Unlock()
	queued := map[*Handle]bool{}
	for _, q := range waiting {
		queued[q.h] = true
		q.h.requestStop(errReplicaLost)
		e.end(q.h, q.run, false, StateInterrupted, -1, "interrupted: this replica lost the database before the run started", nil)
	}
	n := len(waiting)
	for _, h := range running {
		if !queued[h] && h.requestStop(errReplicaLost) {
			n++
		}
	}
	return n
}
