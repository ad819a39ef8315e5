package metrics_test

import (
	"testing"

	"github.com/tebura/tebura/bot"
	"github.com/tebura/tebura/metrics"
)

// TestWatchOutbox: each platform's outbox counts are read at scrape time,
// labelled by platform.
func TestWatchOutbox(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{})
	slack := bot.OutboxStats{Queued: 3, Retries: 7, Kept: 4, Dropped: 1}
	m.WatchOutbox("slack", func() bot.OutboxStats { return slack })
	m.WatchOutbox("discord", func() bot.OutboxStats { return bot.OutboxStats{Retries: 2} })
	tests := []struct {
		name string
		want map[string]float64
	}{
		{"tebura_chat_outbox_pending", map[string]float64{"platform=slack": 3, "platform=discord": 0}},
		{"tebura_chat_outbox_retries_total", map[string]float64{"platform=slack": 7, "platform=discord": 2}},
		{"tebura_chat_outbox_kept_total", map[string]float64{"platform=slack": 4, "platform=discord": 0}},
		{"tebura_chat_outbox_dropped_total", map[string]float64{"platform=slack": 1, "platform=discord": 0}},
	}
	for _, tc := range tests {
		got := series(t, m, tc.name)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d series %v, want %v", tc.name, len(got), got, tc.want)
		}
		for labels, v := range tc.want {
			if got[labels].Value != v {
				t.Errorf("%s{%s} = %v, want %v", tc.name, labels, got[labels].Value, v)
			}
		}
	}
	slack.Queued = 0 // the outage ended
	if got := series(t, m, "tebura_chat_outbox_pending")["platform=slack"].Value; got != 0 {
		t.Errorf("pending after delivery = %v, want 0: the gauge must be read at scrape time", got)
	}
}
