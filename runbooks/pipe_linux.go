package runbooks

import (
	"os"
	"syscall"
)

// pipeSize is the kernel buffer asked for a step's output pipe: room for
// the child to keep writing while the reader is busy or descheduled (with a
// reader that keeps up, 64 KiB and 1 MiB measure the same).
const pipeSize = 1 << 20

// fSetPipeSz is F_SETPIPE_SZ from fcntl(2) (linux/fcntl.h), which package
// syscall does not name.
const fSetPipeSz = 1031

// growPipe asks for a bigger pipe buffer and reports whether it got it;
// failure (an unprivileged limit) only costs speed.
func growPipe(f *os.File) bool {
	_, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), fSetPipeSz, pipeSize)
	return errno == 0
}
