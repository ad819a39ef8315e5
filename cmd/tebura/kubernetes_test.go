package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tebura/tebura/config"
)

// TestKubernetesManifest: deploy/kubernetes/tebura.yaml runs two replicas
// with a PodDisruptionBudget that keeps one up and selects them, names each
// replica after its pod, probes /readyz and /healthz, gives the pods more
// time to stop than shutdown_grace, and its config loads as tebura reads
// it (with the secret files in place).
func TestKubernetesManifest(t *testing.T) {
	cleanEnv(t)
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "kubernetes", "tebura.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]map[string]any{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var d map[string]any
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("manifest: %v", err)
		}
		docs[d["kind"].(string)] = d
	}
	get := func(v any, path ...any) any {
		for _, p := range path {
			switch k := p.(type) {
			case string:
				m, _ := v.(map[string]any)
				v = m[k]
			case int:
				l, _ := v.([]any)
				if k >= len(l) {
					return nil
				}
				v = l[k]
			}
		}
		return v
	}
	dep, pdb := docs["Deployment"], docs["PodDisruptionBudget"]
	if dep == nil || pdb == nil || docs["ConfigMap"] == nil || docs["Service"] == nil {
		t.Fatalf("manifest kinds = %v; want ConfigMap, Deployment, PodDisruptionBudget, Service", docs)
	}
	if n := get(dep, "spec", "replicas"); n != 2 {
		t.Errorf("replicas = %v, want 2", n)
	}
	if n := get(pdb, "spec", "minAvailable"); n != 1 {
		t.Errorf("PodDisruptionBudget minAvailable = %v, want 1", n)
	}
	podLabels := get(dep, "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range get(pdb, "spec", "selector", "matchLabels").(map[string]any) {
		if podLabels[k] != v {
			t.Errorf("the PodDisruptionBudget selects %s=%v, which the pods do not carry", k, v)
		}
	}
	c := get(dep, "spec", "template", "spec", "containers", 0)
	if get(c, "env", 0, "name") != "TEBURA_REPLICA_ID" || get(c, "env", 0, "valueFrom", "fieldRef", "fieldPath") != "metadata.name" {
		t.Errorf("the replica ID is not the pod's name: %v", get(c, "env"))
	}
	if get(c, "readinessProbe", "httpGet", "path") != "/readyz" || get(c, "livenessProbe", "httpGet", "path") != "/healthz" {
		t.Error("probes are not /readyz and /healthz")
	}

	// The config, with its secret files in place of the mounted secret.
	dir := t.TempDir()
	for name, body := range map[string]string{"dsn": "postgres://tebura@db:5432/tebura", "secrets-key": strings.Repeat("ab", 32), "alertmanager-token": "am-token-from-the-secret"} {
		writeFile(t, filepath.Join(dir, name), body)
	}
	text := strings.ReplaceAll(get(docs["ConfigMap"], "data", "tebura.yaml").(string), "/run/secrets/tebura", dir)
	t.Setenv("TEBURA_REPLICA_ID", "tebura-7d9f8-x2x4q")
	l, ps := config.Load(writeConfig(t, text), loadOptions())
	if len(ps) > 0 {
		t.Fatalf("the manifest's config does not load: %v", ps)
	}
	if l.Config.Replica.ID != "tebura-7d9f8-x2x4q" || l.Config.Store.Driver != config.DriverPostgres {
		t.Errorf("loaded replica.id %q, store.driver %q", l.Config.Replica.ID, l.Config.Store.Driver)
	}
	grace, _ := get(dep, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	if float64(grace) <= l.Config.ShutdownGrace.Seconds() {
		t.Errorf("terminationGracePeriodSeconds %d is not longer than shutdown_grace %s", grace, l.Config.ShutdownGrace)
	}
}
