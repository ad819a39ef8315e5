package bolt

import (
	"context"
	"io"

	bbolt "go.etcd.io/bbolt"
)

// Backup writes a consistent copy of the whole database, as of one read
// transaction, while writers go on: start is called first with the copy's
// size in bytes (for a Content-Length) and returns where to write it. It
// returns the bytes written. The read transaction lasts as long as the
// writing, and a writer that must grow the file's memory map waits for it:
// write to something fast (a local file), never straight to a client.
func (s *Store) Backup(ctx context.Context, start func(size int64) (io.Writer, error)) (int64, error) {
	var n int64
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		w, err := start(tx.Size())
		if err != nil {
			return err
		}
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}
