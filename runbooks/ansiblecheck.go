package runbooks

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ansibleNodes remembers where an ansible step's parts were written.
type ansibleNodes struct {
	node, playbook, on, inventory, vars *yaml.Node
}

// ansible decodes an ansible step.
func (d *decoder) ansible(v *yaml.Node, path string) (*AnsibleStep, *ansibleNodes) {
	a, n := &AnsibleStep{}, &ansibleNodes{node: v}
	d.fields(v, path, ansibleKeys, func(key string, v *yaml.Node, path string) {
		switch key {
		case "playbook":
			n.playbook = v
			a.Playbook = d.str(v, path, false)
		case "on":
			n.on = v
			a.On = d.str(v, path, false)
		case "inventory":
			n.inventory = v
			a.Inventory = d.str(v, path, false)
		case "vars":
			n.vars = v
			a.Vars = d.stringMap(v, path)
		}
	})
	return a, n
}

// ansibleVarName is an extra var's name: a Python identifier, as ansible
// requires of variable names.
var ansibleVarName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// checkAnsible checks an ansible step: a playbook file that exists (paths
// relative to the runbook's file are made absolute), one of on (checked as
// an ssh step's selector) and inventory, vars with valid names whose
// templates use declared params, and none of the keys of local processes:
// params reach the playbook as vars only.
func (d *decoder) checkAnsible(s *Step, sn *stepNodes, path string, params map[string]*Param) {
	a, an, ap := s.Ansible, sn.ansible, path+".ansible"
	if an == nil {
		an = &ansibleNodes{}
	}
	a.Playbook = d.ansibleFile(a.Playbook, sn.node, an.playbook, ap+".playbook", "playbook", true)
	switch {
	case a.On != "" && a.Inventory != "":
		d.problem(sn.node, ap, "has on and inventory; an ansible step runs on the targets on selects or on an inventory file, not both")
	case a.On == "" && a.Inventory == "":
		d.problem(sn.node, ap, "needs on (targets by labels, like role=api) or inventory (an inventory file)")
	case a.On != "":
		d.checkSelector(a.On, sn.node, an.on, ap+".on", params)
	default:
		a.Inventory = d.ansibleFile(a.Inventory, sn.node, an.inventory, ap+".inventory", "inventory", false)
	}
	for _, k := range sortedKeys(a.Vars) {
		vn := mapValue(an.vars, k)
		if !ansibleVarName.MatchString(k) {
			d.problem(vn, ap+".vars."+k, "is not a valid ansible variable name (letters, digits and _, not starting with a digit)")
		}
		d.checkTemplate(vn, ap+".vars."+k, a.Vars[k], params, false)
	}
	if len(s.Env) > 0 {
		d.problem(sn.env, path+".env", "does not apply to ansible steps; pass values to the playbook as vars")
	}
	if s.Dir != "" {
		d.problem(sn.dir, path+".dir", "does not apply to ansible steps")
	}
}

// ansibleFile checks a path an ansible step names: written out (never a
// template), absolute or relative to the runbook's file, and (for a
// playbook) present. It returns the path made absolute.
func (d *decoder) ansibleFile(p string, step, n *yaml.Node, path, what string, required bool) string {
	if n == nil {
		n = step
	}
	switch {
	case p == "" && required:
		d.problem(step, path, "is missing; give the %s's path", what)
		return p
	case p == "":
		return p
	case strings.Contains(p, "{{"):
		d.problem(n, path, "must not be a template: a param would choose which %s runs", what)
		return p
	}
	if !filepath.IsAbs(p) {
		if !d.lines {
			d.problem(n, path, "%q must be an absolute path in a runbook written in the configuration", p)
			return p
		}
		p = filepath.Join(filepath.Dir(d.file), p)
	}
	// ansible-playbook runs in a private directory: a path relative to
	// tebura's working directory would not be found there.
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if _, err := os.Stat(p); err != nil {
		d.problem(n, path, "%s cannot be read: %v", p, unwrapPathError(err))
	}
	return p
}

// checkPlanCheck refuses plan_check on a runbook with no ansible step:
// there would be nothing to check, and the author likely expects a check.
func (d *decoder) checkPlanCheck(rb *Runbook, nd *nodes) {
	if !rb.PlanCheck {
		return
	}
	for _, s := range rb.Steps {
		if s.Ansible != nil {
			return
		}
	}
	d.problem(nd.planCheck, "plan_check", "is true but the runbook has no ansible step; only ansible steps have a --check --diff preview")
}
