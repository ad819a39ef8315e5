package commands

// The [Sign in to the web view] button of incident cards: one callback,
// stored once under WebLoginCallback (it never expires, and every card
// carries the same one), answered like `/tebura login` for whoever
// clicks it.
const (
	ActionWebLogin   = "web.login"
	WebLoginCallback = "web-login"
)
