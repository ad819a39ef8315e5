package runbooks

import (
	"os"
	"strconv"
	"syscall"
)

// pipeSize is the kernel buffer asked for a step's output pipe: room for
// the child to keep writing while the reader is busy or descheduled (with a
// reader that keeps up, 64 KiB and 1 MiB measure the same).
const pipeSize = 1 << 20

// fSetPipeSz is F_SETPIPE_SZ from fcntl(2) (linux/fcntl.h), which package
// syscall does not name.
const fSetPipeSz = 1031

// outputPipe makes a step's output pipe. Its read end blocks in read(2):
// a read then costs one system call and one wake-up, where a non-blocking
// read that finds the pipe empty goes through the runtime's netpoller (an
// epoll_wait and a goroutine hand-off) each time; on a 100 MiB flood that
// was 8% of the wall time. A blocked read cannot be interrupted by Close,
// so stopReader wakes it through /proc; without /proc the pipe is a plain
// non-blocking one.
func outputPipe() (r, w *os.File, err error) {
	if _, serr := os.Stat("/proc/self/fd"); serr != nil {
		r, w, err = os.Pipe()
		if err != nil {
			return nil, nil, err
		}
	} else {
		var fds [2]int
		if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
			return nil, nil, os.NewSyscallError("pipe2", err)
		}
		r, w = os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1")
	}
	growPipe(w)
	return r, w, nil
}

// stopReader makes a read blocked on r return, while a process outside the
// step's group still holds the write end: it writes one byte through a
// write end of its own (opening /proc/self/fd/N of a pipe reopens the
// pipe). The reader, told to stop before, drops what it read. The write
// does not wait: a full pipe has something to read already.
func stopReader(r *os.File) {
	w, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(r.Fd())), os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		r.Close() // a non-blocking pipe (no /proc): Close interrupts the read
		return
	}
	w.Write([]byte{0})
	w.Close()
}

// growPipe asks for a bigger pipe buffer and reports whether it got it;
// failure (an unprivileged limit) only costs speed.
func growPipe(f *os.File) bool {
	_, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), fSetPipeSz, pipeSize)
	return errno == 0
}
