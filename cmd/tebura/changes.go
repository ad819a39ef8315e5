package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/admin"
	"github.com/tebura/tebura/commands/incidentchat"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/hints"
)

// mountHints mounts /hooks/changes and the admin socket's change endpoint,
// and returns the incident card's hints part. The hook is mounted always
// and reads its config per request: without hints.changes.token or
// github_secret it refuses with a sentence naming the key, and a reload
// that sets one takes effect at once.
func (s *server) mountHints(hooks, admins *http.ServeMux) incidentchat.CardPart {
	cfg := func() config.Hints { return s.cur.Load().cfg.Hints }
	if hooks != nil {
		hooks.Handle(hints.HookPath, hints.NewHook(s.app.Store, func() config.ChangesHook { return cfg().Changes }, nil, s.log))
	}
	admins.HandleFunc("POST /v1/changes", func(w http.ResponseWriter, r *http.Request) {
		st := admin.NewStream(w)
		code, msg := exitOf(s.recordChange(r.Context(), r.Body, st.Stdout()))
		_ = st.End(code, msg)
	})
	return incidentchat.NewHints(incidentchat.HintsDeps{Incidents: s.svc, Changes: s.app.Store, Runs: s.app.Store.GetRun,
		Registry: s.registry, Config: cfg, Logger: s.log})
}

// recordChange records the change a CLI sent over the admin socket.
func (s *server) recordChange(ctx context.Context, body io.Reader, out io.Writer) error {
	var c hints.Change
	if err := json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&c); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("not a change: %w", err)}
	}
	return recordChange(ctx, s.app.Store, c, out)
}

func recordChange(ctx context.Context, st hints.ChangeStore, c hints.Change, out io.Writer) error {
	stored, err := hints.Record(ctx, st, c)
	if tebura.ErrorCode(err) == tebura.EINVALID {
		return &exitError{code: 2, err: err}
	}
	if err != nil {
		return err
	}
	if !stored {
		fmt.Fprintf(out, "change %s was recorded before; nothing changed\n", c.ID)
		return nil
	}
	fmt.Fprintf(out, "recorded change to %s: %s\n", c.Service, c.Version)
	return nil
}

// pruneChanges drops the changes older than hints.changes.retention.
func (s *server) pruneChanges(ctx context.Context, now time.Time) {
	keep := s.cur.Load().cfg.Hints.Changes.Retention
	if n, err := s.app.Store.PruneChanges(ctx, now.Add(-keep)); err != nil && ctx.Err() == nil {
		s.log.Error("changes prune failed", "err", err)
	} else if n > 0 {
		s.log.Debug("changes pruned", "count", n)
	}
}

func (c *cli) changeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "change",
		Short: "Record changes (deploys) that incident cards list as hints",
	}
	var ch hints.Change
	var at string
	record := &cobra.Command{
		Use:   "record --service NAME [--version V] [--by WHO] [--url URL]",
		Short: "Record a change to a service, through the running server or the store",
		Long: `record stores one change to a service, such as a deploy from a CI job, so that
the card of an incident of that service lists it when it took effect in the
hints.changes_window before the incident (docs/hints.md). It goes through the
running server's admin socket when a server holds the data dir, else into the
store directly. The same change (same --id, or same service, version and time)
is recorded once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ch.Source = "cli"
			if at != "" {
				t, err := time.Parse(time.RFC3339, at)
				if err != nil {
					return &exitError{code: 2, err: fmt.Errorf("--at %q is not an RFC 3339 time such as 2026-12-06T14:05:00Z", at)}
				}
				ch.At = t
			} else {
				ch.At = time.Now()
			}
			_, cl, st, err := c.storeOrServer()
			if err != nil {
				return err
			}
			if cl != nil {
				return c.remote(cmd.Context(), cl, http.MethodPost, "/v1/changes", ch)
			}
			defer st.Close()
			return recordChange(cmd.Context(), st, ch, c.stdout)
		},
	}
	f := record.Flags()
	f.StringVar(&ch.Service, "service", "", "the service changed, as its incidents' service label names it (required)")
	f.StringVar(&ch.Version, "version", "", "what was deployed: a tag, a commit")
	f.StringVar(&ch.By, "by", "", "who or what made the change")
	f.StringVar(&ch.URL, "url", "", "a link to the change")
	f.StringVar(&ch.Environment, "env", "", "where: prod, staging")
	f.StringVar(&ch.Description, "description", "", "a one-line summary")
	f.StringVar(&ch.ID, "id", "", "the change's own ID, so that sending it twice records it once")
	f.StringVar(&at, "at", "", "when it took effect, RFC 3339 (default now)")
	_ = record.MarkFlagRequired("service")
	cmd.AddCommand(record)
	return cmd
}
