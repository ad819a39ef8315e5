package runbooks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tebura/tebura"
)

// defaultShell runs script steps that do not name an interpreter.
const defaultShell = "/bin/sh"

// mask is what a secret looks like wherever tebura shows text.
const mask = "***"

// Render renders every step with the values (validated by Bind or
// ParseArgs). The result holds real secret values: hand it to the executor,
// never show it; show a Plan instead.
func (rb *Runbook) Render(v Values) ([]RenderedStep, error) {
	return rb.render(v, nil, true)
}

// render renders steps; subst, when set, replaces the values of secret
// params (with "***" for showing or their hash for hashing), and check
// verifies URLs (skipped for substituted renderings, whose placeholders are
// not URLs).
func (rb *Runbook) render(v Values, subst func(string) string, check bool) ([]RenderedStep, error) {
	params := make(map[string]string, len(v))
	keep := map[string]bool{}
	for k, val := range v {
		params[k] = val
	}
	if subst != nil {
		for _, p := range rb.Params {
			if p.Secret {
				params[p.Name] = subst(v[p.Name])
				keep[p.Name] = true
			}
		}
	}
	fail := func(step, what string, err error) error {
		return tebura.Wrap(tebura.EINVALID, err, fmt.Sprintf("Runbook %s, step %s: the %s could not be rendered; check the runbook and the parameters.", rb.Name, step, what))
	}
	var paramEnv []string
	for _, p := range rb.Params {
		paramEnv = append(paramEnv, ParamEnv(p.Name)+"="+params[p.Name])
	}
	out := make([]RenderedStep, 0, len(rb.Steps))
	for _, s := range rb.Steps {
		r := RenderedStep{Name: s.Name, Dir: s.Dir, Timeout: s.Timeout, ContinueOnError: s.ContinueOnError}
		switch {
		case s.HTTP != nil:
			r.Kind = StepHTTP
			h := &HTTPRequest{Method: s.HTTP.Method, Expect: s.HTTP.Expect, FollowRedirects: s.HTTP.FollowRedirects}
			if h.Method == "" {
				h.Method = "GET"
			}
			var err error
			if h.URL, err = renderURL(s.HTTP.URL, params, keep); err != nil {
				return nil, fail(s.Name, "URL", err)
			}
			if check {
				if err := checkURL(h.URL); err != nil {
					return nil, tebura.Wrap(tebura.EINVALID, err, fmt.Sprintf("Runbook %s, step %s: the URL must be an http:// or https:// URL with a host.", rb.Name, s.Name))
				}
			}
			for _, k := range sortedKeys(s.HTTP.Headers) {
				hv, err := renderString(k, s.HTTP.Headers[k], params)
				if err != nil {
					return nil, fail(s.Name, "header "+k, err)
				}
				if strings.ContainsAny(hv, "\r\n") {
					return nil, tebura.Errorf(tebura.EINVALID, "Runbook %s, step %s: header %s would contain a line break; check the parameters.", rb.Name, s.Name, k)
				}
				if h.Headers == nil {
					h.Headers = map[string]string{}
				}
				h.Headers[k] = hv
			}
			if h.Body, err = renderString("body", s.HTTP.Body, params); err != nil {
				return nil, fail(s.Name, "body", err)
			}
			r.HTTP = h
		case s.SSH != nil:
			r.Kind = StepSSH
			on, targets, err := resolveTargets(s.SSH.On, params, rb.inventory)
			if err != nil {
				return nil, tebura.Wrap(tebura.EINVALID, err, fmt.Sprintf("Runbook %s, step %s: the targets could not be chosen: %v.", rb.Name, s.Name, err))
			}
			r.SSH = &SSHRequest{On: on, Targets: targets, Parallel: max(s.SSH.Parallel, 1), FailFast: s.SSH.FailFast}
			r.Script = s.SSH.Script // never templated
			for i, a := range s.SSH.Run {
				arg, err := renderString(fmt.Sprintf("run[%d]", i), a, params)
				if err != nil {
					return nil, fail(s.Name, fmt.Sprintf("argument %d", i), err)
				}
				r.Argv = append(r.Argv, arg)
			}
		case s.Manual != "":
			r.Kind = StepManual
			var err error
			if r.Instruction, err = renderString("manual", s.Manual, params); err != nil {
				return nil, fail(s.Name, "instruction", err)
			}
		case s.Ansible != nil:
			r.Kind = StepAnsible
			a := &AnsibleRequest{Playbook: s.Ansible.Playbook, Inventory: s.Ansible.Inventory}
			if s.Ansible.On != "" {
				on, targets, err := resolveTargets(s.Ansible.On, params, rb.inventory)
				if err != nil {
					return nil, tebura.Wrap(tebura.EINVALID, err, fmt.Sprintf("Runbook %s, step %s: the targets could not be chosen: %v.", rb.Name, s.Name, err))
				}
				a.On, a.Targets = on, targets
			}
			for _, k := range sortedKeys(s.Ansible.Vars) {
				v, err := renderString("vars."+k, s.Ansible.Vars[k], params)
				if err != nil {
					return nil, fail(s.Name, "var "+k, err)
				}
				if a.Vars == nil {
					a.Vars = map[string]string{}
				}
				a.Vars[k] = v
			}
			r.Ansible = a
		case s.Kubernetes != nil:
			r.Kind = StepKubernetes
			k, err := renderKubernetes(rb, s.Kubernetes, params, check)
			if err != nil {
				return nil, tebura.Wrap(tebura.EINVALID, err, fmt.Sprintf("Runbook %s, step %s: %v; check the parameters.", rb.Name, s.Name, err))
			}
			r.Kubernetes = k
		case s.Script != "":
			r.Kind = StepScript
			r.Script = s.Script // never templated
			r.Interpreter = append([]string(nil), s.Interpreter...)
			if len(r.Interpreter) == 0 {
				r.Interpreter = []string{defaultShell}
			}
		default:
			r.Kind = StepRun
			for i, a := range s.Run {
				arg, err := renderString(fmt.Sprintf("run[%d]", i), a, params)
				if err != nil {
					return nil, fail(s.Name, fmt.Sprintf("argument %d", i), err)
				}
				r.Argv = append(r.Argv, arg)
			}
		}
		if r.Kind != StepHTTP && r.Kind != StepManual && r.Kind != StepAnsible && r.Kind != StepKubernetes {
			for _, k := range sortedKeys(s.Env) {
				ev, err := renderString(k, s.Env[k], params)
				if err != nil {
					return nil, fail(s.Name, "env "+k, err)
				}
				r.Env = append(r.Env, k+"="+ev)
			}
			r.Env = append(r.Env, paramEnv...)
		}
		out = append(out, r)
	}
	return out, nil
}

// LockKey renders the runbook's lock template ("" when it has none).
func (rb *Runbook) LockKey(v Values) (string, error) {
	if rb.Lock == "" {
		return "", nil
	}
	key, err := renderString("lock", rb.Lock, v)
	if err != nil {
		return "", tebura.Wrap(tebura.EINVALID, err, fmt.Sprintf("Runbook %s: the lock name could not be rendered; check the runbook.", rb.Name))
	}
	return strings.TrimSpace(key), nil
}

// Plan is what a run will do, safe to show: secret values are masked and
// env values are left out. Hash binds approvals to it.
type Plan struct {
	Runbook string        `json:"runbook"`
	Kind    Kind          `json:"kind"`
	Timeout time.Duration `json:"timeout"`
	Lock    string        `json:"lock,omitempty"`
	Params  []PlanParam   `json:"params,omitempty"`
	Steps   []PlanStep    `json:"steps"`
	// Hash is the hex SHA-256 of the canonical JSON of the full plan (env
	// values included) in which every secret value is replaced by its own
	// SHA-256: a changed secret, param, step or runbook changes the hash, and
	// the hash never reveals a secret.
	Hash string `json:"hash"`
	// Check is the output of the ansible steps' --check --diff run when
	// the plan was made (runbooks with plan_check), masked. It is what
	// the playbook said it would change, not part of what is approved:
	// the hash leaves it out.
	Check string `json:"check,omitempty"`
}

// PlanParam is one param value as shown.
type PlanParam struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Secret bool   `json:"secret,omitempty"`
}

// PlanStep is one rendered step as shown. Env holds names only.
type PlanStep struct {
	Name            string             `json:"name"`
	Kind            StepKind           `json:"kind"`
	Argv            []string           `json:"argv,omitempty"`
	Interpreter     []string           `json:"interpreter,omitempty"`
	Script          string             `json:"script,omitempty"`
	HTTP            *HTTPRequest       `json:"http,omitempty"`
	SSH             *SSHRequest        `json:"ssh,omitempty"`
	Ansible         *AnsibleRequest    `json:"ansible,omitempty"`
	Kubernetes      *KubernetesRequest `json:"kubernetes,omitempty"`
	Instruction     string             `json:"instruction,omitempty"`
	Env             []string           `json:"env,omitempty"`
	Dir             string             `json:"dir,omitempty"`
	Timeout         time.Duration      `json:"timeout,omitempty"`
	ContinueOnError bool               `json:"continue_on_error,omitempty"`
}

func secretHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Plan renders the plan for v: masked for showing, with its Hash.
func (rb *Runbook) Plan(v Values) (*Plan, error) {
	// Rendering with real values first surfaces every error (bad URL…).
	if _, err := rb.render(v, nil, true); err != nil {
		return nil, err
	}
	lock, err := rb.LockKey(v)
	if err != nil {
		return nil, err
	}
	build := func(subst func(string) string, envValues bool) (*Plan, error) {
		steps, err := rb.render(v, subst, false)
		if err != nil {
			return nil, err
		}
		p := &Plan{Runbook: rb.Name, Kind: rb.Kind, Timeout: rb.Timeout, Lock: lock}
		for _, prm := range rb.Params {
			val := v[prm.Name]
			if prm.Secret {
				val = subst(val)
			}
			p.Params = append(p.Params, PlanParam{Name: prm.Name, Value: val, Secret: prm.Secret})
		}
		for _, s := range steps {
			ps := PlanStep{Name: s.Name, Kind: s.Kind, Argv: s.Argv, Interpreter: s.Interpreter, Script: s.Script,
				HTTP: s.HTTP, SSH: s.SSH, Ansible: s.Ansible, Kubernetes: s.Kubernetes, Instruction: s.Instruction, Dir: s.Dir, Timeout: s.Timeout, ContinueOnError: s.ContinueOnError}
			for _, e := range s.Env {
				if !envValues {
					e, _, _ = strings.Cut(e, "=")
				}
				ps.Env = append(ps.Env, e)
			}
			p.Steps = append(p.Steps, ps)
		}
		return p, nil
	}
	shown, err := build(func(string) string { return mask }, false)
	if err != nil {
		return nil, err
	}
	hashed, err := build(secretHash, true)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(hashed)
	if err != nil {
		return nil, tebura.Wrap(tebura.EINTERNAL, err, "")
	}
	sum := sha256.Sum256(b)
	shown.Hash = hex.EncodeToString(sum[:])
	return shown, nil
}

// String is the readable plan shown on approval cards and by `tebura run`
// before it asks for confirmation. Secrets are already masked; pass it
// through the Redactor as well to mask configured values.
func (p *Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s), timeout %s", p.Runbook, p.Kind, shortDuration(p.Timeout))
	if p.Lock != "" {
		fmt.Fprintf(&b, ", lock %s", p.Lock)
	}
	b.WriteByte('\n')
	if len(p.Params) > 0 {
		b.WriteString("params:")
		for _, prm := range p.Params {
			fmt.Fprintf(&b, " %s=%s", prm.Name, quoteArg(prm.Value))
		}
		b.WriteByte('\n')
	}
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "%d. %s: ", i+1, s.Name)
		switch s.Kind {
		case StepHTTP:
			fmt.Fprintf(&b, "%s %s", s.HTTP.Method, s.HTTP.URL)
			if len(s.HTTP.Expect) > 0 {
				codes := make([]string, len(s.HTTP.Expect))
				for i, c := range s.HTTP.Expect {
					codes[i] = strconv.Itoa(c)
				}
				fmt.Fprintf(&b, " (expect %s)", strings.Join(codes, ", "))
			}
			if s.HTTP.FollowRedirects {
				b.WriteString(" (follows same-host redirects)")
			}
		case StepScript:
			fmt.Fprintf(&b, "script run by %s", joinArgs(s.Interpreter))
		case StepManual:
			b.WriteString("manual, answered in chat")
		case StepSSH:
			what := "script run by sh"
			if len(s.Argv) > 0 {
				what = joinArgs(s.Argv)
			}
			fmt.Fprintf(&b, "ssh %s on %s: %s", what, s.SSH.On, strings.Join(s.SSH.Targets, ", "))
			if len(s.SSH.Targets) > 1 {
				fmt.Fprintf(&b, " (%d at a time", s.SSH.Parallel)
				if s.SSH.FailFast {
					b.WriteString(", fail fast")
				}
				b.WriteString(")")
			}
		case StepAnsible:
			fmt.Fprintf(&b, "ansible-playbook %s", s.Ansible.Playbook)
			if s.Ansible.Inventory != "" {
				fmt.Fprintf(&b, " with inventory %s", s.Ansible.Inventory)
			} else {
				fmt.Fprintf(&b, " on %s: %s", s.Ansible.On, strings.Join(s.Ansible.Targets, ", "))
			}
		case StepKubernetes:
			b.WriteString(kubeSummary(s.Kubernetes))
		default:
			b.WriteString(joinArgs(s.Argv))
		}
		var notes []string
		if s.Timeout > 0 {
			notes = append(notes, "timeout "+shortDuration(s.Timeout))
		}
		if s.ContinueOnError {
			notes = append(notes, "continues on error")
		}
		if s.Dir != "" {
			notes = append(notes, "in "+s.Dir)
		}
		if len(notes) > 0 {
			fmt.Fprintf(&b, " [%s]", strings.Join(notes, ", "))
		}
		b.WriteByte('\n')
		if s.Script != "" {
			for _, line := range strings.Split(strings.TrimRight(s.Script, "\n"), "\n") {
				fmt.Fprintf(&b, "   | %s\n", line)
			}
		}
		if s.Instruction != "" {
			for _, line := range strings.Split(strings.TrimRight(s.Instruction, "\n"), "\n") {
				fmt.Fprintf(&b, "   > %s\n", line)
			}
		}
		if s.Kind == StepKubernetes && s.Kubernetes.Job != nil {
			for _, line := range kubeJobLines(s.Kubernetes.Job) {
				fmt.Fprintf(&b, "   | %s\n", line)
			}
		}
		if s.Kind == StepHTTP {
			for _, k := range sortedKeys(s.HTTP.Headers) {
				fmt.Fprintf(&b, "   %s: %s\n", k, s.HTTP.Headers[k])
			}
			if s.HTTP.Body != "" {
				fmt.Fprintf(&b, "   body: %s\n", quoteArg(s.HTTP.Body))
			}
		}
		if s.Kind == StepAnsible {
			for _, k := range sortedKeys(s.Ansible.Vars) {
				fmt.Fprintf(&b, "   var %s=%s\n", k, quoteArg(s.Ansible.Vars[k]))
			}
		}
		if names := ownEnv(s.Env); len(names) > 0 {
			fmt.Fprintf(&b, "   env: %s\n", strings.Join(names, ", "))
		}
	}
	if p.Check != "" {
		b.WriteString("check (what the playbook would change; nothing was changed):\n")
		for _, line := range strings.Split(p.Check, "\n") {
			fmt.Fprintf(&b, "   | %s\n", line)
		}
	}
	if len(p.Hash) >= 12 {
		fmt.Fprintf(&b, "plan %s", p.Hash[:12])
	}
	return b.String()
}

// ownEnv drops the TEBURA_PARAM_* names, which every process step has.
func ownEnv(names []string) []string {
	var out []string
	for _, n := range names {
		if !strings.HasPrefix(n, paramEnvPrefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func joinArgs(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = quoteArg(a)
	}
	return strings.Join(q, " ")
}

// quoteArg shows an argv element so that its boundaries are visible: plain
// words as they are, anything else Go-quoted (newlines appear as \n).
func quoteArg(a string) string {
	if a == "" {
		return `""`
	}
	if a == mask {
		return a
	}
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r)) {
			return strconv.Quote(a)
		}
	}
	return a
}

// shortDuration prints 5m0s as 5m and 1h30m0s as 1h30m.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
