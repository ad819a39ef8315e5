package commands

// The [Sign in to the web view] button of incident cards and run messages:
// one callback, stored once under WebLoginCallback (it never expires, and
// every message carries the same one), answered like `/tebura login` for
// whoever clicks it.
const (
	ActionWebLogin   = "web.login"
	WebLoginCallback = "web-login"
	// WebLoginLabel is the button's label.
	WebLoginLabel = "Sign in to the web view"
)
