package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/tebura/tebura/admin"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/discord"
	"github.com/tebura/tebura/bot/slack"
	"github.com/tebura/tebura/commands/incidentchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/runbooks"
)

// refuseProblems prints ps on stderr and returns the error that refuses to
// start; nil when there is none.
func (c *cli) refuseProblems(ps []config.Problem) error {
	if len(ps) == 0 {
		return nil
	}
	config.SortProblems(ps)
	for _, p := range ps {
		fmt.Fprintln(c.stderr, p)
	}
	return &exitError{code: 1, err: fmt.Errorf("refusing to start with %d problem(s) in the configuration or the runbooks", len(ps))}
}

func (c *cli) consoleCmd() *cobra.Command {
	var asJSON bool
	var as string
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Chat with the bot in the terminal (stdin/stdout), without Slack, Discord or webhooks",
		Long: `console runs the same bot as serve with only the terminal chat: lines starting
with / are commands, !1 presses a button of the latest message with buttons,
!as bob acts as console:bob, !help lists the keys. With --json, input and
output are one JSON event per line, for scripts. It exits when the input ends
and the runs it started have delivered their final frames. It uses the data
dir, so it cannot run beside a serve on the same data dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := c.configFile()
			if err != nil {
				return err
			}
			w, ps, _ := loadWorld(path)
			if err := c.refuseProblems(ps); err != nil {
				return err
			}
			cfg := w.Config
			cfg.HTTP.Listen = "127.0.0.1:0" // nothing to serve; never clash with a serve
			cfg.HTTP.TLSCert, cfg.HTTP.TLSKey = "", ""
			logs := newLogOutput(c.stderr)
			app, err := NewApp(cfg, newLogger(cfg.Log, logs))
			if err != nil {
				return err
			}
			defer app.Close()
			srv, err := wire(app, wireOptions{ConfigPath: w.Path, Console: consoleOnly, In: c.stdin, Out: c.stdout,
				JSON: asJSON, User: as, Logs: logs, Getenv: c.getenv})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() {
				select {
				case <-srv.consoleDone:
				case <-ctx.Done():
					return
				}
				// The input ended: let what it started finish, then stop.
				_ = srv.books.Wait(ctx)
				_ = srv.inc.Wait(ctx)
				cancel()
			}()
			return app.Run(runCtx)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "read and write one JSON event per line (for scripts)")
	cmd.Flags().StringVar(&as, "as", "", "act as this user (console:USER); default console.user, else $USER")
	return cmd
}

func (c *cli) doctorCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the configuration, runbooks, store and every enabled chat platform; exit 1 if anything fails",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfgPath, err := c.configFile()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			w, ps, confN := loadWorld(cfgPath)
			failed := 0
			show := func(ch bot.Check) {
				mark := "✓"
				if !ch.OK {
					mark = "✗"
					failed++
				}
				line := fmt.Sprintf("%s %s", mark, ch.Name)
				if ch.Detail != "" {
					line += ": " + ch.Detail
				}
				fmt.Fprintln(c.stdout, line)
			}
			config.SortProblems(ps)
			conf := bot.Check{Name: "config", OK: confN == 0, Detail: w.Name()}
			if confN > 0 {
				conf.Detail = fmt.Sprintf("%d problem(s); run `tebura validate`", confN)
			}
			show(conf)
			rbs := bot.Check{Name: "runbooks", OK: len(ps) == confN, Detail: fmt.Sprintf("%d loaded", len(w.Registry.List()))}
			if !rbs.OK {
				rbs.Detail = fmt.Sprintf("%d problem(s); run `tebura validate`", len(ps)-confN)
			}
			show(rbs)
			for _, warn := range w.SourceWarnings() {
				fmt.Fprintln(c.stdout, "! "+warn)
			}
			if confN > 0 {
				fmt.Fprintln(c.stdout, "(chat platforms not checked: fix the configuration first)")
				return &exitError{code: 1}
			}
			cfg := w.Config
			for _, ch := range storeChecks(ctx, cfg) {
				show(ch)
			}
			keyFile := w.FileOf("secrets.key")
			show(bot.Check{Name: "secrets", OK: true, Detail: secretsMode(cfg, keyFile)})
			if insideDir(keyFile, cfg.DataDir) {
				fmt.Fprintln(c.stdout, "! secrets.key_file is inside data_dir: a copy of the data dir carries the key to its sealed values; keep it elsewhere")
			}
			quiet := slog.New(slog.DiscardHandler)
			if consoleEnabled(cfg) {
				show(bot.Check{Name: "console", OK: true, Detail: "enabled: serve chats on stdin/stdout"})
			}
			if cfg.Slack.Enabled {
				if a, err := slack.New(cfg.Slack, slack.Deps{}, quiet); err != nil {
					show(bot.Check{Name: "slack", Detail: err.Error()})
				} else {
					for _, ch := range a.Doctor(ctx) {
						ch.Name = "slack: " + ch.Name
						show(ch)
					}
				}
			}
			if cfg.Discord.Enabled {
				if a, err := discord.New(cfg.Discord, discord.Deps{Commands: cfg.Bot.Commands}, quiet); err != nil {
					show(bot.Check{Name: "discord", Detail: err.Error()})
				} else {
					for _, ch := range a.Doctor(ctx) {
						ch.Name = "discord: " + ch.Name
						show(ch)
					}
				}
			}
			for _, ch := range checkTargets(ctx, cfg) {
				show(ch)
			}
			for _, ch := range checkTickets(ctx, cfg) {
				show(ch)
			}
			for _, ch := range checkAnsible(ctx, w.Registry) {
				show(ch)
			}
			for _, ch := range checkKubernetes(ctx, cfg) {
				show(ch)
			}
			if failed > 0 {
				fmt.Fprintf(c.stdout, "%d check(s) failed\n", failed)
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 20*time.Second, "how long the platform checks may take")
	return cmd
}

func (c *cli) incidentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "incident",
		Short: "Read incidents from the store (list, postmortem)",
	}
	var open bool
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List incidents, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			svc, cl, st, red, err := c.incidentService()
			if err != nil {
				return err
			}
			if cl != nil {
				q := url.Values{"open": {strconv.FormatBool(open)}, "limit": {strconv.Itoa(limit)}}
				return c.remote(cmd.Context(), cl, http.MethodGet, "/v1/incidents?"+q.Encode(), nil)
			}
			defer st.Close()
			return printIncidents(cmd.Context(), svc, red, open, limit, c.stdout)
		},
	}
	list.Flags().BoolVar(&open, "open", false, "only open incidents")
	list.Flags().IntVarP(&limit, "limit", "n", 0, "how many (0 for all)")
	pm := &cobra.Command{
		Use:   "postmortem N",
		Short: "Print the Markdown postmortem of incident N (#N)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			svc, cl, st, red, err := c.incidentService()
			if err != nil {
				return err
			}
			if cl != nil {
				return c.remote(cmd.Context(), cl, http.MethodGet, "/v1/incidents/"+url.PathEscape(args[0])+"/postmortem", nil)
			}
			defer st.Close()
			return printPostmortem(cmd.Context(), svc, st, red, args[0], c.stdout)
		},
	}
	cmd.AddCommand(list, pm)
	return cmd
}

// printIncidents prints the incidents, newest first, titles masked by red.
func printIncidents(ctx context.Context, svc *incident.Service, red *runbooks.Redactor, open bool, limit int, w io.Writer) error {
	incs, err := svc.List(ctx, incident.ListOptions{OpenOnly: open, Limit: limit})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTATUS\tSEVERITY\tTITLE\tSTARTED\tALERTS")
	for _, inc := range incs {
		fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\t%s\t%d\n", inc.Number, inc.Status, orDash(inc.Severity), red.Mask(inc.Title),
			fmtTime(inc.StartedAt), inc.AlertCount)
	}
	return tw.Flush()
}

// printPostmortem prints incident ref's Markdown postmortem, masked by red.
func printPostmortem(ctx context.Context, svc *incident.Service, st runbooks.Store, red *runbooks.Redactor, ref string, w io.Writer) error {
	md, err := incidentchat.Postmortem(ctx, svc, st, ref)
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(w, red.Mask(md))
	return err
}

// incidentService is where the incident commands read: the server holding
// the data dir (cl), or the store opened here (st, to close) with the
// incident service over it and the configured redactor.
func (c *cli) incidentService() (*incident.Service, *admin.Client, appStore, *runbooks.Redactor, error) {
	l, cl, st, err := c.storeOrServer()
	if err != nil || cl != nil {
		return nil, cl, nil, nil, err
	}
	red, err := configRedactor(l.Config)
	if err != nil {
		st.Close()
		return nil, nil, nil, nil, err
	}
	svc, err := incident.New(st, l.Config.Incidents, nil, nil, nil)
	if err != nil {
		st.Close()
		return nil, nil, nil, nil, errors.Join(err)
	}
	return svc, nil, st, red, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
