package main

import (
	"cmp"
	"context"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/replica"
	"github.com/tebura/tebura/runbooks"
)

// elect makes the server take part among the replicas on its store
// (docs/replicas.md). Two electors share its replica ID: the leader
// elector competes for the leader lease, and the heartbeat holds this
// replica's own lease, which says to the leader that its runs are alive.
// Both try once before the start-up steps, so that a lone replica leads
// from its first moment, then renew every replica.renew_interval as
// services, and hand their lease back when they stop. /metrics shows
// whether it leads.
func (a *App) elect() {
	id := cmp.Or(a.Config.Replica.ID, replica.DefaultID())
	cfg := replica.Config{
		Store: a.Store, ID: id,
		LeaseDuration: a.Config.Replica.LeaseDuration, RenewInterval: a.Config.Replica.RenewInterval,
	}
	cfg.Logger = a.Logger
	lead, beat := cfg, cfg
	beat.Lease = replica.HeartbeatLease(id)
	a.Elector = replica.NewElector(lead)
	heartbeat := replica.NewElector(beat)
	a.Metrics.WatchLeader(func() bool { _, ok := a.Elector.Leading(); return ok }, a.Elector.LeaseAge)
	a.AddStartup(func(ctx context.Context, _ []*runbooks.Run) error {
		heartbeat.TryNow(ctx)
		a.Elector.TryNow(ctx)
		return nil
	})
	a.AddService(Service{Name: "heartbeat", Run: heartbeat.Run})
	if a.Config.Store.Driver == config.DriverPostgres {
		// Alone on a bolt file, nobody else would take the runs over.
		a.AddService(Service{Name: "heartbeat watch", Run: func(ctx context.Context) error { a.abandonWhenCut(ctx, heartbeat); return nil }})
	}
	a.AddService(Service{Name: "leader election", Run: a.Elector.Run})
}

// alive reports whether replica id's heartbeat is fresh: the run service
// leaves the runs of live replicas alone.
func (a *App) alive(ctx context.Context, id string) (bool, error) {
	return replica.Alive(ctx, a.Store, id, time.Now())
}

// sweepLost is the leader's watch over the other replicas: every
// replica.renew_interval, the runs of replicas whose heartbeat lapsed are
// marked interrupted (their locks freed, the audit chain and the
// incident timelines told, by the run service's transitions) and their
// live messages redrawn saying which replica was lost. Every replica also
// marks its own orphans (runs it stopped when it lost the database, whose
// end it could not write then).
func (s *server) sweepLost(ctx context.Context) error {
	t := time.NewTicker(s.app.Config.Replica.RenewInterval)
	defer t.Stop()
	for {
		orphans, err := s.app.Runs.InterruptOrphans(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Error("orphaned runs not all interrupted", "err", err)
		}
		s.books.ShowInterrupted(ctx, orphans)
		s.app.Elector.Do(ctx, func(ctx context.Context) {
			runs, err := s.app.Runs.InterruptLost(ctx)
			for _, r := range runs {
				s.log.Warn("run interrupted: its replica was lost", "run_id", r.ID, "runbook", r.Runbook, "lost_replica", r.Replica)
			}
			if err != nil && ctx.Err() == nil {
				s.log.Error("lost replicas' runs not all interrupted", "err", err)
			}
			s.books.ShowInterrupted(ctx, runs)
		})
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sharedLogs is where the executor copies run logs so that every replica
// serves them: the database with postgres; nothing with bolt, where the
// one process has the log files.
func sharedLogs(cfg config.Config, st appStore) runbooks.LogStore {
	if cfg.Store.Driver != config.DriverPostgres {
		return nil
	}
	return st
}

// whileLeading runs the loop f as leader work until ctx ends: on the
// replica that leads, with a context that ends with its term, and again
// from the start whenever this replica leads anew. Loops that must act
// once across replicas (escalation pages, ticket filing) run through it.
func (a *App) whileLeading(ctx context.Context, f func(ctx context.Context)) {
	t := time.NewTicker(a.Config.Replica.RenewInterval)
	defer t.Stop()
	for {
		a.Elector.Do(ctx, f)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// abandonWhenCut stops this replica's runs whenever its heartbeat ends
// while the server runs: cut off from the database for most of a lease,
// it is about to be taken for lost, its runs marked interrupted and their
// locks freed by the leader, so they must not go on here (fencing).
func (a *App) abandonWhenCut(ctx context.Context, heartbeat *replica.Elector) {
	t := time.NewTicker(a.Config.Replica.RenewInterval)
	defer t.Stop()
	for {
		if heartbeat.Do(ctx, func(hctx context.Context) { <-hctx.Done() }) && ctx.Err() == nil {
			if n := a.Executor.Abandon(); n > 0 {
				a.Logger.Error("heartbeat lost: this replica's runs stopped", "runs", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneSharedLogs applies runbooks.log_retention to the copies of the run
// logs in the database, as each replica applies it to its files.
func (s *server) pruneSharedLogs(ctx context.Context, now time.Time) {
	cfg := s.cur.Load().cfg
	logs := sharedLogs(cfg, s.app.Store)
	if logs == nil || cfg.Runbooks.LogRetention <= 0 {
		return
	}
	if n, err := logs.PruneLogs(ctx, now.Add(-cfg.Runbooks.LogRetention)); err != nil && ctx.Err() == nil {
		s.log.Error("run log copies prune failed", "err", err)
	} else if err == nil && n > 0 {
		s.log.Debug("run log copies pruned", "runs", n)
	}
}
