package admin

import "golang.org/x/sys/unix"

// peerUID is the uid of the process at the other end of the Unix socket
// fd, from the kernel (SO_PEERCRED): nothing the peer can claim.
func peerUID(fd int) (uint32, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, err
	}
	return cred.Uid, nil
}
