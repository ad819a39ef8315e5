// Package kubernetes_test keeps the manifests in deploy/kubernetes true:
// every object decodes into its client-go type with unknown fields refused,
// the two layouts hang together (names, selectors, namespaces), the RBAC
// has a golden, and the Role grants exactly what the shipped example
// runbook's kubernetes steps need.
package kubernetes_test

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/runbooks"
	kubestep "github.com/tebura/tebura/runbooks/step/kubernetes"
)

var update = flag.Bool("update", false, "rewrite testdata/rbac.golden from base/rbac.yaml")

// namespace is where both layouts put everything.
const namespace = "tebura"

// kustomization is the part of a kustomization.yaml these manifests use;
// decoding refuses any other field, so a typo cannot hide.
type kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Namespace  string   `yaml:"namespace"`
	Resources  []string `yaml:"resources"`
	Images     []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

// layout is what `kubectl apply -k dir` would create, by kind and name.
type layout struct {
	dir     string
	objects []runtime.Object
}

// strict decodes into client-go's typed objects, failing on unknown and
// duplicate fields as `kubectl apply --validate=strict` does.
var strict = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// decodeFile decodes every YAML document of a manifest file.
func decodeFile(t *testing.T, path string) []runtime.Object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
	var out []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := strict.Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, obj)
	}
	return out
}

func stripComments(b []byte) []byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(out, l)
		}
	}
	return bytes.Join(out, []byte("\n"))
}

// load follows a kustomization's resources (files and directories) and
// returns the objects it creates, checking that every manifest file of the
// directory is among its resources.
func load(t *testing.T, dir string) layout {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" || k.Namespace != namespace {
		t.Errorf("%s/kustomization.yaml: %s %s namespace %q", dir, k.APIVersion, k.Kind, k.Namespace)
	}
	l := layout{dir: dir}
	listed := map[string]bool{}
	for _, res := range k.Resources {
		p := filepath.Join(dir, res)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s/kustomization.yaml: resource %s: %v", dir, res, err)
		}
		if fi.IsDir() {
			l.objects = append(l.objects, load(t, p).objects...)
			continue
		}
		listed[filepath.Base(p)] = true
		l.objects = append(l.objects, decodeFile(t, p)...)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" && !listed[base] {
			t.Errorf("%s is in no resources of %s/kustomization.yaml: it would never be applied", f, dir)
		}
	}
	return l
}

func find[T runtime.Object](l layout, name string) T {
	for _, o := range l.objects {
		if t, ok := o.(T); ok {
			if m, err := metaOf(o); err == nil && m.GetName() == name {
				return t
			}
		}
	}
	var zero T
	return zero
}

func metaOf(o runtime.Object) (metav1.Object, error) {
	m, ok := o.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", o)
	}
	return m, nil
}

func envOf(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// envName is the variable config.Load reads key from (docs/configuration.md):
// TEBURA_ + the key upper-cased with "." turned into "_".
func envName(key string) string {
	return "TEBURA_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// TestLayouts: both layouts decode, keep everything in one namespace, and
// their names and selectors meet: the Deployment runs as the ServiceAccount
// the RoleBinding binds, mounts the ConfigMap (and the claim) that exist,
// is selected by the Service (and the PodDisruptionBudget), and turns on
// in-cluster kubernetes steps.
func TestLayouts(t *testing.T) {
	for _, tc := range []struct {
		dir      string
		replicas int32
		strategy appsv1.DeploymentStrategyType
	}{
		{".", 1, appsv1.RecreateDeploymentStrategyType},
		{"replicas", 2, appsv1.RollingUpdateDeploymentStrategyType},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			l := load(t, tc.dir)
			for _, o := range l.objects {
				m, err := metaOf(o)
				if err != nil {
					t.Fatal(err)
				}
				if _, isNS := o.(*corev1.Namespace); !isNS && m.GetNamespace() != namespace {
					t.Errorf("%T %s is in namespace %q, want %s", o, m.GetName(), m.GetNamespace(), namespace)
				}
			}
			d := find[*appsv1.Deployment](l, "tebura")
			if d == nil {
				t.Fatal("no Deployment tebura")
			}
			if *d.Spec.Replicas != tc.replicas || d.Spec.Strategy.Type != tc.strategy {
				t.Errorf("replicas %d, strategy %s; want %d, %s", *d.Spec.Replicas, d.Spec.Strategy.Type, tc.replicas, tc.strategy)
			}
			pod := labels.Set(d.Spec.Template.Labels)
			if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err != nil || !sel.Matches(pod) {
				t.Errorf("the Deployment's selector does not match its pods (%v)", err)
			}
			if svc := find[*corev1.Service](l, "tebura"); svc == nil || !labels.SelectorFromSet(svc.Spec.Selector).Matches(pod) {
				t.Error("the Service tebura does not select the pods")
			}
			if find[*corev1.ServiceAccount](l, d.Spec.Template.Spec.ServiceAccountName) == nil {
				t.Errorf("the Deployment runs as ServiceAccount %q, which the layout does not have", d.Spec.Template.Spec.ServiceAccountName)
			}
			rb := find[*rbacv1.RoleBinding](l, "tebura-runbooks")
			if rb == nil || find[*rbacv1.Role](l, rb.RoleRef.Name) == nil || len(rb.Subjects) != 1 ||
				rb.Subjects[0].Name != d.Spec.Template.Spec.ServiceAccountName || rb.Subjects[0].Namespace != namespace {
				t.Errorf("the RoleBinding does not bind the Role to the Deployment's ServiceAccount: %+v", rb)
			}
			for _, v := range d.Spec.Template.Spec.Volumes {
				switch {
				case v.ConfigMap != nil && find[*corev1.ConfigMap](l, v.ConfigMap.Name) == nil:
					t.Errorf("volume %s: no ConfigMap %s", v.Name, v.ConfigMap.Name)
				case v.PersistentVolumeClaim != nil && find[*corev1.PersistentVolumeClaim](l, v.PersistentVolumeClaim.ClaimName) == nil:
					t.Errorf("volume %s: no claim %s", v.Name, v.PersistentVolumeClaim.ClaimName)
				}
			}
			c := d.Spec.Template.Spec.Containers[0]
			if e := envOf(c, envName("kubernetes.in_cluster")); e == nil || e.Value != "true" {
				t.Errorf("%s is not \"true\": kubernetes steps would have no API", envName("kubernetes.in_cluster"))
			}
			if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Error("the container may write its root filesystem or escalate privileges")
			}
			if tc.replicas > 1 {
				pdb := find[*policyv1.PodDisruptionBudget](l, "tebura")
				if pdb == nil || pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 {
					t.Fatalf("no PodDisruptionBudget keeping a replica: %+v", pdb)
				}
				if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err != nil || !sel.Matches(pod) {
					t.Error("the PodDisruptionBudget does not select the pods")
				}
				if e := envOf(c, envName("store.driver")); e == nil || e.Value != "postgres" {
					t.Errorf("%s is not postgres", envName("store.driver"))
				}
				dsn := envOf(c, envName("store.postgres.dsn"))
				if dsn == nil || dsn.Value != "" || dsn.ValueFrom == nil || dsn.ValueFrom.SecretKeyRef == nil {
					t.Errorf("%s must come from a Secret, never be written in the manifest: %+v", envName("store.postgres.dsn"), dsn)
				}
				if d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
					t.Error("a rollout may take a replica down before its successor is ready")
				}
			}
		})
	}
}

// TestConfigMapLoads: the configuration the manifests mount, with the
// Deployment's environment, passes config.Load, and the runbooks it names
// (the image's copy of runbooks/examples) load with it.
func TestConfigMapLoads(t *testing.T) {
	l := load(t, ".")
	cm := find[*corev1.ConfigMap](l, "tebura-config")
	if cm == nil {
		t.Fatal("no ConfigMap tebura-config")
	}
	path := filepath.Join(t.TempDir(), "tebura.yaml")
	if err := os.WriteFile(path, []byte(cm.Data["tebura.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "TEBURA_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	d := find[*appsv1.Deployment](l, "tebura")
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		switch e.Name {
		case "TEBURA_CONFIG":
			if e.Value != "/etc/tebura/config/"+filepath.Base(path) {
				t.Errorf("TEBURA_CONFIG %s is not where the ConfigMap is mounted", e.Value)
			}
		case "TEBURA_DATA_DIR":
			t.Setenv(e.Name, t.TempDir())
		default:
			t.Setenv(e.Name, e.Value)
		}
	}
	loaded, problems := config.Load(path, config.Options{})
	if len(problems) > 0 {
		t.Fatalf("the ConfigMap's tebura.yaml: %v", problems)
	}
	cfg := loaded.Config
	if !cfg.Kubernetes.InCluster || cfg.HTTP.Listen != "0.0.0.0:8080" {
		t.Errorf("kubernetes %+v, http.listen %s", cfg.Kubernetes, cfg.HTTP.Listen)
	}
	// The Dockerfile copies runbooks/examples to /etc/tebura/runbooks/examples.
	dirs := slices.Clone(cfg.Runbooks.Dirs)
	for i, d := range dirs {
		dirs[i] = strings.Replace(d, "/etc/tebura/runbooks/examples", filepath.Join("..", "..", "runbooks", "examples"), 1)
	}
	_, rps := runbooks.Load(runbooks.LoadOptions{Dirs: dirs, CheckJob: kubestep.CheckJob, KnownRole: func(r string) bool {
		_, ok := cfg.Access.Roles[r]
		return ok
	}})
	for _, p := range rps {
		t.Error(p)
	}
}

// grant is one verb on one resource, for some names ("*": any name).
type grant struct {
	group, resource, verb string
}

// roleGrants expands the Role's rules.
func roleGrants(t *testing.T) (map[grant][]string, *rbacv1.Role) {
	t.Helper()
	var role *rbacv1.Role
	for _, o := range decodeFile(t, filepath.Join("base", "rbac.yaml")) {
		if r, ok := o.(*rbacv1.Role); ok {
			role = r
		}
	}
	if role == nil {
		t.Fatal("base/rbac.yaml has no Role")
	}
	out := map[grant][]string{}
	for _, r := range role.Rules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{"*"}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					k := grant{g, res, v}
					out[k] = append(out[k], names...)
				}
			}
		}
	}
	for k := range out {
		sort.Strings(out[k])
	}
	return out, role
}

// TestRBACGolden: the Role's rules, expanded, are the golden; a change to
// what Tebura may do in the cluster shows in review as a golden diff.
func TestRBACGolden(t *testing.T) {
	grants, _ := roleGrants(t)
	var lines []string
	for g, names := range grants {
		group := g.group
		if group == "" {
			group = `""`
		}
		lines = append(lines, fmt.Sprintf("%s %s %s %s", group, g.resource, g.verb, strings.Join(names, ",")))
	}
	sort.Strings(lines)
	got := strings.Join(lines, "\n") + "\n"
	golden := filepath.Join("testdata", "rbac.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("the Role's rules changed; if on purpose, run go test ./deploy/kubernetes -update\ngot:\n%s\nwant:\n%s", got, want)
	}
}

var wholeParam = regexp.MustCompile(`^\{\{\s*\.Params\.([a-z][a-z0-9_]*)\s*\}\}$`)

// TestRBACCoversExactlyTheExample: the Role grants what the shipped
// example's kubernetes steps need (kubestep.Permissions, which the
// runner's tests check every API call against), on the names its enum
// allows, in the Role's namespace, and nothing more.
func TestRBACCoversExactlyTheExample(t *testing.T) {
	grants, role := roleGrants(t)
	reg, problems := runbooks.Load(runbooks.LoadOptions{Dirs: []string{filepath.Join("..", "..", "runbooks", "examples")},
		CheckJob: kubestep.CheckJob, KnownRole: func(string) bool { return true }})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	need := map[grant][]string{}
	steps := 0
	for _, rb := range reg.List() {
		for _, s := range rb.Steps {
			k := s.Kubernetes
			if k == nil {
				continue
			}
			steps++
			if k.Namespace != role.Namespace {
				t.Errorf("%s, step %s: acts in namespace %q; the Role is in %s", rb.Name, s.Name, k.Namespace, role.Namespace)
			}
			names := []string{"*"}
			switch m := wholeParam.FindStringSubmatch(k.Name); {
			case k.Name == "":
			case !strings.Contains(k.Name, "{{"):
				names = []string{k.Name}
			case m != nil:
				for _, p := range rb.Params {
					if p.Name == m[1] && p.Type == runbooks.TypeEnum {
						names = slices.Clone(p.Values)
					}
				}
			}
			for _, p := range kubestep.Permissions(*k) {
				g := grant{p.Group, p.Resource, p.Verb}
				need[g] = append(need[g], names...)
			}
		}
	}
	if steps == 0 {
		t.Fatal("no example runbook has a kubernetes step")
	}
	for g := range need {
		sort.Strings(need[g])
		need[g] = slices.Compact(need[g])
	}
	for g, names := range need {
		have, ok := grants[g]
		switch {
		case !ok:
			t.Errorf("the examples need %s %s on %v, which the Role does not grant", g.verb, g.resource, names)
		case !slices.Equal(have, names):
			t.Errorf("%s %s: the Role grants it on %v, the examples need %v", g.verb, g.resource, have, names)
		}
	}
	for g, names := range grants {
		if _, ok := need[g]; !ok {
			t.Errorf("the Role grants %s %s on %v, which no example step needs", g.verb, g.resource, names)
		}
	}
}
