package source_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
)

// amPayload builds Alertmanager webhook k: 100 distinct alerts of group
// k%20, in the exact v4 shape.
func amPayload(k int, startsAt time.Time) []byte {
	g := k % 20
	name := fmt.Sprintf("Bench%d", g)
	type alert struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	}
	msg := map[string]any{
		"version": "4", "groupKey": fmt.Sprintf("{}:{alertname=%q}", name), "truncatedAlerts": 0, "status": "firing",
		"receiver": "tebura", "groupLabels": map[string]string{"alertname": name},
		"commonLabels":      map[string]string{"alertname": name, "service": "api", "severity": "critical"},
		"commonAnnotations": map[string]string{}, "externalURL": "http://alertmanager.example.com:9093",
	}
	alerts := make([]alert, 100)
	for i := range alerts {
		n := k*100 + i
		alerts[i] = alert{Status: "firing",
			Labels:      map[string]string{"alertname": name, "service": "api", "severity": "critical", "instance": fmt.Sprintf("api-%d", n)},
			Annotations: map[string]string{"summary": fmt.Sprintf("p99 latency above 2s on api-%d", n)},
			StartsAt:    startsAt, GeneratorURL: "http://prometheus.example.com:9090/graph?g0.expr=latency",
			Fingerprint: fmt.Sprintf("%016x", n)}
	}
	msg["alerts"] = alerts
	b, _ := json.Marshal(msg)
	return b
}

// BenchmarkIngestAlertmanager posts 100-alert Alertmanager payloads over
// HTTP to the mounted handler, backed by the incident service and a bolt
// store (fsync on every commit). Every payload is sent twice, as a retried
// delivery would be: the second is deduplicated. Reports alerts/s (alerts
// carried by all requests, including the duplicates) and p99 request
// latency; new_alerts/s counts only the first delivery of each payload.
func BenchmarkIngestAlertmanager(b *testing.B) {
	store, svc := openService(b, filepath.Join(b.TempDir(), "tebura.db"))
	defer store.Close()
	mux := http.NewServeMux()
	if _, err := source.Mount(mux, config.Sources{Alertmanager: config.Alertmanager{BearerToken: "bench-token"}},
		source.Ingester(svc.Ingest, nil), nil, source.Limits{}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := srv.Client()

	start := time.Now().UTC().Truncate(time.Second)
	payloads := make([][]byte, (b.N+1)/2)
	for k := range payloads {
		payloads[k] = amPayload(k, start)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	t0 := time.Now()
	for i := range b.N {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/alertmanager", bytes.NewReader(payloads[i/2]))
		req.Header.Set("Authorization", "Bearer bench-token")
		req.Header.Set("Content-Type", "application/json")
		s := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		lat = append(lat, time.Since(s))
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	elapsed := time.Since(t0)
	b.StopTimer()
	report(b, lat, elapsed)

	list, err := svc.List(b.Context(), incident.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	total := 0
	for _, inc := range list {
		total += inc.AlertCount
	}
	if want := len(payloads) * 100; total != want {
		b.Fatalf("stored %d alerts, want %d", total, want)
	}
}

// BenchmarkIngestAlertmanagerParallel is the same with 8 concurrent
// senders (Alertmanager sends groups in parallel).
func BenchmarkIngestAlertmanagerParallel(b *testing.B) {
	store, svc := openService(b, filepath.Join(b.TempDir(), "tebura.db"))
	defer store.Close()
	h := source.Handler(source.NewAlertmanager(config.Alertmanager{Insecure: true}), source.Ingester(svc.Ingest, nil), source.Limits{}, nil)
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 16

	start := time.Now().UTC().Truncate(time.Second)
	payloads := make([][]byte, (b.N+1)/2)
	for k := range payloads {
		payloads[k] = amPayload(k, start)
	}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	next := make(chan int, b.N)
	for i := range b.N {
		next <- i
	}
	close(next)
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				s := time.Now()
				resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(payloads[i/2]))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(s)
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	report(b, lat, elapsed)
}

func report(b *testing.B, lat []time.Duration, elapsed time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	p := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(len(lat)*100)/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(float64((len(lat)+1)/2*100)/elapsed.Seconds(), "new_alerts/s")
	b.ReportMetric(p(0.50), "p50_ms")
	b.ReportMetric(p(0.99), "p99_ms")
}
