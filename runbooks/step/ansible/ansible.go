// Package ansible runs ansible steps with the real ansible-playbook: it
// implements runbooks.PlaybookRunner, so that the runbooks package knows
// nothing of ansible's files, flags or output.
//
// ansible-playbook runs from the bot's host as its user, with no shell in
// between. Params reach the playbook only through an extra-vars file (mode
// 0600, in a private directory removed afterwards) whose values are tagged
// !unsafe, so that ansible never renders them as Jinja templates; they are
// never on the command line. The inventory is generated from the targets
// the plan resolved (addresses, users, ports and keys from the config), or
// is a file the runbook names; either way the OpenSSH client checks host
// keys against ssh.known_hosts with StrictHostKeyChecking=yes. Progress
// comes from ansible's own JSON-lines callback (ansible.posix.jsonl) and is
// reported per task and host. A timeout or cancel stops the whole process
// group, and the module running on a target with it (its terminal hangs
// up).
package ansible

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tebura/tebura/runbooks"
)

// Defaults for Config fields left zero.
const (
	DefaultBinary         = "ansible-playbook"
	DefaultKillGrace      = 5 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	// JSONCallback is the stdout callback whose lines are parsed: ansible's
	// own JSON-lines callback, shipped by Debian's ansible package (the
	// ansible.posix collection).
	JSONCallback = "ansible.posix.jsonl"
	// maxEventLine bounds one JSON line read from ansible (a task result
	// with a big stdout); longer lines are skipped.
	maxEventLine = 8 << 20
)

// Target is how ansible reaches one target of the inventory.
type Target struct {
	Host string
	Port int
	User string
	// Identity is the path of a private key; empty with Agent.
	Identity string
	// Agent authenticates through the agent at $SSH_AUTH_SOCK.
	Agent bool
}

// Config is the inventory and what every run shares.
type Config struct {
	Targets map[string]Target
	// KnownHosts is the known_hosts file host keys are checked against.
	KnownHosts string
	// Binary is ansible-playbook's path (DefaultBinary, found in PATH).
	Binary string
	// TempDir is where the private directory of each run is made
	// (os.TempDir() when empty).
	TempDir        string
	KillGrace      time.Duration
	ConnectTimeout time.Duration
}

// Runner implements runbooks.PlaybookRunner with ansible-playbook.
type Runner struct {
	cfg atomic.Pointer[Config]
}

var _ runbooks.PlaybookRunner = (*Runner)(nil)

// New returns a runner for cfg.
func New(cfg Config) *Runner {
	r := &Runner{}
	r.Update(cfg)
	return r
}

// Update replaces the inventory (a configuration reload).
func (r *Runner) Update(cfg Config) {
	if cfg.Binary == "" {
		cfg.Binary = DefaultBinary
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = DefaultKillGrace
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	r.cfg.Store(&cfg)
}

// RunPlaybook runs req (see runbooks.PlaybookRunner).
func (r *Runner) RunPlaybook(ctx context.Context, req runbooks.AnsibleRequest, check bool, out io.Writer, events func(runbooks.TaskEvent)) (int, error) {
	cfg := r.cfg.Load()
	bin, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return -1, fmt.Errorf("%s is not installed on the bot's host (ansible steps run it there; the tebura:tools image has it): %w", cfg.Binary, err)
	}
	if cfg.TempDir != "" {
		if err := os.MkdirAll(cfg.TempDir, 0o700); err != nil {
			return -1, fmt.Errorf("a private directory for ansible could not be made: %w", err)
		}
	}
	dir, err := os.MkdirTemp(cfg.TempDir, "tebura-ansible-*") // 0700
	if err != nil {
		return -1, fmt.Errorf("a private directory for ansible could not be made: %w", err)
	}
	defer os.RemoveAll(dir)
	args, err := prepare(dir, cfg, req, check)
	if err != nil {
		return -1, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir // no ansible.cfg of some working directory applies
	cmd.Env = environ(dir, cfg, check)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		return -1, err
	}
	er, ew, err := os.Pipe()
	if err != nil {
		pr.Close()
		pw.Close()
		return -1, err
	}
	cmd.Stdout, cmd.Stderr = pw, ew
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		er.Close()
		ew.Close()
		return -1, fmt.Errorf("ansible-playbook could not start: %w", err)
	}
	pw.Close()
	ew.Close()
	pgid := cmd.Process.Pid
	sw := &lockedWriter{w: out}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if check || events == nil {
			_, _ = io.Copy(sw, pr)
			return
		}
		readEvents(pr, sw, events)
	}()
	go func() {
		defer wg.Done()
		_, _ = io.Copy(sw, er)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	var werr error
	stopped := false
	select {
	case werr = <-waited:
	case <-ctx.Done():
		stopped = true
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		grace := time.NewTimer(cfg.KillGrace)
		select {
		case werr = <-waited:
		case <-grace.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			werr = <-waited
		}
		grace.Stop()
	}
	// What the playbook left in its group (ssh connections) dies with it,
	// which also closes the pipes for the readers.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	wg.Wait()
	pr.Close()
	er.Close()
	if stopped {
		return -1, nil
	}
	var ee *exec.ExitError
	switch {
	case werr == nil:
		return 0, nil
	case errors.As(werr, &ee):
		return ee.ExitCode(), nil
	default:
		return -1, werr
	}
}

// prepare writes the extra-vars file and the inventory into dir and
// returns ansible-playbook's arguments.
func prepare(dir string, cfg *Config, req runbooks.AnsibleRequest, check bool) ([]string, error) {
	if req.Playbook == "" {
		return nil, errors.New("no playbook to run")
	}
	vars, err := VarsFile(req.Vars)
	if err != nil {
		return nil, err
	}
	varsPath := filepath.Join(dir, "vars.yml")
	if err := os.WriteFile(varsPath, vars, 0o600); err != nil {
		return nil, fmt.Errorf("the extra-vars file could not be written: %w", err)
	}
	inv := req.Inventory
	if inv == "" {
		b, err := Inventory(cfg, req.Targets)
		if err != nil {
			return nil, err
		}
		inv = filepath.Join(dir, "inventory.json")
		if err := os.WriteFile(inv, b, 0o600); err != nil {
			return nil, fmt.Errorf("the inventory could not be written: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ansible.cfg"), nil, 0o600); err != nil {
		return nil, err
	}
	args := []string{"-i", inv, "-e", "@" + varsPath}
	if check {
		args = append(args, "--check", "--diff")
	}
	return append(args, "--", req.Playbook), nil
}

// VarsFile is the extra-vars file for vars: a YAML mapping whose every
// value is a string tagged !unsafe, so that ansible takes it as data and
// never renders a "{{ … }}" inside it as a template.
func VarsFile(vars map[string]string) ([]byte, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := vars[k]
		if strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("the value of var %s holds a NUL byte", k)
		}
		m.Content = append(m.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!unsafe", Value: v, Style: yaml.DoubleQuotedStyle})
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{m}}
	if len(keys) == 0 {
		m.Style = yaml.FlowStyle
	}
	return yaml.Marshal(doc)
}

// inventoryHost is one host of a generated inventory.
type inventoryHost struct {
	Host     string `json:"ansible_host"`
	Port     int    `json:"ansible_port"`
	User     string `json:"ansible_user"`
	Identity string `json:"ansible_ssh_private_key_file,omitempty"`
	// ExtraArgs holds IdentitiesOnly for a target with a key file, so
	// that ssh offers that key, not the agent's (a target with agent: true
	// uses the agent's keys).
	ExtraArgs string `json:"ansible_ssh_extra_args,omitempty"`
}

// Inventory is a YAML (here JSON) inventory holding the named targets
// only, with how to reach each.
func Inventory(cfg *Config, names []string) ([]byte, error) {
	if len(names) == 0 {
		return nil, errors.New("no target to run on")
	}
	hosts := map[string]inventoryHost{}
	for _, n := range names {
		t, ok := cfg.Targets[n]
		if !ok {
			return nil, fmt.Errorf("target %s is not in the inventory any more", n)
		}
		port := t.Port
		if port == 0 {
			port = 22
		}
		h := inventoryHost{Host: t.Host, Port: port, User: t.User}
		if !t.Agent {
			h.Identity, h.ExtraArgs = t.Identity, "-o IdentitiesOnly=yes"
		}
		hosts[n] = h
	}
	return json.MarshalIndent(map[string]any{"all": map[string]any{"hosts": hosts}}, "", "  ")
}

// quote quotes s for the shlex split ansible applies to ssh arguments.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// environ is ansible-playbook's environment: the few inherited variables
// (never tebura's tokens) and the settings that make it safe here.
func environ(dir string, cfg *Config, check bool) []string {
	env := []string{}
	for _, k := range []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "SSH_AUTH_SOCK"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		} else if k == "PATH" {
			env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
		}
	}
	known := cfg.KnownHosts
	if known == "" {
		known = "/dev/null" // no key is known: every host is refused
	}
	sshArgs := strings.Join([]string{
		"-o StrictHostKeyChecking=yes",
		"-o UserKnownHostsFile=" + quote(known),
		"-o GlobalKnownHostsFile=/dev/null",
		"-o BatchMode=yes",
		"-o ConnectTimeout=" + strconv.Itoa(int(cfg.ConnectTimeout/time.Second)),
	}, " ")
	callback := JSONCallback
	if check {
		callback = "default"
	}
	return append(env,
		"ANSIBLE_CONFIG="+filepath.Join(dir, "ansible.cfg"),
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "tmp"),
		"ANSIBLE_STDOUT_CALLBACK="+callback,
		"ANSIBLE_LOAD_CALLBACK_PLUGINS=1",
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_FORCE_COLOR=0",
		"ANSIBLE_RETRY_FILES_ENABLED=0",
		"ANSIBLE_HOST_KEY_CHECKING=True",
		"ANSIBLE_SSH_COMMON_ARGS="+sshArgs,
		// No master connection lingering after the playbook: everything
		// ansible starts ends with its process group.
		"ANSIBLE_SSH_ARGS=-o ControlMaster=no -o ControlPath=none",
		// Without pipelining, ansible runs each module under a terminal
		// (ssh -tt): when a cancel or timeout kills the ssh client, sshd
		// hangs up that terminal and the module's processes on the target
		// end too. With pipelining they would run on.
		"ANSIBLE_PIPELINING=False",
		"ANSIBLE_PYTHON_INTERPRETER=auto_silent",
		"ANSIBLE_DEPRECATION_WARNINGS=False",
		"ANSIBLE_SYSTEM_WARNINGS=False",
	)
}

// lockedWriter serialises the writes of the stdout and stderr readers.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// event is the part of an ansible.posix.jsonl line that matters here.
type event struct {
	Event string `json:"_event"`
	Task  struct {
		Name string `json:"name"`
	} `json:"task"`
	Hosts map[string]struct {
		Changed bool   `json:"changed"`
		Msg     any    `json:"msg"`
		Stderr  string `json:"stderr"`
	} `json:"hosts"`
}

// statusOf maps a runner event to a task status.
var statusOf = map[string]runbooks.TaskStatus{
	"v2_runner_on_ok":          runbooks.TaskOK,
	"v2_runner_on_failed":      runbooks.TaskFailed,
	"v2_runner_on_unreachable": runbooks.TaskUnreachable,
	"v2_runner_on_skipped":     runbooks.TaskSkipped,
}

// readEvents turns ansible's JSON lines into task events. A line that is
// not an event (a warning ansible printed to stdout) goes to out as it is;
// the play's other events (starts, stats) are dropped: the task lines say
// what happened.
func readEvents(r io.Reader, out io.Writer, events func(runbooks.TaskEvent)) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := readLine(br)
		if len(line) > 0 {
			handleLine(line, out, events)
		}
		if err != nil {
			return
		}
	}
}

// readLine reads one line, dropping lines longer than maxEventLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	tooLong := false
	for {
		chunk, isPrefix, err := br.ReadLine()
		if !tooLong {
			line = append(line, chunk...)
			if len(line) > maxEventLine {
				line, tooLong = nil, true
			}
		}
		if err != nil || !isPrefix {
			return line, err
		}
	}
}

func handleLine(line []byte, out io.Writer, events func(runbooks.TaskEvent)) {
	var ev event
	if line[0] != '{' || json.Unmarshal(line, &ev) != nil || ev.Event == "" {
		_, _ = out.Write(append(line, '\n'))
		return
	}
	st, ok := statusOf[ev.Event]
	if !ok {
		return
	}
	hosts := make([]string, 0, len(ev.Hosts))
	for h := range ev.Hosts {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	for _, h := range hosts {
		res := ev.Hosts[h]
		te := runbooks.TaskEvent{Task: ev.Task.Name, Host: h, Status: st}
		if st == runbooks.TaskOK && res.Changed {
			te.Status = runbooks.TaskChanged
		}
		if st == runbooks.TaskFailed || st == runbooks.TaskUnreachable {
			switch m := res.Msg.(type) {
			case string:
				te.Msg = m
			case nil:
			default:
				b, _ := json.Marshal(m)
				te.Msg = string(b)
			}
			if te.Msg == "" || te.Msg == "non-zero return code" {
				if res.Stderr != "" {
					te.Msg = strings.TrimSpace(te.Msg + ": " + res.Stderr)
				}
			}
		}
		events(te)
	}
}
