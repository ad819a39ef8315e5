// Package sshdtest starts real OpenSSH servers on loopback ports for
// tests: each a "host" with a throwaway host key, all accepting one
// throwaway user key, with a known_hosts file that holds their keys. Tests
// of ssh steps run against them rather than against a fake server, so
// quoting, host keys and process groups are checked where they matter.
package sshdtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshdPath is Debian's OpenSSH server, which .ci/run installs.
const sshdPath = "/usr/sbin/sshd"

// Host is one real OpenSSH server on a loopback port.
type Host struct {
	// Addr is "127.0.0.1:port".
	Addr string
	// HostKey is the server's host key.
	HostKey ssh.PublicKey
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Need skips under -short, and where sshd is missing: fails in CI
// (which installs it), skips with the reason elsewhere.
func Need(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts real OpenSSH servers; skipped under -short")
	}
	if _, err := os.Stat(sshdPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; .ci/run installs openssh-server", sshdPath)
		}
		t.Skipf("%s is missing: apt-get install openssh-server to run the ssh tests", sshdPath)
	}
	if os.Geteuid() == 0 {
		// sshd refuses to start as root without its privilege separation
		// directory, which systemd usually makes and containers lack.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// writeKey writes a new ed25519 private key in OpenSSH format and returns
// its public half.
func writeKey(path string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, err
	}
	return ssh.NewPublicKey(pub)
}

// Fleet is n sshd hosts that accept one user key.
type Fleet struct {
	Hosts []*Host
	// Identity is the user's private key file; User the account (the
	// current user).
	Identity, User string
	// KnownHosts is a known_hosts file with every host's key.
	KnownHosts string
}

// Start starts n hosts; they stop when the test ends.
func Start(t testing.TB, n int) *Fleet {
	t.Helper()
	Need(t)
	f, err := Launch(t.TempDir(), n)
	if f != nil {
		t.Cleanup(f.Stop)
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Launch starts n hosts with their keys and files under dir, for programs
// that are not tests (the benchmarks under bench/); the caller stops them
// with Stop, also after an error. sshd must be installed (see Need).
func Launch(dir string, n int) (*Fleet, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	u, err := user.Current()
	if err != nil {
		return nil, err
	}
	f := &Fleet{Identity: filepath.Join(dir, "id_ed25519"), KnownHosts: filepath.Join(dir, "known_hosts"), User: u.Username}
	userKey, err := writeKey(f.Identity)
	if err != nil {
		return nil, err
	}
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, ssh.MarshalAuthorizedKey(userKey), 0o600); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return nil, err
		}
	}
	var known []string
	for i := range n {
		h, err := startSSHD(filepath.Join(dir, fmt.Sprintf("host%d", i)), auth)
		if err != nil {
			return f, err
		}
		f.Hosts = append(f.Hosts, h)
		known = append(known, knownhosts.Line([]string{knownhosts.Normalize(h.Addr)}, h.HostKey))
	}
	if err := os.WriteFile(f.KnownHosts, []byte(strings.Join(known, "\n")+"\n"), 0o600); err != nil {
		return f, err
	}
	return f, nil
}

// Stop stops every host started.
func (f *Fleet) Stop() {
	for _, h := range f.Hosts {
		h.stop()
	}
}

// stop kills the host's sshd and waits for it.
func (h *Host) stop() {
	_ = h.cmd.Process.Kill()
	<-h.exited
}

// startSSHD starts sshd in the foreground on a free loopback port with a
// new host key, and waits until it accepts connections.
func startSSHD(dir, authorizedKeys string) (*Host, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	hostKeyPath := filepath.Join(dir, "host_key")
	hostKey, err := writeKey(hostKeyPath)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	conf := filepath.Join(dir, "sshd_config")
	body := strings.Join([]string{
		"ListenAddress " + addr,
		"HostKey " + hostKeyPath,
		"PidFile " + filepath.Join(dir, "sshd.pid"),
		"AuthorizedKeysFile " + authorizedKeys,
		"StrictModes no",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"PermitRootLogin prohibit-password",
		"LogLevel ERROR",
		"",
	}, "\n")
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", conf)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &Host{Addr: addr, HostKey: hostKey, cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(h.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return h, nil
		}
		select {
		case <-h.exited:
			return nil, fmt.Errorf("sshd exited: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			h.stop()
			return nil, fmt.Errorf("sshd on %s did not accept connections within 10s: %s", addr, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
