package admin

import "golang.org/x/sys/unix"

// peerUID is the uid of the process at the other end of the Unix socket
// fd, from the kernel (LOCAL_PEERCRED): nothing the peer can claim.
func peerUID(fd int) (uint32, error) {
	cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return 0, err
	}
	return cred.Uid, nil
}
