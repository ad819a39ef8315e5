package runbooks

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/tebura/tebura"
)

// StepSSH is a step run on remote targets over SSH (see SSHStep).
const StepSSH StepKind = "ssh"

// Target is one host of the inventory as runbooks see it: a name and
// labels. Where it is and how to reach it belong to the TargetRunner, so
// this package holds no address, key or SDK.
type Target struct {
	Name   string
	Labels map[string]string
}

// SSHStep is an ssh step before rendering: argv (Run) or a shell script
// run on every target that On selects.
type SSHStep struct {
	// On selects targets by labels: "role=api,env={{ .Params.env }}". Keys
	// are literal; a value may be a template over an enum or patterned
	// param, and must render to a plain label value.
	On     string   `yaml:"on" json:"on"`
	Run    []string `yaml:"run" json:"run,omitempty"`
	Script string   `yaml:"script" json:"script,omitempty"`
	// Parallel is how many targets run at once (1 when zero: one at a time).
	Parallel int `yaml:"parallel" json:"parallel,omitempty"`
	// FailFast stops the targets still running and skips those not started
	// as soon as one fails.
	FailFast bool `yaml:"fail_fast" json:"fail_fast,omitempty"`
}

// SSHRequest is a rendered ssh step: the resolved targets are part of the
// plan, so its hash (and an approval) binds to them.
type SSHRequest struct {
	On       string   `json:"on"`
	Targets  []string `json:"targets"`
	Parallel int      `json:"parallel"`
	FailFast bool     `json:"fail_fast,omitempty"`
}

// RemoteCommand is what a TargetRunner runs on one target: Argv, or
// Script run by sh; Env ("K=V", the step's env and TEBURA_PARAM_*) is
// exported before either.
type RemoteCommand struct {
	Argv   []string
	Script string
	Env    []string
}

// TargetRunner runs a command on one target. It is the interface step kinds
// that need an SDK implement (runbooks/step/ssh), so that this package
// imports none; the executor does the fan-out, the parallel limit, fail
// fast, the output prefixes and the status.
//
// RunOn writes the command's output (stdout and stderr) to out and returns
// its exit code; err says why it could not run (connection, host key…)
// with code -1. When ctx ends, RunOn stops the remote command and
// everything it started, and returns.
type TargetRunner interface {
	RunOn(ctx context.Context, target string, cmd RemoteCommand, out io.Writer) (code int, err error)
}

// selectorKey is a label name in a selector.
var selectorKey = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.-]{0,62}$`)

// selectorValue is what a selector's value must render to: a label value
// (a param cannot add a clause by rendering "prod,role=db").
var selectorValue = regexp.MustCompile(`^[a-zA-Z0-9_.:/-]{1,63}$`)

// selectorClause is one "key=value" of a selector, before rendering.
type selectorClause struct{ key, value string }

// parseSelector splits a selector into its clauses. Commas and "=" inside
// {{ }} are not separators, so a template stays whole.
func parseSelector(on string) ([]selectorClause, error) {
	if strings.TrimSpace(on) == "" {
		return nil, fmt.Errorf("is empty; select targets by labels, like role=api,env=prod")
	}
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(on); i++ {
		switch {
		case strings.HasPrefix(on[i:], "{{"):
			depth++
			i++
		case strings.HasPrefix(on[i:], "}}") && depth > 0:
			depth--
			i++
		case on[i] == ',' && depth == 0:
			parts = append(parts, on[start:i])
			start = i + 1
		}
	}
	parts = append(parts, on[start:])
	var out []selectorClause
	seen := map[string]bool{}
	for _, p := range parts {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok || v == "":
			return nil, fmt.Errorf("%q is not key=value; select targets by labels, like role=api,env=prod", strings.TrimSpace(p))
		case !selectorKey.MatchString(k):
			return nil, fmt.Errorf("%q is not a label name (a selector's keys are written out, never templated)", k)
		case seen[k]:
			return nil, fmt.Errorf("names the label %s twice", k)
		case !strings.Contains(v, "{{") && !selectorValue.MatchString(v):
			return nil, fmt.Errorf("%q is not a label value", v)
		}
		seen[k] = true
		out = append(out, selectorClause{k, v})
	}
	return out, nil
}

// resolveTargets renders the selector's values with params and returns the
// names of the targets whose labels match every clause, sorted, and the
// rendered selector.
func resolveTargets(on string, params map[string]string, inventory []Target) (string, []string, error) {
	clauses, err := parseSelector(on)
	if err != nil {
		return "", nil, err
	}
	rendered := make([]string, len(clauses))
	for i, c := range clauses {
		v, err := renderString("on."+c.key, c.value, params)
		if err != nil {
			return "", nil, err
		}
		if !selectorValue.MatchString(v) {
			return "", nil, fmt.Errorf("the value of %s rendered to %q, which is not a label value", c.key, v)
		}
		clauses[i].value = v
		rendered[i] = c.key + "=" + v
	}
	var names []string
	for _, t := range inventory {
		if slices.IndexFunc(clauses, func(c selectorClause) bool {
			have, ok := t.Labels[c.key]
			return !ok || have != c.value
		}) < 0 {
			names = append(names, t.Name)
		}
	}
	slices.Sort(names)
	sel := strings.Join(rendered, ",")
	if len(names) == 0 {
		return sel, nil, fmt.Errorf("%s selects no target; `tebura targets` lists them with their labels", sel)
	}
	return sel, names, nil
}

// TargetState is where one target of an ssh step is.
type TargetState string

// Target states, as the live message shows them.
const (
	TargetPending   TargetState = "pending"
	TargetRunning   TargetState = "running"
	TargetOK        TargetState = "ok"
	TargetFailed    TargetState = "failed"
	TargetCancelled TargetState = "cancelled"
)

// targetResult is how one target of an ssh step ended.
type targetResult struct {
	state TargetState
	code  int
	err   error
}

// fanOut is the status of one ssh step's targets, shown in the live
// message as a summary that fits any number of targets.
type fanOut struct {
	mu     sync.Mutex
	names  []string
	states map[string]TargetState
}

func (f *fanOut) set(name string, s TargetState) {
	f.mu.Lock()
	f.states[name] = s
	f.mu.Unlock()
}

// runSSH runs an ssh step on its resolved targets: at most Parallel at
// once, each target's output prefixed with "[name] ", the step's status
// line kept current with the targets' states, and with FailFast the
// others stopped at the first failure.
func (e *Executor) runSSH(ctx context.Context, h *Handle, s RenderedStep, out *output) stepResult {
	if e.cfg.Targets == nil {
		return stepResult{code: -1, err: tebura.Errorf(tebura.EINTERNAL, "no SSH runner is configured")}
	}
	req := s.SSH
	if req == nil || len(req.Targets) == 0 {
		return stepResult{code: -1, err: fmt.Errorf("no target to run on")}
	}
	f := &fanOut{names: req.Targets, states: map[string]TargetState{}}
	for _, t := range req.Targets {
		f.states[t] = TargetPending
	}
	show := func() {
		if h != nil {
			sum := f.summary()
			h.update(func(h *Handle) { h.step = s.Name + " (" + sum + ")" })
		}
	}
	show()
	parallel := max(req.Parallel, 1)
	stepCtx, stop := context.WithCancel(ctx)
	defer stop()
	cmd := RemoteCommand{Argv: s.Argv, Script: s.Script, Env: s.Env}
	results := make([]targetResult, len(req.Targets))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, name := range req.Targets {
		select {
		case sem <- struct{}{}:
		case <-stepCtx.Done():
		}
		if stepCtx.Err() != nil {
			for _, rest := range req.Targets[i:] {
				f.set(rest, TargetCancelled)
			}
			for j := i; j < len(results); j++ {
				results[j] = targetResult{state: TargetCancelled, code: -1}
			}
			break
		}
		f.set(name, TargetRunning)
		show()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w := &prefixWriter{prefix: "[" + name + "] ", out: out}
			code, err := e.cfg.Targets.RunOn(stepCtx, name, cmd, w)
			w.flush()
			r := targetResult{state: TargetOK, code: code, err: err}
			switch {
			case code == 0 && err == nil:
			case stepCtx.Err() != nil: // fail_fast, cancel or timeout stopped it
				r.state = TargetCancelled
			default:
				r.state = TargetFailed
			}
			results[i] = r
			f.set(name, r.state)
			switch {
			case r.state == TargetFailed && err != nil:
				out.note("[%s] failed: %v", name, err)
			case r.state == TargetFailed:
				out.note("[%s] exited with code %d", name, code)
			case r.state == TargetCancelled:
				out.note("[%s] stopped", name)
			}
			show()
			if r.state == TargetFailed && req.FailFast {
				stop()
			}
		}()
	}
	wg.Wait()
	sum := f.summary()
	out.note("%s: %s", s.Name, sum)
	var failed []string
	code := 0
	for i, r := range results {
		if r.state == TargetFailed {
			failed = append(failed, req.Targets[i])
			if code == 0 {
				code = r.code
				if code == 0 {
					code = -1
				}
			}
		}
	}
	if len(failed) == 0 && ctx.Err() == nil {
		return stepResult{}
	}
	if len(failed) == 0 {
		return stepResult{code: -1}
	}
	return stepResult{code: code, err: fmt.Errorf("%s (%s: %s)", sum, plural(len(failed), "target failed", "targets failed"), strings.Join(failed, ", "))}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// prefixWriter writes whole lines to out, each prefixed; a last line
// without a newline is written by flush. Writes may come from two
// goroutines (stdout and stderr of one session).
type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	out    io.Writer
	buf    []byte
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	var b []byte
	for {
		i := slices.Index(w.buf, '\n')
		if i < 0 {
			break
		}
		b = append(b, w.prefix...)
		b = append(b, w.buf[:i+1]...)
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > MaxLineBytes { // cut, as a local line this long is
		b = append(append(append(b, w.prefix...), w.buf...), '\n')
		w.buf = w.buf[:0]
	}
	if len(b) > 0 {
		if _, err := w.out.Write(b); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (w *prefixWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		_, _ = w.out.Write(append(append([]byte(w.prefix), w.buf...), '\n'))
		w.buf = nil
	}
}

// sameTargets refuses to start a run whose ssh or ansible steps would now reach other
// targets than its plan (and so its approval) named: a target added to the
// inventory after approval does not silently join the run.
func sameTargets(run *Run, rb *Runbook, vals Values, steps []RenderedStep) error {
	if !slices.ContainsFunc(steps, func(s RenderedStep) bool { return s.Kind == StepSSH || s.Kind == StepAnsible }) {
		return nil
	}
	plan, err := rb.Plan(vals)
	if err != nil {
		return err
	}
	if plan.Hash == run.PlanHash {
		return nil
	}
	var now []string
	for _, s := range plan.Steps {
		if s.SSH != nil {
			now = append(now, s.Name+" on "+strings.Join(s.SSH.Targets, ", "))
		}
		if s.Ansible != nil && s.Ansible.Inventory == "" {
			now = append(now, s.Name+" on "+strings.Join(s.Ansible.Targets, ", "))
		}
	}
	return tebura.Errorf(tebura.ECONFLICT, "The plan changed since it was requested (the targets are now: %s), so it is not the plan that was approved; request the run again.", strings.Join(now, "; "))
}
