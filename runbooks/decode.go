package runbooks

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder turns one YAML runbook node into a Runbook, recording a problem
// (with the node's line) for everything that does not fit instead of
// stopping at the first.
type decoder struct {
	l     *loader
	file  string
	lines bool   // file nodes carry real lines; inline ones do not
	path  string // key path prefix for inline runbooks
	name  string // the runbook's name, once known
	bad   bool
	// markdown: the runbook is a Markdown file, whose steps are its
	// ## headings.
	markdown bool
	// sections counts a Markdown runbook's ## headings, steps or not.
	sections int
}

func (d *decoder) problem(n *yaml.Node, path, format string, args ...any) {
	d.bad = true
	msg := fmt.Sprintf(format, args...)
	full := path
	if d.path != "" {
		full = d.path
		if path != "" {
			full += "." + path
		}
	}
	if full != "" {
		msg = full + ": " + msg
	}
	p := Problem{File: d.file, Runbook: d.name, Msg: msg}
	if d.lines && n != nil {
		p.Line = n.Line
	}
	d.l.problems = append(d.l.problems, p)
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// fields walks a mapping, reporting unknown and repeated keys, and calls
// set for each known one.
func (d *decoder) fields(n *yaml.Node, path string, known []string, set func(key string, v *yaml.Node, p string)) bool {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.problem(n, path, "must be a mapping of keys (%s)", strings.Join(known, ", "))
		return false
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		key := k.Value
		p := join(path, key)
		switch {
		case !contains(known, key):
			d.problem(k, p, "unknown key %q (known keys: %s)", key, strings.Join(known, ", "))
		case seen[key]:
			d.problem(k, p, "key appears more than once")
		default:
			seen[key] = true
			set(key, v, p)
		}
	}
	return true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str reads a string. Strict strings refuse numbers and booleans (a name
// like 123 is a mistake); loose ones take any scalar as its text (argv
// elements such as 5, defaults such as true).
func (d *decoder) str(n *yaml.Node, path string, loose bool) string {
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode || (!loose && n.Tag != "!!str") {
		d.problem(n, path, "must be a string")
		return ""
	}
	return n.Value
}

func (d *decoder) boolean(n *yaml.Node, path string) bool {
	if isNull(n) {
		return false
	}
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.problem(n, path, "must be true or false")
		return false
	}
	b, _ := strconv.ParseBool(n.Value)
	if n.Value == "yes" || n.Value == "on" {
		b = true
	}
	return b
}

func (d *decoder) integer(n *yaml.Node, path string) int {
	if isNull(n) {
		return 0
	}
	i, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
		d.problem(n, path, "must be a whole number")
		return 0
	}
	return i
}

func (d *decoder) duration(n *yaml.Node, path string) time.Duration {
	if isNull(n) {
		return 0
	}
	v, err := time.ParseDuration(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil {
		d.problem(n, path, "%q is not a duration; write it like \"30s\", \"5m\" or \"1h30m\"", n.Value)
		return 0
	}
	if v <= 0 {
		d.problem(n, path, "must be longer than zero")
		return 0
	}
	return v
}

func (d *decoder) strings(n *yaml.Node, path string, loose bool) []string {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.problem(n, path, "must be a list")
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, e := range n.Content {
		out = append(out, d.str(resolve(e), fmt.Sprintf("%s[%d]", path, i), loose))
	}
	return out
}

func (d *decoder) stringMap(n *yaml.Node, path string) map[string]string {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.problem(n, path, "must be a mapping of names to values")
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		p := join(path, k.Value)
		if _, dup := out[k.Value]; dup {
			d.problem(k, p, "key appears more than once")
		}
		out[k.Value] = d.str(v, p, true)
	}
	return out
}

var (
	runbookKeys  = []string{"name", "description", "kind", "params", "allow", "approval", "lock", "timeout", "steps", "plan_check"}
	paramKeys    = []string{"name", "type", "description", "required", "default", "pattern", "values", "secret"}
	approvalKeys = []string{"required", "approvers", "allow_self", "expires"}
	stepKeys     = []string{"name", "run", "script", "interpreter", "http", "ssh", "ansible", "kubernetes", "manual", "env", "dir", "timeout", "continue_on_error"}
	sshKeys      = []string{"on", "run", "script", "parallel", "fail_fast"}
	ansibleKeys  = []string{"playbook", "on", "inventory", "vars"}
	kubeKeys     = []string{"action", "namespace", "resource", "name", "replicas", "container", "since", "tail", "job"}
	httpKeys     = []string{"method", "url", "headers", "body", "expect", "follow_redirects"}
)

// nodes remembers where each part was written, for the checks that run
// after decoding.
type nodes struct {
	root, name, kind, timeout, lock, allow, approvers, approval *yaml.Node
	planCheck                                                   *yaml.Node
	params                                                      []paramNodes
	steps                                                       []stepNodes
}

type paramNodes struct{ node, name, typ, def, pattern, values *yaml.Node }

type stepNodes struct {
	node, timeout, dir *yaml.Node
	run, url, body     *yaml.Node
	manual             *yaml.Node
	on, sshRun         *yaml.Node
	ansible            *ansibleNodes
	env, headers       *yaml.Node
	kinds              []string
}

func (d *decoder) runbook(root *yaml.Node, where string) *definition {
	root = resolve(root)
	rb := &Runbook{}
	nd := nodes{root: root}
	// Find the name first so every problem can carry it.
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "name" && resolve(root.Content[i+1]).Kind == yaml.ScalarNode {
				d.name = resolve(root.Content[i+1]).Value
			}
		}
	}
	d.fields(root, "", runbookKeys, func(key string, v *yaml.Node, p string) {
		switch key {
		case "name":
			nd.name = v
			rb.Name = d.str(v, p, false)
		case "description":
			rb.Description = d.str(v, p, false)
		case "kind":
			nd.kind = v
			rb.Kind = Kind(d.str(v, p, false))
		case "params":
			rb.Params, nd.params = d.params(v, p)
		case "allow":
			nd.allow = v
			rb.Allow = d.strings(v, p, false)
		case "approval":
			nd.approval = v
			d.fields(v, p, approvalKeys, func(key string, v *yaml.Node, p string) {
				switch key {
				case "required":
					rb.Approval.Required = d.integer(v, p)
				case "approvers":
					nd.approvers = v
					rb.Approval.Approvers = d.strings(v, p, false)
				case "allow_self":
					rb.Approval.AllowSelf = d.boolean(v, p)
				case "expires":
					rb.Approval.Expires = d.duration(v, p)
				}
			})
		case "lock":
			nd.lock = v
			rb.Lock = d.str(v, p, false)
		case "timeout":
			nd.timeout = v
			rb.Timeout = d.duration(v, p)
		case "steps":
			rb.Steps, nd.steps = d.steps(v, p)
		case "plan_check":
			nd.planCheck = v
			rb.PlanCheck = d.boolean(v, p)
		}
	})
	rb.Source = where
	d.check(rb, &nd)
	return &definition{rb: rb, file: d.file, line: lineOf(d, root), where: where, bad: d.bad}
}

func lineOf(d *decoder, n *yaml.Node) int {
	if d.lines && n != nil {
		return n.Line
	}
	return 0
}

func (d *decoder) params(n *yaml.Node, path string) ([]Param, []paramNodes) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		d.problem(n, path, "must be a list of parameters")
		return nil, nil
	}
	var ps []Param
	var pn []paramNodes
	for i, e := range n.Content {
		e = resolve(e)
		p, nodes := Param{}, paramNodes{node: e}
		d.fields(e, fmt.Sprintf("%s[%d]", path, i), paramKeys, func(key string, v *yaml.Node, path string) {
			switch key {
			case "name":
				nodes.name = v
				p.Name = d.str(v, path, false)
			case "type":
				nodes.typ = v
				p.Type = ParamType(d.str(v, path, false))
			case "description":
				p.Description = d.str(v, path, false)
			case "required":
				p.Required = d.boolean(v, path)
			case "default":
				nodes.def = v
				p.Default = d.str(v, path, true)
			case "pattern":
				nodes.pattern = v
				p.Pattern = d.str(v, path, false)
			case "values":
				nodes.values = v
				p.Values = d.strings(v, path, true)
			case "secret":
				p.Secret = d.boolean(v, path)
			}
		})
		ps = append(ps, p)
		pn = append(pn, nodes)
	}
	return ps, pn
}

func (d *decoder) steps(n *yaml.Node, path string) ([]Step, []stepNodes) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		d.problem(n, path, "must be a list of steps")
		return nil, nil
	}
	var ss []Step
	var sn []stepNodes
	for i, e := range n.Content {
		e = resolve(e)
		s, nodes := Step{}, stepNodes{node: e}
		d.fields(e, fmt.Sprintf("%s[%d]", path, i), stepKeys, func(key string, v *yaml.Node, path string) {
			switch key {
			case "name":
				s.Name = d.str(v, path, false)
			case "run":
				nodes.run = v
				nodes.kinds = append(nodes.kinds, key)
				s.Run = d.strings(v, path, true)
			case "script":
				nodes.kinds = append(nodes.kinds, key)
				s.Script = d.str(v, path, false)
			case "interpreter":
				s.Interpreter = d.strings(v, path, true)
			case "http":
				nodes.kinds = append(nodes.kinds, key)
				s.HTTP = &HTTPStep{}
				d.fields(v, path, httpKeys, func(key string, v *yaml.Node, path string) {
					switch key {
					case "method":
						s.HTTP.Method = d.str(v, path, false)
					case "url":
						nodes.url = v
						s.HTTP.URL = d.str(v, path, false)
					case "headers":
						nodes.headers = v
						s.HTTP.Headers = d.stringMap(v, path)
					case "body":
						nodes.body = v
						s.HTTP.Body = d.str(v, path, true)
					case "follow_redirects":
						s.HTTP.FollowRedirects = d.boolean(v, path)
					case "expect":
						if v.Kind != yaml.SequenceNode {
							d.problem(v, path, "must be a list of HTTP status codes")
							return
						}
						for j, c := range v.Content {
							s.HTTP.Expect = append(s.HTTP.Expect, d.integer(resolve(c), fmt.Sprintf("%s[%d]", path, j)))
						}
					}
				})
			case "ssh":
				nodes.kinds = append(nodes.kinds, key)
				s.SSH = &SSHStep{}
				d.fields(v, path, sshKeys, func(key string, v *yaml.Node, path string) {
					switch key {
					case "on":
						nodes.on = v
						s.SSH.On = d.str(v, path, false)
					case "run":
						nodes.sshRun = v
						s.SSH.Run = d.strings(v, path, true)
					case "script":
						s.SSH.Script = d.str(v, path, false)
					case "parallel":
						s.SSH.Parallel = d.integer(v, path)
					case "fail_fast":
						s.SSH.FailFast = d.boolean(v, path)
					}
				})
			case "manual":
				nodes.manual = v
				nodes.kinds = append(nodes.kinds, key)
				s.Manual = d.str(v, path, false)
			case "ansible":
				nodes.kinds = append(nodes.kinds, key)
				s.Ansible, nodes.ansible = d.ansible(v, path)
			case "kubernetes":
				nodes.kinds = append(nodes.kinds, key)
				s.Kubernetes = d.kubernetes(v, path)
			case "env":
				nodes.env = v
				s.Env = d.stringMap(v, path)
			case "dir":
				nodes.dir = v
				s.Dir = d.str(v, path, false)
			case "timeout":
				nodes.timeout = v
				s.Timeout = d.duration(v, path)
			case "continue_on_error":
				s.ContinueOnError = d.boolean(v, path)
			}
		})
		ss = append(ss, s)
		sn = append(sn, nodes)
	}
	return ss, sn
}

// mapValue returns the value node for key in a mapping node, for problem lines.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return n
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return n
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
