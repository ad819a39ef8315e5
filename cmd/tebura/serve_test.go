package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura/bot/bottest"
	"github.com/tebura/tebura/config"
)

// TestHTTPHardening: the listener is loopback by default, the server has
// every timeout, bodies over http.max_body_bytes are refused, and TLS is
// served from http.tls_cert/tls_key.
func TestHTTPHardening(t *testing.T) {
	cleanEnv(t)
	if host, _, _ := net.SplitHostPort(config.Default().HTTP.Listen); host != "127.0.0.1" {
		t.Errorf("default listen host %q, want 127.0.0.1", host)
	}
	dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "rb/restart.yaml": restartAPIBook})
	certPEM, keyPEM := selfSigned(t)
	for name, b := range map[string][]byte{"cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := strings.Replace(baseConfig(incidentConfig), `http: {listen: "127.0.0.1:0"}`,
		`http: {listen: "127.0.0.1:0", max_body_bytes: 2048, tls_cert: cert.pem, tls_key: key.pem}`, 1)
	path := filepath.Join(dir, "tebura.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	w, ps, _ := loadWorld(path)
	if len(ps) > 0 {
		t.Fatal(ps)
	}
	app, err := NewApp(w.Config, newLoggerLevel("text", "error", &bottest.SyncBuffer{}))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	s := app.srv
	if s.ReadHeaderTimeout <= 0 || s.ReadTimeout <= 0 || s.WriteTimeout <= 0 || s.IdleTimeout <= 0 {
		t.Errorf("timeouts: header %v read %v write %v idle %v", s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout)
	}
	if _, err := wire(app, wireOptions{ConfigPath: path, In: strings.NewReader(""), Out: &bottest.SyncBuffer{}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- app.Run(ctx) }()
	defer func() { cancel(); <-done }()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	base := "https://" + app.Addr()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz over TLS: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	big := bytes.Repeat([]byte("x"), 4096)
	req, _ := http.NewRequest(http.MethodPost, base+"/hooks/alertmanager", bytes.NewReader(big))
	req.Header.Set("Authorization", "Bearer am-bearer-token-1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("4 KiB body with a 2 KiB limit: %d, want 413", resp.StatusCode)
	}
	if resp, err := http.Get("http://" + app.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on a TLS listener")
		}
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tebura-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// TestValidateWarnsAndRefuses: a webhook source present in the config
// without authentication is a problem (exit 1) unless it says insecure:
// true, which is a warning; an absent source is simply off; a remediation
// under diagnostics is a problem.
func TestValidateWarnsAndRefuses(t *testing.T) {
	cleanEnv(t)
	tests := []struct {
		name    string
		sources string
		code    int
		want    []string
	}{
		{"generic without auth", "sources:\n  generic:\n    ci: {key: '{{ .id }}'}\n", 1,
			[]string{"tebura.yaml:13: sources.generic.ci: has no authentication; set bearer_token, basic_auth or hmac_secret, or insecure: true"}},
		{"empty generic block", "sources:\n  generic:\n    foo: {}\n", 1,
			[]string{"tebura.yaml:13: sources.generic.foo: has no authentication"}},
		{"grafana header only", "sources:\n  grafana:\n    signature_header: X-Sig\n", 1,
			[]string{"tebura.yaml:12: sources.grafana: has no authentication; set hmac_secret, bearer_token or basic_auth, or insecure: true"}},
		{"empty alertmanager block", "sources:\n  alertmanager: {}\n", 1,
			[]string{"tebura.yaml:12: sources.alertmanager: has no authentication; set bearer_token or basic_auth, or insecure: true"}},
		{"pagerduty with an empty secret", "sources:\n  pagerduty: {webhook_secret: ''}\n", 1,
			[]string{"tebura.yaml:12: sources.pagerduty: has no authentication; set webhook_secret or routing_key, or insecure: true"}},
		{"insecure is a warning", "sources:\n  alertmanager: {insecure: true}\n  generic:\n    ci: {insecure: true, key: '{{ .id }}'}\n", 0,
			[]string{"warning: ", "sources.alertmanager.insecure is true: /hooks/alertmanager accepts unauthenticated requests",
				"sources.generic.ci.insecure is true: /hooks/generic/ci accepts unauthenticated requests", "ok: "}},
		{"unknown preset", "sources:\n  generic:\n    dd: {preset: datdog, bearer_token: t}\n", 1,
			[]string{`tebura.yaml:13: sources.generic.dd.preset: is "datdog", which is not a preset; use one of datadog, healthchecks, sentry, uptime-kuma, zabbix`}},
		{"unknown template function", "sources:\n  generic:\n    ci: {bearer_token: t, key: '{{ .id | upper }}'}\n", 1,
			[]string{`tebura.yaml:13: sources.generic.ci.key: template: key:1: function "upper" not defined`}},
		{"presets", "sources:\n  generic:\n    kuma: {preset: uptime-kuma, bearer_token: t}\n    sentry: {preset: sentry, hmac_secret: s}\n", 0,
			[]string{"ok: "}},
		{"absent sources are off", "", 0, []string{"ok: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "rb/restart.yaml": restartAPIBook,
				"tebura.yaml": baseConfig(tt.sources)})
			out, _, code := runCLI(t, "", "validate", "--config", filepath.Join(dir, "tebura.yaml"))
			if code != tt.code {
				t.Fatalf("validate exit %d, want %d:\n%s", code, tt.code, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("validate output lacks %q:\n%s", want, out)
				}
			}
			if tt.code == 0 && tt.sources == "" && strings.Contains(out, "warning") {
				t.Errorf("absent sources warned:\n%s", out)
			}
		})
	}
	bad := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "rb/restart.yaml": restartAPIBook,
		"tebura.yaml": baseConfig("automations: [{name: oops, match: ['a=\"b\"'], diagnostics: [restart-api]}]\n")})
	out, _, code := runCLI(t, "", "validate", "--config", filepath.Join(bad, "tebura.yaml"))
	if code != 1 || !strings.Contains(out, `runbook "restart-api" needs approval, so it cannot run by itself`) {
		t.Errorf("remediation under diagnostics: exit %d\n%s", code, out)
	}
}

// TestServeRefusesUnauthenticatedSource: serve lists the source and does
// not start; an environment override counts as present too. The context is
// cancelled from the start, so a serve that wrongly starts stops at once
// (exit 0) instead of hanging the test.
func TestServeRefusesUnauthenticatedSource(t *testing.T) {
	cleanEnv(t)
	serve := func(path string) (string, int) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var out, errb bytes.Buffer
		code := run(ctx, []string{"serve", "--config", path}, strings.NewReader(""), &out, &errb)
		return errb.String(), code
	}
	dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook,
		"tebura.yaml": baseConfig("sources:\n  generic:\n    ci: {key: '{{ .id }}'}\n")})
	errOut, code := serve(filepath.Join(dir, "tebura.yaml"))
	if code != 1 || !strings.Contains(errOut, "sources.generic.ci: has no authentication") {
		t.Fatalf("serve exit %d:\n%s", code, errOut)
	}
	dir = writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "tebura.yaml": baseConfig("")})
	t.Setenv("TEBURA_SOURCES_GRAFANA_SIGNATURE_HEADER", "X-Sig")
	errOut, code = serve(filepath.Join(dir, "tebura.yaml"))
	if code != 1 || !strings.Contains(errOut, "$TEBURA_SOURCES_GRAFANA_SIGNATURE_HEADER: sources.grafana: has no authentication") {
		t.Fatalf("serve with a Grafana header from the environment: exit %d:\n%s", code, errOut)
	}
}

// TestServeLogsSources: one info line at start names the mounted and the
// off webhook sources.
func TestServeLogsSources(t *testing.T) {
	cleanEnv(t)
	dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "rb/restart.yaml": restartAPIBook,
		"tebura.yaml": baseConfig(incidentConfig)})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
	logs := ts.logs.String()
	if n := strings.Count(logs, `msg="webhook sources"`); n != 1 {
		t.Fatalf("want one webhook sources line, got %d:\n%s", n, logs)
	}
	for _, want := range []string{"level=INFO", "mounted=/hooks/alertmanager", "off=grafana,pagerduty,generic"} {
		if !strings.Contains(logs, want) {
			t.Errorf("webhook sources line lacks %q:\n%s", want, logs)
		}
	}
}

// TestServeLogsAuditHead: every start verifies the audit chain and logs its
// head, the anchor `tebura audit verify --anchor` checks later.
func TestServeLogsAuditHead(t *testing.T) {
	cleanEnv(t)
	dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "tebura.yaml": baseConfig("")})
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "info")
	logs := ts.logs.String()
	if !strings.Contains(logs, `msg="audit chain verified" entries=1 head=1:`) {
		t.Errorf("no audit head logged at start:\n%s", logs)
	}
}

// TestDoctor: all ✓ with the console only; a Slack whose token is refused
// is a ✗ and exit 1.
func TestDoctor(t *testing.T) {
	cleanEnv(t)
	dir := writeTree(t, map[string]string{"rb/check.yaml": checkAPIBook, "tebura.yaml": baseConfig("")})
	out, _, code := runCLI(t, "", "doctor", "--config", filepath.Join(dir, "tebura.yaml"))
	if code != 0 || !strings.Contains(out, "✓ config") || !strings.Contains(out, "✓ runbooks: 1 loaded") ||
		!strings.Contains(out, "✓ store") || !strings.Contains(out, "✓ console") || strings.Contains(out, "✗") {
		t.Errorf("doctor with the console: exit %d\n%s", code, out)
	}
	ts := startServer(t, filepath.Join(dir, "tebura.yaml"), "error")
	out, _, code = runCLI(t, "", "doctor", "--config", filepath.Join(dir, "tebura.yaml"))
	if code != 0 || !strings.Contains(out, "in use by a running tebura") {
		t.Errorf("doctor beside a running serve: exit %d\n%s", code, out)
	}
	ts.stop(t)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
	}))
	defer fake.Close()
	cfg := baseConfig(`slack: {enabled: true, mode: socket, bot_token: xoxb-1-2-fake, app_token: xapp-1-fake, api_url: ` + fake.URL + `/api/}
`)
	if err := os.WriteFile(filepath.Join(dir, "tebura.yaml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, code = runCLI(t, "", "doctor", "--config", filepath.Join(dir, "tebura.yaml"))
	if code != 1 || !strings.Contains(out, "✗ slack") {
		t.Errorf("doctor with a refused Slack token: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "xoxb-1-2-fake") || strings.Contains(out, "xapp-1-fake") {
		t.Errorf("doctor printed a token:\n%s", out)
	}
}
