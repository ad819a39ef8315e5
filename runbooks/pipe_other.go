//go:build !linux

package runbooks

import "os"

// outputPipe makes a step's output pipe (non-blocking: Close interrupts a read).
func outputPipe() (r, w *os.File, err error) { return os.Pipe() }

// stopReader makes a read blocked on r return: Close interrupts it.
func stopReader(r *os.File) { r.Close() }
