package slack

import (
	"errors"
	"net/url"
	"regexp"
)

// A response_url, a files.getUploadURLExternal upload URL and a Socket
// Mode wss:// URL are capabilities: whoever holds one can post into a
// channel, upload, or take over the connection. Errors of the HTTP client
// quote the request URL, so every error that may reach a log or a caller
// goes through scrub first.

// urlRE matches an absolute URL inside free text.
var urlRE = regexp.MustCompile(`(?i)\b(?:https?|wss?)://[^\s"'<>]+`)

// hideURL keeps the scheme and host of raw, which say where a request went,
// and drops path, query and user info, which may be the capability.
func hideURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(url hidden)"
	}
	return u.Scheme + "://" + u.Host + "/(hidden)"
}

// scrub hides every URL in err's text. A *url.Error in the chain has its
// URL cut down in place, so errors.As callers see the scrubbed one too; the
// returned error's text has any remaining URL replaced as well, and it
// unwraps to err, so errors.Is and slackError keep working.
func scrub(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = hideURL(ue.URL)
	}
	if !urlRE.MatchString(err.Error()) {
		return err
	}
	return scrubbed{err}
}

// scrubbed is an error whose text has its URLs hidden.
type scrubbed struct{ err error }

func (s scrubbed) Error() string { return urlRE.ReplaceAllStringFunc(s.err.Error(), hideURL) }
func (s scrubbed) Unwrap() error { return s.err }
