package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// MaxSignatureAge is how far a request's timestamp may be from now before
// it is refused as a replay.
// https://docs.slack.dev/authentication/verifying-requests-from-slack
const MaxSignatureAge = 5 * time.Minute

// Request signing headers.
// https://docs.slack.dev/authentication/verifying-requests-from-slack
const (
	HeaderSignature = "X-Slack-Signature"
	HeaderTimestamp = "X-Slack-Request-Timestamp"
)

// Why verify refused a request. They are told apart in the log because
// they call for different fixes: errMismatch on every request from Slack
// means slack.signing_secret is not the app's (or a proxy rewrites the
// body), errStale means a clock is off, errUnsigned that the sender is not
// Slack (or a proxy drops the headers).
var (
	errUnsigned = errors.New("slack: request without a v0 signature and timestamp")
	errStale    = errors.New("slack: request timestamp outside the signature window")
	errMismatch = errors.New("slack: request signature does not match slack.signing_secret")
)

// refusal is the reason logged for a verify error.
func refusal(err error) string {
	switch err {
	case errUnsigned:
		return "unsigned"
	case errStale:
		return "stale_timestamp"
	default:
		return "signature_mismatch"
	}
}

// Sign returns the v0 signature of body at timestamp ts: "v0=" +
// hex(HMAC-SHA256(secret, "v0:" + ts + ":" + body)), as Slack signs its
// requests. Tests and the benchmarks use it to sign requests.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:"))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte(":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// verify checks a request's v0 signature over the raw body, in constant
// time, and refuses timestamps more than MaxSignatureAge from now. The
// error says which check failed (see refusal).
func verify(secret, tsHeader, sigHeader string, body []byte, now time.Time) error {
	if tsHeader == "" || !strings.HasPrefix(sigHeader, "v0=") {
		return errUnsigned
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return errUnsigned
	}
	if d := now.Sub(time.Unix(ts, 0)); d > MaxSignatureAge || d < -MaxSignatureAge {
		return errStale
	}
	want := Sign(secret, ts, body)
	if secret == "" || !hmac.Equal([]byte(want), []byte(sigHeader)) {
		return errMismatch
	}
	return nil
}
