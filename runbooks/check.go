package runbooks

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// check validates a decoded runbook and fills defaults, recording every
// problem it finds.
// stepKindList names the keys that make a step's kind, for the sentence
// that says a step needs exactly one.
const stepKindList = "run, script, http, ssh, ansible, kubernetes or manual"

func (d *decoder) check(rb *Runbook, nd *nodes) {
	opts := d.l.opts
	switch {
	case rb.Name == "":
		d.problem(nd.root, "name", "is missing; every runbook needs a name")
	case !runbookNameRe.MatchString(rb.Name):
		d.problem(nd.name, "name", "%q must start with a lowercase letter and use only a-z, 0-9 and - (like restart-api)", rb.Name)
	}
	switch rb.Kind {
	case KindDiagnostic, KindRemediation:
	case "":
		d.problem(nd.root, "kind", "is missing; say diagnostic or remediation")
	default:
		d.problem(nd.kind, "kind", "%q must be diagnostic or remediation", rb.Kind)
	}

	if rb.Timeout == 0 {
		rb.Timeout = opts.DefaultTimeout
	}
	if opts.MaxTimeout > 0 && rb.Timeout > opts.MaxTimeout {
		d.problem(nd.timeout, "timeout", "%s is longer than the configured maximum (runbooks.max_timeout: %s)", rb.Timeout, opts.MaxTimeout)
	}

	d.checkRoles(rb.Allow, nd.allow, "allow")
	d.checkRoles(rb.Approval.Approvers, nd.approvers, "approval.approvers")
	switch {
	case rb.Approval.Required < 0:
		d.problem(nd.approval, "approval.required", "must not be negative")
	case rb.Approval.Required > 0 && len(rb.Approval.Approvers) == 0:
		d.problem(nd.approval, "approval.approvers", "is empty but approval.required is %d; list the roles that may approve", rb.Approval.Required)
	}
	if rb.Approval.Required > 0 && rb.Approval.Expires == 0 {
		rb.Approval.Expires = DefaultApprovalExpiry
	}

	params := d.checkParams(rb, nd)
	d.checkTemplate(nd.lock, "lock", rb.Lock, params, true)

	switch {
	case len(rb.Steps) > 0:
	case d.markdown && d.sections > 0: // each section's problem is reported
	case d.markdown:
		d.problem(nd.root, "", "has no steps; each ## heading is a step, with an sh or bash code block or a text saying what to do")
	default:
		d.problem(nd.root, "steps", "is empty; a runbook needs at least one step")
	}
	stepNames := map[string]bool{}
	for i := range rb.Steps {
		d.checkStep(rb, i, &rb.Steps[i], &nd.steps[i], params, stepNames)
	}
	d.checkPlanCheck(rb, nd)
}

func (d *decoder) checkRoles(roles []string, n *yaml.Node, path string) {
	for i, r := range roles {
		if d.l.opts.KnownRole != nil && !d.l.opts.KnownRole(r) {
			el := n
			if n != nil && n.Kind == yaml.SequenceNode && i < len(n.Content) {
				el = n.Content[i]
			}
			d.problem(el, fmt.Sprintf("%s[%d]", path, i), "role %q is not defined in access.roles", r)
		}
	}
}

// checkParams validates the declarations and returns them by name.
func (d *decoder) checkParams(rb *Runbook, nd *nodes) map[string]*Param {
	byName := map[string]*Param{}
	for i := range rb.Params {
		p, pn := &rb.Params[i], nd.params[i]
		path := fmt.Sprintf("params[%d]", i)
		switch {
		case p.Name == "":
			d.problem(pn.node, path+".name", "is missing")
			continue
		case !paramNameRe.MatchString(p.Name):
			d.problem(pn.name, path+".name", "%q must start with a lowercase letter and use only a-z, 0-9 and _ (templates refer to it as .Params.%s)", p.Name, p.Name)
		case byName[p.Name] != nil:
			d.problem(pn.name, path+".name", "param %q is declared twice", p.Name)
		}
		byName[p.Name] = p
		if p.Type == "" {
			p.Type = TypeString
		}
		switch p.Type {
		case TypeString, TypeInt, TypeBool, TypeEnum, TypeDuration:
		default:
			d.problem(pn.typ, path+".type", "%q must be one of string, int, bool, enum, duration", p.Type)
			continue
		}
		if p.Type == TypeEnum && len(p.Values) == 0 {
			d.problem(pn.node, path+".values", "param %s is an enum but lists no values", p.Name)
		}
		if p.Type != TypeEnum && len(p.Values) > 0 {
			d.problem(pn.values, path+".values", "only enum params take values; make %s an enum or drop values", p.Name)
		}
		if p.Pattern != "" {
			if _, err := compilePattern(p.Pattern); err != nil {
				d.problem(pn.pattern, path+".pattern", "is not a valid regular expression: %v", err)
				continue
			}
		}
		if pn.def != nil && !isNull(pn.def) {
			if p.Required {
				d.problem(pn.def, path+".default", "param %s is required, so its default would never be used", p.Name)
			} else if _, err := p.validate(p.Default); err != nil {
				d.problem(pn.def, path+".default", "is not valid for its own param: %s", errMessage(err))
			}
		}
	}
	return byName
}

func (d *decoder) checkStep(rb *Runbook, i int, s *Step, sn *stepNodes, params map[string]*Param, names map[string]bool) {
	path := fmt.Sprintf("steps[%d]", i)
	if s.Name == "" {
		s.Name = fmt.Sprintf("step-%d", i+1)
	}
	if names[s.Name] {
		d.problem(sn.node, path+".name", "step name %q is used twice", s.Name)
	}
	names[s.Name] = true
	switch len(sn.kinds) {
	case 0:
		d.problem(sn.node, path, "needs exactly one of %s", stepKindList)
	case 1:
	default:
		d.problem(sn.node, path, "has %s; a step needs exactly one of %s", strings.Join(sn.kinds, " and "), stepKindList)
	}
	if contains(sn.kinds, "manual") {
		d.checkManual(s, sn, path, params)
	}
	if s.SSH != nil {
		d.checkSSH(s, sn, path, params)
	}
	if s.Ansible != nil {
		d.checkAnsible(s, sn, path, params)
	}
	if s.Kubernetes != nil {
		d.checkKubernetes(s, sn, path, params)
	}
	if contains(sn.kinds, "run") && len(s.Run) == 0 {
		d.problem(sn.run, path+".run", "is empty; give the command and its arguments as a list")
	}
	if contains(sn.kinds, "script") && strings.TrimSpace(s.Script) == "" {
		d.problem(sn.node, path+".script", "is empty")
	}
	if len(s.Interpreter) > 0 && !contains(sn.kinds, "script") {
		d.problem(sn.node, path+".interpreter", "only applies to script steps")
	}
	if s.Timeout > 0 && rb.Timeout > 0 && s.Timeout > rb.Timeout {
		d.problem(sn.timeout, path+".timeout", "%s is longer than the runbook's timeout (%s)", s.Timeout, rb.Timeout)
	}
	if s.Dir != "" && !filepath.IsAbs(s.Dir) {
		d.problem(sn.dir, path+".dir", "%q must be an absolute path", s.Dir)
	}
	d.checkArgv(s.Run, sn.run, path+".run", params)
	for _, k := range sortedKeys(s.Env) {
		switch {
		case !envNameRe.MatchString(k):
			d.problem(mapValue(sn.env, k), path+".env."+k, "is not a valid environment variable name")
		case strings.HasPrefix(k, paramEnvPrefix):
			d.problem(mapValue(sn.env, k), path+".env."+k, "names starting with %s are set by tebura", paramEnvPrefix)
		}
		d.checkTemplate(mapValue(sn.env, k), path+".env."+k, s.Env[k], params, false)
	}
	if h := s.HTTP; h != nil {
		hp := path + ".http"
		if h.Method == "" {
			h.Method = http.MethodGet
		}
		h.Method = strings.ToUpper(h.Method)
		switch h.Method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		default:
			d.problem(sn.node, hp+".method", "%q is not an HTTP method tebura sends", h.Method)
		}
		if h.URL == "" {
			d.problem(sn.node, hp+".url", "is missing")
		} else if d.checkTemplate(sn.url, hp+".url", h.URL, params, false) {
			if _, whole := wholeParam(h.URL); !whole && !strings.Contains(h.URL, "{{") {
				if err := checkURL(h.URL); err != nil {
					d.problem(sn.url, hp+".url", "%v", err)
				}
			}
		}
		for _, k := range sortedKeys(h.Headers) {
			d.checkTemplate(mapValue(sn.headers, k), hp+".headers."+k, h.Headers[k], params, false)
		}
		d.checkTemplate(sn.body, hp+".body", h.Body, params, false)
		for _, c := range h.Expect {
			if c < 100 || c > 599 {
				d.problem(sn.node, hp+".expect", "%d is not an HTTP status code", c)
			}
		}
	}
}

// checkTemplate parses a template and checks its references; it reports
// whether the template is usable.
func (d *decoder) checkTemplate(n *yaml.Node, path, text string, params map[string]*Param, noSecrets bool) bool {
	if !strings.Contains(text, "{{") {
		return true
	}
	t, err := parseTemplate(path, text)
	if err != nil {
		d.problem(n, path, "template does not parse: %v", err)
		return false
	}
	refs, bad := templateRefs(t)
	ok := true
	for _, b := range bad {
		d.problem(n, path, "template uses %s; templates can only use .Params.<name>", b)
		ok = false
	}
	for _, r := range refs {
		p := params[r]
		switch {
		case p == nil:
			d.problem(n, path, "template uses .Params.%s but the runbook declares no param %q", r, r)
			ok = false
		case noSecrets && p.Secret:
			d.problem(n, path, "must not use the secret param %s (lock keys are shown to people)", r)
			ok = false
		}
	}
	return ok
}

// paramEnvHint names the environment variables that carry the params text
// uses ("$TEBURA_PARAM_SERVICE"); text has parsed already.
func paramEnvHint(path, text string) string {
	t, err := parseTemplate(path, text)
	if err != nil {
		return "$" + paramEnvPrefix + "<NAME>"
	}
	refs, _ := templateRefs(t)
	slices.Sort(refs)
	refs = slices.Compact(refs)
	if len(refs) == 0 {
		return "$" + paramEnvPrefix + "<NAME>"
	}
	names := make([]string, len(refs))
	for i, r := range refs {
		names[i] = "$" + ParamEnv(r)
	}
	return strings.Join(names, ", ")
}

// checkArgv checks the templates of an argv (a run: step's, or an ssh
// step's): the program is never a template, and no template lands in an
// argument that a program runs as code.
func (d *decoder) checkArgv(argv []string, n *yaml.Node, path string, params map[string]*Param) {
	code := codeArgs(argv)
	for j, a := range argv {
		el := n
		if el != nil && el.Kind == yaml.SequenceNode && j < len(el.Content) {
			el = el.Content[j]
		}
		at := fmt.Sprintf("%s[%d]", path, j)
		if !d.checkTemplate(el, at, a, params, false) || !strings.Contains(a, "{{") {
			continue
		}
		if what, ok := code[j]; ok {
			d.problem(el, at, "puts a template into program text (%s), where a param could run any command; "+
				"use a script: step and read the value from %s, or pass it as a separate argument", what, paramEnvHint(at, a))
		} else if j == 0 {
			d.problem(el, at, "is the program to run and must not be a template: a param would choose which command runs; "+
				"name the program and pass the value as an argument, or use an enum param with a script: step")
		}
	}
}

// checkSSH checks an ssh step: a selector of literal label names whose
// templated values come from enum or patterned params only (a free-form
// param could pick any label value), one of run and script, and none of
// the keys that only mean something on this machine.
func (d *decoder) checkSSH(s *Step, sn *stepNodes, path string, params map[string]*Param) {
	h, hp := s.SSH, path+".ssh"
	d.checkSelector(h.On, sn.node, sn.on, hp+".on", params)
	switch {
	case len(h.Run) > 0 && h.Script != "":
		d.problem(sn.node, hp, "has run and script; an ssh step runs one of them")
	case len(h.Run) == 0 && strings.TrimSpace(h.Script) == "":
		d.problem(sn.node, hp, "needs run (a command and its arguments) or script")
	}
	d.checkArgv(h.Run, sn.sshRun, hp+".run", params)
	if h.Parallel < 0 {
		d.problem(sn.node, hp+".parallel", "must not be negative")
	}
	if s.Dir != "" {
		d.problem(sn.dir, path+".dir", "does not apply to ssh steps (they start in the remote user's home); use cd in a script")
	}
}

// checkSelector checks a target selector (an ssh or ansible step's on):
// literal label names whose templated values come from enum or patterned
// params only (a free-form param could pick any label value); a literal
// selector is checked against the inventory now rather than when someone
// needs the runbook.
func (d *decoder) checkSelector(on string, step, n *yaml.Node, path string, params map[string]*Param) {
	clauses, err := parseSelector(on)
	switch {
	case err != nil:
		d.problem(step, path, "%v", err)
		return
	case !strings.Contains(on, "{{"):
		if _, _, err := resolveTargets(on, nil, d.l.opts.Targets); err != nil {
			d.problem(n, path, "%v", err)
		}
		return
	}
	for _, c := range clauses {
		if !d.checkTemplate(n, path, c.value, params, true) || !strings.Contains(c.value, "{{") {
			continue
		}
		t, err := parseTemplate(path, c.value)
		if err != nil {
			continue
		}
		refs, _ := templateRefs(t)
		for _, r := range refs {
			if p := params[r]; p != nil && p.Type != TypeEnum && p.Pattern == "" {
				d.problem(n, path, "the value of %s uses param %s, which is neither an enum nor has a pattern; "+
					"a param picks targets only among values the runbook lists", c.key, r)
			}
		}
	}
}
