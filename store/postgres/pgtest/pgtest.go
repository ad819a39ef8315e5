// Package pgtest gives tests a real PostgreSQL: a server started from the
// Debian binaries (initdb and pg_ctl from /usr/lib/postgresql/*/bin, or on
// PATH) in a temporary directory on a loopback port, or the server named
// by TEBURA_TEST_POSTGRES_DSN; and a fresh, empty database per test.
//
// One server serves a whole test package: call Main from TestMain, which
// stops it after the tests. When the tests run as root the server runs as
// the unprivileged user nobody (PostgreSQL refuses to run as root), its
// directory chowned to it.
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestX(t *testing.T) { dsn := pgtest.DSN(t); … }
//
// Under `go test -short` the tests that need a server skip. Where the
// binaries are missing they skip too, except in CI (the CI variable set),
// where .ci/run installs them and their absence fails the test.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the variable that points the tests at an existing server
// (a DSN whose user may create databases) instead of starting one.
const EnvDSN = "TEBURA_TEST_POSTGRES_DSN"

// Options tune a server Start begins.
type Options struct {
	// Durable keeps PostgreSQL's default fsync. Tests leave it off (the
	// data is thrown away, and a commit still survives Halt, which kills
	// the server and not the machine); a benchmark turns it on so that
	// its figures are a real server's.
	Durable bool
	// MaxConnections is the server's max_connections; zero means 200.
	MaxConnections int
}

// Server is one PostgreSQL server this package started.
type Server struct {
	// Port is the loopback port it listens on.
	Port int
	dir  string // data directory
	bin  string // directory of initdb and pg_ctl
	opts Options
	cred *syscall.Credential // nil unless running as root
}

// binDir finds the directory holding initdb and pg_ctl: the newest
// /usr/lib/postgresql/N/bin, or the directory of initdb on PATH.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	p, err := exec.LookPath("initdb")
	if err != nil {
		return "", errors.New("no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or on PATH")
	}
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	return filepath.Dir(p), nil
}

// version is N of /usr/lib/postgresql/N/bin.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start initializes a data directory in a new temporary directory and
// starts a server on a free loopback port, as nobody when running as root.
// Stop it with Stop.
func Start(opts Options) (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	if opts.MaxConnections == 0 {
		opts.MaxConnections = 200
	}
	dir, err := os.MkdirTemp("", "tebura-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin, opts: opts}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root, the server needs the user nobody: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if out, err := s.command("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	if err := s.Restart(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// command is a server binary run as the server's user.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

// Restart starts the server (again, after Kill or Halt) and waits until it
// accepts connections.
func (s *Server) Restart() error {
	o := []string{
		"-c listen_addresses=127.0.0.1",
		"-p " + strconv.Itoa(s.Port),
		"-c unix_socket_directories=" + s.dir,
		"-c max_connections=" + strconv.Itoa(s.opts.MaxConnections),
	}
	if !s.opts.Durable {
		// Without fsync a commit still reaches the kernel before it is
		// acknowledged (synchronous_commit stays on), so Halt, which
		// kills the server but not the machine, loses nothing.
		o = append(o, "-c fsync=off", "-c full_page_writes=off")
	}
	out, err := s.command("pg_ctl", "start", "-w", "-t", "60", "-D", s.data(), "-l", filepath.Join(s.dir, "server.log"),
		"-o", strings.Join(o, " ")).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
		return fmt.Errorf("pg_ctl start: %v: %s\n%s", err, out, log)
	}
	return nil
}

// Halt stops the server at once (pg_ctl stop -m immediate: connections
// cut, no checkpoint), as a crash or a failover would; Restart brings it
// back.
func (s *Server) Halt() error {
	out, err := s.command("pg_ctl", "stop", "-w", "-m", "immediate", "-D", s.data()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

// Stop stops the server and removes its directory.
func (s *Server) Stop() error {
	err := s.Halt()
	if rmErr := os.RemoveAll(s.dir); err == nil {
		err = rmErr
	}
	return err
}

// DSN is the DSN of database db on the server, as its superuser.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", s.Port, db)
}

// harness is the package's one server (or external DSN) and the databases
// made on it. It is package state because a test package shares one
// server across its tests, started by the first that needs it.
var harness struct {
	mu      sync.Mutex
	main    bool    // Main is running the tests
	server  *Server // started by the first DSN call
	admin   string  // DSN of a database to run CREATE DATABASE on
	startEr error   // why the server could not start
	next    int     // databases made
}

// Main runs the package's tests and then stops the server they started,
// returning m.Run's code: call it from TestMain.
func Main(m *testing.M) int {
	harness.mu.Lock()
	harness.main = true
	harness.mu.Unlock()
	code := m.Run()
	harness.mu.Lock()
	defer harness.mu.Unlock()
	if harness.server != nil {
		if err := harness.server.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stopping the server:", err)
		}
		harness.server = nil
	}
	return code
}

// Need skips under -short, and where there is neither a server binary nor
// TEBURA_TEST_POSTGRES_DSN: it fails in CI (which installs PostgreSQL)
// and skips with the reason elsewhere.
func Need(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real PostgreSQL; skipped under -short")
	}
	if os.Getenv(EnvDSN) != "" {
		return
	}
	if _, err := binDir(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v; .ci/run installs Debian's postgresql", err)
		}
		t.Skipf("%v: apt-get install postgresql, or set %s, to run the PostgreSQL tests", err, EnvDSN)
	}
}

// Shared returns the package's server, starting it on first use; it is
// nil when the tests use TEBURA_TEST_POSTGRES_DSN. Tests that stop and
// restart the server (Halt, Restart) use it; they must not run in parallel
// with other tests of the package.
func Shared(t testing.TB) *Server {
	t.Helper()
	Need(t)
	harness.mu.Lock()
	defer harness.mu.Unlock()
	if err := setup(); err != nil {
		t.Fatal(err)
	}
	return harness.server
}

// setup starts the server or reads the external DSN, once. harness.mu is
// held.
func setup() error {
	if !harness.main {
		return errors.New("pgtest: call pgtest.Main from TestMain, which stops the server after the tests")
	}
	if harness.admin != "" || harness.startEr != nil {
		return harness.startEr
	}
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		harness.admin = dsn
		return nil
	}
	s, err := Start(Options{})
	if err != nil {
		harness.startEr = fmt.Errorf("pgtest: starting PostgreSQL: %w", err)
		return harness.startEr
	}
	harness.server = s
	harness.admin = s.DSN("postgres")
	return nil
}

// DSN creates a fresh, empty database for t and returns its DSN; the
// database is dropped when t ends (after t's other cleanups, which close
// what used it).
func DSN(t testing.TB) string {
	t.Helper()
	Need(t)
	harness.mu.Lock()
	if err := setup(); err != nil {
		harness.mu.Unlock()
		t.Fatal(err)
	}
	harness.next++
	name := fmt.Sprintf("tebura_test_%d_%d", os.Getpid(), harness.next)
	admin := harness.admin
	harness.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := exec1(ctx, admin, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := exec1(ctx, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database: %v", err)
		}
	})
	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// exec1 runs one statement on a connection of its own.
func exec1(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns dsn pointed at database db, in either DSN form.
func withDatabase(dsn, db string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("pgtest: %s is not a valid URL", EnvDSN)
		}
		u.Path = "/" + db
		q := u.Query()
		q.Del("dbname")
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " dbname=" + db, nil // a later keyword wins
}
