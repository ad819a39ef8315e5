package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/commands"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
	ansiblestep "github.com/tebura/tebura/runbooks/step/ansible"
	sshstep "github.com/tebura/tebura/runbooks/step/ssh"
	"github.com/tebura/tebura/store/bolt"
)

// Exit codes of `tebura run`, following shell conventions: 124 as
// timeout(1) uses, 130 as a shell reports Ctrl-C (128+SIGINT).
const (
	exitFailed    = 1
	exitTimedOut  = 124
	exitCancelled = 130
)

// runExitCode maps a finished run to the process exit code.
func runExitCode(r *runbooks.Run) int {
	switch r.State {
	case runbooks.StateSucceeded:
		return 0
	case runbooks.StateTimedOut:
		return exitTimedOut
	case runbooks.StateCancelled:
		return exitCancelled
	case runbooks.StateFailed:
		if r.ExitCode > 0 && r.ExitCode < 256 {
			return r.ExitCode
		}
	}
	return exitFailed
}

// consoleIdentity is who `tebura run` acts as: console:$USER.
func consoleIdentity(getenv func(string) string) string {
	name := getenv("USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		name = "unknown"
	}
	return "console:" + name
}

type runFlags struct {
	yes        bool
	breakGlass bool
}

func (c *cli) runCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run NAME [key=value ...]",
		Short: "Run a runbook here through the engine, streaming its output",
		Long: `run validates the parameters, checks that console:$USER may run the runbook,
prints the plan and asks for confirmation (unless --yes), then runs it through
the same engine the bot uses, recording it in the store and the audit log, and
streams its output as it comes. Ctrl-C cancels the run (the whole process group
is killed). The exit code is the run's: 0 succeeded, the failing step's exit
code (or 1) on failure, 124 on timeout, 130 when cancelled.

A runbook that needs approval is refused: request it in chat, where others
approve it. When the configuration sets runbooks.break_glass: true (it is off
by default), an approver or admin may bypass the approval in an emergency with
--break-glass; the plan says so and the audit log records it as such. The
identity is the OS user ($USER), which nothing authenticates.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.runRunbook(cmd.Context(), args[0], args[1:], f)
		},
	}
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&f.breakGlass, "break-glass", false, "run a runbook that needs approval without it (only when runbooks.break_glass is true; approvers and admins only; audited)")
	return cmd
}

// runRunbook is `tebura run`: a client of the run service, as chat is.
// When a server holds the data dir, that server's run service does the
// work over the admin socket (runRemote); otherwise this process opens the
// store and builds one. Either way it asks the service to prepare the
// request (bind, authorize, plan, lock), shows the plan and asks, has the
// service store the run started (one transaction), prints every line of its output, and
// exits with its exit code.
func (c *cli) runRunbook(ctx context.Context, name string, args []string, f runFlags) error {
	w, err := c.loadRunWorld()
	if err != nil {
		return err
	}
	if cl := serverOf(w.Config.DataDir); cl != nil {
		return c.runRemote(ctx, cl, name, args, f)
	}
	cfg := w.Config
	actor := consoleIdentity(c.getenv)
	red, err := runbooks.NewRedactor(cfg.Secrets(), cfg.Redact.Patterns)
	if err != nil {
		return err
	}
	logger := newLogger(cfg.Log, c.stderr)
	if cfg.Log.Level == "info" {
		logger = newLoggerLevel(cfg.Log.Format, "warn", c.stderr) // the terminal shows the run; logs only for trouble
	}
	// The runbook and the gate are checked before the store is opened,
	// so that a refused run touches nothing.
	if _, _, err := cliRunbook(w, name, args, actor, f.breakGlass); err != nil {
		return err
	}
	svc, closeStore, err := openRunService(ctx, &cfg, red, logger)
	if err != nil {
		return err
	}
	defer closeStore()
	p, err := prepareCLIRun(ctx, svc, w, name, args, actor, f.breakGlass)
	if err != nil {
		return err
	}
	fmt.Fprint(c.stdout, planText(p, actor))
	if !f.yes && !confirm(c.stdin, c.stdout) {
		return &exitError{code: 1, err: errors.New("not confirmed; nothing ran")}
	}
	// The run's writes must land even after Ctrl-C; its request and start
	// are one transaction.
	return startCLIRun(ctx, svc, p, actor, c.stdout, c.stderr, func(bg context.Context, out io.Writer) (*runbooks.Handle, error) {
		return svc.CreateAndStart(bg, p, actor, out)
	})
}

// cliRunbook finds the runbook name, parses its key=value args and
// decides its gate for actor: the checks `tebura run` makes before it asks
// the run service, the same here and in a server answering on the admin
// socket.
func cliRunbook(w *world, name string, args []string, actor string, breakGlass bool) (*runbooks.Runbook, runbooks.Gate, error) {
	rb, ok := w.Registry.Get(name)
	if !ok {
		return nil, 0, tebura.Errorf(tebura.ENOTFOUND, "There is no runbook named %q%s; `tebura validate` lists problems, and the runbooks live in %s.",
			name, nearestRunbook(w.Registry, name), strings.Join(w.Config.Runbooks.Dirs, ", "))
	}
	if _, err := rb.ParseArgs(args); err != nil {
		return nil, 0, err
	}
	if err := runbooks.TerminalRunnable(rb); err != nil {
		return nil, 0, err
	}
	gate, err := cliGate(w, rb, actor, breakGlass)
	if err != nil {
		return nil, 0, err
	}
	return rb, gate, nil
}

// prepareCLIRun has svc prepare the run `tebura run NAME args` asks for,
// as actor: nothing is stored yet.
func prepareCLIRun(ctx context.Context, svc *runbooks.Service, w *world, name string, args []string, actor string, breakGlass bool) (*runbooks.Requested, error) {
	rb, gate, err := cliRunbook(w, name, args, actor, breakGlass)
	if err != nil {
		return nil, err
	}
	raw, err := rb.ParseArgs(args)
	if err != nil {
		return nil, err
	}
	return svc.Prepare(ctx, runbooks.Request{
		Runbook: rb, Params: raw, By: actor, Via: runbooks.ViaCLI, Gate: gate,
		Origin:    runbooks.Origin{Platform: "cli"},
		Authorize: func(rb *runbooks.Runbook) error { return cliAuthorize(w, rb, actor) },
	})
}

// startCLIRun has start start the prepared run p, echoing every masked
// line of output to out, writes that output to stdout as it comes and what
// happened to stderr, and returns once the run ended: nil when it
// succeeded, else an exitError with the run's exit code. The end of ctx
// (Ctrl-C, or the admin client gone) cancels the run, which is then
// waited for.
func startCLIRun(ctx context.Context, svc *runbooks.Service, p *runbooks.Requested, actor string, stdout, stderr io.Writer,
	start func(bg context.Context, out io.Writer) (*runbooks.Handle, error)) error {
	bg := context.WithoutCancel(ctx)
	out := &echo{w: stdout}
	h, err := start(bg, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "run %s started (Ctrl-C cancels it)\n", p.Run.ID)
	if err := waitRun(ctx, svc, h, actor, stderr); err != nil {
		return err
	}
	final, err := svc.Store().GetRun(bg, p.Run.ID)
	if err != nil {
		return err
	}
	if out.err != nil {
		fmt.Fprintf(stderr, "output incomplete: %v\n", out.err)
	}
	if final.Truncated {
		fmt.Fprintf(stderr, "the stored log was cut at runbooks.log_cap_bytes (%d bytes); every line was printed above\n", final.LogBytes)
	}
	fmt.Fprintf(stderr, "run %s %s%s\n", final.ID, final.State, p.Masker.Mask(reasonSuffix(final)))
	if code := runExitCode(final); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// loadRunWorld loads the configuration and the runbooks; problems of the
// configuration stop the run, a broken runbook only warns (the others run).
func (c *cli) loadRunWorld() (*world, error) {
	path, err := c.configFile()
	if err != nil {
		return nil, err
	}
	w, ps, confProblems := loadWorld(path)
	config.SortProblems(ps[:confProblems])
	if confProblems > 0 {
		for _, p := range ps[:confProblems] {
			fmt.Fprintln(c.stderr, p)
		}
		return nil, &exitError{code: 1, err: fmt.Errorf("the configuration has %d problem(s); fix them first (`tebura validate`)", confProblems)}
	}
	for _, p := range ps {
		fmt.Fprintln(c.stderr, "warning:", p)
	}
	return w, nil
}

// cliAuthorize is the allow-list check in the words of the terminal.
func cliAuthorize(w *world, rb *runbooks.Runbook, actor string) error {
	if w.Policy.Allowed(access.Subject{ID: actor}, access.ActionRun, rb) {
		return nil
	}
	return tebura.Errorf(tebura.EFORBIDDEN, "%s may not run %s: it needs one of the roles %s. Add %s to the members of one of them under access.roles.",
		actor, rb.Name, strings.Join(rb.AllowedRoles(), ", "), actor)
}

// cliGate decides what `tebura run` does with a runbook that needs
// approval, which a terminal cannot collect: refuse, or, when the
// configuration allows break-glass and the user is an approver who asked
// for it, run it approved in their name.
func cliGate(w *world, rb *runbooks.Runbook, actor string, breakGlass bool) (runbooks.Gate, error) {
	if !rb.NeedsApproval() {
		return runbooks.NoApproval, nil
	}
	cfg := w.Config
	if err := cliAuthorize(w, rb, actor); err != nil {
		return 0, err
	}
	switch {
	case breakGlass && !cfg.Runbooks.BreakGlass:
		return 0, tebura.Errorf(tebura.EFORBIDDEN, "--break-glass is off on this machine, so %s runs only with %d approval(s) from %s: request it in chat (/%s run %s …). An operator who accepts that anyone able to run tebura here as an approver's user may bypass approval can set runbooks.break_glass: true.",
			rb.Name, rb.Approval.Required, strings.Join(rb.ApproverRoles(), ", "), cfg.Bot.Commands.Runbook, rb.Name)
	case !breakGlass && !cfg.Runbooks.BreakGlass:
		return 0, tebura.Errorf(tebura.EFORBIDDEN, "%s needs %d approval(s) from %s, which `tebura run` cannot collect. Request it in chat (/%s run %s …).",
			rb.Name, rb.Approval.Required, strings.Join(rb.ApproverRoles(), ", "), cfg.Bot.Commands.Runbook, rb.Name)
	case !breakGlass:
		return 0, tebura.Errorf(tebura.EFORBIDDEN, "%s needs %d approval(s) from %s, which `tebura run` cannot collect. Request it in chat (/%s run %s …), or, in an emergency and if you are an approver or admin, rerun with --break-glass (recorded in the audit log).",
			rb.Name, rb.Approval.Required, strings.Join(rb.ApproverRoles(), ", "), cfg.Bot.Commands.Runbook, rb.Name)
	}
	if !w.Policy.Allowed(access.Subject{ID: actor}, access.ActionApprove, rb) {
		return 0, tebura.Errorf(tebura.EFORBIDDEN, "--break-glass is for approvers of %s (%s) and admins; %s is neither.",
			rb.Name, strings.Join(rb.ApproverRoles(), ", "), actor)
	}
	return runbooks.BreakGlass, nil
}

// planText is the plan shown before asking, saying so when approval is
// bypassed.
func planText(p *runbooks.Requested, actor string) string {
	text := p.Plan.String()
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	if rb := p.Runbook; rb.NeedsApproval() {
		text += fmt.Sprintf("APPROVAL BYPASSED: %s needs %d approval(s) from %s; --break-glass by %s runs it without them. This is recorded in the audit log.\n",
			rb.Name, rb.Approval.Required, strings.Join(rb.ApproverRoles(), ", "), actor)
	}
	return text
}

// openRunService opens the store and builds the run service `tebura run`
// uses. Holding the database means no other tebura is running: runs it says
// are running were left by a process that died, so the service recovers
// them (interrupted, locks freed, audited) first.
func openRunService(ctx context.Context, cfg *config.Config, red *runbooks.Redactor, logger *slog.Logger) (*runbooks.Service, func(), error) {
	// Recovery marks every running run interrupted: right for a bolt file
	// this process holds alone, wrong for a database replicas share.
	if err := boltOnly(*cfg, "tebura run without a server", "start `tebura serve` on this data dir, and tebura run goes through it."); err != nil {
		return nil, nil, err
	}
	st, err := bolt.Open(filepath.Join(cfg.DataDir, dbFile), bolt.Options{})
	if err != nil {
		return nil, nil, err
	}
	exec := runbooks.NewExecutor(st, runbooks.ExecutorConfig{
		DataDir: cfg.DataDir, MaxConcurrent: cfg.Runbooks.MaxConcurrent, LogCapBytes: cfg.Runbooks.LogCapBytes,
		TailLines: cfg.Bot.TailLines, KillGrace: cfg.Runbooks.KillGrace, Targets: sshstep.New(sshConfig(*cfg)),
		Playbooks:  ansiblestep.New(ansibleConfig(*cfg)),
		Kubernetes: kubeRunner(*cfg),
	}, logger)
	svc := runbooks.NewService(runbooks.ServiceConfig{
		Store: st, Executor: exec, Audit: audit.New(st, red, nil),
		Redactor: func() *runbooks.Redactor { return red }, Logger: logger,
	})
	closeAll := func() { svc.Stop(); st.Close() }
	if _, err := svc.Recover(ctx); err != nil {
		closeAll()
		return nil, nil, err
	}
	return svc, closeAll, nil
}

// waitRun waits for the run to end. On ctx's end (Ctrl-C) it cancels the
// run and waits on until the run ends.
func waitRun(ctx context.Context, svc *runbooks.Service, h *runbooks.Handle, actor string, stderr io.Writer) error {
	select {
	case <-h.Done():
		return nil
	case <-ctx.Done():
	}
	fmt.Fprintln(stderr, "cancelling…")
	if err := svc.Cancel(context.WithoutCancel(ctx), h.RunID(), runbooks.Decision{By: actor}, runbooks.ViaCLI); err != nil && tebura.ErrorCode(err) != tebura.ENOTFOUND {
		return err
	}
	<-h.Done()
	return nil
}

// echo is the terminal as a run's echo: each batch of complete masked
// lines the engine takes is one write, as cat does. A failed write (a
// closed pipe) is kept and reported once the run ended; the run goes on and
// its log is complete.
type echo struct {
	w   io.Writer
	err error
}

// Write implements io.Writer for the executor.
func (e *echo) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func reasonSuffix(r *runbooks.Run) string {
	if r.Reason == "" {
		return ""
	}
	return ": " + r.Reason
}

// confirm asks "Run it? [y/N]" and reads one line.
func confirm(in io.Reader, out io.Writer) bool {
	fmt.Fprint(out, "Run it? [y/N] ")
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(out)
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// nearestRunbook suggests a runbook name close to name, as chat does.
func nearestRunbook(reg *runbooks.Registry, name string) string {
	var names []string
	for _, rb := range reg.List() {
		names = append(names, rb.Name)
	}
	if best := commands.Suggest(name, names); best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return ""
}

func (c *cli) logsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logs RUN",
		Short: "Print a run's full (redacted, capped) log",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, cl, st, err := c.storeOrServer()
			if err != nil {
				return err
			}
			if cl != nil {
				return c.remote(cmd.Context(), cl, http.MethodGet, "/v1/runs/"+url.PathEscape(args[0])+"/log", nil)
			}
			defer st.Close()
			red, err := configRedactor(l.Config)
			if err != nil {
				return err
			}
			return printLog(cmd.Context(), st, l.Config.DataDir, red, args[0], c.stdout)
		},
	}
}

// printLog prints run id's log from dataDir. The log was masked when
// written; it is masked again with red, today's configuration, which may
// name secrets added since.
func printLog(ctx context.Context, st runbooks.Store, dataDir string, red *runbooks.Redactor, id string, w io.Writer) error {
	r, err := st.GetRun(ctx, id)
	if err != nil {
		return err
	}
	rc, err := runbooks.ReadLog(dataDir, r)
	if err != nil {
		return err
	}
	defer rc.Close()
	return copyMasked(w, rc, red)
}

// copyMasked copies r to w line by line through m.
func copyMasked(w io.Writer, r io.Reader, m *runbooks.Redactor) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if _, werr := io.WriteString(bw, m.Mask(line)); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return bw.Flush()
		}
		if err != nil {
			return err
		}
	}
}
