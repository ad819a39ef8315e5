package discord

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
)

func TestRateLimitRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		global bool
	}{{"bucket", false}, {"global", true}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, ModeHTTP)
			e.fake.RateLimitNext("POST", "/channels/"+channelID+"/messages", 0.25, tc.global)
			ref, err := e.a.Post(context.Background(), bot.Target{Channel: channelID}, bot.Message{Header: "after a 429"})
			if err != nil {
				t.Fatal(err)
			}
			calls := e.fake.CallsTo("POST", "/channels/"+channelID+"/messages")
			if len(calls) != 2 || calls[0].Status != 429 || calls[1].Status != 200 {
				t.Fatalf("calls = %+v, want a 429 then a 200", calls)
			}
			if gap := calls[1].Time.Sub(calls[0].Time); gap < 250*time.Millisecond {
				t.Errorf("retried after %v, before retry_after (250ms)", gap)
			}
			if m, ok := e.fake.Message(ref.ID); !ok || m.Embeds[0].Title != "after a 429" {
				t.Errorf("message not stored: %+v", m)
			}
			if !e.logged("discord rate limited") {
				t.Error("429 not logged")
			}
		})
	}
}

func TestRateLimitGivesUpAfterRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeHTTP)
	e.fake.FailNext("POST", "/channels/", 429, 10, 0.01, false)
	_, err := e.a.Post(context.Background(), bot.Target{Channel: channelID}, bot.Message{Header: "x"})
	if tebura.ErrorCode(err) != tebura.ETRANSIENT {
		t.Fatalf("err = %v, want ETRANSIENT", err)
	}
	if n := len(e.fake.CallsTo("POST", "/channels/*")); n != 4 {
		t.Errorf("%d attempts, want 4 (1 + 3 retries)", n)
	}
}

// stubRT answers every request with status.
type stubRT struct {
	mu     sync.Mutex
	status int
	n      int
}

func (s *stubRT) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return &http.Response{StatusCode: s.status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(`{"message":"no","code":50013}`)), Request: req}, nil
}

func TestInvalidRequestsPauseCalls(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	stub := &stubRT{status: http.StatusForbidden}
	tr, err := newTransport(stub, "http://fake.invalid/api/v10", "", clock, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: tr}
	get := func() error {
		resp, err := client.Get("https://discord.com/api/v10/channels/1")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	for i := range InvalidRequestPause {
		if err := get(); err != nil {
			t.Fatalf("request %d refused early: %v", i, err)
		}
	}
	if err := get(); err == nil || !strings.Contains(err.Error(), "paused") {
		t.Fatalf("request after %d invalid responses: %v, want a pause", InvalidRequestPause, err)
	}
	if stub.n != InvalidRequestPause {
		t.Errorf("%d requests reached Discord, want %d", stub.n, InvalidRequestPause)
	}
	if InvalidRequestPause*10 > InvalidRequestBan {
		t.Errorf("pause threshold %d is not well below the ban at %d", InvalidRequestPause, InvalidRequestBan)
	}
	// The window slides: ten minutes later calls flow again.
	advance(InvalidRequestWindow + time.Second)
	stub.mu.Lock()
	stub.status = http.StatusOK
	stub.mu.Unlock()
	if err := get(); err != nil {
		t.Errorf("still paused after the window: %v", err)
	}
	if tr.invalidCount() != 0 {
		t.Errorf("invalid count %d after the window", tr.invalidCount())
	}
}

func TestSharedScope429NotCounted(t *testing.T) {
	t.Parallel()
	stub := &stubRT{status: http.StatusTooManyRequests}
	tr, _ := newTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, _ := stub.RoundTrip(r)
		resp.Header.Set("X-RateLimit-Scope", "shared")
		resp.Body = io.NopCloser(strings.NewReader(`{"retry_after":100,"global":false}`))
		return resp, nil
	}), "", "", time.Now, slog.New(slog.DiscardHandler))
	resp, err := (&http.Client{Transport: tr}).Get("https://discord.com/api/v10/channels/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 {
		t.Errorf("status %d: a retry_after above the cap is returned, not waited", resp.StatusCode)
	}
	if tr.invalidCount() != 0 {
		t.Error("a shared-scope 429 counted as invalid")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRouteOfHidesTokens(t *testing.T) {
	t.Parallel()
	got := routeOf("/api/v10/webhooks/100000000000000001/aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTA6c2VjcmV0/messages/@original")
	if strings.Contains(got, "aW50") || strings.Contains(got, "1000") {
		t.Errorf("routeOf leaks IDs or tokens: %s", got)
	}
}
