package bolt

import (
	"testing"

	"github.com/tebura/tebura/store/storetest"
)

func TestAuditedConformance(t *testing.T) {
	storetest.RunAudited(t, func(t *testing.T) storetest.AuditedStores {
		s, clock, _ := openTest(t)
		return storetest.AuditedStores{Store: s, Clock: clock}
	})
}
