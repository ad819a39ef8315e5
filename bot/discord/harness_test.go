package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/bot/discord/discordtest"
	"github.com/tebura/tebura/config"
)

// IDs of the fake world.
const (
	guildID     = "200000000000000001"
	channelID   = "300000000000000001"
	categoryID  = "300000000000000002"
	archiveID   = "300000000000000003"
	approverRID = "400000000000000001"
	botRoleID   = "400000000000000009"
	aliceID     = "500000000000000001" // requester
	bobID       = "500000000000000002" // approver
)

var (
	alice = discordtest.Invoker{GuildID: guildID, ChannelID: channelID, UserID: aliceID, Name: "alice"}
	bob   = discordtest.Invoker{GuildID: guildID, ChannelID: channelID, UserID: bobID, Name: "bob", Roles: []string{approverRID}}
)

// TestMain lets more tests run at once than -parallel's default (the CPU
// count) unless -parallel was given: every gateway test ends in discordgo's
// Session.Close, which sleeps one second for Discord to close the socket,
// so these tests mostly wait, and waiting side by side costs no CPU.
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", strconv.Itoa(max(8, runtime.GOMAXPROCS(0))))
	}
	os.Exit(m.Run())
}

// memMeta is an in-memory MetaStore.
type memMeta struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (m *memMeta) GetMeta(_ context.Context, k string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[k], nil
}

func (m *memMeta) PutMeta(_ context.Context, k string, v []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[string][]byte{}
	}
	m.m[k] = append([]byte(nil), v...)
	return nil
}

// memDeduper is a Deduper whose Mark can be held back by gate, to show
// that a slow store does not delay the acknowledgement.
type memDeduper struct {
	mu      sync.Mutex
	seen    map[string]bool
	gate    chan struct{} // when non-nil, Mark waits for it to close
	entered chan string   // when non-nil, receives each key as Mark starts
}

func (d *memDeduper) Mark(ctx context.Context, scope, key string, _ time.Duration) (bool, error) {
	if d.entered != nil {
		d.entered <- key
	}
	if d.gate != nil {
		select {
		case <-d.gate:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	k := scope + "/" + key
	if d.seen[k] {
		return false, nil
	}
	d.seen[k] = true
	return true, nil
}

type env struct {
	t      *testing.T
	fake   *discordtest.Server
	cfg    config.Discord
	deps   Deps
	a      *Adapter
	logs   *bottest.SyncBuffer
	key    ed25519.PrivateKey
	meta   *memMeta
	dedupe *memDeduper
	srv    *httptest.Server // HTTP mode: the listener with Mount
	events chan bot.Event
}

// newEnv builds a fake Discord with one guild (a text channel, an incident
// category, an archive category, an approver role and a bot role with the
// permissions it needs) and an adapter pointed at it.
func newEnv(t *testing.T, mode string, tweak ...func(*config.Discord, *Deps)) *env {
	t.Helper()
	fake := discordtest.New(t)
	fake.AddGuild(discordtest.Guild{
		ID: guildID, Name: "ops", OwnerID: "999",
		Roles:   map[string]int64{guildID: 0, approverRID: 0, botRoleID: PermissionsInteger()},
		Members: map[string][]string{fake.BotID: {botRoleID}, aliceID: {}, bobID: {approverRID}},
	})
	fake.AddChannel(discordtest.Channel{ID: channelID, GuildID: guildID, Name: "ops", Type: 0})
	fake.AddChannel(discordtest.Channel{ID: categoryID, GuildID: guildID, Name: "incidents", Type: 4})
	fake.AddChannel(discordtest.Channel{ID: archiveID, GuildID: guildID, Name: "archive", Type: 4})
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, fake: fake, logs: &bottest.SyncBuffer{}, key: priv, meta: &memMeta{}, dedupe: &memDeduper{}, events: make(chan bot.Event, 16)}
	e.cfg = config.Discord{
		Enabled: true, Mode: mode, BotToken: config.Secret(fake.Token), ApplicationID: fake.AppID,
		PublicKey: hex.EncodeToString(pub), GuildIDs: []string{guildID},
		APIURL: fake.APIURL, GatewayURL: fake.GatewayURL, IncidentCategory: categoryID,
	}
	e.deps = Deps{Deduper: e.dedupe, Meta: e.meta, Clock: func() time.Time { return fake.Clock() }}
	for _, f := range tweak {
		f(&e.cfg, &e.deps)
	}
	e.a = e.newAdapter()
	if mode == ModeHTTP {
		e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mux := http.NewServeMux()
			e.a.Mount(mux) // the current adapter: tests may rebuild it
			mux.ServeHTTP(w, r)
		}))
		t.Cleanup(e.srv.Close)
	}
	return e
}

func (e *env) newAdapter() *Adapter {
	e.t.Helper()
	a, err := New(e.cfg, e.deps, slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		e.t.Fatal(err)
	}
	a.backoff = func(int) time.Duration { return 10 * time.Millisecond }
	return a
}

// collect is a handler that forwards events to e.events.
func (e *env) collect() bot.Handler {
	return bot.HandlerFunc(func(_ context.Context, ev bot.Event) { e.events <- ev })
}

// start runs the adapter until the test ends and waits until it is ready.
func (e *env) start(h bot.Handler) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.a.Run(ctx, h) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			e.t.Error("Run did not return after cancel")
		}
	})
	if !waitFor(5*time.Second, func() bool { return e.a.Ready() == nil }) {
		select {
		case err := <-done:
			e.t.Fatalf("Run returned early: %v", err)
		default:
		}
		e.t.Fatalf("adapter not ready: %v", e.a.Ready())
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cond()
}

// deliver sends an interaction the way the mode does (gateway dispatch or
// signed HTTP POST) and returns the HTTP status (0 for the gateway).
func (e *env) deliver(it discordtest.Interaction) int {
	e.t.Helper()
	if e.srv == nil {
		if err := e.fake.Dispatch(it); err != nil {
			e.t.Fatal(err)
		}
		return 0
	}
	resp, err := e.fake.Post(e.srv.URL+InteractionsPath, e.key, it)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (e *env) event() bot.Event {
	e.t.Helper()
	select {
	case ev := <-e.events:
		return ev
	case <-time.After(5 * time.Second):
		e.t.Fatal("no event")
		return nil
	}
}

// logged reports whether a log line with msg was written.
func (e *env) logged(msg string) bool {
	for _, line := range strings.Split(e.logs.String(), "\n") {
		var rec struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			return true
		}
	}
	return false
}

func botCommands(runbook, incident, tebura string) config.BotCommands {
	return config.BotCommands{Runbook: runbook, Incident: incident, Tebura: tebura}
}
