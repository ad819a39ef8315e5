package runbooks

// The web doors of the run service: the request form of the web view and
// /api/v1. They apply the same checks as chat; the audit entry says which
// door a request came in by.
const (
	ViaWeb Via = "web"
	ViaAPI Via = "api"
)
