package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// TestListen: the socket is created 0600; a stale socket (nothing
// answers) is replaced; a live one is refused; Close removes the file.
func TestListen(t *testing.T) {
	dir := t.TempDir()
	path := SocketPath(dir)

	// A stale socket: bound, then its server died without removing it.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the stale socket should still be there: %v", err)
	}

	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".admin-*")); len(left) > 0 {
		t.Errorf("temporary directories left behind: %v", left)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if !Answers(path) {
		t.Fatal("nothing answers on the new socket")
	}
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "another tebura answers") {
		t.Errorf("Listen over a live socket: %v, want a refusal", err)
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("Close left the socket file: %v", err)
	}
}

// TestCloseKeepsAnotherServersSocket: a listener whose file was replaced
// by another server's leaves that file alone on Close.
func TestCloseKeepsAnotherServersSocket(t *testing.T) {
	dir := t.TempDir()
	path := SocketPath(dir)
	first, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	first.(*listener).UnixListener.Close() // dead, but its Close not yet called
	second, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	first.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the first listener's Close removed the second's socket: %v", err)
	}
}

// TestPeerIdentity: the server names the caller from the socket's peer
// credentials, whatever the client says ($USER, headers).
func TestPeerIdentity(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Skipf("no current user: %v", err)
	}
	t.Setenv("USER", "someone-else")
	path := SocketPath(t.TempDir())
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PeerOf(r.Context())
		fmt.Fprintf(w, "%d %s", p.UID, p.Actor())
	}))
	go srv.Serve(ln)
	defer srv.Close()
	cl, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Do(context.Background(), http.MethodGet, "/whoami", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if want := me.Uid + " console:" + me.Username; string(b) != want {
		t.Errorf("peer %q, want %q", b, want)
	}
	if p, ok := PeerOf(context.Background()); ok {
		t.Errorf("PeerOf outside a request = %+v", p)
	}
}

// TestDialNothing: no socket, no client.
func TestDialNothing(t *testing.T) {
	if _, err := Dial(SocketPath(t.TempDir())); err == nil {
		t.Error("Dial of a missing socket succeeded")
	}
}

// TestStreamCopy: what a command writes arrives on the same streams,
// bytes unchanged (also invalid UTF-8), and the exit code last; an answer
// cut before its exit frame is an error.
func TestStreamCopy(t *testing.T) {
	bin := []byte{'a', 0xff, 0xfe, '\n'}
	tests := []struct {
		name             string
		write            func(s *Stream)
		end              bool
		code             int
		msg              string
		wantOut, wantErr string
		wantCopyErr      error
	}{
		{name: "text", write: func(s *Stream) {
			io.WriteString(s.Stdout(), "line 1\n")
			io.WriteString(s.Stderr(), "run 1 started\n")
			io.WriteString(s.Stdout(), "line 2\n")
		}, end: true, code: 0, wantOut: "line 1\nline 2\n", wantErr: "run 1 started\n"},
		{name: "binary", write: func(s *Stream) { s.Stdout().Write(bin); s.Stderr().Write(bin) },
			end: true, code: 3, msg: "failed", wantOut: string(bin), wantErr: string(bin)},
		{name: "cut", write: func(s *Stream) { io.WriteString(s.Stdout(), "partial\n") },
			wantOut: "partial\n", wantCopyErr: ErrNoExit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s := NewStream(rec)
			tt.write(s)
			if tt.end {
				if err := s.End(tt.code, tt.msg); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Stdout().Write([]byte("late")); err == nil {
					t.Error("a write after End succeeded")
				}
			}
			var out, errw bytes.Buffer
			code, msg, err := Copy(rec.Body, &out, &errw)
			if !errors.Is(err, tt.wantCopyErr) {
				t.Fatalf("Copy error %v, want %v", err, tt.wantCopyErr)
			}
			if code != tt.code || msg != tt.msg || out.String() != tt.wantOut || errw.String() != tt.wantErr {
				t.Errorf("got code %d msg %q out %q err %q; want %d %q %q %q", code, msg, out.String(), errw.String(),
					tt.code, tt.msg, tt.wantOut, tt.wantErr)
			}
		})
	}
}
