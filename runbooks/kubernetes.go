package runbooks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tebura/tebura"
)

// StepKubernetes is a step that acts on a Kubernetes cluster through its
// API (see KubernetesStep): no kubectl and no shell, so it runs from the
// distroless image.
const StepKubernetes StepKind = "kubernetes"

// KubeAction is what a kubernetes step does.
type KubeAction string

// The kubernetes step's actions: the ones people run during incidents.
const (
	// KubeRolloutRestart restarts a workload's pods the way `kubectl
	// rollout restart` does: by stamping the pod template's restartedAt
	// annotation, so the controller rolls them under its own strategy.
	KubeRolloutRestart KubeAction = "rollout-restart"
	// KubeScale sets a workload's replicas through its scale subresource.
	KubeScale KubeAction = "scale"
	// KubeDeletePod deletes one pod (its controller makes a new one).
	KubeDeletePod KubeAction = "delete-pod"
	// KubeLogs streams a pod's logs into the run output, line by line.
	KubeLogs KubeAction = "logs"
	// KubeGet prints a one-line status of a resource, or of each resource
	// of its kind in the namespace when no name is given.
	KubeGet KubeAction = "get"
	// KubeDescribe prints a resource and its recent events.
	KubeDescribe KubeAction = "describe"
	// KubeJob creates a Job from the step's template, streams its pod's
	// logs, waits for it to complete or fail, and deletes it.
	KubeJob KubeAction = "job"
)

// KubeActions lists every action, in the order the docs give them.
var KubeActions = []KubeAction{KubeRolloutRestart, KubeScale, KubeDeletePod, KubeLogs, KubeGet, KubeDescribe, KubeJob}

// kubeResources are the resources each action takes (the first is the
// default when the step names none). Secrets and config maps are not
// among them: a step's output is shown in chat.
var kubeResources = map[KubeAction][]string{
	KubeRolloutRestart: {"deployment", "statefulset", "daemonset"},
	KubeScale:          {"deployment", "statefulset"},
	KubeDeletePod:      {"pod"},
	KubeLogs:           {"pod"},
	KubeGet:            {"pod", "deployment", "statefulset", "daemonset", "job", "service"},
	KubeDescribe:       {"pod", "deployment", "statefulset", "daemonset", "job", "service"},
	KubeJob:            {"job"},
}

// Kubernetes step limits.
const (
	// MaxKubeReplicas bounds scale: a typo of 300 for 3 is refused.
	MaxKubeReplicas = 1000
	// maxJobPrefix leaves room in a 63-character name for the "-xxxxx"
	// suffix the runner adds.
	maxJobPrefix = 57
)

// dns1123Label is a namespace, container or service name; dns1123Subdomain
// is a pod, deployment or job name (the API server's own rules).
var (
	dns1123Label     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// checkDNSLabel says why s is not a DNS-1123 label (nil when it is).
func checkDNSLabel(s string, maxLen int) error {
	if len(s) > maxLen || !dns1123Label.MatchString(s) {
		return fmt.Errorf("%q is not a valid name: use at most %d lowercase letters, digits and '-', starting and ending with a letter or digit", s, maxLen)
	}
	return nil
}

// checkDNSSubdomain says why s is not a DNS-1123 subdomain.
func checkDNSSubdomain(s string) error {
	if len(s) > 253 || !dns1123Subdomain.MatchString(s) {
		return fmt.Errorf("%q is not a valid name: use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit", s)
	}
	return nil
}

// KubernetesStep is a kubernetes step before rendering. Namespace, Name,
// Replicas, Container, Since and Tail may be templates; Action and Resource
// are written out, so the permissions a runbook needs can be read from it.
type KubernetesStep struct {
	Action    KubeAction `yaml:"action" json:"action"`
	Namespace string     `yaml:"namespace" json:"namespace"`
	// Resource is deployment, statefulset, daemonset, pod, job or service
	// (which ones depends on Action; see kubeResources).
	Resource string `yaml:"resource" json:"resource,omitempty"`
	// Name is the resource's name; for job, the prefix of the Job's name
	// (the runbook's name when empty).
	Name      string `yaml:"name" json:"name,omitempty"`
	Replicas  string `yaml:"replicas" json:"replicas,omitempty"`
	Container string `yaml:"container" json:"container,omitempty"`
	Since     string `yaml:"since" json:"since,omitempty"`
	Tail      string `yaml:"tail" json:"tail,omitempty"`
	// Job is the Job's spec (batch/v1 JobSpec) as written in the runbook.
	// Templates may appear in its string values, each rendered into that
	// one value; never in keys or an image.
	Job map[string]any `yaml:"job" json:"job,omitempty"`
}

// KubernetesRequest is a rendered kubernetes step: names checked, numbers
// parsed, the job template with its values filled in. It is part of the
// plan, so an approval binds to the namespace and the names.
type KubernetesRequest struct {
	Action    KubeAction     `json:"action"`
	Namespace string         `json:"namespace"`
	Resource  string         `json:"resource,omitempty"`
	Name      string         `json:"name,omitempty"`
	Replicas  *int           `json:"replicas,omitempty"`
	Container string         `json:"container,omitempty"`
	Since     time.Duration  `json:"since,omitempty"`
	Tail      int            `json:"tail,omitempty"`
	Job       map[string]any `json:"job,omitempty"`
}

// KubernetesRunner runs a kubernetes step. It is the interface the
// client-go package (runbooks/step/kubernetes) implements, so that this
// package imports no SDK.
//
// RunKubernetes writes what it does and what it reads (logs, status) to
// out, line by line, and returns why the action failed. When ctx ends (the
// step's or the run's timeout, a cancel) it stops waiting and returns,
// cleaning up what it created (a job's Job and pods).
type KubernetesRunner interface {
	RunKubernetes(ctx context.Context, req KubernetesRequest, out io.Writer) error
}

// JobChecker checks a job step's template against the API's types before
// any run (runbooks/step/kubernetes.CheckJob), so that a typo in it is a
// load problem, not a failed run.
type JobChecker func(template map[string]any) error

// runKubernetes runs a kubernetes step with the configured runner.
func (e *Executor) runKubernetes(ctx context.Context, s RenderedStep, out *output) stepResult {
	if e.cfg.Kubernetes == nil {
		return stepResult{code: -1, err: tebura.Errorf(tebura.EINTERNAL, "no Kubernetes API is configured; set kubernetes.in_cluster or kubernetes.kubeconfig")}
	}
	if s.Kubernetes == nil {
		return stepResult{code: -1, err: fmt.Errorf("nothing to do")}
	}
	err := e.cfg.Kubernetes.RunKubernetes(ctx, *s.Kubernetes, out)
	out.endLine()
	if err != nil {
		return stepResult{code: 1, err: err}
	}
	return stepResult{}
}

// takesResource reports whether action a works on resource r.
func takesResource(a KubeAction, r string) bool { return slices.Contains(kubeResources[a], r) }

// checkKubernetes checks a kubernetes step as far as it can before params
// are known: the action and resource, literal names, the keys that apply
// to the action, and templates (no secret in a name, which plans show).
func (d *decoder) checkKubernetes(s *Step, sn *stepNodes, path string, params map[string]*Param) {
	k, kp := s.Kubernetes, path+".kubernetes"
	node := sn.node
	if !slices.Contains(KubeActions, k.Action) {
		names := make([]string, len(KubeActions))
		for i, a := range KubeActions {
			names[i] = string(a)
		}
		d.problem(node, kp+".action", "%q is not an action; use one of %s", k.Action, strings.Join(names, ", "))
		return
	}
	if k.Resource == "" {
		k.Resource = kubeResources[k.Action][0]
	}
	if !takesResource(k.Action, k.Resource) {
		d.problem(node, kp+".resource", "%q does not work with %s; use one of %s", k.Resource, k.Action, strings.Join(kubeResources[k.Action], ", "))
	}
	named := func(field, text string, check func(string) error) {
		if strings.Contains(text, "{{") {
			d.checkTemplate(node, kp+"."+field, text, params, true)
		} else if err := check(text); err != nil {
			d.problem(node, kp+"."+field, "%v", err)
		}
	}
	if k.Namespace == "" {
		d.problem(node, kp+".namespace", "is missing; name the namespace the step acts in")
	} else {
		named("namespace", k.Namespace, func(s string) error { return checkDNSLabel(s, 63) })
	}
	switch {
	case k.Name == "" && k.Action != KubeGet && k.Action != KubeJob:
		d.problem(node, kp+".name", "is missing; name the %s to %s", k.Resource, k.Action)
	case k.Name != "" && k.Action == KubeJob:
		named("name", k.Name, func(s string) error { return checkDNSLabel(s, maxJobPrefix) })
	case k.Name != "":
		named("name", k.Name, checkDNSSubdomain)
	}
	only := func(field string, set bool, actions ...KubeAction) {
		if set && !slices.Contains(actions, k.Action) {
			d.problem(node, kp+"."+field, "does not apply to %s", k.Action)
		}
	}
	only("replicas", k.Replicas != "", KubeScale)
	only("container", k.Container != "", KubeLogs)
	only("since", k.Since != "", KubeLogs)
	only("tail", k.Tail != "", KubeLogs)
	only("job", k.Job != nil, KubeJob)
	if k.Action == KubeScale && k.Replicas == "" {
		d.problem(node, kp+".replicas", "is missing; say how many replicas to scale to")
	}
	literal := func(field, text string, parse func(string) error) {
		if text == "" {
			return
		}
		if strings.Contains(text, "{{") {
			d.checkTemplate(node, kp+"."+field, text, params, false)
		} else if err := parse(text); err != nil {
			d.problem(node, kp+"."+field, "%v", err)
		}
	}
	literal("replicas", k.Replicas, func(s string) error { _, err := parseReplicas(s); return err })
	literal("container", k.Container, func(s string) error { return checkDNSLabel(s, 63) })
	literal("since", k.Since, func(s string) error { _, err := parseSince(s); return err })
	literal("tail", k.Tail, func(s string) error { _, err := parseTail(s); return err })
	if k.Action == KubeJob {
		if k.Job == nil {
			d.problem(node, kp+".job", "is missing; give the Job's spec (template.spec.containers…)")
		} else {
			d.checkJobTemplate(node, kp+".job", k.Job, params)
		}
	}
	if len(s.Env) > 0 {
		d.problem(sn.env, path+".env", "does not apply to kubernetes steps; give a job's containers their env in the job template")
	}
	if s.Dir != "" {
		d.problem(sn.dir, path+".dir", "does not apply to kubernetes steps")
	}
}

// checkJobTemplate checks a job template's templates: none in a key or an
// image (a param would choose what runs), and the containers' command and
// args checked as a run step's argv is.
func (d *decoder) checkJobTemplate(node *yaml.Node, path string, job map[string]any, params map[string]*Param) {
	if _, err := json.Marshal(job); err != nil {
		d.problem(node, path, "cannot be read as a Job spec: %v", err)
		return
	}
	walkTemplate(path, job, func(at, key string, v any) {
		if strings.Contains(key, "{{") {
			d.problem(node, at, "puts a template into a key; templates go into values only")
		}
		str, ok := v.(string)
		if !ok || !strings.Contains(str, "{{") {
			return
		}
		if key == "image" {
			d.problem(node, at, "must not be a template: a param would choose which program runs; use an enum param with one step per image")
			return
		}
		d.checkTemplate(node, at, str, params, false)
	})
	podSpec, _ := dig(job, "template", "spec").(map[string]any)
	for _, list := range []string{"initContainers", "containers"} {
		cs, _ := podSpec[list].([]any)
		for i, c := range cs {
			cm, _ := c.(map[string]any)
			command, args := strs(cm["command"]), strs(cm["args"])
			if len(command) > 0 {
				d.checkArgv(append(command, args...), node, fmt.Sprintf("%s.template.spec.%s[%d].command+args", path, list, i), params)
			}
		}
	}
	if d.l.opts.CheckJob != nil {
		if err := d.l.opts.CheckJob(job); err != nil {
			d.problem(node, path, "%v", err)
		}
	}
}

// walkTemplate calls see for every value of a decoded YAML tree, with its
// path and the key it is under ("" in a list).
func walkTemplate(path string, v any, see func(at, key string, v any)) {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			at := path + "." + k
			see(at, k, v[k])
			walkTemplate(at, v[k], see)
		}
	case []any:
		for i, e := range v {
			at := fmt.Sprintf("%s[%d]", path, i)
			see(at, "", e)
			walkTemplate(at, e, see)
		}
	}
}

// dig follows keys through nested maps (nil when one is missing).
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// strs reads a YAML list of scalars as strings.
func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, e := range l {
		out = append(out, fmt.Sprint(e))
	}
	return out
}

// renderTemplateTree copies a decoded YAML tree with every string value
// rendered: a param's value lands inside one value and cannot add a key.
func renderTemplateTree(path string, v any, params map[string]string) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			r, err := renderTemplateTree(path+"."+k, e, params)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := renderTemplateTree(fmt.Sprintf("%s[%d]", path, i), e, params)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case string:
		return renderString(path, v, params)
	default:
		return v, nil
	}
}

func parseReplicas(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > MaxKubeReplicas {
		return 0, fmt.Errorf("replicas %q must be a whole number from 0 to %d", s, MaxKubeReplicas)
	}
	return n, nil
}

func parseSince(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("since %q must be a positive duration like 15m or 2h", s)
	}
	return d, nil
}

func parseTail(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > 100000 {
		return 0, fmt.Errorf("tail %q must be a number of lines from 1 to 100000", s)
	}
	return n, nil
}

// renderKubernetes renders a kubernetes step. check verifies the rendered
// names and numbers; it is off for the plan's masked renderings, whose
// placeholders are not names.
func renderKubernetes(rb *Runbook, k *KubernetesStep, params map[string]string, check bool) (*KubernetesRequest, error) {
	r := &KubernetesRequest{Action: k.Action, Resource: k.Resource}
	if r.Resource == "" {
		r.Resource = kubeResources[k.Action][0]
	}
	fields := []struct {
		name, text string
		into       *string
		check      func(string) error
	}{
		{"namespace", k.Namespace, &r.Namespace, func(s string) error { return checkDNSLabel(s, 63) }},
		{"name", k.Name, &r.Name, checkDNSSubdomain},
		{"container", k.Container, &r.Container, func(s string) error { return checkDNSLabel(s, 63) }},
	}
	if k.Action == KubeJob {
		fields[1].check = func(s string) error { return checkDNSLabel(s, maxJobPrefix) }
		if k.Name == "" {
			fields[1].text = rb.Name
		}
	}
	for _, f := range fields {
		v, err := renderString(f.name, f.text, params)
		if err != nil {
			return nil, fmt.Errorf("the %s could not be rendered: %w", f.name, err)
		}
		*f.into = strings.TrimSpace(v)
		if check && *f.into != "" {
			if err := f.check(*f.into); err != nil {
				return nil, fmt.Errorf("the %s: %w", f.name, err)
			}
		}
	}
	numbers := []struct {
		name, text string
		set        func(string) error
	}{
		{"replicas", k.Replicas, func(s string) error {
			n, err := parseReplicas(s)
			r.Replicas = &n
			return err
		}},
		{"since", k.Since, func(s string) (err error) { r.Since, err = parseSince(s); return err }},
		{"tail", k.Tail, func(s string) (err error) { r.Tail, err = parseTail(s); return err }},
	}
	for _, n := range numbers {
		if n.text == "" {
			continue
		}
		v, err := renderString(n.name, n.text, params)
		if err != nil {
			return nil, fmt.Errorf("the %s could not be rendered: %w", n.name, err)
		}
		if err := n.set(v); err != nil && check {
			return nil, err
		}
	}
	if k.Job != nil {
		job, err := renderTemplateTree("job", k.Job, params)
		if err != nil {
			return nil, fmt.Errorf("the job template could not be rendered: %w", err)
		}
		r.Job = job.(map[string]any)
	}
	return r, nil
}

// kubeSummary is a kubernetes step as the readable plan shows it.
func kubeSummary(k *KubernetesRequest) string {
	var b strings.Builder
	b.WriteString("kubernetes " + string(k.Action) + " ")
	switch {
	case k.Action == KubeJob:
		fmt.Fprintf(&b, "%s-…", k.Name)
	case k.Name == "":
		b.WriteString(k.Resource + "s")
	default:
		b.WriteString(k.Resource + "/" + k.Name)
	}
	b.WriteString(" in namespace " + k.Namespace)
	var notes []string
	if k.Replicas != nil {
		notes = append(notes, fmt.Sprintf("to %d replicas", *k.Replicas))
	}
	if k.Container != "" {
		notes = append(notes, "container "+k.Container)
	}
	if k.Since > 0 {
		notes = append(notes, "since "+shortDuration(k.Since))
	}
	if k.Tail > 0 {
		notes = append(notes, fmt.Sprintf("last %d lines", k.Tail))
	}
	if len(notes) > 0 {
		b.WriteString(" (" + strings.Join(notes, ", ") + ")")
	}
	return b.String()
}

// kubeJobLines is a job template as the readable plan shows it, so that
// approvers read the image, command and values that will run.
func kubeJobLines(job map[string]any) []string {
	b, err := json.MarshalIndent(job, "", "  ")
	if err != nil {
		return nil
	}
	return strings.Split(string(b), "\n")
}

// kubernetes decodes a kubernetes step's mapping.
func (d *decoder) kubernetes(n *yaml.Node, path string) *KubernetesStep {
	k := &KubernetesStep{}
	d.fields(n, path, kubeKeys, func(key string, v *yaml.Node, path string) {
		switch key {
		case "action":
			k.Action = KubeAction(d.str(v, path, false))
		case "namespace":
			k.Namespace = d.str(v, path, false)
		case "resource":
			k.Resource = d.str(v, path, false)
		case "name":
			k.Name = d.str(v, path, false)
		case "replicas":
			k.Replicas = d.str(v, path, true)
		case "container":
			k.Container = d.str(v, path, false)
		case "since":
			k.Since = d.str(v, path, false)
		case "tail":
			k.Tail = d.str(v, path, true)
		case "job":
			if v.Kind != yaml.MappingNode {
				d.problem(v, path, "must be a mapping: the Job's spec (template.spec.containers…)")
				return
			}
			if err := v.Decode(&k.Job); err != nil {
				d.problem(v, path, "cannot be read: %v", err)
			}
		}
	})
	return k
}
