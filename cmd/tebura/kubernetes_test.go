package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tebura/tebura/config"
)

// TestValidateChecksJobTemplates: `tebura validate` reads a job step's
// template as a Kubernetes JobSpec, so a misspelt field is a problem with
// its runbook before any run.
func TestValidateChecksJobTemplates(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	rb := `name: dns-check
kind: diagnostic
steps:
  - name: lookup
    kubernetes:
      action: job
      namespace: tebura
      job:
        backofLimit: 2
        template: {spec: {containers: [{name: c, image: "busybox:1.37"}]}}
`
	if err := os.WriteFile(filepath.Join(dir, "dns.yaml"), []byte(rb), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "data_dir: "+t.TempDir()+"\nrunbooks:\n  dirs: ["+dir+"]\n")
	out, errOut, code := runCLI(t, "", "validate", "--config", cfg)
	if code != 1 || !strings.Contains(out+errOut, `unknown field "backofLimit"`) {
		t.Fatalf("exit %d, output %s%s; want the misspelt field reported", code, out, errOut)
	}
}

// TestKubernetesWiring: no cluster configured, no runner (the executor
// then fails kubernetes steps saying which keys to set) and no doctor
// line; a configured one that cannot be used is a failed doctor check.
func TestKubernetesWiring(t *testing.T) {
	cfg := config.Default()
	if r := kubeRunner(cfg); r != nil {
		t.Errorf("kubeRunner without configuration = %v, want nil", r)
	}
	if ch := checkKubernetes(context.Background(), cfg); ch != nil {
		t.Errorf("doctor checks %v without a cluster configured", ch)
	}
	cfg.Kubernetes.Kubeconfig = filepath.Join(t.TempDir(), "missing")
	if kubeRunner(cfg) == nil {
		t.Fatal("no runner with kubernetes.kubeconfig set")
	}
	ch := checkKubernetes(context.Background(), cfg)
	if len(ch) != 1 || ch[0].OK || !strings.Contains(ch[0].Detail, "kubernetes.kubeconfig") {
		t.Errorf("doctor check %+v, want one failure naming kubernetes.kubeconfig", ch)
	}
}
