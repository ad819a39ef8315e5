package runbooks

// ExecutorStats is a point-in-time view of the executor's load, read at
// scrape time by metrics (queue depth, runs running) without the executor
// knowing about any metrics library.
type ExecutorStats struct {
	// Queued is how many runs wait for a free slot.
	Queued int
	// Running is how many runs hold a slot (their steps are executing, or
	// about to).
	Running int
	// MaxConcurrent is the number of slots.
	MaxConcurrent int
}

// Stats returns the executor's current load. It takes the executor's lock
// briefly and is cheap enough to call on every scrape.
func (e *Executor) Stats() ExecutorStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return ExecutorStats{Queued: len(e.queue), Running: e.running, MaxConcurrent: e.cfg.MaxConcurrent}
}
