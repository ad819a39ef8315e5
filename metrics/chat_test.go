package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/metrics"
)

// fakeAPI answers 429 with Retry-After for paths containing "limited",
// 500 for "broken", else 200.
func fakeAPI(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "limited"):
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
		case strings.Contains(r.URL.Path, "resetafter"):
			w.Header().Set("X-RateLimit-Reset-After", "0.25")
			w.WriteHeader(http.StatusTooManyRequests)
		case strings.Contains(r.URL.Path, "broken"):
			w.WriteHeader(http.StatusInternalServerError)
		default:
			_, _ = io.WriteString(w, `{"ok":true}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTransportMethods(t *testing.T) {
	srv := fakeAPI(t)
	tests := []struct {
		platform, method, path string
		want                   string // labels of the request counter
	}{
		{"slack", "POST", "/api/chat.update", "code=200,method=chat.update,platform=slack"},
		{"slack", "POST", "/api/files.getUploadURLExternal", "code=200,method=files.getUploadURLExternal,platform=slack"},
		{"slack", "POST", "/actions/T1/123/s3cr3tT0ken", "code=200,method=response_url,platform=slack"},
		{"slack", "POST", "/upload/v1/ABCdef", "code=200,method=file_upload,platform=slack"},
		{"slack", "POST", "/api/limited.method", "code=429,method=limited.method,platform=slack"},
		{"slack", "GET", "/link/", "code=200,method=other,platform=slack"},
		{"discord", "PATCH", "/api/v10/channels/123456789012345678/messages/223456789012345678",
			"code=200,method=PATCH /channels/:id/messages/:id,platform=discord"},
		{"discord", "POST", "/api/v10/interactions/123/aW50ZXJhY3Rpb246MTIzOnRva2Vu/callback",
			"code=200,method=POST /interactions/:id/:token/callback,platform=discord"},
		{"discord", "PATCH", "/api/v10/webhooks/42/lowercasetoken/messages/@original",
			"code=200,method=PATCH /webhooks/:id/:token/messages/@original,platform=discord"},
		{"discord", "PUT", "/api/v10/channels/1/messages/2/reactions/%F0%9F%91%8D/@me",
			"code=200,method=PUT /channels/:id/messages/:id/reactions/:emoji/@me,platform=discord"},
		{"discord", "GET", "/api/v10/guilds/1/Weird.Thing", "code=200,method=GET /guilds/:id/:param,platform=discord"},
		{"discord", "POST", "/api/v10/channels/1/broken", "code=500,method=POST /channels/:id/broken,platform=discord"},
		{"discord", "POST", "/api/v10/channels/1/resetafter", "code=429,method=POST /channels/:id/resetafter,platform=discord"},
	}
	for _, tt := range tests {
		t.Run(tt.platform+" "+tt.path, func(t *testing.T) {
			m := metrics.New(metrics.BuildInfo{})
			client := &http.Client{Transport: m.Transport(tt.platform, nil)}
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			got := series(t, m, "tebura_chat_api_requests_total")
			if want := map[string]sample{tt.want: {Value: 1}}; !reflect.DeepEqual(got, want) {
				t.Errorf("requests = %v, want %v", got, want)
			}
			if d := series(t, m, "tebura_chat_api_duration_seconds"); len(d) != 1 {
				t.Errorf("durations = %v, want one series", d)
			}
		})
	}
}

func TestTransportRateLimitsAndErrors(t *testing.T) {
	srv := fakeAPI(t)
	m := metrics.New(metrics.BuildInfo{})
	slack := &http.Client{Transport: m.Transport("slack", http.DefaultTransport)}
	discord := &http.Client{Transport: m.Transport("discord", nil)}
	for _, c := range []struct {
		client *http.Client
		path   string
	}{
		{slack, "/api/limited.a"}, {slack, "/api/limited.b"}, {slack, "/api/chat.postMessage"},
		{discord, "/api/v10/resetafter"},
	} {
		resp, err := c.client.Post(srv.URL+c.path, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	// No answer at all: counted with code "error".
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	if _, err := slack.Post(dead.URL+"/api/chat.update", "application/json", nil); err == nil {
		t.Fatal("request to a closed server succeeded")
	}

	if got, want := series(t, m, "tebura_chat_rate_limited_total"), map[string]sample{
		"platform=slack": {Value: 2}, "platform=discord": {Value: 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("rate limited = %v, want %v", got, want)
	}
	if got, want := series(t, m, "tebura_chat_rate_limit_wait_seconds_total"), map[string]sample{
		"platform=slack": {Value: 6}, "platform=discord": {Value: 0.25}}; !reflect.DeepEqual(got, want) {
		t.Errorf("waits = %v, want %v", got, want)
	}
	if v := value(t, m, "tebura_chat_api_requests_total", "code=error,method=chat.update,platform=slack"); v != 1 {
		t.Errorf("transport errors = %v, want 1", v)
	}
}

// recordingChat accepts every edit.
type recordingChat struct{}

func (recordingChat) Name() string                                 { return "fake" }
func (recordingChat) Run(ctx context.Context, _ bot.Handler) error { <-ctx.Done(); return nil }
func (recordingChat) Post(context.Context, bot.Target, bot.Message) (bot.MessageRef, error) {
	return bot.MessageRef{ID: "m1"}, nil
}
func (recordingChat) Edit(context.Context, bot.MessageRef, bot.Message) error { return nil }

func TestStreamObserver(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{})
	obs := m.StreamObserver()
	obs(bot.StreamStats{Sent: 3, Dropped: 7, Failed: 1})
	// And through a real stream: one frame pending at Close is dropped, the
	// final frame is sent.
	s := bot.NewStream(recordingChat{}, bot.MessageRef{ID: "m1"}, bot.StreamOptions{Interval: 1 << 62, OnClose: obs})
	if err := s.Close(context.Background(), bot.Message{Header: "done"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		"tebura_stream_frames_sent_total": 4, "tebura_stream_frames_dropped_total": 7, "tebura_stream_edits_failed_total": 1,
	} {
		if got := value(t, m, name, ""); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
