package oncall

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// Retry limits: a schedule API that keeps answering 429 is given up on
// after MaxRetries, and a Retry-After beyond MaxRetryWait is not waited
// for (the page fails and says so; the escalator tries again next round).
const (
	MaxRetries   = 3
	MaxRetryWait = 30 * time.Second
)

// RetryTransport retries GET requests answered 429 Too Many Requests after
// the Retry-After the API sent (seconds; PagerDuty also sends
// ratelimit-reset), so that a schedule read survives a rate limit instead
// of failing a page.
type RetryTransport struct {
	Base http.RoundTripper
	// Sleep waits d or until ctx ends; tests inject it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// RoundTrip implements http.RoundTripper.
func (t *RetryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	sleep := t.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	for attempt := 0; ; attempt++ {
		resp, err := base.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests || req.Method != http.MethodGet || attempt >= MaxRetries {
			return resp, err
		}
		wait, ok := retryAfter(resp.Header)
		if !ok || wait > MaxRetryWait {
			return resp, nil
		}
		resp.Body.Close()
		if err := sleep(req.Context(), wait); err != nil {
			return nil, err
		}
	}
}

func retryAfter(h http.Header) (time.Duration, bool) {
	for _, k := range []string{"Retry-After", "Ratelimit-Reset"} {
		if v := h.Get(k); v != "" {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				return time.Duration(n) * time.Second, true
			}
		}
	}
	return 0, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
