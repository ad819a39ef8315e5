package discord

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/discord/discordtest"
	"github.com/tebura/tebura/config"
)

func TestGatewayReconnects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeGateway)
	e.start(e.collect())
	if st := e.fake.Gateway(); st.Identifies != 1 || !st.Connected {
		t.Fatalf("after start: %+v", st)
	}

	// op 7 RECONNECT: the client closes, reconnects and resumes the session.
	// Under a loaded machine the first connection was once seen closing
	// by itself just after the start; the adapter then resumed on its own,
	// which is the behaviour under test too: so op 7 is sent once the
	// session is up, and resumes are counted from then.
	if !e.fake.WaitGateway(10*time.Second, func(s discordtest.GatewayStats) bool { return s.Connected }) {
		t.Fatalf("not connected: %+v; adapter log:\n%s", e.fake.Gateway(), e.logs.String())
	}
	before := e.fake.Gateway().Resumes
	if err := e.fake.Reconnect(); err != nil {
		t.Fatalf("%v; stats %+v; adapter log:\n%s", err, e.fake.Gateway(), e.logs.String())
	}
	if !e.fake.WaitGateway(10*time.Second, func(s discordtest.GatewayStats) bool { return s.Resumes > before && s.Connected }) {
		t.Fatalf("no resume after op 7: %+v", e.fake.Gateway())
	}
	afterOp7 := e.fake.Gateway().Resumes
	if !waitFor(5*time.Second, func() bool { return e.a.Ready() == nil }) {
		t.Fatalf("not ready after resume: %v", e.a.Ready())
	}
	it := runCommand(e.fake, bob)
	e.deliver(it)
	if _, ok := e.event().(*bot.Command); !ok {
		t.Fatal("no command after resume")
	}

	// A dropped connection: not ready while down (the fake holds the
	// reconnect until the test has seen it), then back.
	release := e.fake.HoldSessions()
	e.fake.Drop()
	if !waitFor(5*time.Second, func() bool { return e.a.Ready() != nil }) {
		t.Error("Ready() never reported the gateway down")
	}
	release()
	if !e.fake.WaitGateway(10*time.Second, func(s discordtest.GatewayStats) bool { return s.Resumes > afterOp7 && s.Connected }) {
		t.Fatalf("no reconnect after a drop: %+v", e.fake.Gateway())
	}
	if !waitFor(5*time.Second, func() bool { return e.a.Ready() == nil }) {
		t.Fatalf("not ready after reconnect: %v", e.a.Ready())
	}
	if st := e.fake.Gateway(); st.Identifies != 1 {
		t.Errorf("reconnects identified again (%d IDENTIFYs); they should resume", st.Identifies)
	}
	if !e.logged("discord gateway disconnected, reconnecting") {
		t.Error("disconnect not logged")
	}
}

func TestGatewayNotReadyBeforeRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeGateway)
	if err := e.a.Ready(); err == nil {
		t.Error("Ready() is nil before Run")
	}
}

func TestInvalidTokenIsFatal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(e *env)
	}{
		{"REST 401", func(e *env) { e.fake.Token = "another-token" }},
		{"gateway 4004", func(e *env) { e.fake.RejectSessions(4004) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, ModeGateway, func(_ *config.Discord, d *Deps) { d.Meta = nil })
			tc.setup(e)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := e.a.Run(ctx, e.collect())
			if err == nil || ctx.Err() != nil {
				t.Fatalf("Run = %v (ctx %v), want a fatal error at once", err, ctx.Err())
			}
			if tebura.ErrorCode(err) != tebura.EINVALID || !strings.Contains(tebura.ErrorMessage(err), "discord.bot_token") {
				t.Errorf("error %q (%s) does not say to fix discord.bot_token", tebura.ErrorMessage(err), tebura.ErrorCode(err))
			}
			if st := e.fake.Gateway(); st.Identifies > 1 {
				t.Errorf("%d IDENTIFYs with a bad token; it must stop at the first", st.Identifies)
			}
		})
	}
}

func TestGatewayFatalCloseCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeGateway)
	e.fake.RejectSessions(4014)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := e.a.Run(ctx, e.collect())
	if err == nil || !strings.Contains(tebura.ErrorMessage(err), "disallowed intents") {
		t.Errorf("Run = %v, want a fatal disallowed-intents error", err)
	}
}

func TestGatewayRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, ModeGateway)
	// The gateway URL points nowhere at first: Run keeps trying, not ready.
	var attempts []int
	e.a.backoff = func(n int) time.Duration {
		attempts = append(attempts, n)
		if n == 3 {
			e.fake.RejectSessions(0)
		}
		return time.Millisecond
	}
	e.fake.RejectSessions(4000) // unknown error: retryable
	e.start(e.collect())
	if len(attempts) < 3 || attempts[0] != 1 || attempts[2] != 3 {
		t.Errorf("backoff attempts = %v, want 1, 2, 3…", attempts)
	}
}
