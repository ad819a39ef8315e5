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

// LogChunks implements runbooks.LogStore.
func (s *Store) LogChunks(ctx context.Context, runID string, fn func(chunk []byte) error) error {
	rows, err := s.pool.Query(ctx, "SELECT data FROM run_logs WHERE run_id = $1 ORDER BY seq", runID)
	if err != nil {
		return storageError(err, "read log chunks")
	}
	var chunks [][]byte
	for rows.Next() {
		var c []byte
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return storageError(err, "read log chunks")
		}
		chunks = append(chunks, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return storageError(err, "read log chunks")
	}
	for _, c := range chunks {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
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
