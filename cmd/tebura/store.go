package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/tebura/tebura/admin"
	"github.com/tebura/tebura/audit"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
)

// storeOrServer is where a reading command gets its data: from the server
// that holds the data dir, over its admin socket (cl), or, when none
// answers, from the store opened here (st, to close).
func (c *cli) storeOrServer() (l *config.Loaded, cl *admin.Client, st appStore, err error) {
	l, err = c.load()
	if err != nil {
		return nil, nil, nil, err
	}
	if cl := serverOf(l.Config.DataDir); cl != nil {
		return l, cl, nil, nil
	}
	st, err = openStore(context.Background(), l.Config, storeOptions{})
	if err != nil {
		return nil, nil, nil, err
	}
	return l, nil, st, nil
}

func (c *cli) runsCmd() *cobra.Command {
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List past runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, cl, st, err := c.storeOrServer()
			if err != nil {
				return err
			}
			if cl != nil {
				q := url.Values{"limit": {strconv.Itoa(limit)}, "json": {strconv.FormatBool(asJSON)}}
				return c.remote(cmd.Context(), cl, http.MethodGet, "/v1/runs?"+q.Encode(), nil)
			}
			defer st.Close()
			red, err := configRedactor(l.Config)
			if err != nil {
				return err
			}
			return printRuns(cmd.Context(), st, red, limit, asJSON, c.stdout)
		},
	}
	cmd.Flags().IntVarP(&limit, "limit", "n", 20, "how many runs to list (0 for all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON run per line")
	return cmd
}

// printRuns prints the newest limit runs of st (0 for all), as a table or
// one JSON run per line, masked by red.
func printRuns(ctx context.Context, st runbooks.Store, red *runbooks.Redactor, limit int, asJSON bool, w io.Writer) error {
	runs, err := st.ListRuns(ctx, runbooks.ListOptions{Limit: limit})
	if err != nil {
		return err
	}
	for i, r := range runs {
		runs[i] = redactRun(r, red)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range runs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tRUNBOOK\tSTATE\tEXIT\tREQUESTED BY\tSTARTED\tDURATION")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Runbook, r.State, r.ExitCode, r.RequestedBy,
			fmtTime(r.StartedAt), fmtDuration(r.StartedAt, r.EndedAt))
	}
	return tw.Flush()
}

// configRedactor is the redactor the configuration asks for: every secret
// of the configuration, redact.values and redact.patterns.
func configRedactor(cfg config.Config) (*runbooks.Redactor, error) {
	return runbooks.NewRedactor(cfg.Secrets(), cfg.Redact.Patterns)
}

// redactRun returns a copy of r fit to print: the secret params are "***"
// (the store never holds their values in clear, and the sealed ones are
// left out) and every other text passes through red.
func redactRun(r *runbooks.Run, red *runbooks.Redactor) *runbooks.Run {
	m := red
	out := *r
	out.Sealed = nil
	out.Params = make(map[string]string, len(r.Params))
	for k, v := range r.Params {
		out.Params[k] = m.Mask(v)
	}
	for _, name := range r.Secret {
		out.Params[name] = "***"
	}
	out.LockKey = m.Mask(r.LockKey)
	out.RequestedName = m.Mask(r.RequestedName)
	out.Reason = m.Mask(r.Reason)
	out.Approvals = append([]runbooks.Decision(nil), r.Approvals...)
	for i := range out.Approvals {
		out.Approvals[i].Name = m.Mask(out.Approvals[i].Name)
	}
	if r.Denied != nil {
		d := *r.Denied
		d.Name = m.Mask(d.Name)
		out.Denied = &d
	}
	return &out
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func fmtDuration(from, to time.Time) string {
	if from.IsZero() || to.IsZero() {
		return "-"
	}
	return to.Sub(from).Round(time.Millisecond).String()
}

func (c *cli) auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check or export the audit chain",
	}
	var anchors []string
	verify := &cobra.Command{
		Use:   "verify [--anchor SEQ:HASH]...",
		Short: "Check the hash chain and print its head; exit 1 naming the first bad entry",
		Long: "Check the hash chain and print its head (SEQ:HASH). Keep heads somewhere else " +
			"(serve logs one at every start) and pass them back with --anchor: a chain whose " +
			"newest entries were removed verifies on its own, but not against an older head.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var want []audit.Anchor
			for _, s := range anchors {
				a, err := audit.ParseAnchor(s)
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				want = append(want, a)
			}
			_, cl, st, err := c.storeOrServer()
			if err != nil {
				return err
			}
			if cl != nil {
				return c.remote(cmd.Context(), cl, http.MethodGet, "/v1/audit/verify?"+url.Values{"anchor": anchors}.Encode(), nil)
			}
			defer st.Close()
			return verifyAudit(cmd.Context(), st, want, c.stdout)
		},
	}
	verify.Flags().StringArrayVar(&anchors, "anchor", nil, "a head recorded earlier (SEQ:HASH) that must still be in the chain; repeatable")
	cmd.AddCommand(verify, &cobra.Command{
		Use:   "export",
		Short: "Print every audit entry as JSON lines",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, cl, st, err := c.storeOrServer()
			if err != nil {
				return err
			}
			if cl != nil {
				return c.remote(cmd.Context(), cl, http.MethodGet, "/v1/audit/export", nil)
			}
			defer st.Close()
			return audit.Export(cmd.Context(), st, c.stdout)
		},
	})
	return cmd
}

// verifyAudit checks st's audit chain against the anchors and prints its
// head; a broken chain is exit 1 naming the first bad entry.
func verifyAudit(ctx context.Context, st audit.Store, anchors []audit.Anchor, w io.Writer) error {
	head, n, err := audit.Check(ctx, st, anchors...)
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("audit chain broken after %d good entries: %w", n, err)}
	}
	_, err = fmt.Fprintf(w, "ok: %d audit entries, chain intact, head %s\n", n, head)
	return err
}

func (c *cli) configCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect the effective configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print the effective configuration (defaults, file, environment) with secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := c.configFile()
			if err != nil {
				return err
			}
			l, ps := config.Read(path)
			for _, p := range ps {
				fmt.Fprintln(c.stderr, p)
			}
			out, err := yaml.Marshal(l.Config.Redacted())
			if err != nil {
				return err
			}
			_, err = c.stdout.Write(out)
			if len(ps) > 0 && err == nil {
				return &exitError{code: 1}
			}
			return err
		},
	})
	return cmd
}
