package main

import (
	"cmp"
	"context"

	"github.com/tebura/tebura/replica"
	"github.com/tebura/tebura/runbooks"
)

// elect makes the server take part in electing the leader among the
// replicas on its store (docs/replicas.md): the elector tries once before
// the start-up steps, so that a lone replica leads from its first moment,
// then renews (or tries) every replica.renew_interval as a service, and
// hands the lease back when it stops. /metrics shows whether it leads.
func (a *App) elect() {
	id := cmp.Or(a.Config.Replica.ID, replica.DefaultID())
	a.Elector = replica.NewElector(replica.Config{
		Store: a.Store, ID: id,
		LeaseDuration: a.Config.Replica.LeaseDuration, RenewInterval: a.Config.Replica.RenewInterval,
		Logger: a.Logger,
	})
	a.Metrics.WatchLeader(func() bool { _, ok := a.Elector.Leading(); return ok }, a.Elector.LeaseAge)
	a.AddStartup(func(ctx context.Context, _ []*runbooks.Run) error {
		a.Elector.TryNow(ctx)
		return nil
	})
	a.AddService(Service{Name: "leader election", Run: a.Elector.Run})
}
