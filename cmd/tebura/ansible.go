package main

import (
	"path/filepath"

	"github.com/tebura/tebura/config"
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
