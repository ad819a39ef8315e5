package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
	"github.com/tebura/tebura/runbooks"
)

// world is a loaded configuration with its runbooks and access policy.
type world struct {
	*config.Loaded
	Registry *runbooks.Registry
	Policy   *access.Policy
}

// loadOptions are the checks config.Load borrows from packages config may
// not import: a generic source is built the way serve mounts it, its
// preset applied and its templates compiled with the server's helpers.
func loadOptions() config.Options {
	return config.Options{CheckGeneric: func(name string, g config.GenericSource) error {
		_, err := source.NewGeneric(name, g)
		return err
	}}
}

// loadWorld loads the configuration, the access policy and the runbooks and
// returns every problem found, config problems first (confProblems says how
// many). The registry holds the runbooks without problems; Policy is nil
// when access is broken.
func loadWorld(path string) (w *world, ps []config.Problem, confProblems int) {
	l, ps := config.Load(path, loadOptions())
	if l.Unreadable {
		return &world{Loaded: l, Registry: runbooks.NewRegistry()}, ps, len(ps)
	}
	cfg := l.Config
	w = &world{Loaded: l}

	roles := make(map[string][]string, len(cfg.Access.Roles))
	for name, r := range cfg.Access.Roles {
		roles[name] = r.Members
	}
	pol, err := access.New(roles, cfg.Access.Admins)
	if err == nil {
		pol, err = pol.WithPeople(cfg.Access.PeopleMap())
	}
	if err == nil {
		w.Policy = pol
	} else if !hasKeyPrefix(ps, "access") {
		for _, e := range tebura.Unjoin(err) {
			ps = append(ps, l.ProblemAt("access", e.Error()))
		}
	}
	confProblems = len(ps)

	reg, rps := runbooks.Load(runbooks.LoadOptions{
		Dirs:           cfg.Runbooks.Dirs,
		Inline:         cfg.Runbooks.Inline,
		InlineSource:   l.Name(),
		DefaultTimeout: cfg.Runbooks.DefaultTimeout,
		MaxTimeout:     cfg.Runbooks.MaxTimeout,
		Targets:        runbookTargets(cfg),
		CheckJob:       checkJob,
		KnownRole: func(role string) bool {
			_, ok := cfg.Access.Roles[role]
			return ok
		},
	})
	w.Registry = reg
	for _, p := range rps {
		pr := config.Problem{File: p.File, Line: p.Line, Text: strings.TrimPrefix(p.String(), locationPrefix(p))}
		if p.Line == 0 && p.File == l.Name() {
			pr.Line = l.InlineLine(p.Runbook)
		}
		ps = append(ps, pr)
	}
	ps = append(ps, w.crossCheck(rps)...)
	if len(ps) == 0 {
		// The rules compiled as the server compiles them (template
		// functions, params without a runbook); config.Validate has
		// placed the rest at their lines already.
		if _, err := incident.CompileRules(cfg.Automations); err != nil {
			for _, e := range tebura.Unjoin(err) {
				ps = append(ps, l.ProblemAt("automations", e.Error()))
			}
		}
	}
	return w, ps, confProblems
}

// locationPrefix is the "file:line: " a runbooks.Problem prints first.
func locationPrefix(p runbooks.Problem) string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: ", p.File, p.Line)
	}
	return p.File + ": "
}

// crossCheck checks what links the config to the runbooks
// (incident.ValidateRules: automation rules must name runbooks that exist,
// and a diagnostic that runs by itself must need no approval), placing
// each problem at its line. A runbook that failed to load has its own
// problem already.
func (w *world) crossCheck(rps []runbooks.Problem) []config.Problem {
	broken := map[string]bool{}
	for _, p := range rps {
		broken[p.Runbook] = true
	}
	status := func(name string) incident.RunbookStatus {
		rb, ok := w.Registry.Get(name)
		switch {
		case !ok && broken[name]:
			return incident.RunbookBroken
		case !ok:
			return incident.RunbookMissing
		case rb.NeedsApproval():
			return incident.RunbookNeedsApproval
		case rb.Kind == runbooks.KindRemediation:
			return incident.RunbookRemediation
		}
		return incident.RunbookUnattended
	}
	var ps []config.Problem
	if err := w.Config.CheckSealingForReplicas(secretRunbooks(w.Registry)); err != nil {
		ps = append(ps, w.ProblemAt("secrets.key", err.(*config.KeyError).Msg))
	}
	for _, ke := range config.KeyErrors(incident.ValidateRules(w.Config.Automations, status)) {
		ps = append(ps, w.ProblemAt(ke.Key, ke.Msg))
	}
	return ps
}

func hasKeyPrefix(ps []config.Problem, prefix string) bool {
	for _, p := range ps {
		if p.Key == prefix || strings.HasPrefix(p.Key, prefix+".") {
			return true
		}
	}
	return false
}

func (c *cli) validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the configuration and every runbook; print every problem (for CI)",
		Long: `validate loads the configuration (file, defaults, TEBURA_* overrides), the access
roles and every runbook, and prints every problem at once as file:line: message,
sorted. It exits 0 when there is none and 1 otherwise, so it fits a CI job of a
runbook repository.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := c.configFile()
			if err != nil {
				return err
			}
			w, ps, _ := loadWorld(path)
			config.SortProblems(ps)
			for _, p := range ps {
				fmt.Fprintln(c.stdout, p)
			}
			for _, warn := range w.SourceWarnings() {
				fmt.Fprintln(c.stdout, "warning: "+warn)
			}
			if w.Config.Runbooks.BreakGlass {
				fmt.Fprintf(c.stdout, "warning: %s: runbooks.break_glass is true: an approver or admin may run an approval-gated runbook alone with `tebura run --break-glass`, and the CLI identity is the OS user, which nothing authenticates\n", w.Where("runbooks.break_glass"))
			}
			if len(ps) > 0 {
				fmt.Fprintf(c.stdout, "%d problem(s) found\n", len(ps))
				return &exitError{code: 1}
			}
			fmt.Fprintf(c.stdout, "ok: %s, %d runbook(s), %d role(s)\n", w.Name(), len(w.Registry.List()), len(w.Config.Access.Roles))
			return nil
		},
	}
}
