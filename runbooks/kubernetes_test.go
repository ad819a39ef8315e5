package runbooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tebura/tebura"
)

const kubeRunbook = `name: kube-ops
kind: remediation
params:
  - {name: ns, type: enum, values: [shop, payments], default: shop}
  - {name: deployment, type: string, default: web}
  - {name: replicas, type: int, default: "3"}
  - {name: since, type: duration, default: 15m}
  - {name: host, type: string, default: db.shop.svc}
  - {name: token, secret: true, default: s3cr3t}
steps:
  - name: restart
    kubernetes: {action: rollout-restart, namespace: "{{ .Params.ns }}", name: "{{ .Params.deployment }}"}
  - name: scale
    kubernetes: {action: scale, resource: statefulset, namespace: shop, name: db, replicas: "{{ .Params.replicas }}"}
  - name: logs
    kubernetes: {action: logs, namespace: shop, name: web-1, container: app, since: "{{ .Params.since }}", tail: 200}
  - name: pods
    kubernetes: {action: get, namespace: shop}
  - name: check
    kubernetes:
      action: job
      namespace: shop
      job:
        template:
          spec:
            containers:
              - name: check
                image: busybox:1.37
                command: [nslookup, "{{ .Params.host }}"]
                env: [{name: TOKEN, value: "{{ .Params.token }}"}]
`

func loadKube(t *testing.T, body string, check JobChecker) (*Runbook, []Problem) {
	t.Helper()
	dir := t.TempDir()
	writeRunbook(t, dir, "k.yaml", body)
	reg, problems := Load(LoadOptions{Dirs: []string{dir}, KnownRole: knownRole, CheckJob: check})
	if len(problems) > 0 {
		return nil, problems
	}
	return reg.List()[0], nil
}

// TestKubernetesStepsRender: each action renders to a request with its
// defaults filled in, numbers parsed, and a param's value inside one value
// of the job template; the plan shows them with the secret masked.
func TestKubernetesStepsRender(t *testing.T) {
	rb, problems := loadKube(t, kubeRunbook, nil)
	if problems != nil {
		t.Fatal(problems)
	}
	v, err := rb.ParseArgs([]string{"ns=payments", "replicas=5", "host=x; rm -rf /"})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := rb.Render(v)
	if err != nil {
		t.Fatal(err)
	}
	five := 5
	want := []KubernetesRequest{
		{Action: KubeRolloutRestart, Namespace: "payments", Resource: "deployment", Name: "web"},
		{Action: KubeScale, Namespace: "shop", Resource: "statefulset", Name: "db", Replicas: &five},
		{Action: KubeLogs, Namespace: "shop", Resource: "pod", Name: "web-1", Container: "app", Since: 15 * time.Minute, Tail: 200},
		{Action: KubeGet, Namespace: "shop", Resource: "pod"},
	}
	for i, w := range want {
		if steps[i].Kind != StepKubernetes || !reflect.DeepEqual(*steps[i].Kubernetes, w) {
			t.Errorf("step %d: %+v, want %+v", i, steps[i].Kubernetes, w)
		}
		if len(steps[i].Env) > 0 {
			t.Errorf("step %d has env %v; kubernetes steps get none", i, steps[i].Env)
		}
	}
	job := steps[4].Kubernetes
	if job.Name != "kube-ops" {
		t.Errorf("job prefix %q, want the runbook's name", job.Name)
	}
	c := dig(job.Job, "template", "spec").(map[string]any)["containers"].([]any)[0].(map[string]any)
	if got := strs(c["command"]); !reflect.DeepEqual(got, []string{"nslookup", "x; rm -rf /"}) {
		t.Errorf("command %q: the value must stay one argument", got)
	}

	plan, err := rb.Plan(v)
	if err != nil {
		t.Fatal(err)
	}
	text := plan.String()
	for _, w := range []string{
		"1. restart: kubernetes rollout-restart deployment/web in namespace payments",
		"2. scale: kubernetes scale statefulset/db in namespace shop (to 5 replicas)",
		"3. logs: kubernetes logs pod/web-1 in namespace shop (container app, since 15m, last 200 lines)",
		"4. pods: kubernetes get pods in namespace shop",
		"5. check: kubernetes job kube-ops-… in namespace shop",
		`"value": "***"`,
	} {
		if !strings.Contains(text, w) {
			t.Errorf("plan lacks %q:\n%s", w, text)
		}
	}
	if strings.Contains(text, "s3cr3t") {
		t.Errorf("plan shows the secret:\n%s", text)
	}
	other, _ := rb.ParseArgs([]string{"ns=shop", "replicas=5", "host=x; rm -rf /"})
	if p2, _ := rb.Plan(other); p2.Hash == plan.Hash {
		t.Error("another namespace gives the same plan hash: an approval would cover it")
	}
}

// TestKubernetesRenderChecksNames: a free-form param still renders only
// to a DNS-1123 name, and numbers stay in range.
func TestKubernetesRenderChecksNames(t *testing.T) {
	rb, problems := loadKube(t, kubeRunbook, nil)
	if problems != nil {
		t.Fatal(problems)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"deployment=web;reboot"}, `the name: "web;reboot" is not a valid name`},
		{[]string{"deployment=Web"}, `"Web" is not a valid name`},
		{[]string{"deployment=" + strings.Repeat("a", 254)}, "is not a valid name"},
		{[]string{"replicas=5000"}, "from 0 to 1000"},
		{[]string{"replicas=-1"}, "from 0 to 1000"},
	} {
		v, err := rb.ParseArgs(tc.args)
		if err != nil {
			t.Fatal(err)
		}
		_, err = rb.Render(v)
		if tebura.ErrorCode(err) != tebura.EINVALID || !strings.Contains(tebura.ErrorMessage(err), tc.want) {
			t.Errorf("%v: Render = %v, want invalid saying %q", tc.args, err, tc.want)
		}
	}
}

func TestKubernetesStepProblems(t *testing.T) {
	head := "name: k\nkind: diagnostic\nparams:\n  - {name: x, default: a}\n  - {name: pw, secret: true, default: a}\nsteps:\n  - name: s\n"
	refuse := func(m map[string]any) error {
		if _, ok := m["bogus"]; ok {
			return errors.New(`is not a Job spec: unknown field "bogus"`)
		}
		return nil
	}
	const job = "job: {template: {spec: {containers: [{name: c, image: busybox"
	for _, tc := range []struct {
		step, want string
	}{
		{"    kubernetes: {action: restart, namespace: shop, name: web}", `"restart" is not an action; use one of rollout-restart, scale`},
		{"    kubernetes: {action: scale, resource: daemonset, namespace: shop, name: web, replicas: 2}", `"daemonset" does not work with scale`},
		{"    kubernetes: {action: get, resource: secret, namespace: shop}", `"secret" does not work with get`},
		{"    kubernetes: {action: get}", "namespace: is missing"},
		{"    kubernetes: {action: get, namespace: Shop_1}", `"Shop_1" is not a valid name`},
		{"    kubernetes: {action: rollout-restart, namespace: shop}", "name: is missing; name the deployment to rollout-restart"},
		{"    kubernetes: {action: delete-pod, namespace: shop, name: '{{ .Params.pw }}'}", "must not use the secret param pw"},
		{"    kubernetes: {action: get, namespace: '{{ .Params.nope }}'}", "declares no param \"nope\""},
		{"    kubernetes: {action: logs, namespace: shop, name: web, replicas: 2}", "replicas: does not apply to logs"},
		{"    kubernetes: {action: scale, namespace: shop, name: web}", "replicas: is missing"},
		{"    kubernetes: {action: scale, namespace: shop, name: web, replicas: lots}", `replicas "lots" must be a whole number`},
		{"    kubernetes: {action: logs, namespace: shop, name: web, since: -5m}", "must be a positive duration"},
		{"    kubernetes: {action: logs, namespace: shop, name: web, tail: 0}", "must be a number of lines"},
		{"    kubernetes: {action: job, namespace: shop}", "job: is missing"},
		{"    kubernetes: {action: job, namespace: shop, name: Bad, " + job + "}]}}}}", `"Bad" is not a valid name`},
		{"    kubernetes: {action: job, namespace: shop, job: {template: {spec: {containers: [{name: c, image: 'busybox:{{ .Params.x }}'}]}}}}", "image: must not be a template"},
		{"    kubernetes: {action: job, namespace: shop, " + job + ", command: [sh, -c, 'echo {{ .Params.x }}']}]}}}}", "puts a template into program text (sh -c)"},
		{"    kubernetes: {action: job, namespace: shop, " + job + ", command: ['{{ .Params.x }}']}]}}}}", "is the program to run and must not be a template"},
		{"    kubernetes: {action: job, namespace: shop, " + job + ", labels: {'{{ .Params.x }}': a}}]}}}}", "puts a template into a key"},
		{"    kubernetes: {action: job, namespace: shop, bogus: 1, " + job + "}]}}}}", `unknown key "bogus"`},
		{"    kubernetes: {action: job, namespace: shop, job: {bogus: 1, template: {spec: {containers: [{name: c, image: busybox}]}}}}", `unknown field "bogus"`},
		{"    kubernetes: {action: get, namespace: shop}\n    env: {A: b}", "env: does not apply to kubernetes steps"},
		{"    kubernetes: {action: get, namespace: shop}\n    run: [true]", "has kubernetes and run"},
	} {
		_, problems := loadKube(t, head+tc.step+"\n", refuse)
		var got []string
		for _, p := range problems {
			got = append(got, p.Msg)
		}
		if !strings.Contains(strings.Join(got, "\n"), tc.want) {
			t.Errorf("step\n%s\nproblems %q, want one with %q", tc.step, got, tc.want)
		}
	}
	if _, problems := loadKube(t, head+"    kubernetes: {action: job, namespace: shop, "+job+", args: ['{{ .Params.x }}']}]}}}}\n", refuse); problems != nil {
		t.Errorf("a param as a container's own argument was refused: %v", problems)
	}
}

// fakeKube is a KubernetesRunner that records its requests and prints a
// line, failing when told.
type fakeKube struct {
	mu   sync.Mutex
	reqs []KubernetesRequest
	fail error
}

func (f *fakeKube) RunKubernetes(ctx context.Context, req KubernetesRequest, out io.Writer) error {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	fmt.Fprintf(out, "did %s on %s/%s\npartial", req.Action, req.Resource, req.Name)
	return f.fail
}

func (h *harness) runKube(req *KubernetesRequest) (Snapshot, string) {
	h.t.Helper()
	run := &Run{Runbook: "k", Kind: KindDiagnostic, RequestedBy: "console:test", State: StateApproved}
	if err := h.store.CreateRun(context.Background(), run); err != nil {
		h.t.Fatal(err)
	}
	handle, err := h.exec.Start(context.Background(), run, Job{Steps: []RenderedStep{{Name: "k", Kind: StepKubernetes, Kubernetes: req}}})
	if err != nil {
		h.t.Fatal(err)
	}
	snap := h.wait(handle)
	return snap, h.logOf(run.ID)
}

// TestKubernetesStepRunsThroughItsRunner: the executor hands the rendered
// request to the runner, keeps its output (a last line without newline
// too) and fails the step with the runner's reason.
func TestKubernetesStepRunsThroughItsRunner(t *testing.T) {
	req := &KubernetesRequest{Action: KubeRolloutRestart, Namespace: "shop", Resource: "deployment", Name: "web"}
	for _, tc := range []struct {
		name   string
		runner KubernetesRunner
		state  State
		reason string
	}{
		{"ok", &fakeKube{}, StateSucceeded, ""},
		{"fails", &fakeKube{fail: errors.New("deployment web was not found in namespace shop")}, StateFailed, "step k failed: deployment web was not found"},
		{"no runner", nil, StateFailed, "no Kubernetes API is configured; set kubernetes.in_cluster or kubernetes.kubeconfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, ExecutorConfig{Kubernetes: tc.runner})
			snap, log := h.runKube(req)
			if snap.State != tc.state || !strings.Contains(snap.Reason, tc.reason) {
				t.Fatalf("state %s reason %q; want %s with %q", snap.State, snap.Reason, tc.state, tc.reason)
			}
			if f, ok := tc.runner.(*fakeKube); ok {
				if len(f.reqs) != 1 || !reflect.DeepEqual(f.reqs[0], *req) {
					t.Errorf("runner got %+v", f.reqs)
				}
				if !strings.Contains(log, "did rollout-restart on deployment/web\npartial\n") {
					t.Errorf("log:\n%s", log)
				}
			}
		})
	}
}
