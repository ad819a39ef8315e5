//go:build !linux

package runbooks

import (
	"errors"
	"os"
)

// outputPipe makes a step's output pipe. It is non-blocking, so wake
// interrupts a read by closing the read end.
func outputPipe() (r, w *os.File, wake func() error, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	return r, w, func() error { return closeReader(r) }, nil
}

// closeReader closes r; closing it again is no error.
func closeReader(r *os.File) error {
	if err := r.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

// pipeHolders is not known without /proc.
func pipeHolders(r *os.File, except, limit int) []int { return nil }
