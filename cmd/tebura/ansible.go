package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
	ansiblestep "github.com/tebura/tebura/runbooks/step/ansible"
)

// ansibleConfig is the inventory as ansible steps reach it: the same
// targets, users, keys and known_hosts as ssh steps. Each run's private
// directory (extra-vars file, generated inventory) is made under the data
// directory, which only tebura's user can read.
func ansibleConfig(cfg config.Config) ansiblestep.Config {
	c := ansiblestep.Config{Targets: make(map[string]ansiblestep.Target, len(cfg.Targets)), KnownHosts: cfg.SSH.KnownHosts,
		ConnectTimeout: cfg.SSH.ConnectTimeout, KillGrace: cfg.Runbooks.KillGrace}
	if cfg.DataDir != "" {
		c.TempDir = filepath.Join(cfg.DataDir, "tmp")
	}
	for name, t := range cfg.Targets {
		port := t.Port
		if port == 0 {
			port = config.DefaultSSHPort
		}
		c.Targets[name] = ansiblestep.Target{Host: t.Address, Port: port, User: t.User, Identity: t.Identity, Agent: t.Agent}
	}
	return c
}

// checkAnsible is what `tebura doctor` reports when a runbook has an
// ansible step: that ansible-playbook is installed where tebura runs (its
// version), and that ansible's JSON-lines callback, which ansible steps
// read their progress from, is there. Without ansible steps it reports
// nothing: the distroless image has no ansible and needs none.
func checkAnsible(ctx context.Context, reg *runbooks.Registry) []bot.Check {
	var users []string
	for _, rb := range reg.List() {
		if slices.ContainsFunc(rb.Steps, func(s runbooks.Step) bool { return s.Ansible != nil }) {
			users = append(users, rb.Name)
		}
	}
	if len(users) == 0 {
		return nil
	}
	ch := bot.Check{Name: "ansible"}
	bin, err := exec.LookPath(ansiblestep.DefaultBinary)
	if err != nil {
		ch.Detail = fmt.Sprintf("ansible-playbook is not installed, and %s run ansible steps: install ansible (Debian: apt-get install ansible) or use the tebura:tools image", strings.Join(users, ", "))
		return []bot.Check{ch}
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		ch.Detail = fmt.Sprintf("%s --version failed: %v", bin, err)
		return []bot.Check{ch}
	}
	version, _, _ := strings.Cut(string(out), "\n")
	doc := filepath.Join(filepath.Dir(bin), "ansible-doc")
	if err := exec.CommandContext(ctx, doc, "-t", "callback", ansiblestep.JSONCallback).Run(); err != nil {
		ch.Detail = fmt.Sprintf("%s, but its %s callback is missing (it comes with the ansible.posix collection: ansible-galaxy collection install ansible.posix)", version, ansiblestep.JSONCallback)
		return []bot.Check{ch}
	}
	ch.OK, ch.Detail = true, version+", "+ansiblestep.JSONCallback+" callback present"
	return []bot.Check{ch}
}
