package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/slack/slacktest"
	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/store/postgres"
	"github.com/tebura/tebura/store/postgres/pgtest"
)

// alertPayload is an Alertmanager webhook with one firing alert, k, of
// service: the group key is the service's, so a service's alerts make one
// incident.
func alertPayload(t *testing.T, service string, k int) []byte {
	t.Helper()
	labels := map[string]string{"alertname": "HighLatency", "service": service, "severity": "critical", "pod": fmt.Sprintf("pod-%d", k)}
	b, err := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": "tebura", "groupKey": `{}:{service="` + service + `"}`,
		"groupLabels": map[string]string{"service": service}, "commonLabels": map[string]string{"service": service},
		"commonAnnotations": map[string]string{}, "externalURL": "http://alertmanager.example:9093", "truncatedAlerts": 0,
		"alerts": []map[string]any{{"status": "firing", "labels": labels, "annotations": map[string]string{},
			"startsAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), "endsAt": "0001-01-01T00:00:00Z",
			"generatorURL": "http://prometheus.example:9090/graph", "fingerprint": fmt.Sprintf("fp-%s-%d", service, k)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// deliver posts one webhook; 0 when no answer came.
func deliver(client *http.Client, base string, body []byte) int {
	req, err := http.NewRequest(http.MethodPost, base+"/hooks/alertmanager", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer am-bearer-token-1")
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// storedAlerts reads every incident of the database and the fingerprints
// of its alerts.
func storedAlerts(t *testing.T, dsn string) (incidents []*incident.Incident, alerts map[string][]string) {
	t.Helper()
	st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc, err := incident.New(st, config.Default().Incidents, nil, nil, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	incidents, err = svc.List(context.Background(), incident.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	alerts = map[string][]string{}
	for _, inc := range incidents {
		as, err := svc.Alerts(context.Background(), inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			alerts[inc.ID] = append(alerts[inc.ID], a.Fingerprint)
		}
	}
	return incidents, alerts
}

// TestIngestAcrossReplicas (issue 14, black box): 1,000 Alertmanager
// webhooks (100 services, 10 alerts each) spread over two replicas on one
// PostgreSQL database, each delivered twice (the retry lands on the other
// replica), while the database is halted and restarted in the middle.
// No webhook is answered 2xx unless its alert is stored; the replicas
// take webhooks again by themselves once the database is back; and in
// the end there is exactly one incident per service with its ten alerts,
// none twice.
func TestIngestAcrossReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and two servers")
	}
	pgtest.Need(t)
	server := pgtest.Shared(t)
	if server == nil {
		t.Skip("the database is external (TEBURA_TEST_POSTGRES_DSN): it cannot be restarted by the test")
	}
	dsn := pgtest.DSN(t)
	cleanEnv(t)
	api := slacktest.New()
	defer api.Close()
	rs := []*served{serveBinary(t, replicaConfig(t, api, dsn, "r1")), serveBinary(t, replicaConfig(t, api, dsn, "r2"))}

	const services, perService = 100, 10
	type job struct {
		service string
		k       int
		body    []byte
		ok      atomic.Bool // some delivery was answered 2xx
	}
	jobs := make([]*job, 0, services*perService)
	for k := range perService {
		for s := range services {
			svc := fmt.Sprintf("svc-%03d", s)
			jobs = append(jobs, &job{service: svc, k: k, body: alertPayload(t, svc, k)})
		}
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var sent atomic.Int64
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				j := jobs[i]
				for try := range 2 { // delivered, then retried on the other replica
					if code := deliver(client, rs[(i+try)%2].base, j.body); code/100 == 2 {
						j.ok.Store(true)
					}
				}
				sent.Add(1)
			}
		}()
	}
	restarted := make(chan error, 1)
	go func() {
		for sent.Load() < int64(len(jobs)/3) {
			time.Sleep(5 * time.Millisecond)
		}
		if err := server.Halt(); err != nil {
			restarted <- err
			return
		}
		time.Sleep(time.Second)
		restarted <- server.Restart()
	}()
	for i := range jobs {
		work <- i
	}
	close(work)
	wg.Wait()
	if err := <-restarted; err != nil {
		t.Fatalf("database restart: %v", err)
	}

	// Every 2xx is stored.
	_, alerts := storedAlerts(t, dsn)
	stored := map[string]bool{}
	for _, fps := range alerts {
		for _, fp := range fps {
			stored[fp] = true
		}
	}
	refused := 0
	for _, j := range jobs {
		fp := fmt.Sprintf("fp-%s-%d", j.service, j.k)
		if j.ok.Load() && !stored[fp] {
			t.Errorf("alert %s was answered 2xx but is not stored", fp)
		}
		if !j.ok.Load() {
			refused++
		}
	}
	t.Logf("%d of %d alerts refused both deliveries while the database was down", refused, len(jobs))
	if refused == 0 {
		t.Log("no delivery met the restart; the 2xx check above proved little this time")
	}

	// The senders retry what was refused: the replicas take it by
	// themselves, without a restart of their own.
	deadline := time.Now().Add(drillBound)
	for i, j := range jobs {
		for !j.ok.Load() {
			if code := deliver(client, rs[i%2].base, j.body); code/100 == 2 {
				j.ok.Store(true)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("alert %s-%d still refused %s after the database came back", j.service, j.k, drillBound)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	incidents, alerts := storedAlerts(t, dsn)
	if len(incidents) != services {
		t.Errorf("%d incidents, want exactly %d (one per service)", len(incidents), services)
	}
	seen := map[string]bool{}
	for _, inc := range incidents {
		fps := alerts[inc.ID]
		if len(fps) != perService || inc.AlertCount != perService {
			t.Errorf("incident %s has %d alerts (count %d), want %d", inc.Ref(), len(fps), inc.AlertCount, perService)
		}
		for _, fp := range fps {
			if seen[fp] {
				t.Errorf("alert %s is stored twice", fp)
			}
			seen[fp] = true
		}
	}
}
