package postgres

import (
	"context"

	"github.com/tebura/tebura/runbooks"
)

var _ runbooks.LogTailer = (*Store)(nil)

// LogChunksFrom implements runbooks.LogTailer: a replica following a run
// of another replica reads only the chunks it has not read yet.
func (s *Store) LogChunksFrom(ctx context.Context, runID string, from int, fn func(chunk []byte) error) error {
	rows, err := s.pool.Query(ctx, "SELECT data FROM run_logs WHERE run_id = $1 AND seq >= $2 ORDER BY seq", runID, from)
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
