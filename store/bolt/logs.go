package bolt

import (
	"bytes"
	"context"

	bbolt "go.etcd.io/bbolt"

	"github.com/tebura/tebura/runbooks"
)

var _ runbooks.LogStore = (*Store)(nil)

// logChunk is one chunk of a run's log as stored: run ID NUL be64(seq) →
// logChunk.
type logChunk struct {
	Data []byte `json:"data"`
}

// logKey is run ID NUL be64(seq): a run's chunks share a prefix, in order.
func logKey(runID string, seq int) []byte {
	return append(append([]byte(runID), 0), seqKey(uint64(seq))...)
}

// AppendLog implements runbooks.LogStore.
func (s *Store) AppendLog(ctx context.Context, runID string, seq int, chunk []byte) error {
	v, err := marshal(&logChunk{Data: chunk})
	if err != nil {
		return storageError(err, "encode log chunk")
	}
	err = s.update(ctx, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketLogs)).Put(logKey(runID, seq), v)
	})
	return storageError(err, "append log chunk")
}

// LogChunks implements runbooks.LogStore.
func (s *Store) LogChunks(ctx context.Context, runID string, fn func(chunk []byte) error) error {
	var chunks [][]byte
	prefix := append([]byte(runID), 0)
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		c := tx.Bucket([]byte(bucketLogs)).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var lc logChunk
			if err := unmarshal(v, &lc); err != nil {
				return err
			}
			chunks = append(chunks, lc.Data)
		}
		return nil
	})
	if err != nil {
		return storageError(err, "read log chunks")
	}
	for _, c := range chunks {
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}
