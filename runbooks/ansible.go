package runbooks

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tebura/tebura"
)

// StepAnsible is a step that runs an Ansible playbook from the bot's host
// (see AnsibleStep).
const StepAnsible StepKind = "ansible"

// AnsibleStep is an ansible step before rendering: a playbook run against
// the targets On selects (the same selector as ssh steps) or against an
// inventory file, with Vars as extra vars.
type AnsibleStep struct {
	// Playbook is the playbook's path: absolute, or relative to the
	// runbook's file. Never templated.
	Playbook string `yaml:"playbook" json:"playbook"`
	// On selects targets by labels, as an ssh step's on does; the
	// inventory ansible sees holds those targets only.
	On string `yaml:"on" json:"on,omitempty"`
	// Inventory is an inventory file (absolute, or relative to the
	// runbook's file) used instead of On. Never templated.
	Inventory string `yaml:"inventory" json:"inventory,omitempty"`
	// Vars are the playbook's extra vars; values may be templates over
	// params. They reach ansible in a file, marked unsafe, so that a
	// value is never a Jinja template nor a command-line argument.
	Vars map[string]string `yaml:"vars" json:"vars,omitempty"`
}

// AnsibleRequest is a rendered ansible step. Its resolved targets are part
// of the plan, so its hash (and an approval) binds to them.
type AnsibleRequest struct {
	Playbook  string            `json:"playbook"`
	On        string            `json:"on,omitempty"`
	Targets   []string          `json:"targets,omitempty"`
	Inventory string            `json:"inventory,omitempty"`
	Vars      map[string]string `json:"vars,omitempty"`
}

// TaskStatus is how one task ended on one host.
type TaskStatus string

// Task statuses, as ansible reports them.
const (
	TaskOK          TaskStatus = "ok"
	TaskChanged     TaskStatus = "changed"
	TaskFailed      TaskStatus = "failed"
	TaskSkipped     TaskStatus = "skipped"
	TaskUnreachable TaskStatus = "unreachable"
)

// TaskEvent is one task's result on one host, as the playbook runs.
type TaskEvent struct {
	Task   string
	Host   string
	Status TaskStatus
	// Msg is the first line of ansible's message for a failed or
	// unreachable task ("" otherwise).
	Msg string
}

// PlaybookRunner runs ansible-playbook. It is the interface the ansible
// step kind implements (runbooks/step/ansible), so that this package
// knows nothing of ansible's files, flags or output.
//
// RunPlaybook runs req and returns ansible-playbook's exit code; err says
// why it could not run (code -1). Without check, each task's result goes
// to events as it happens and anything else ansible prints to out. With
// check, the playbook runs with --check --diff and its readable output
// goes to out, for people to read before they approve. When ctx ends, the
// whole process group is stopped before RunPlaybook returns.
type PlaybookRunner interface {
	RunPlaybook(ctx context.Context, req AnsibleRequest, check bool, out io.Writer, events func(TaskEvent)) (code int, err error)
}

// maxTaskMsg bounds the message a failed task line carries.
const maxTaskMsg = 300

// taskLine is the output line for one task's result on one host:
// "[web1] changed: Restart nginx", with the reason of a failure after it.
func taskLine(ev TaskEvent) string {
	line := fmt.Sprintf("[%s] %s: %s", ev.Host, ev.Status, ev.Task)
	if ev.Msg != "" {
		msg, _, _ := strings.Cut(ev.Msg, "\n")
		if len(msg) > maxTaskMsg {
			msg = msg[:maxTaskMsg] + "…"
		}
		line += " (" + msg + ")"
	}
	return line + "\n"
}

// taskCounts is the status of a running playbook for the live message:
// the current task and how many results of each kind so far.
type taskCounts struct {
	mu     sync.Mutex
	task   string
	n      map[TaskStatus]int
	failed []string
}

func (c *taskCounts) add(ev TaskEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.task = ev.Task
	c.n[ev.Status]++
	if ev.Status == TaskFailed || ev.Status == TaskUnreachable {
		c.failed = append(c.failed, ev.Host)
	}
}

// summary is "task Restart nginx; 3 ok, 2 changed, 1 failed (web3)".
func (c *taskCounts) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for _, s := range []TaskStatus{TaskOK, TaskChanged, TaskSkipped, TaskFailed, TaskUnreachable} {
		if c.n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n[s], s))
		}
	}
	if len(c.failed) > 0 {
		hosts := append([]string(nil), c.failed...)
		sort.Strings(hosts)
		parts[len(parts)-1] += " (" + shortList(dedupe(hosts), maxNamesShown) + ")"
	}
	sum := strings.Join(parts, ", ")
	if c.task != "" {
		if sum == "" {
			return "task " + c.task
		}
		return "task " + c.task + "; " + sum
	}
	return sum
}

func dedupe(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// runAnsible runs an ansible step: each task's result on each host is a
// line of output ("[web1] changed: Restart nginx"), the step's status in
// the live message names the current task and counts the results, and a
// failed task (a non-zero exit of ansible-playbook) fails the step.
func (e *Executor) runAnsible(ctx context.Context, h *Handle, s RenderedStep, out *output) stepResult {
	if e.cfg.Playbooks == nil {
		return stepResult{code: -1, err: tebura.Errorf(tebura.EINTERNAL, "no ansible runner is configured")}
	}
	if s.Ansible == nil {
		return stepResult{code: -1, err: fmt.Errorf("nothing to run")}
	}
	c := &taskCounts{n: map[TaskStatus]int{}}
	show := func() {
		if h != nil {
			sum := c.summary()
			h.update(func(h *Handle) {
				h.step = s.Name
				if sum != "" {
					h.step += " (" + sum + ")"
				}
			})
		}
	}
	show()
	events := func(ev TaskEvent) {
		out.endLine()
		_, _ = io.WriteString(out, taskLine(ev))
		c.add(ev)
		show()
	}
	code, err := e.cfg.Playbooks.RunPlaybook(ctx, *s.Ansible, false, out, events)
	out.endLine()
	if sum := c.summary(); sum != "" {
		out.note("%s: %s", s.Name, sum)
	}
	switch {
	case err != nil:
		return stepResult{code: -1, err: err}
	case ctx.Err() != nil:
		return stepResult{code: -1}
	case code != 0:
		return stepResult{code: code, err: fmt.Errorf("ansible-playbook exited with code %d (%s)", code, ansibleExit(code))}
	}
	return stepResult{}
}

// ansibleExit says what ansible-playbook's exit code means.
func ansibleExit(code int) string {
	switch code {
	case 2:
		return "a task failed"
	case 4:
		return "a host was unreachable"
	case 1:
		return "an error"
	case 3, 5:
		return "the playbook or its options are invalid"
	case 99:
		return "interrupted"
	default:
		return "see the output"
	}
}

// Plan check defaults.
const (
	// DefaultPlanCheckTimeout bounds the --check --diff run of a plan
	// whose ansible step sets no timeout.
	DefaultPlanCheckTimeout = 2 * time.Minute
	// MaxPlanCheckBytes is how much of a plan check's output the plan
	// keeps: approvers read it in chat.
	MaxPlanCheckBytes = 16 << 10
)

// capWriter keeps the first max bytes written to it.
type capWriter struct {
	mu  sync.Mutex
	b   []byte
	max int
	cut bool
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	room := w.max - len(w.b)
	if len(p) > room {
		w.b = append(w.b, p[:max(room, 0)]...)
		w.cut = true
	} else {
		w.b = append(w.b, p...)
	}
	return len(p), nil
}

// checkPlan runs every ansible step of a plan_check runbook with
// --check --diff and returns what they printed, masked, for the plan
// preview: approvers read what the playbook would change before they
// approve. A check that fails is shown, not hidden: the run can still be
// requested, and the failure is part of what approvers read.
func (s *Service) checkPlan(ctx context.Context, rb *Runbook, vals Values, m Masker) string {
	if !rb.PlanCheck {
		return ""
	}
	steps, err := rb.Render(vals)
	if err != nil {
		return ""
	}
	var runner PlaybookRunner
	if s.exec != nil {
		runner = s.exec.cfg.Playbooks
	}
	var b strings.Builder
	for _, st := range steps {
		if st.Kind != StepAnsible {
			continue
		}
		fmt.Fprintf(&b, "--check --diff of step %s:\n", st.Name)
		if runner == nil {
			b.WriteString("(not run: no ansible runner is configured)\n")
			continue
		}
		timeout := st.Timeout
		if timeout <= 0 {
			timeout = DefaultPlanCheckTimeout
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		w := &capWriter{max: MaxPlanCheckBytes}
		code, err := runner.RunPlaybook(cctx, *st.Ansible, true, w, nil)
		timedOut := cctx.Err() != nil
		cancel()
		text := compactCheck(string(w.b))
		if m != nil {
			text = m.Mask(text)
		}
		b.WriteString(text)
		b.WriteByte('\n')
		switch {
		case w.cut:
			fmt.Fprintf(&b, "(output cut at %d bytes)\n", MaxPlanCheckBytes)
		}
		switch {
		case err != nil:
			msg := err.Error()
			if m != nil {
				msg = m.Mask(msg)
			}
			fmt.Fprintf(&b, "(the check could not run: %s)\n", msg)
		case timedOut:
			fmt.Fprintf(&b, "(the check did not finish within %s)\n", shortDuration(timeout))
		case code != 0:
			fmt.Fprintf(&b, "(the check exited with code %d: %s)\n", code, ansibleExit(code))
		}
		s.log.Info("plan check ran", "runbook", rb.Name, "step", st.Name, "code", code, "timed_out", timedOut)
	}
	return strings.TrimRight(b.String(), "\n")
}

// compactCheck drops the rows of stars ansible draws after a play or task
// title and the blanks at line ends: chat space is for the diff. Other
// lines keep their stars (a masked value ends in "***").
func compactCheck(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, " ")
		for _, title := range []string{"PLAY ", "TASK [", "RUNNING HANDLER [", "PLAY RECAP "} {
			if strings.HasPrefix(l, title) {
				l = strings.TrimRight(strings.TrimRight(l, "*"), " ")
			}
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}
