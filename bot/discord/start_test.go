package discord

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/config"
)

// attempts records the backoff calls (the retries) and what Ready said at
// each, from Run's goroutine.
type attempts struct {
	mu    sync.Mutex
	n     []int
	ready []error
}

func (r *attempts) hook(a *Adapter) func(int) time.Duration {
	return func(n int) time.Duration {
		err := a.Ready()
		r.mu.Lock()
		defer r.mu.Unlock()
		r.n = append(r.n, n)
		r.ready = append(r.ready, err)
		return time.Millisecond
	}
}

func (r *attempts) get() ([]int, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.n...), append([]error(nil), r.ready...)
}

// refuser is a RoundTripper that fails the first n requests as if the
// connection had been refused, then passes requests on.
type refuser struct {
	mu   sync.Mutex
	n    int
	base http.RoundTripper
}

func (r *refuser) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	refuse := r.n > 0
	if refuse {
		r.n--
	}
	r.mu.Unlock()
	if refuse {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return r.base.RoundTrip(req)
}

// runAsync runs the adapter until the test ends; the channel receives
// Run's result.
func runAsync(t *testing.T, e *env) (<-chan error, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		done <- e.a.Run(ctx, e.collect())
		close(finished)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return done, cancel
}

// TestStartRetriesTransientFailures: Discord unreachable or failing with
// 5xx when tebura starts is retried with the reconnect backoff, not ready
// meanwhile and logged, until it recovers.
func TestStartRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	const failures = 3
	tests := []struct {
		name  string
		tweak func(*config.Discord, *Deps)
		setup func(e *env)
	}{
		{"users/@me 503", nil, func(e *env) {
			e.fake.FailNext(http.MethodGet, "/users/@me", http.StatusServiceUnavailable, failures, 0, false)
		}},
		{"users/@me 500", nil, func(e *env) {
			e.fake.FailNext(http.MethodGet, "/users/@me", http.StatusInternalServerError, failures, 0, false)
		}},
		{"connection refused", func(_ *config.Discord, d *Deps) {
			d.HTTPClient = &http.Client{Transport: &refuser{n: failures, base: http.DefaultTransport}, Timeout: 5 * time.Second}
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var tweaks []func(*config.Discord, *Deps)
			if tc.tweak != nil {
				tweaks = append(tweaks, tc.tweak)
			}
			e := newEnv(t, ModeGateway, tweaks...)
			if tc.setup != nil {
				tc.setup(e)
			}
			rec := &attempts{}
			e.a.backoff = rec.hook(e.a)
			done, _ := runAsync(t, e)

			if !waitFor(10*time.Second, func() bool { return e.a.Ready() == nil }) {
				select {
				case err := <-done:
					t.Fatalf("Run returned instead of retrying: %v", err)
				default:
				}
				t.Fatalf("never ready after Discord recovered: %v", e.a.Ready())
			}
			n, ready := rec.get()
			if len(n) != failures || n[0] != 1 || n[failures-1] != failures {
				t.Errorf("backoff attempts = %v, want 1…%d", n, failures)
			}
			for i, err := range ready {
				if err == nil {
					t.Errorf("Ready() = nil during failed start attempt %d", i+1)
				}
			}
			logs := e.logs.String()
			if got := strings.Count(logs, `"msg":"discord start failed, retrying"`); got != failures {
				t.Errorf("%d start-failure warnings, want %d", got, failures)
			}
			if strings.Contains(logs, e.fake.Token) {
				t.Error("the bot token reached the log")
			}
			select {
			case err := <-done:
				t.Fatalf("Run returned: %v", err)
			default:
			}
			if st := e.fake.Gateway(); st.Identifies != 1 || !st.Connected {
				t.Errorf("gateway after recovery: %+v", st)
			}
		})
	}
}

// TestStartRetryStopsWithContext: Run gives up quietly when ctx ends
// while Discord is still unreachable.
func TestStartRetryStopsWithContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeGateway)
	e.fake.FailNext(http.MethodGet, "/users/@me", http.StatusServiceUnavailable, 1<<30, 0, false)
	retried := make(chan struct{}, 1)
	e.a.backoff = func(int) time.Duration {
		select {
		case retried <- struct{}{}:
		default:
		}
		return time.Millisecond
	}
	done, cancel := runAsync(t, e)
	select {
	case <-retried:
	case err := <-done:
		t.Fatalf("Run returned instead of retrying: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no retry")
	}
	if e.a.Ready() == nil {
		t.Error("Ready() = nil while Discord is unreachable")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestStartBadTokenIsFatal: a 401 at start ends Run at once with the
// message naming discord.bot_token, also after transient failures.
func TestStartBadTokenIsFatal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		before  int // 503s before the 401
		retries int // backoff calls expected
	}{
		{"401 at once", 0, 0},
		{"503 then 401", 2, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, ModeGateway)
			if tc.before > 0 {
				e.fake.FailNext(http.MethodGet, "/users/@me", http.StatusServiceUnavailable, tc.before, 0, false)
			}
			e.fake.FailNext(http.MethodGet, "/users/@me", http.StatusUnauthorized, 1, 0, false)
			rec := &attempts{}
			e.a.backoff = rec.hook(e.a)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := e.a.Run(ctx, e.collect())
			if err == nil || ctx.Err() != nil {
				t.Fatalf("Run = %v (ctx %v), want a fatal error", err, ctx.Err())
			}
			if tebura.ErrorCode(err) != tebura.EINVALID || !strings.Contains(tebura.ErrorMessage(err), "discord.bot_token") {
				t.Errorf("error %q (%s) does not say to fix discord.bot_token", tebura.ErrorMessage(err), tebura.ErrorCode(err))
			}
			if n, _ := rec.get(); len(n) != tc.retries {
				t.Errorf("%d retries, want %d", len(n), tc.retries)
			}
			if st := e.fake.Gateway(); st.Identifies != 0 {
				t.Errorf("%d IDENTIFYs with a refused token", st.Identifies)
			}
		})
	}
}

// TestRegistrationRetriesInBackground: a transient failure to register the
// commands does not hold up the gateway; registration is retried and lands.
func TestRegistrationRetriesInBackground(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeGateway)
	e.fake.FailNext(http.MethodPut, "/applications/", http.StatusServiceUnavailable, 2, 0, false)
	e.start(e.collect())
	if !waitFor(10*time.Second, func() bool {
		names, _ := e.fake.Commands(guildID)
		return len(names) > 0
	}) {
		t.Fatal("commands never registered after transient failures")
	}
	if !e.logged("discord command registration failed, retrying in the background") {
		t.Error("the failed registration was not logged")
	}
	if !waitFor(5*time.Second, func() bool { return e.logged("discord command registration succeeded after retrying") }) {
		t.Error("the recovery was not logged")
	}
}
