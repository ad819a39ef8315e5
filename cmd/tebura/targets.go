package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
	sshstep "github.com/tebura/tebura/runbooks/step/ssh"
)

// targetsCmd lists the configured targets: the whole set of machines ssh
// steps can reach, so an operator can check what a selector will match
// before a runbook runs.
func (c *cli) targetsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "targets",
		Short: "List the SSH targets of the configuration, with their labels and credentials",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := c.load()
			if err != nil {
				return err
			}
			return writeTargets(c.stdout, l.Config)
		},
	}
}

// writeTargets prints one line per target, sorted by name.
func writeTargets(w io.Writer, cfg config.Config) error {
	if len(cfg.Targets) == 0 {
		_, err := fmt.Fprintln(w, "no targets configured (see targets: in docs/configuration.md)")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tUSER\tAUTH\tLABELS")
	for _, name := range slices.Sorted(maps.Keys(cfg.Targets)) {
		t := cfg.Targets[name]
		auth := "identity " + t.Identity
		if t.Agent {
			auth = "agent"
		}
		labels := make([]string, 0, len(t.Labels))
		for _, k := range slices.Sorted(maps.Keys(t.Labels)) {
			labels = append(labels, k+"="+t.Labels[k])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, t.HostPort(), t.User, auth, strings.Join(labels, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "host keys checked against %s\n", cfg.SSH.KnownHosts)
	return err
}

// runbookTargets is the inventory as runbooks select from it: names and
// labels only.
func runbookTargets(cfg config.Config) []runbooks.Target {
	out := make([]runbooks.Target, 0, len(cfg.Targets))
	for _, name := range slices.Sorted(maps.Keys(cfg.Targets)) {
		out = append(out, runbooks.Target{Name: name, Labels: cfg.Targets[name].Labels})
	}
	return out
}

// sshConfig is the inventory as the ssh step runner reaches it.
func sshConfig(cfg config.Config) sshstep.Config {
	c := sshstep.Config{Targets: make(map[string]sshstep.Target, len(cfg.Targets)), KnownHosts: cfg.SSH.KnownHosts,
		ConnectTimeout: cfg.SSH.ConnectTimeout, KillGrace: cfg.Runbooks.KillGrace}
	for name, t := range cfg.Targets {
		c.Targets[name] = sshstep.Target{Address: t.HostPort(), User: t.User, Identity: t.Identity, Agent: t.Agent}
	}
	return c
}

// checkTargets connects to every target (ten at a time), checks its host
// key and runs `true` there: what `tebura doctor` reports, one line per
// target, so a missing known_hosts line or key shows before a runbook
// needs the host.
func checkTargets(ctx context.Context, cfg config.Config) []bot.Check {
	names := slices.Sorted(maps.Keys(cfg.Targets))
	checks := make([]bot.Check, len(names))
	r := sshstep.New(sshConfig(cfg))
	sem := make(chan struct{}, 10)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ch := bot.Check{Name: "target " + name}
			code, err := r.RunOn(ctx, name, runbooks.RemoteCommand{Argv: []string{"true"}}, io.Discard)
			switch {
			case err != nil:
				ch.Detail = err.Error()
			case ctx.Err() != nil:
				ch.Detail = "no answer within the doctor's --timeout"
			case code != 0:
				ch.Detail = fmt.Sprintf("connected, but `true` exited with code %d", code)
			default:
				ch.OK, ch.Detail = true, cfg.Targets[name].User+"@"+cfg.Targets[name].HostPort()+": host key known, logged in"
			}
			checks[i] = ch
		}()
	}
	wg.Wait()
	return checks
}
