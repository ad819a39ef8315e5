package postgres

import (
	"context"
	"time"

	"github.com/tebura/tebura/runbooks"
)

var _ runbooks.LogStore = (*Store)(nil)

// AppendLog implements runbooks.LogStore.
func (s *Store) AppendLog(ctx context.Context, runID string, seq int, chunk []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO run_logs (run_id, seq, data, written) VALUES ($1, $2, $3, $4)
		ON CONFLICT (run_id, seq) DO UPDATE SET data = EXCLUDED.data, written = EXCLUDED.written`, runID, seq, chunk, s.clock().UnixNano())
	return storageError(err, "append log chunk")
}

// LogChunks implements runbooks.LogStore: the whole log, from its first
// chunk (LogChunksFrom, logtail.go).
func (s *Store) LogChunks(ctx context.Context, runID string, fn func(chunk []byte) error) error {
	return s.LogChunksFrom(ctx, runID, 0, fn)
}

// PruneLogs implements runbooks.LogStore.
func (s *Store) PruneLogs(ctx context.Context, before time.Time) (int, error) {
	var runs int
	err := s.pool.QueryRow(ctx, `WITH old AS (
			SELECT run_id FROM run_logs GROUP BY run_id HAVING max(written) < $1),
		gone AS (DELETE FROM run_logs WHERE run_id IN (SELECT run_id FROM old) RETURNING run_id)
		SELECT count(DISTINCT run_id) FROM gone`, before.UnixNano()).Scan(&runs)
	return runs, storageError(err, "prune log chunks")
}
