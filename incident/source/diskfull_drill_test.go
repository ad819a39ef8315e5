package source_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
	"github.com/tebura/tebura/store/storetest"
)

// TestDiskFullWebhookDrill is issue 7's disk-full drill for alert senders:
// with the data disk (a 2 MiB tmpfs) full, a webhook is answered 503 (the
// sender retries), the log names the cause, and after a restart the store
// holds exactly the alerts that were answered 200.
func TestDiskFullWebhookDrill(t *testing.T) {
	disk := storetest.TinyDisk(t, "2m")
	path := filepath.Join(disk, "tebura.db")
	store, svc := openService(t, path)
	var logs bottest.SyncBuffer
	mux := http.NewServeMux()
	if _, err := source.Mount(mux, config.Sources{Alertmanager: config.Alertmanager{BearerToken: "flood-token"}},
		source.Ingester(svc.Ingest, nil), slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	startsAt := time.Now().UTC().Truncate(time.Second)
	post := func(n int) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/alertmanager", bytes.NewReader(floodPayload(n, startsAt)))
		req.Header.Set("Authorization", "Bearer flood-token")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := post(0); code != http.StatusOK {
		t.Fatalf("before the disk is full: %d %s", code, body)
	}

	filler := storetest.FillDisk(t, disk)

	accepted := []int{0}
	refused := -1
	for n := 1; n < 500 && refused < 0; n++ {
		switch code, body := post(n); code {
		case http.StatusOK:
			accepted = append(accepted, n)
		case http.StatusServiceUnavailable:
			refused = n
		default:
			t.Fatalf("alert %d on a full disk: %d %s, want 200 or 503", n, code, body)
		}
	}
	if refused < 0 {
		t.Fatal("500 alerts were stored on a full 2 MiB disk")
	}
	if !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("the log does not name the cause:\n%s", logs.String())
	}

	// Restart on freed space: exactly the acknowledged alerts are there.
	srv.Close()
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	store, svc = openService(t, path)
	defer store.Close()
	incs, err := svc.List(context.Background(), incident.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored := 0
	for _, inc := range incs {
		alerts, err := svc.Alerts(context.Background(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored += len(alerts)
		if inc.AlertCount != len(alerts) {
			t.Errorf("incident %s counts %d alerts but holds %d", inc.ID, inc.AlertCount, len(alerts))
		}
	}
	if stored != len(accepted) {
		t.Errorf("store holds %d alerts after the restart, want the %d answered 200", stored, len(accepted))
	}
	t.Logf("full disk: %d alerts accepted, alert %d refused with 503", len(accepted), refused)
}
