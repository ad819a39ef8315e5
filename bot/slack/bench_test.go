package slack

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/slack/slacktest"
)

// reportLatency reports p50 and p99 in milliseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	p := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
}

// BenchmarkSlashCommandHTTP measures signed slash command → HTTP 200 on
// loopback, sent open-loop at 200 requests per second.
func BenchmarkSlashCommandHTTP(b *testing.B) {
	h := newHarness(b, ModeHTTP)
	go func() {
		for range h.ev.ch { // drain: the handler does nothing
		}
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	send := func() time.Duration {
		// A fresh invocation each time: a repeated trigger_id is a replay.
		body := form(slacktest.SlashCommand("/runbook", "list", "UALICE", "C1", h.fake.ResponseURL()))
		ts := h.clock.Now().Unix()
		req, _ := http.NewRequest(http.MethodPost, h.srv.URL+PathCommands, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderSignature, Sign(testSecret, ts, body))
		t0 := time.Now()
		resp, err := client.Do(req)
		d := time.Since(t0)
		if err != nil {
			b.Error(err)
			return d
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Errorf("HTTP %d", resp.StatusCode)
		}
		return d
	}
	send() // warm the connection pool and the group cache

	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / 200)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := send()
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()
	reportLatency(b, lat)
}

// BenchmarkSocketEnvelopeAck measures envelope sent by Slack → ack
// received by Slack over a loopback websocket, at 200 envelopes per second.
func BenchmarkSocketEnvelopeAck(b *testing.B) {
	h := newHarness(b, ModeSocket)
	go func() {
		for range h.ev.ch {
		}
	}()
	payload := slacktest.SlashCommand("/runbook", "list", "UALICE", "C1", h.fake.ResponseURL())
	lat := make([]time.Duration, 0, b.N)
	tick := time.NewTicker(time.Second / 200)
	defer tick.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		<-tick.C
		t0 := time.Now()
		ack, err := h.fake.Send(slacktest.Envelope{Type: "slash_commands", Payload: payload})
		if err != nil {
			b.Fatal(err)
		}
		<-ack
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, lat)
}
