package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/tebura/tebura/metrics"
)

func TestWebhooks(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{})
	hooks := http.NewServeMux()
	hooks.HandleFunc("/hooks/alertmanager", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	hooks.HandleFunc("/hooks/pagerduty", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
	})
	hooks.HandleFunc("/hooks/generic/ci", func(w http.ResponseWriter, r *http.Request) {}) // writes nothing: 200
	srv := httptest.NewServer(m.Webhooks(hooks))
	defer srv.Close()
	single := httptest.NewServer(m.Webhook("grafana", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})))
	defer single.Close()

	for _, u := range []string{
		srv.URL + "/hooks/alertmanager", srv.URL + "/hooks/alertmanager",
		srv.URL + "/hooks/pagerduty", srv.URL + "/hooks/generic/ci",
		srv.URL + "/hooks/generic/invented-" + strings.Repeat("x", 10), srv.URL + "/hooks/nope", srv.URL + "/elsewhere",
		single.URL + "/anything",
	} {
		resp, err := http.Post(u, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	want := map[string]sample{
		"code=200,source=alertmanager": {Value: 2},
		"code=401,source=pagerduty":    {Value: 1},
		"code=200,source=generic/ci":   {Value: 1},
		"code=404,source=unknown":      {Value: 3},
		"code=503,source=grafana":      {Value: 1},
	}
	if got := series(t, m, "tebura_webhook_requests_total"); !reflect.DeepEqual(got, want) {
		t.Errorf("webhooks = %v, want %v", got, want)
	}
	lat := series(t, m, "tebura_webhook_duration_seconds")
	if len(lat) != 5 || lat["source=unknown"].Count != 3 || lat["source=alertmanager"].Count != 2 {
		t.Errorf("latencies = %v", lat)
	}
}
