package runbooks

import (
	"errors"
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
// was 8% of the wall time. Close cannot interrupt a blocked read, so wake
// does it: it writes one byte through a write end of its own (opening
// /proc/self/fd/N of a pipe reopens the pipe), without waiting (a full
// pipe has something to read already); the reader, told to stop before,
// drops what it read. wake fails when the write end cannot be opened (no
// file descriptor left): the caller tries again. Without /proc the pipe is
// a non-blocking one and wake closes its read end, which interrupts the
// read.
func outputPipe() (r, w *os.File, wake func() error, err error) {
	if _, serr := os.Stat("/proc/self/fd"); serr != nil {
		r, w, err = os.Pipe()
		if err != nil {
			return nil, nil, nil, err
		}
		growPipe(w)
		return r, w, func() error { return closeReader(r) }, nil
	}
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, nil, os.NewSyscallError("pipe2", err)
	}
	r, w = os.NewFile(uintptr(fds[0]), "|0"), os.NewFile(uintptr(fds[1]), "|1")
	growPipe(w)
	wake = func() error {
		ww, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(fds[0]), os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return err
		}
		ww.Write([]byte{0}) // EAGAIN: the pipe is full, the reader has enough to read
		return ww.Close()
	}
	return r, w, wake, nil
}

// growPipe asks for a bigger pipe buffer and reports whether it got it;
// failure (an unprivileged limit) only costs speed.
func growPipe(f *os.File) bool {
	_, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), fSetPipeSz, pipeSize)
	return errno == 0
}

// closeReader closes r; closing it again is no error.
func closeReader(r *os.File) error {
	if err := r.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

// pipeHolders lists up to limit processes, other than tebura and except,
// that hold an end of the pipe r reads: /proc/PID/fd/N of each links to
// "pipe:[inode]". Processes of other users cannot be looked into; nil when
// nothing is known. It walks every process's descriptors, so it is for the
// rare step that left a process behind.
func pipeHolders(r *os.File, except, limit int) []int {
	fi, err := r.Stat()
	if err != nil {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	want := "pipe:[" + strconv.FormatUint(st.Ino, 10) + "]"
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var holders []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == self || pid == except {
			continue
		}
		dir := "/proc/" + p.Name() + "/fd/"
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue // gone, or not ours
		}
		for _, fd := range fds {
			if link, err := os.Readlink(dir + fd.Name()); err == nil && link == want {
				holders = append(holders, pid)
				break
			}
		}
		if len(holders) == limit {
			break
		}
	}
	return holders
}
