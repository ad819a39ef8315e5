package source_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura/incident/source"
)

func TestAdmission(t *testing.T) {
	tests := []struct {
		name       string
		opt        source.AdmitOptions
		busy       int // requests holding a slot
		release    bool
		want       int
		retryAfter string
	}{
		{"free slot", source.AdmitOptions{MaxInFlight: 2}, 1, false, http.StatusOK, ""},
		{"saturated, wait runs out", source.AdmitOptions{MaxInFlight: 2, QueueWait: time.Millisecond, RetryAfter: 1500 * time.Millisecond}, 2, false, http.StatusServiceUnavailable, "2"},
		{"saturated, no room to wait", source.AdmitOptions{MaxInFlight: 1, MaxWaiting: 1, QueueWait: time.Hour}, 1, false, http.StatusServiceUnavailable, "1"},
		{"saturated, slot frees while waiting", source.AdmitOptions{MaxInFlight: 1, QueueWait: time.Hour}, 1, true, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			adm := source.NewAdmission(tt.opt, nil)
			hold := make(chan struct{})
			entered := make(chan struct{}, 16)
			h := adm.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("X-Hold") != "" {
					entered <- struct{}{}
					<-hold
				}
				w.WriteHeader(http.StatusOK)
			}))
			var wg sync.WaitGroup
			for range tt.busy {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := httptest.NewRequest(http.MethodPost, "/hooks/x", nil)
					r.Header.Set("X-Hold", "1")
					h.ServeHTTP(httptest.NewRecorder(), r)
				}()
				<-entered
			}
			if tt.opt.MaxWaiting == 1 {
				// Someone else already waits for the slot.
				wg.Add(1)
				go func() {
					defer wg.Done()
					h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/hooks/x", nil))
				}()
				deadline := time.Now().Add(5 * time.Second)
				for adm.Stats().Waiting != 1 && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
			}
			if tt.release {
				go func() {
					deadline := time.Now().Add(5 * time.Second)
					for adm.Stats().Waiting != 1 && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
					close(hold)
				}()
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/hooks/x", nil))
			if !tt.release {
				close(hold)
			}
			wg.Wait()
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d", rec.Code, tt.want)
			}
			if got := rec.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if s := adm.Stats(); s.InFlight != 0 || s.Waiting != 0 {
				t.Errorf("after the requests: %+v, want nothing in flight or waiting", s)
			}
		})
	}
}
