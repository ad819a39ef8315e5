package commandstest

import "github.com/tebura/tebura/runbooks"

// Registry is the harness's current runbooks, for clients of the flows
// built beside them (the web view's tests).
func (h *Harness) Registry() *runbooks.Registry { return h.reg.Load() }
