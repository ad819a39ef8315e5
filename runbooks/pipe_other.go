//go:build !linux

package runbooks

import "os"

// outputPipe makes a step's output pipe. It is non-blocking, so wake
// interrupts a read by closing the read end.
func outputPipe() (r, w *os.File, wake func(), err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	return r, w, func() { r.Close() }, nil
}
