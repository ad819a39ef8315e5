package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/tebura/tebura"
)

// transport is the http.RoundTripper under every REST call discordgo makes.
// It points the calls at the configured API base (tests point it at the
// fake), answers the gateway lookup with the configured gateway URL, honours
// 429 retry_after (per bucket and global) and counts invalid requests
// (401/403/429) so that the adapter stops calling long before Discord's
// Cloudflare ban.
//
// discordgo's own bucket handling stays on top of it; discordgo's own
// retry-on-429 is turned off so that the wait here is the only one and can be
// cancelled.
type transport struct {
	base       http.RoundTripper
	apiPrefix  string   // discordgo.EndpointAPI
	target     *url.URL // replacement for apiPrefix, nil for the real API
	gatewayURL string   // answer for GET /gateway, "" to ask the API
	clock      func() time.Time
	sleep      func(ctx context.Context, d time.Duration) error
	logger     *slog.Logger
	maxRetries int
	maxWait    time.Duration

	mu          sync.Mutex
	invalid     []time.Time // invalid responses inside the window, oldest first
	globalUntil time.Time
	paused      bool
}

func newTransport(base http.RoundTripper, apiURL, gatewayURL string, clock func() time.Time, logger *slog.Logger) (*transport, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	t := &transport{
		base:       base,
		apiPrefix:  discordgo.EndpointAPI,
		gatewayURL: gatewayURL,
		clock:      clock,
		sleep:      sleepCtx,
		logger:     logger,
		maxRetries: 3,
		maxWait:    60 * time.Second,
	}
	if apiURL != "" {
		u, err := url.Parse(strings.TrimSuffix(apiURL, "/") + "/")
		if err != nil || u.Host == "" {
			return nil, tebura.Errorf(tebura.EINVALID, "discord.api_url %q is not a URL; use for example https://discord.com/api/v10", apiURL)
		}
		t.target = u
	}
	return t, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// errPaused is returned while too many invalid requests were seen.
func (t *transport) errPaused(n int) error {
	return tebura.Errorf(tebura.ETRANSIENT,
		"Discord calls are paused for a few minutes: %d refused requests (401/403/429) in the last 10 minutes; check the bot token and permissions with tebura doctor.", n)
}

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	full := req.URL.String()
	if t.gatewayURL != "" && req.Method == http.MethodGet && strings.TrimSuffix(full, "/") == strings.TrimSuffix(discordgo.EndpointGateway, "/") {
		body, _ := json.Marshal(map[string]string{"url": t.gatewayURL})
		return &http.Response{
			StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body)),
			ContentLength: int64(len(body)), Request: req,
		}, nil
	}
	out := req.Clone(req.Context())
	if t.target != nil && strings.HasPrefix(full, t.apiPrefix) {
		u, err := t.target.Parse(strings.TrimPrefix(full, t.apiPrefix))
		if err != nil {
			return nil, fmt.Errorf("discord: rewrite %s: %w", req.URL.Path, err)
		}
		out.URL = u
		out.Host = u.Host
	}
	ctx := req.Context()
	for attempt := 0; ; attempt++ {
		if n, paused := t.checkPause(); paused {
			return nil, t.errPaused(n)
		}
		if err := t.sleep(ctx, t.globalWait()); err != nil {
			return nil, err
		}
		if attempt > 0 && out.GetBody != nil {
			b, err := out.GetBody()
			if err != nil {
				return nil, err
			}
			out.Body = b
		}
		resp, err := t.base.RoundTrip(out)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
			return resp, nil
		}
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("X-RateLimit-Scope") != "shared" {
			t.recordInvalid()
		}
		if resp.StatusCode != http.StatusTooManyRequests {
			return resp, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		wait, global := retryAfter(resp.Header, body)
		if global {
			t.mu.Lock()
			t.globalUntil = t.clock().Add(wait)
			t.mu.Unlock()
		}
		t.logger.Warn("discord rate limited", "method", req.Method, "route", routeOf(out.URL.Path),
			"retry_after_ms", wait.Milliseconds(), "global", global, "attempt", attempt+1)
		if attempt >= t.maxRetries || wait > t.maxWait || (out.Body != nil && out.GetBody == nil) {
			return resp, nil
		}
		if !global {
			if err := t.sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
	}
}

// retryAfter reads the wait from a 429: the body's retry_after (float
// seconds), else the Retry-After header; global from the body or the
// X-RateLimit-Global header.
func retryAfter(h http.Header, body []byte) (time.Duration, bool) {
	var b struct {
		RetryAfter float64 `json:"retry_after"`
		Global     bool    `json:"global"`
	}
	_ = json.Unmarshal(body, &b)
	secs := b.RetryAfter
	if secs <= 0 {
		secs, _ = strconv.ParseFloat(h.Get("Retry-After"), 64)
	}
	if secs <= 0 || math.IsNaN(secs) || math.IsInf(secs, 0) {
		secs = 1
	}
	global := b.Global || h.Get("X-RateLimit-Global") != ""
	return time.Duration(secs * float64(time.Second)), global
}

func (t *transport) globalWait() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.globalUntil.Sub(t.clock())
}

func (t *transport) recordInvalid() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.invalid = append(t.invalid, t.clock())
}

// checkPause prunes the window and reports whether calls are paused.
func (t *transport) checkPause() (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cut := t.clock().Add(-InvalidRequestWindow)
	i := 0
	for i < len(t.invalid) && !t.invalid[i].After(cut) {
		i++
	}
	t.invalid = t.invalid[i:]
	n := len(t.invalid)
	paused := n >= InvalidRequestPause
	if paused != t.paused {
		t.paused = paused
		if paused {
			t.logger.Error("discord calls paused: too many invalid requests", "invalid_requests", n, "window", InvalidRequestWindow.String())
		} else {
			t.logger.Info("discord calls resumed", "invalid_requests", n)
		}
	}
	return n, paused
}

// invalidCount is the number of invalid requests inside the window.
func (t *transport) invalidCount() int {
	n, _ := t.checkPause()
	return n
}

// routeOf shortens a path for logs: IDs and tokens become placeholders so
// that an interaction token never reaches a log line.
func routeOf(p string) string {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i, s := range parts {
		if s == "" {
			continue
		}
		if s[0] >= '0' && s[0] <= '9' || len(s) > 40 {
			parts[i] = ":id"
		}
	}
	return "/" + strings.Join(parts, "/")
}
