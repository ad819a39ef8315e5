package bolt

import (
	"testing"

	"github.com/tebura/tebura/runbooks"
	"github.com/tebura/tebura/store/storetest"
)

var _ runbooks.StartingStore = (*Store)(nil)

// TestAuditedConformance: a run's change and the audit entries recording
// it are one transaction (the suite every store passes).
func TestAuditedConformance(t *testing.T) {
	storetest.RunAudited(t, func(t *testing.T) storetest.AuditedStores {
		s, clock, _ := openTest(t)
		return storetest.AuditedStores{Store: s, Clock: clock}
	})
}
