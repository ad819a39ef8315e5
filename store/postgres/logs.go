package postgres

import (
	"context"

	"github.com/tebura/tebura/runbooks"
)

var _ runbooks.LogStore = (*Store)(nil)

// AppendLog implements runbooks.LogStore.
func (s *Store) AppendLog(ctx context.Context, runID string, seq int, chunk []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO run_logs (run_id, seq, data) VALUES ($1, $2, $3)
		ON CONFLICT (run_id, seq) DO UPDATE SET data = EXCLUDED.data`, runID, seq, chunk)
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
