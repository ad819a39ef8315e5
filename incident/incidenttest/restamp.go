package incidenttest

import (
	"bytes"
	"regexp"
	"strings"
	"time"
)

// stamp matches an RFC 3339 time inside a JSON string, with or without
// fractional seconds.
var stamp = regexp.MustCompile(`"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d))"`)

// Restamp moves every RFC 3339 time in a payload (a fixture or an example
// of examples/) by the same amount, so that the latest one is now and the
// spacing between them is kept; Go's zero time ("0001-01-01T00:00:00Z",
// Alertmanager's "not ended") stays as it is. Senders' payloads carry the
// time they were made, and sources check it (PagerDuty refuses events older
// than 48 h), so a test that sends a fixed date fails once the calendar
// passes it; stamping relative to the clock the test runs with does not.
// Times keep their precision and are written in UTC.
func Restamp(body []byte, now time.Time) []byte {
	var latest time.Time
	for _, m := range stamp.FindAllSubmatch(body, -1) {
		if at, err := time.Parse(time.RFC3339Nano, string(m[1])); err == nil && at.Year() > 1 && at.After(latest) {
			latest = at
		}
	}
	if latest.IsZero() {
		return bytes.Clone(body)
	}
	shift := now.Sub(latest)
	return stamp.ReplaceAllFunc(body, func(q []byte) []byte {
		m := stamp.FindSubmatch(q)
		at, err := time.Parse(time.RFC3339Nano, string(m[1]))
		if err != nil || at.Year() <= 1 {
			return q
		}
		layout := "2006-01-02T15:04:05Z"
		if frac := m[2]; len(frac) > 0 {
			layout = "2006-01-02T15:04:05." + strings.Repeat("0", len(frac)-1) + "Z"
		}
		return []byte(`"` + at.Add(shift).UTC().Format(layout) + `"`)
	})
}
