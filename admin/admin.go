// Package admin is the local admin socket: a Unix socket in the data dir
// through which the CLI reaches a running server, since the store (bbolt)
// lets only one process open it. It owns the transport and who is calling:
// Listen binds the socket so that only its owner can connect, Serve tags
// every request with the caller's operating-system user taken from the
// socket's peer credentials (SO_PEERCRED), never from what the client
// says, and Dial, Stream and Copy carry a command's output and exit code.
// What each request does is the server's wiring (cmd/tebura).
package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"time"
)

// SocketName is the admin socket's file name inside the data dir.
const SocketName = "admin.sock"

// SocketPath is where the admin socket of the server holding dataDir lives.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// probeTimeout bounds how long asking "does anything answer here?" takes.
const probeTimeout = time.Second

// Answers reports whether a server accepts connections on the socket at
// path.
func Answers(path string) bool {
	c, err := net.DialTimeout("unix", path, probeTimeout)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Listen binds the admin socket at path, mode 0600, so that only the user
// the server runs as (and root) can connect. The socket is bound inside a
// fresh directory of mode 0700, made 0600 there and only then renamed into
// place: nobody can connect in between, and no umask (process-wide) is
// touched. A socket already at path is replaced only when nothing answers
// on it (one left by a server that was killed); one that answers means
// another server holds this data dir, and Listen refuses.
func Listen(path string) (net.Listener, error) {
	if Answers(path) {
		return nil, fmt.Errorf("another tebura answers on %s", path)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".admin-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bound := filepath.Join(tmp, SocketName)
	ln, err := net.Listen("unix", bound)
	if err != nil {
		return nil, err
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // the name it was bound to is gone after the rename
	if err := os.Chmod(bound, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	if err := os.Rename(bound, path); err != nil { // replaces a stale socket
		ln.Close()
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return &listener{UnixListener: ul, path: path, fi: fi}, nil
}

// listener removes its socket file on Close, unless another server has
// since put its own there.
type listener struct {
	*net.UnixListener
	path string
	fi   os.FileInfo
}

// Close stops accepting and removes the socket file when it is still ours.
func (l *listener) Close() error {
	err := l.UnixListener.Close()
	if fi, serr := os.Stat(l.path); serr == nil && os.SameFile(fi, l.fi) {
		os.Remove(l.path)
	}
	return err
}

// Peer is who is at the other end of an admin connection, as the kernel
// says (SO_PEERCRED).
type Peer struct {
	UID  uint32
	User string // the user name, or the uid in decimal when it has none
}

// Actor is the identity the access rules see: console:<user>, as for a
// command typed in a terminal.
func (p Peer) Actor() string { return "console:" + p.User }

type peerKey struct{}

// PeerOf returns the peer of the connection ctx's request came on; ok is
// false outside a request Serve received.
func PeerOf(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

// peerCred reads the peer's uid off a Unix connection, with the
// platform's own call (peerUID: SO_PEERCRED on Linux, LOCAL_PEERCRED on
// macOS).
func peerCred(c net.Conn) (uint32, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, errors.New("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var uid uint32
	var cerr error
	if err := raw.Control(func(fd uintptr) { uid, cerr = peerUID(int(fd)) }); err != nil {
		return 0, err
	}
	return uid, cerr
}

// lookupPeer turns a uid into a Peer.
func lookupPeer(uid uint32) Peer {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return Peer{UID: uid, User: u.Username}
	}
	return Peer{UID: uid, User: id}
}

// unknownPeer marks a connection whose credentials could not be read; the
// handler refuses it (Handler).
type unknownPeer struct{}

// NewServer is the HTTP server for the admin socket: every request's
// context carries the peer (PeerOf), and a request whose peer cannot be
// told is refused with 403. It has no write timeout: a run streams for as
// long as it runs.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			uid, err := peerCred(c)
			if err != nil {
				return context.WithValue(ctx, unknownPeer{}, err)
			}
			return context.WithValue(ctx, peerKey{}, lookupPeer(uid))
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := PeerOf(r.Context()); !ok {
				http.Error(w, "the caller's credentials cannot be read", http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
		}),
	}
}
