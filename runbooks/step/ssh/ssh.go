// Package ssh runs ssh steps on remote targets with golang.org/x/crypto/ssh:
// it implements runbooks.TargetRunner, so that the runbooks package imports
// no SDK. Host keys are always checked against a known_hosts file; the
// command travels on the remote shell's stdin (`sh -s`) with every argument
// and environment value single-quoted, never as SSH environment requests;
// and the remote process group is killed when the step ends early.
package ssh

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/tebura/tebura/runbooks"
)

// Defaults for Config fields left zero.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultKillGrace      = 2 * time.Second
)

// Target is how to reach one target of the inventory.
type Target struct {
	// Address is "host:port".
	Address string
	User    string
	// Identity is the path of a private key; empty with Agent.
	Identity string
	// Agent authenticates through the agent at $SSH_AUTH_SOCK.
	Agent bool
}

// Config is the inventory and what every connection shares.
type Config struct {
	Targets map[string]Target
	// KnownHosts is the known_hosts file host keys are checked against.
	KnownHosts     string
	ConnectTimeout time.Duration
	// KillGrace is how long the remote process group gets between SIGTERM
	// and SIGKILL when the step is cancelled or times out.
	KillGrace time.Duration
}

// Runner implements runbooks.TargetRunner over SSH.
type Runner struct {
	cfg atomic.Pointer[Config]
}

var _ runbooks.TargetRunner = (*Runner)(nil)

// New returns a runner for cfg.
func New(cfg Config) *Runner {
	r := &Runner{}
	r.Update(cfg)
	return r
}

// Update replaces the inventory (a configuration reload); runs already
// connected keep their connections.
func (r *Runner) Update(cfg Config) {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	r.cfg.Store(&cfg)
}

// pgidMark starts the line the remote wrapper writes on stderr first: the
// process group the command runs in, which a cancel kills.
const pgidMark = "\x1etebura-pgid "

// wrapper is the session's command: a new session and process group
// (setsid -w waits for the child and passes on its status), its id reported,
// then sh reading the step from stdin.
const wrapper = `exec setsid -w sh -c 'printf "\036tebura-pgid %s\n" "$$" >&2; exec sh -s'`

// Quote quotes s for a POSIX shell: in single quotes, each single quote
// inside closing the quotes, escaped with a backslash, and reopening them.
// Whatever s holds, the shell sees one word with s's exact bytes.
func Quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Program is the text the remote `sh -s` reads: the environment as quoted
// export lines, then the argv as quoted words, or the script as one
// quoted argument of sh -c. Either runs with stdin on /dev/null, as local
// steps do (a script reading stdin would otherwise read this text).
func Program(cmd runbooks.RemoteCommand) (string, error) {
	var b strings.Builder
	for _, kv := range cmd.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsRune(v, 0) {
			return "", fmt.Errorf("environment entry %q cannot be exported", k)
		}
		fmt.Fprintf(&b, "export %s=%s\n", k, Quote(v))
	}
	switch {
	case len(cmd.Argv) > 0:
		b.WriteString("exec")
		for _, a := range cmd.Argv {
			if strings.ContainsRune(a, 0) {
				return "", errors.New("an argument holds a NUL byte")
			}
			b.WriteByte(' ')
			b.WriteString(Quote(a))
		}
		b.WriteString(" </dev/null\n")
	case cmd.Script != "":
		fmt.Fprintf(&b, "exec sh -c %s sh </dev/null\n", Quote(cmd.Script))
	default:
		return "", errors.New("nothing to run")
	}
	return b.String(), nil
}

// RunOn runs cmd on the target called name (see runbooks.TargetRunner).
func (r *Runner) RunOn(ctx context.Context, name string, cmd runbooks.RemoteCommand, out io.Writer) (int, error) {
	cfg := r.cfg.Load()
	t, ok := cfg.Targets[name]
	if !ok {
		return -1, fmt.Errorf("target %s is not in the inventory any more", name)
	}
	prog, err := Program(cmd)
	if err != nil {
		return -1, err
	}
	client, err := dial(ctx, cfg, name, t)
	if err != nil {
		return -1, err
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return -1, fmt.Errorf("could not open a session: %w", err)
	}
	defer sess.Close()
	pg := &pgidWriter{out: out, found: make(chan int, 1)}
	sess.Stdout = out
	sess.Stderr = pg
	sess.Stdin = strings.NewReader(prog)
	if err := sess.Start(wrapper); err != nil {
		return -1, fmt.Errorf("could not start the command: %w", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- sess.Wait() }()
	select {
	case err := <-waited:
		return exitCode(err)
	case <-ctx.Done():
	}
	// Stop the remote process group: the pgid arrives first thing, so it
	// is known unless the session never got going.
	var pgid int
	select {
	case pgid = <-pg.found:
	case <-time.After(cfg.KillGrace):
	}
	if pgid > 1 {
		killGroup(client, pgid, cfg.KillGrace)
	}
	sess.Close()
	select {
	case <-waited:
	case <-time.After(cfg.KillGrace):
	}
	return -1, nil
}

// killGroup sends SIGTERM to the remote process group, then SIGKILL to
// what is left after grace, over a session of its own.
func killGroup(client *ssh.Client, pgid int, grace time.Duration) {
	s, err := client.NewSession()
	if err != nil {
		return
	}
	defer s.Close()
	g := strconv.Itoa(pgid)
	tries := strconv.Itoa(max(int(grace/(100*time.Millisecond)), 1))
	script := "kill -TERM -" + g + " 2>/dev/null; i=0; while kill -0 -" + g + " 2>/dev/null && [ $i -lt " + tries +
		" ]; do sleep 0.1; i=$((i+1)); done; kill -KILL -" + g + " 2>/dev/null; true"
	done := make(chan struct{})
	go func() {
		_ = s.Run("sh -c " + Quote(script))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace + 3*time.Second):
	}
}

// exitCode turns a session's end into an exit code.
func exitCode(err error) (int, error) {
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &ee) && ee.Signal() != "":
		return -1, fmt.Errorf("the remote command was killed by SIG%s", ee.Signal())
	case errors.As(err, &ee):
		return ee.ExitStatus(), nil
	case errors.As(err, &missing):
		return -1, errors.New("the remote command ended without an exit status (was the connection lost?)")
	default:
		return -1, err
	}
}

// pgidWriter passes stderr on, taking the wrapper's first line (the
// process group id) out of it.
type pgidWriter struct {
	out   io.Writer
	found chan int
	mu    sync.Mutex
	done  bool
	buf   []byte
}

func (w *pgidWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	i := bytes.IndexByte(w.buf, '\n')
	if i < 0 && len(w.buf) < 64 {
		return len(p), nil
	}
	w.done = true
	rest := w.buf
	if i >= 0 && bytes.HasPrefix(w.buf, []byte(pgidMark)) {
		if n, err := strconv.Atoi(string(w.buf[len(pgidMark):i])); err == nil {
			w.found <- n
		}
		rest = w.buf[i+1:]
	}
	w.buf = nil
	if len(rest) > 0 {
		if _, err := w.out.Write(rest); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// dial connects and authenticates to t, checking its host key.
func dial(ctx context.Context, cfg *Config, name string, t Target) (*ssh.Client, error) {
	auth, closeAuth, err := authMethod(t)
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", name, err)
	}
	defer closeAuth()
	hostKey, algos, err := hostKeyCheck(cfg.KnownHosts, name, t.Address)
	if err != nil {
		return nil, err
	}
	cc := &ssh.ClientConfig{User: t.User, Auth: []ssh.AuthMethod{auth}, HostKeyCallback: hostKey,
		HostKeyAlgorithms: algos, Timeout: cfg.ConnectTimeout}
	d := net.Dialer{Timeout: cfg.ConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", t.Address)
	if err != nil {
		return nil, fmt.Errorf("target %s: could not connect to %s: %w", name, t.Address, err)
	}
	_ = conn.SetDeadline(time.Now().Add(cfg.ConnectTimeout))
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	c, chans, reqs, err := ssh.NewClientConn(conn, t.Address, cc)
	stop()
	if err != nil {
		conn.Close()
		var ke *hostKeyError
		if errors.As(err, &ke) {
			return nil, ke
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("target %s: SSH handshake with %s failed: %w", name, t.Address, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return ssh.NewClient(c, chans, reqs), nil
}

// authMethod is the target's key file or agent.
func authMethod(t Target) (ssh.AuthMethod, func(), error) {
	if t.Agent {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, nil, errors.New("agent: true but SSH_AUTH_SOCK is not set")
		}
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return nil, nil, fmt.Errorf("the SSH agent at $SSH_AUTH_SOCK cannot be reached: %w", err)
		}
		return ssh.PublicKeysCallback(agent.NewClient(conn).Signers), func() { conn.Close() }, nil
	}
	pem, err := os.ReadFile(t.Identity)
	if err != nil {
		return nil, nil, fmt.Errorf("the identity key cannot be read: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	var pp *ssh.PassphraseMissingError
	if errors.As(err, &pp) {
		return nil, nil, fmt.Errorf("the identity key %s is protected by a passphrase; load it into an agent and set agent: true", t.Identity)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("the identity key %s is not a private key: %w", t.Identity, err)
	}
	return ssh.PublicKeys(signer), func() {}, nil
}

// hostKeyError is a refused host key, with what to do about it.
type hostKeyError struct{ msg string }

func (e *hostKeyError) Error() string { return e.msg }

// hostKeyCheck reads known_hosts (at every connection: an added line takes
// effect without a reload) and returns the callback that refuses unknown
// and changed keys, and the host key algorithms to ask for: those of the
// keys known for address, so that a server offering another key type first
// is not mistaken for a changed key.
func hostKeyCheck(path, name, address string) (ssh.HostKeyCallback, []string, error) {
	if path == "" {
		return nil, nil, errors.New("ssh.known_hosts is not set; host keys cannot be checked")
	}
	cb, err := knownhosts.New(path)
	if err != nil {
		return nil, nil, fmt.Errorf("the known_hosts file %s cannot be read: %w", path, err)
	}
	host, port, _ := net.SplitHostPort(address)
	scan := fmt.Sprintf("ssh-keyscan -p %s %s >> %s", port, host, path)
	probe, _ := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	var algos []string
	var ke *knownhosts.KeyError
	if err := cb(address, &net.TCPAddr{IP: net.IPv4zero}, probe); errors.As(err, &ke) {
		for _, k := range ke.Want {
			algos = append(algos, algorithmsFor(k.Key.Type())...)
		}
	}
	check := func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := cb(hostname, remote, key)
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ke) && len(ke.Want) == 0:
			return &hostKeyError{fmt.Sprintf("target %s: the host key of %s (%s %s) is not in %s, so the step was refused; "+
				"check that fingerprint with the host's administrator, then add the key with `%s`",
				name, address, key.Type(), ssh.FingerprintSHA256(key), path, scan)}
		case errors.As(err, &ke):
			return &hostKeyError{fmt.Sprintf("target %s: the host key of %s CHANGED: it offers %s %s, which does not match %s:%d, so the step was refused; "+
				"someone may be in between, or the host was reinstalled: find out which, then remove the old line and add the new key with `%s` after checking its fingerprint",
				name, address, key.Type(), ssh.FingerprintSHA256(key), ke.Want[0].Filename, ke.Want[0].Line, scan)}
		case errors.As(err, &re):
			return &hostKeyError{fmt.Sprintf("target %s: the host key of %s is revoked in %s, so the step was refused", name, address, path)}
		default:
			return &hostKeyError{fmt.Sprintf("target %s: the host key of %s could not be checked: %v", name, address, err)}
		}
	}
	return check, algos, nil
}

// algorithmsFor lists the signature algorithms a host key of type t signs
// with (an RSA key signs with SHA-2 as well as SHA-1).
func algorithmsFor(t string) []string {
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{t}
}
