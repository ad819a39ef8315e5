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

var errBadSignature = errors.New("slack: request signature refused")

// Sign returns the v0 signature of body at timestamp ts: "v0=" +
// hex(HMAC-SHA256(secret, "v0:" + ts + ":" + body)). Doctor uses it for a
// self-signed probe; tests use it to forge requests.
func Sign(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:"))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte(":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// verify checks a request's v0 signature over the raw body, in constant
// time, and refuses timestamps more than MaxSignatureAge from now.
func verify(secret, tsHeader, sigHeader string, body []byte, now time.Time) error {
	if secret == "" || tsHeader == "" || !strings.HasPrefix(sigHeader, "v0=") {
		return errBadSignature
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return errBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > MaxSignatureAge || d < -MaxSignatureAge {
		return errBadSignature
	}
	want := Sign(secret, ts, body)
	if !hmac.Equal([]byte(want), []byte(sigHeader)) {
		return errBadSignature
	}
	return nil
}
