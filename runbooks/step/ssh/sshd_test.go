package ssh

import (
	"fmt"
	"testing"
	"time"

	"github.com/tebura/tebura/runbooks/step/ssh/sshdtest"
)

// fleet is sshdtest's fleet with the runner's config for it: targets h0,
// h1, … in the order of the hosts.
type fleet struct {
	*sshdtest.Fleet
	cfg Config
}

func startFleet(t testing.TB, n int) *fleet {
	t.Helper()
	f := &fleet{Fleet: sshdtest.Start(t, n)}
	f.cfg = Config{Targets: map[string]Target{}, KnownHosts: f.KnownHosts, ConnectTimeout: 5 * time.Second, KillGrace: time.Second}
	for i, h := range f.Hosts {
		f.cfg.Targets[fmt.Sprintf("h%d", i)] = Target{Address: h.Addr, User: f.User, Identity: f.Identity}
	}
	return f
}
