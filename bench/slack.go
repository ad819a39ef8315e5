package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/bot/slack"
	"github.com/tebura/tebura/bot/slack/slacktest"
	"github.com/tebura/tebura/config"
)

const benchSigningSecret = "bench-signing-secret"

// slackAdapter starts the Slack adapter in mode against a fresh slacktest
// fake, with a handler that does nothing (the figures are the adapter's
// acknowledgement, which comes before the handler's work). stop ends both.
func slackAdapter(mode string) (a *slack.Adapter, fake *slacktest.Server, srv *httptest.Server, stop func(), err error) {
	fake = slacktest.New()
	fake.AddChannel("C1", "ops", true)
	cfg := config.Slack{Enabled: true, Mode: mode, BotToken: slacktest.BotToken, AppToken: slacktest.AppToken,
		SigningSecret: benchSigningSecret, APIURL: fake.URL, Channels: config.SlackChannels{Incidents: "C1"}}
	a, err = slack.New(cfg, slack.Deps{Clock: time.Now}, slog.New(slog.DiscardHandler))
	if err != nil {
		fake.Close()
		return nil, nil, nil, nil, err
	}
	if mode == slack.ModeHTTP {
		mux := http.NewServeMux()
		a.Mount(mux)
		srv = httptest.NewServer(mux)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, bot.HandlerFunc(func(context.Context, bot.Event) {})) }()
	stop = func() {
		cancel()
		<-done
		if srv != nil {
			srv.Close()
		}
		fake.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for a.Ready() != nil {
		if time.Now().After(deadline) {
			stop()
			return nil, nil, nil, nil, fmt.Errorf("slack adapter (%s) not ready: %v", mode, a.Ready())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return a, fake, srv, stop, nil
}

// slashCommand measures issue 4's signed slash command to HTTP 200 on
// loopback, sent open-loop at 200 requests/s.
func slashCommand(e *env) ([]row, error) {
	_, fake, srv, stop, err := slackAdapter(slack.ModeHTTP)
	if err != nil {
		return nil, err
	}
	defer stop()
	// Each request is a new command (a fresh trigger_id): re-sending one
	// signed body would be dropped as a replay and measure nothing.
	newBody := func() []byte {
		v := url.Values{}
		for k, x := range slacktest.SlashCommand("/runbook", "list", "UALICE", "C1", fake.ResponseURL()) {
			v.Set(k, x)
		}
		return []byte(v.Encode())
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	var firstErr error
	var mu sync.Mutex
	send := func() time.Duration {
		body := newBody()
		ts := time.Now().Unix()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+slack.PathCommands, strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(slack.HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(slack.HeaderSignature, slack.Sign(benchSigningSecret, ts, body))
		t0 := time.Now()
		resp, err := client.Do(req)
		d := time.Since(t0)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("slash command answered %d", resp.StatusCode)
			}
		}
		if err != nil {
			mu.Lock()
			firstErr = err
			mu.Unlock()
		}
		return d
	}
	for range 20 {
		send() // warm the connection pool and the group cache
	}
	const rate, n = 200, 1000
	lat := make([]time.Duration, 0, n)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	for range n {
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
	if firstErr != nil {
		return nil, firstErr
	}
	p50, p99 := pct(lat, 0.50), pct(lat, 0.99)
	return []row{
		{fmt.Sprintf("signed slash command to 200 p50 (%d at %d/s, HTTP mode)", n, rate), ms(p50), "", ""},
		{"signed slash command to 200 p99", ms(p99), "<= 5 ms", met(p99 <= 5*time.Millisecond)},
	}, nil
}

// socketAck measures issue 4's Socket Mode envelope to ack, over a
// loopback websocket from the slacktest fake, at 200 envelopes/s.
func socketAck(e *env) ([]row, error) {
	_, fake, _, stop, err := slackAdapter(slack.ModeSocket)
	if err != nil {
		return nil, err
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fake.WaitConnected(ctx, 1); err != nil {
		return nil, err
	}
	payload := slacktest.SlashCommand("/runbook", "list", "UALICE", "C1", fake.ResponseURL())
	const rate, n = 200, 1000
	lat := make([]time.Duration, 0, n)
	tick := time.NewTicker(time.Second / rate)
	defer tick.Stop()
	for range n {
		<-tick.C
		t0 := time.Now()
		ack, err := fake.Send(slacktest.Envelope{Type: "slash_commands", Payload: payload})
		if err != nil {
			return nil, err
		}
		select {
		case <-ack:
		case <-time.After(5 * time.Second):
			return nil, fmt.Errorf("no Socket Mode ack within 5s")
		}
		lat = append(lat, time.Since(t0))
	}
	p50, p99 := pct(lat, 0.50), pct(lat, 0.99)
	return []row{
		{fmt.Sprintf("Socket Mode envelope to ack p50 (%d at %d/s)", n, rate), ms(p50), "", ""},
		{"Socket Mode envelope to ack p99", ms(p99), "<= 5 ms", met(p99 <= 5*time.Millisecond)},
	}, nil
}
