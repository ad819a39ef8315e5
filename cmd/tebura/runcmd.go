package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/access"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
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

func (c *cli) runRunbook(ctx context.Context, name string, args []string, f runFlags) error {
	path, err := c.configFile()
	if err != nil {
		return err
	}
	w, ps, confProblems := loadWorld(path)
	config.SortProblems(ps[:confProblems])
	if confProblems > 0 {
		for _, p := range ps[:confProblems] {
			fmt.Fprintln(c.stderr, p)
		}
		return &exitError{code: 1, err: fmt.Errorf("the configuration has %d problem(s); fix them first (`tebura validate`)", confProblems)}
	}
	for _, p := range ps { // runbook problems do not stop other runbooks
		fmt.Fprintln(c.stderr, "warning:", p)
	}
	cfg := w.Config
	rb, ok := w.Registry.Get(name)
	if !ok {
		return tebura.Errorf(tebura.ENOTFOUND, "There is no runbook named %q%s; `tebura validate` lists problems, and the runbooks live in %s.",
			name, nearestRunbook(w.Registry, name), strings.Join(cfg.Runbooks.Dirs, ", "))
	}
	values, err := rb.ParseArgs(args)
	if err != nil {
		return err
	}
	actor := consoleIdentity(c.getenv)
	subject := access.Subject{ID: actor}
	if !w.Policy.Allowed(subject, access.ActionRun, rb) {
		return tebura.Errorf(tebura.EFORBIDDEN, "%s may not run %s: it needs one of the roles %s. Add %s to the members of one of them under access.roles.",
			actor, rb.Name, strings.Join(rb.AllowedRoles(), ", "), actor)
	}
	breakGlass := false
	if rb.NeedsApproval() {
		switch {
		case f.breakGlass && !cfg.Runbooks.BreakGlass:
			return tebura.Errorf(tebura.EFORBIDDEN, "--break-glass is off on this machine, so %s runs only with %d approval(s) from %s: request it in chat (/%s run %s …). An operator who accepts that anyone able to run tebura here as an approver's user may bypass approval can set runbooks.break_glass: true.",
				rb.Name, rb.Approval.Required, strings.Join(rb.ApproverRoles(), ", "), cfg.Bot.Commands.Runbook, rb.Name)
		case !f.breakGlass && !cfg.Runbooks.BreakGlass:
			return tebura.Errorf(tebura.EFORBIDDEN, "%s needs %d approval(s) from %s, which `tebura run` cannot collect. Request it in chat (/%s run %s …).",
				rb.Name, rb.Approval.Required, strings.Join(rb.ApproverRoles(), ", "), cfg.Bot.Commands.Runbook, rb.Name)
		case !f.breakGlass:
			return tebura.Errorf(tebura.EFORBIDDEN, "%s needs %d approval(s) from %s, which `tebura run` cannot collect. Request it in chat (/%s run %s …), or, in an emergency and if you are an approver or admin, rerun with --break-glass (recorded in the audit log).",
				rb.Name, rb.Approval.Required, strings.Join(rb.ApproverRoles(), ", "), cfg.Bot.Commands.Runbook, rb.Name)
		}
		if !w.Policy.Allowed(subject, access.ActionApprove, rb) {
			return tebura.Errorf(tebura.EFORBIDDEN, "--break-glass is for approvers of %s (%s) and admins; %s is neither.",
				rb.Name, strings.Join(rb.ApproverRoles(), ", "), actor)
		}
		breakGlass = true
	}
	plan, err := rb.Plan(values)
	if err != nil {
		return err
	}
	steps, err := rb.Render(values)
	if err != nil {
		return err
	}
	lockKey, err := rb.LockKey(values)
	if err != nil {
		return err
	}
	fmt.Fprint(c.stdout, plan.String())
	if !strings.HasSuffix(plan.String(), "\n") {
		fmt.Fprintln(c.stdout)
	}
	if breakGlass {
		fmt.Fprintf(c.stdout, "APPROVAL BYPASSED: %s needs %d approval(s) from %s; --break-glass by %s runs it without them. This is recorded in the audit log.\n",
			rb.Name, rb.Approval.Required, strings.Join(rb.ApproverRoles(), ", "), actor)
	}
	if !f.yes && !confirm(c.stdin, c.stdout) {
		return &exitError{code: 1, err: errors.New("not confirmed; nothing ran")}
	}

	red, err := runbooks.NewRedactor(cfg.Secrets(), cfg.Redact.Patterns)
	if err != nil {
		return err
	}
	masker := red.With(rb.Secrets(values)...)
	st, err := bolt.Open(filepath.Join(cfg.DataDir, dbFile), bolt.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	auditLog := audit.New(st, masker, nil)
	// Holding the database means no other tebura is running: runs it says
	// are running were left by a process that died, so free their locks.
	if err := recoverRuns(ctx, st, auditLog); err != nil {
		return err
	}
	logger := newLogger(cfg.Log, c.stderr)
	if cfg.Log.Level == "info" {
		logger = newLoggerLevel(cfg.Log.Format, "warn", c.stderr) // the terminal shows the run; logs only for trouble
	}
	exec := runbooks.NewExecutor(st, runbooks.ExecutorConfig{
		DataDir: cfg.DataDir, MaxConcurrent: cfg.Runbooks.MaxConcurrent, LogCapBytes: cfg.Runbooks.LogCapBytes,
		TailLines: cfg.Bot.TailLines, KillGrace: cfg.Runbooks.KillGrace,
	}, logger)

	now := time.Now()
	var secretNames []string
	for _, p := range rb.Params {
		if p.Secret {
			secretNames = append(secretNames, p.Name)
		}
	}
	run := &runbooks.Run{
		Runbook: rb.Name, Kind: rb.Kind, Params: values, Secret: secretNames, PlanHash: plan.Hash, LockKey: lockKey,
		RequestedBy: actor, RequestedAt: now, Required: rb.Approval.Required, State: runbooks.StatePendingApproval,
		Origin: runbooks.Origin{Platform: "cli"},
	}
	if breakGlass {
		run.State = runbooks.StateApproved
		run.Approvals = []runbooks.Decision{{By: actor, Name: "break-glass", At: now}}
	}
	// Audit and state writes must land even after Ctrl-C.
	bg := context.WithoutCancel(ctx)
	if err := st.CreateRun(bg, run); err != nil {
		return err
	}
	detail := map[string]string{"runbook": rb.Name, "plan_hash": plan.Hash, "via": "cli"}
	for k, v := range values {
		detail["param."+k] = v
	}
	if err := auditLog.Record(bg, actor, audit.ActionRunRequest, run.ID, detail); err != nil {
		return err
	}
	if breakGlass {
		if err := auditLog.Record(bg, actor, audit.ActionRunApprove, run.ID, map[string]string{
			"break_glass": "true", "reason": "approval bypassed locally with tebura run --break-glass",
			"required": fmt.Sprint(rb.Approval.Required), "approvers": strings.Join(rb.ApproverRoles(), ","),
		}); err != nil {
			return err
		}
	}
	h, err := exec.Start(bg, run, runbooks.Job{Steps: steps, Timeout: rb.Timeout, Masker: masker})
	if err != nil {
		_ = auditLog.Record(bg, "system", audit.ActionRunEnd, run.ID, map[string]string{"state": string(runbooks.StateFailed), "reason": tebura.ErrorMessage(err)})
		return err
	}
	if err := auditLog.Record(bg, actor, audit.ActionRunStart, run.ID, map[string]string{"runbook": rb.Name}); err != nil {
		logger.Warn("audit entry not recorded", "run_id", run.ID, "err", err)
	}
	fmt.Fprintf(c.stderr, "run %s started (Ctrl-C cancels it)\n", run.ID)

	streamErr := c.stream(ctx, exec, h, filepath.Join(cfg.DataDir, "logs", run.ID+".log"), actor)

	final, err := st.GetRun(bg, run.ID)
	if err != nil {
		return err
	}
	if final.State == runbooks.StateCancelled {
		_ = auditLog.Record(bg, actor, audit.ActionRunCancel, run.ID, map[string]string{"via": "cli"})
	}
	if err := auditLog.Record(bg, "system", audit.ActionRunEnd, run.ID, map[string]string{
		"state": string(final.State), "exit_code": fmt.Sprint(final.ExitCode), "reason": final.Reason,
	}); err != nil {
		logger.Warn("audit entry not recorded", "run_id", run.ID, "err", err)
	}
	if streamErr != nil {
		fmt.Fprintf(c.stderr, "output incomplete: %v\n", streamErr)
	}
	fmt.Fprintf(c.stderr, "run %s %s%s\n", final.ID, final.State, masker.Mask(reasonSuffix(final)))
	if code := runExitCode(final); code != 0 {
		return &exitError{code: code}
	}
	return nil
}

// recoverRuns marks runs left running or queued by a dead process as
// interrupted (releasing their locks) and audits each.
func recoverRuns(ctx context.Context, st runbooks.Store, log *audit.Log) error {
	interrupted, err := runbooks.Recover(ctx, st, time.Now())
	if err != nil {
		return err
	}
	for _, r := range interrupted {
		if err := log.Record(ctx, "system", audit.ActionRunInterrupt, r.ID, map[string]string{"runbook": r.Runbook, "reason": r.Reason}); err != nil {
			return err
		}
	}
	return nil
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

// stream prints the run's output as it comes, every line once and in
// order. Two sources hold the same sequence of (redacted) lines: the
// handle's tail (the last TailLines, always current) and the log file
// (complete up to log_cap_bytes, but written through a buffer). Each wake-up
// prints what the file already holds and then, when the rest is within the
// tail, the rest from the tail; when neither covers a gap yet (fast output
// still in the file's buffer), it waits for the next wake-up. Only output
// beyond the log cap can be skipped, and then a marker says how much. On
// ctx's end (Ctrl-C) it cancels the run and streams on until the run ends.
func (c *cli) stream(ctx context.Context, exec *runbooks.Executor, h *runbooks.Handle, path, actor string) error {
	sub := h.Subscribe()
	defer sub.Close()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	out := bufio.NewWriterSize(c.stdout, 64<<10)
	ls := &lineStreamer{path: path, out: out}
	defer ls.close()

	cancelled := false
	done := ctx.Done()
	wake := sub.C()
	for {
		final := false
		select {
		case <-h.Done():
			final = true
		case _, ok := <-wake:
			if !ok {
				wake = nil // closed at the end; Done follows
			}
		case <-tick.C:
		case <-done:
			if !cancelled {
				cancelled = true
				done = nil
				fmt.Fprintln(c.stderr, "cancelling…")
				if err := exec.Cancel(context.WithoutCancel(ctx), h.RunID(), actor); err != nil && tebura.ErrorCode(err) != tebura.ENOTFOUND {
					return err
				}
			}
		}
		if err := ls.catchUp(h.Snapshot(), final); err != nil {
			return err
		}
		if err := out.Flush(); err != nil {
			return err
		}
		if final {
			return nil
		}
	}
}

// truncationMarker starts the line the engine appends to a capped log.
const truncationMarker = "[tebura: log truncated"

// lineStreamer tracks how many of a run's lines were printed.
type lineStreamer struct {
	path      string
	out       io.Writer
	f         *os.File
	buf       []byte // read from the file, not yet printed: a partial line at most, between calls
	printed   int64  // lines printed
	fileLines int64  // complete lines taken from the file
}

// streamReadBytes is the log file's read size: the lines of a read are
// printed with one write.
const streamReadBytes = 256 << 10

func (ls *lineStreamer) close() {
	if ls.f != nil {
		ls.f.Close()
	}
}

func (ls *lineStreamer) catchUp(snap runbooks.Snapshot, final bool) error {
	if err := ls.fromFile(snap.Lines, snap.Truncated); err != nil {
		return err
	}
	first := snap.Lines - int64(len(snap.Tail)) // index of Tail[0]
	gap := ls.printed < first
	if gap && (final || snap.Truncated) {
		// Lines past the log cap that have left the tail: say so, go on.
		fmt.Fprintf(ls.out, "[tebura: %d lines not shown: they are over the log cap and out of the live tail]\n", first-ls.printed)
		ls.printed = first
		gap = false
	}
	if !gap {
		for _, line := range snap.Tail[ls.printed-first:] {
			if _, err := io.WriteString(ls.out, line+"\n"); err != nil {
				return err
			}
		}
		if snap.Lines > ls.printed {
			ls.printed = snap.Lines
		}
	}
	return nil
}

// fromFile prints complete lines of the log file that were not printed yet,
// up to upto lines. It reads big pieces of the file and prints each
// piece's run of complete lines with one write; only the lines that the
// tail already printed (skipped) and the line limit are found one by one.
func (ls *lineStreamer) fromFile(upto int64, truncated bool) error {
	if ls.f == nil {
		f, err := os.Open(ls.path)
		if os.IsNotExist(err) {
			return nil // queued: the log does not exist yet
		}
		if err != nil {
			return err
		}
		ls.f, ls.buf = f, make([]byte, 0, streamReadBytes)
	}
	for ls.fileLines < upto {
		end := bytes.LastIndexByte(ls.buf, '\n') + 1
		if end == 0 {
			more, err := ls.fill()
			if err != nil {
				return err
			}
			if !more {
				return nil // the rest is still in the engine's buffer
			}
			continue
		}
		block := ls.buf[:end]
		if truncated {
			if i := markerAt(block); i >= 0 {
				// Lines before the marker, then the marker, which is not
				// one of the run's lines.
				block = block[:i]
				if len(block) == 0 {
					n := bytes.IndexByte(ls.buf, '\n') + 1
					if _, err := ls.out.Write(ls.buf[:n]); err != nil {
						return err
					}
					ls.consume(n)
					continue
				}
			}
		}
		n := int64(bytes.Count(block, []byte{'\n'}))
		if n > upto-ls.fileLines { // the file is ahead of the snapshot
			n = upto - ls.fileLines
			block = firstLines(block, n)
		}
		show := block
		if skip := ls.printed - ls.fileLines; skip > 0 {
			show = block[len(firstLines(block, skip)):] // printed from the tail already
		}
		if _, err := ls.out.Write(show); err != nil {
			return err
		}
		ls.fileLines += n
		ls.printed = max(ls.printed, ls.fileLines)
		ls.consume(len(block))
	}
	return nil
}

// fill reads more of the file after what buf holds; false at its end.
func (ls *lineStreamer) fill() (bool, error) {
	if len(ls.buf) == cap(ls.buf) {
		ls.buf = append(ls.buf, make([]byte, cap(ls.buf))...)[:len(ls.buf)] // a line longer than the buffer
	}
	n, err := ls.f.Read(ls.buf[len(ls.buf):cap(ls.buf)])
	ls.buf = ls.buf[:len(ls.buf)+n]
	if err == io.EOF {
		return n > 0, nil
	}
	return n > 0 || err == nil, err
}

// consume drops the first n bytes of buf.
func (ls *lineStreamer) consume(n int) {
	ls.buf = ls.buf[:copy(ls.buf, ls.buf[n:])]
}

// markerAt is where a line starting with the truncation marker begins in
// block, or -1.
func markerAt(block []byte) int {
	if bytes.HasPrefix(block, []byte(truncationMarker)) {
		return 0
	}
	if i := bytes.Index(block, []byte("\n"+truncationMarker)); i >= 0 {
		return i + 1
	}
	return -1
}

// firstLines is the start of block holding its first n lines (all of it
// when it holds fewer).
func firstLines(block []byte, n int64) []byte {
	end := 0
	for ; n > 0; n-- {
		i := bytes.IndexByte(block[end:], '\n')
		if i < 0 {
			return block
		}
		end += i + 1
	}
	return block[:end]
}

// nearestRunbook suggests a runbook name close to name.
func nearestRunbook(reg *runbooks.Registry, name string) string {
	best, bestD := "", 4
	for _, rb := range reg.List() {
		if d := editDistance(name, rb.Name); d < bestD {
			best, bestD = rb.Name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

func (c *cli) logsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logs RUN",
		Short: "Print a run's full (redacted, capped) log",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, st, err := c.openStore()
			if err != nil {
				return err
			}
			defer st.Close()
			r, err := st.GetRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			red, err := configRedactor(l.Config)
			if err != nil {
				return err
			}
			rc, err := runbooks.ReadLog(l.Config.DataDir, r)
			if err != nil {
				return err
			}
			defer rc.Close()
			// The log was masked when written; mask again with today's
			// configuration, which may name secrets added since.
			return copyMasked(c.stdout, rc, red.With(runSecrets(r)...))
		},
	}
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
