package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func (c *cli) serveCmd() *cobra.Command {
	var consoleJSON bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the bot: HTTP endpoints (/healthz, /readyz, webhooks) until SIGINT or SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, err := c.configFile()
			if err != nil {
				return err
			}
			w, ps, _ := loadWorld(path)
			if err := c.refuseProblems(ps); err != nil {
				return err
			}
			logs := newLogOutput(c.stderr)
			logger := newLogger(w.Config.Log, logs)
			app, err := NewApp(w.Config, logger)
			if err != nil {
				return err
			}
			defer app.Close()
			srv, err := wire(app, wireOptions{ConfigPath: w.Path, In: c.stdin, Out: c.stdout, JSON: consoleJSON, Logs: logs, Getenv: c.getenv})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go srv.reloadOn(ctx, hup)
			return app.Run(ctx)
		},
	}
	cmd.Flags().BoolVar(&consoleJSON, "console-json", false, "the console (when enabled) reads and writes one JSON event per line, for scripts")
	return cmd
}

// healthcheckCmd is the container health check: distroless images have no
// curl, so the binary asks its own /healthz.
func (c *cli) healthcheckCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "GET /healthz on the configured http.listen; exit 0 when healthy (for Docker HEALTHCHECK)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := c.load()
			if err != nil {
				return err
			}
			scheme := "http"
			if l.Config.HTTP.TLSCert != "" {
				scheme = "https"
			}
			url := scheme + "://" + dialable(l.Config.HTTP.Listen) + "/healthz"
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return &exitError{code: 1, err: fmt.Errorf("unhealthy: %v", err)}
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return &exitError{code: 1, err: fmt.Errorf("unhealthy: %s answered %s", url, resp.Status)}
			}
			fmt.Fprintln(c.stdout, "ok")
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	return cmd
}

// dialable turns a listen address into one a client can dial: an empty or
// unspecified host becomes loopback.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if ip != nil && ip.To4() == nil {
			host = "::1"
		} else {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, port)
}

// reloadOn reloads the configuration on every signal from hup (SIGHUP)
// until ctx ends. A refused reload is logged; the running configuration
// stays.
func (s *server) reloadOn(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if restart, err := s.Reload(ctx, "signal:SIGHUP"); err == nil && len(restart) > 0 {
				s.log.Warn("reload: some changes need a restart", "keys", strings.Join(restart, ","))
			}
		}
	}
}
