package ssh

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

// sshd is one real OpenSSH server on a loopback port, as a "host".
type sshd struct {
	addr    string
	hostKey ssh.PublicKey
	cmd     *exec.Cmd
}

// needSSHD skips under -short, and where sshd is missing: fails in CI
// (which installs it), skips with the reason elsewhere.
func needSSHD(t testing.TB) {
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
func writeKey(t testing.TB, path string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// fleet is n sshd "hosts" that accept one user key, with the runner's
// config (known_hosts holding every host key).
type fleet struct {
	hosts    []*sshd
	identity string
	known    string
	cfg      Config
}

func startFleet(t testing.TB, n int) *fleet {
	t.Helper()
	needSSHD(t)
	dir := t.TempDir()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	f := &fleet{identity: filepath.Join(dir, "id_ed25519"), known: filepath.Join(dir, "known_hosts")}
	userKey := writeKey(t, f.identity)
	auth := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(auth, ssh.MarshalAuthorizedKey(userKey), 0o600); err != nil {
		t.Fatal(err)
	}
	f.cfg = Config{Targets: map[string]Target{}, KnownHosts: f.known, ConnectTimeout: 5 * time.Second, KillGrace: time.Second}
	var known []string
	for i := range n {
		h := startSSHD(t, filepath.Join(dir, fmt.Sprintf("host%d", i)), auth)
		f.hosts = append(f.hosts, h)
		known = append(known, knownhosts.Line([]string{knownhosts.Normalize(h.addr)}, h.hostKey))
		f.cfg.Targets[fmt.Sprintf("h%d", i)] = Target{Address: h.addr, User: u.Username, Identity: f.identity}
	}
	if err := os.WriteFile(f.known, []byte(strings.Join(known, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// startSSHD starts sshd in the foreground on a free loopback port with a
// new host key, and waits until it accepts connections.
func startSSHD(t testing.TB, dir, authorizedKeys string) *sshd {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	hostKeyPath := filepath.Join(dir, "host_key")
	hostKey := writeKey(t, hostKeyPath)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
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
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", conf)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("sshd exited: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd on %s did not accept connections within 10s: %s", addr, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &sshd{addr: addr, hostKey: hostKey, cmd: cmd}
}
