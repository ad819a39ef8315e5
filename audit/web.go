package audit

// Actions of the web view and /api/v1: a sign-in is who a browser acts as
// from then on, and every API call is on the chain (the runs it requests
// get their run.* entries as well).
const (
	ActionWebLoginLink Action = "web.login_link"
	ActionWebLogin     Action = "web.login"
	ActionAPICall      Action = "api.call"
)
