package incidentchat_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot"
)

// BenchmarkAlertToFirstDiagnosticFrame measures the time from an alert
// batch handed to Ingest (a new group each iteration, so a new incident) to
// the first frame of the diagnostic's live message that shows the
// runbook's output, in the fake chat: ingest, channel, card, proposal,
// run start, process spawn and the first stream edit. It reports p50 and
// p90 in milliseconds, with a 10ms stream interval and with the default
// 1.5s one (the first edit after the post is not held back by it).
func BenchmarkAlertToFirstDiagnosticFrame(b *testing.B) {
	for _, iv := range []time.Duration{10 * time.Millisecond, bot.DefaultStreamInterval} {
		b.Run("stream_interval="+iv.String(), func(b *testing.B) { benchFirstFrame(b, iv) })
	}
}

func benchFirstFrame(b *testing.B, interval time.Duration) {
	chat := newCMChat()
	s := newStack(b, b.TempDir(), stackOptions{Chat: chat, StreamInterval: interval})
	frames := make(chan string, 64)
	seen := func(m bot.Message) {
		if m.Code == nil {
			return
		}
		for _, line := range strings.Split(m.Code.Text, "\n") {
			if svc, ok := strings.CutPrefix(line, "checking "); ok {
				select {
				case frames <- strings.TrimSpace(svc):
				default:
				}
			}
		}
	}
	chat.SetEditHook(func(ctx context.Context, ref bot.MessageRef, m bot.Message) error { seen(m); return nil })
	var lat []time.Duration
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		svc := fmt.Sprintf("api-%d", n)
		batch := alertBatch("bench-"+svc, svc, 0, 1, time.Now())
		t0 := time.Now()
		s.deliver(batch)
	wait:
		for {
			select {
			case got := <-frames:
				if got == svc {
					break wait
				}
			case <-time.After(10 * time.Second):
				b.Fatalf("no diagnostic output frame for %s", svc)
			}
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*9/10]), "p90-ms")
}
