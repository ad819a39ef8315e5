package kubernetes

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/tebura/tebura"
	"github.com/tebura/tebura/runbooks"
)

var (
	deploymentsGVR  = appsv1.SchemeGroupVersion.WithResource("deployments")
	statefulsetsGVR = appsv1.SchemeGroupVersion.WithResource("statefulsets")
	daemonsetsGVR   = appsv1.SchemeGroupVersion.WithResource("daemonsets")
	podsGVR         = corev1.SchemeGroupVersion.WithResource("pods")
)

func meta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "shop"} }

func ptr[T any](v T) *T { return &v }

func add(t *testing.T, cs *fake.Clientset, objs ...runtime.Object) {
	t.Helper()
	for _, o := range objs {
		if err := cs.Tracker().Add(o); err != nil {
			t.Fatal(err)
		}
	}
}

// step returns the step a request was rendered from, for checkPermissions.
func step(req runbooks.KubernetesRequest) runbooks.KubernetesStep {
	return runbooks.KubernetesStep{Action: req.Action, Resource: req.Resource, Name: req.Name}
}

func TestRolloutRestartStampsTheTemplateAsKubectlDoes(t *testing.T) {
	for _, tc := range []struct {
		resource string
		obj      runtime.Object
		gvr      schema.GroupVersionResource
		template func(runtime.Object) map[string]string
	}{
		{"deployment", &appsv1.Deployment{ObjectMeta: meta("web")}, deploymentsGVR,
			func(o runtime.Object) map[string]string { return o.(*appsv1.Deployment).Spec.Template.Annotations }},
		{"statefulset", &appsv1.StatefulSet{ObjectMeta: meta("web")}, statefulsetsGVR,
			func(o runtime.Object) map[string]string { return o.(*appsv1.StatefulSet).Spec.Template.Annotations }},
		{"daemonset", &appsv1.DaemonSet{ObjectMeta: meta("web")}, daemonsetsGVR,
			func(o runtime.Object) map[string]string { return o.(*appsv1.DaemonSet).Spec.Template.Annotations }},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			r, cs := newRunner(t)
			add(t, cs, tc.obj)
			req := runbooks.KubernetesRequest{Action: runbooks.KubeRolloutRestart, Namespace: "shop", Resource: tc.resource, Name: "web"}
			out := newLines()
			if err := r.RunKubernetes(t.Context(), req, out); err != nil {
				t.Fatal(err)
			}
			got, err := cs.Tracker().Get(tc.gvr, "shop", "web")
			if err != nil {
				t.Fatal(err)
			}
			if at := tc.template(got)[RestartedAtAnnotation]; at != "2026-03-14T15:09:26Z" {
				t.Errorf("restartedAt = %q, want the runner's clock in RFC 3339", at)
			}
			var patched bool
			for _, a := range cs.Actions() {
				if p, ok := a.(k8stesting.PatchAction); ok {
					patched = p.GetPatchType() == types.StrategicMergePatchType && p.GetName() == "web"
				}
			}
			if !patched {
				t.Errorf("no strategic merge patch of web among %v", cs.Actions())
			}
			if !strings.Contains(out.String(), tc.resource+"/web restarted") {
				t.Errorf("output %q does not say what was restarted", out)
			}
			checkPermissions(t, cs, step(req))
		})
	}
}

func TestMissingResourceSaysWhatWasNotFound(t *testing.T) {
	r, _ := newRunner(t)
	req := runbooks.KubernetesRequest{Action: runbooks.KubeRolloutRestart, Namespace: "shop", Resource: "deployment", Name: "nope"}
	err := r.RunKubernetes(t.Context(), req, io.Discard)
	if tebura.ErrorCode(err) != tebura.ENOTFOUND || !strings.Contains(tebura.ErrorMessage(err), "deployment nope was not found in namespace shop") {
		t.Fatalf("err = %v (%s), want not found naming the deployment", err, tebura.ErrorCode(err))
	}
}

// serveScale makes the fake answer the scale subresource of deployments
// and statefulsets as the API server does: read from and written to the
// workload's spec.replicas.
func serveScale(cs *fake.Clientset) {
	for _, gvr := range []schema.GroupVersionResource{deploymentsGVR, statefulsetsGVR} {
		replicasOf := func(o runtime.Object) **int32 {
			switch o := o.(type) {
			case *appsv1.Deployment:
				return &o.Spec.Replicas
			case *appsv1.StatefulSet:
				return &o.Spec.Replicas
			}
			return nil
		}
		cs.PrependReactor("get", gvr.Resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.GetSubresource() != "scale" {
				return false, nil, nil
			}
			name := a.(k8stesting.GetAction).GetName()
			o, err := cs.Tracker().Get(gvr, a.GetNamespace(), name)
			if err != nil {
				return true, nil, err
			}
			return true, &autoscalingv1.Scale{ObjectMeta: meta(name), Spec: autoscalingv1.ScaleSpec{Replicas: **replicasOf(o)}}, nil
		})
		cs.PrependReactor("update", gvr.Resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.GetSubresource() != "scale" {
				return false, nil, nil
			}
			s := a.(k8stesting.UpdateAction).GetObject().(*autoscalingv1.Scale)
			o, err := cs.Tracker().Get(gvr, a.GetNamespace(), s.Name)
			if err != nil {
				return true, nil, err
			}
			*replicasOf(o) = ptr(s.Spec.Replicas)
			return true, s, cs.Tracker().Update(gvr, o, a.GetNamespace())
		})
	}
}

func TestScaleGoesThroughTheScaleSubresource(t *testing.T) {
	for _, tc := range []struct {
		resource string
		obj      runtime.Object
		gvr      schema.GroupVersionResource
	}{
		{"deployment", &appsv1.Deployment{ObjectMeta: meta("web"), Spec: appsv1.DeploymentSpec{Replicas: ptr[int32](2)}}, deploymentsGVR},
		{"statefulset", &appsv1.StatefulSet{ObjectMeta: meta("web"), Spec: appsv1.StatefulSetSpec{Replicas: ptr[int32](2)}}, statefulsetsGVR},
	} {
		t.Run(tc.resource, func(t *testing.T) {
			r, cs := newRunner(t)
			serveScale(cs)
			add(t, cs, tc.obj)
			req := runbooks.KubernetesRequest{Action: runbooks.KubeScale, Namespace: "shop", Resource: tc.resource, Name: "web", Replicas: ptr(5)}
			out := newLines()
			if err := r.RunKubernetes(t.Context(), req, out); err != nil {
				t.Fatal(err)
			}
			o, _ := cs.Tracker().Get(tc.gvr, "shop", "web")
			var got int32
			switch o := o.(type) {
			case *appsv1.Deployment:
				got = *o.Spec.Replicas
			case *appsv1.StatefulSet:
				got = *o.Spec.Replicas
			}
			if got != 5 {
				t.Errorf("replicas = %d, want 5", got)
			}
			if want := tc.resource + "/web scaled from 2 to 5 replicas"; !strings.Contains(out.String(), want) {
				t.Errorf("output %q, want %q", out, want)
			}
			checkPermissions(t, cs, step(req))
		})
	}
}

func TestDeletePod(t *testing.T) {
	r, cs := newRunner(t)
	add(t, cs, &corev1.Pod{ObjectMeta: meta("web-1")}, &corev1.Pod{ObjectMeta: meta("web-2")})
	req := runbooks.KubernetesRequest{Action: runbooks.KubeDeletePod, Namespace: "shop", Resource: "pod", Name: "web-1"}
	out := newLines()
	if err := r.RunKubernetes(t.Context(), req, out); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Tracker().Get(podsGVR, "shop", "web-1"); err == nil {
		t.Error("web-1 still exists")
	}
	if _, err := cs.Tracker().Get(podsGVR, "shop", "web-2"); err != nil {
		t.Errorf("web-2 is gone too: %v", err)
	}
	if !strings.Contains(out.String(), "pod/web-1 deleted") {
		t.Errorf("output %q", out)
	}
	checkPermissions(t, cs, step(req))
}

// serveLogs answers log requests with body and records their options.
func serveLogs(cs *fake.Clientset, body string, got *[]*corev1.PodLogOptions) {
	cs.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		*got = append(*got, a.(k8stesting.GenericAction).GetValue().(*corev1.PodLogOptions))
		return true, &runtime.Unknown{Raw: []byte(body)}, nil
	})
}

func TestLogsPassSinceTailAndContainerAndEndEveryLine(t *testing.T) {
	r, cs := newRunner(t)
	var opts []*corev1.PodLogOptions
	serveLogs(cs, "started\nlistening on :8080\npanic: boom", &opts)
	req := runbooks.KubernetesRequest{Action: runbooks.KubeLogs, Namespace: "shop", Resource: "pod", Name: "web-1",
		Container: "app", Since: 90*time.Minute + 500*time.Millisecond, Tail: 50}
	out := newLines()
	if err := r.RunKubernetes(t.Context(), req, out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "started\nlistening on :8080\npanic: boom"; got != want {
		t.Errorf("output %q, want %q (the last line ended)", got, want)
	}
	if len(opts) != 1 {
		t.Fatalf("%d log requests", len(opts))
	}
	o := opts[0]
	if o.Container != "app" || o.SinceSeconds == nil || *o.SinceSeconds != 5401 || o.TailLines == nil || *o.TailLines != 50 || o.Follow {
		t.Errorf("log options %+v (since %v, tail %v): want container app, since 5401s (rounded up), tail 50, not followed", o, o.SinceSeconds, o.TailLines)
	}
	checkPermissions(t, cs, step(req))
}

// TestCopyLinesWritesEachLineWhenItArrives: a line reaches the output
// before the next one is even written to the stream.
func TestCopyLinesWritesEachLineWhenItArrives(t *testing.T) {
	pr, pw := io.Pipe()
	out := newLines()
	done := make(chan error, 1)
	go func() { done <- copyLines(pr, out) }()
	for _, l := range []string{"one", "two", "three"} {
		if _, err := pw.Write([]byte(l + "\n")); err != nil {
			t.Fatal(err)
		}
		out.waitFor(t, l)
	}
	pw.CloseWithError(errors.New("stream reset"))
	if err := <-done; err == nil || !strings.Contains(err.Error(), "stream reset") {
		t.Errorf("copyLines = %v, want the stream's error", err)
	}
}

func TestGetPrintsOneStatusLinePerObject(t *testing.T) {
	r, cs := newRunner(t)
	add(t, cs,
		&corev1.Pod{ObjectMeta: meta("web-b"), Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Ready: true, RestartCount: 3}}}},
		&corev1.Pod{ObjectMeta: meta("web-a"), Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
			Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}}}}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "other-ns", Namespace: "kube-system"}},
		&appsv1.Deployment{ObjectMeta: meta("web"), Spec: appsv1.DeploymentSpec{Replicas: ptr[int32](3), Paused: true},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}},
		&corev1.Service{ObjectMeta: meta("web"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.0.0.7",
			Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}}}},
	)
	for _, tc := range []struct {
		req  runbooks.KubernetesRequest
		want string
	}{
		{runbooks.KubernetesRequest{Action: runbooks.KubeGet, Namespace: "shop", Resource: "pod"},
			"pod/web-a: Pending (ImagePullBackOff), 0/1 ready, 0 restarts\npod/web-b: Running, 1/1 ready, 3 restarts, node n1"},
		{runbooks.KubernetesRequest{Action: runbooks.KubeGet, Namespace: "shop", Resource: "deployment", Name: "web"},
			"deployment/web: 2/3 ready, 3 up-to-date, 2 available, paused"},
		{runbooks.KubernetesRequest{Action: runbooks.KubeGet, Namespace: "shop", Resource: "service", Name: "web"},
			"service/web: ClusterIP 10.0.0.7, ports 80/TCP→8080"},
		{runbooks.KubernetesRequest{Action: runbooks.KubeGet, Namespace: "shop", Resource: "job"},
			"no job in namespace shop"},
	} {
		t.Run(tc.req.Resource+"/"+tc.req.Name, func(t *testing.T) {
			cs.ClearActions()
			out := newLines()
			if err := r.RunKubernetes(t.Context(), tc.req, out); err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.want {
				t.Errorf("output:\n%s\nwant:\n%s", out, tc.want)
			}
			checkPermissions(t, cs, step(tc.req))
		})
	}
}

func TestDescribeShowsTheObjectAndOnlyItsEvents(t *testing.T) {
	r, cs := newRunner(t)
	at := func(m int) metav1.Time { return metav1.NewTime(fixedNow.Add(-time.Duration(m) * time.Minute)) }
	add(t, cs,
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}}, Spec: appsv1.DeploymentSpec{Replicas: ptr[int32](3)}},
		&corev1.Event{ObjectMeta: meta("e2"), InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "web"},
			Type: "Normal", Reason: "ScalingReplicaSet", Message: "Scaled up replica set web-5d to 3", LastTimestamp: at(1), Count: 2},
		&corev1.Event{ObjectMeta: meta("e1"), InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "web"},
			Type: "Warning", Reason: "FailedCreate", Message: "quota exceeded", LastTimestamp: at(5), Count: 1},
		&corev1.Event{ObjectMeta: meta("e3"), InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web"},
			Type: "Warning", Reason: "BackOff", Message: "a pod's event, not the deployment's", LastTimestamp: at(2)},
	)
	req := runbooks.KubernetesRequest{Action: runbooks.KubeDescribe, Namespace: "shop", Resource: "deployment", Name: "web"}
	out := newLines()
	if err := r.RunKubernetes(t.Context(), req, out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"apiVersion: apps/v1", "kind: Deployment", "  name: web", "replicas: 3",
		"events:\n  2026-03-14T15:04:26Z Warning FailedCreate: quota exceeded\n  2026-03-14T15:08:26Z Normal ScalingReplicaSet: Scaled up replica set web-5d to 3 (x2)"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"managedFields", "not the deployment's"} {
		if strings.Contains(got, bad) {
			t.Errorf("output has %q:\n%s", bad, got)
		}
	}
	var listed bool
	for _, a := range cs.Actions() {
		if l, ok := a.(k8stesting.ListAction); ok && l.GetResource().Resource == "events" {
			listed = l.GetListRestrictions().Fields.String() == "involvedObject.kind=Deployment,involvedObject.name=web"
		}
	}
	if !listed {
		t.Error("events were not listed with a field selector for the deployment")
	}
	checkPermissions(t, cs, step(req))
}

func TestNoClientFailsEveryStepWithTheReason(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "set kubernetes.in_cluster or kubernetes.kubeconfig"},
		{Config{Kubeconfig: "/nonexistent/kubeconfig"}, "kubernetes.kubeconfig"},
	} {
		r := New(tc.cfg)
		if r.Err() == nil {
			t.Fatalf("New(%+v) has no error", tc.cfg)
		}
		err := r.RunKubernetes(context.Background(), runbooks.KubernetesRequest{Action: runbooks.KubeGet, Namespace: "shop", Resource: "pod"}, io.Discard)
		if !strings.Contains(tebura.ErrorMessage(err), tc.want) {
			t.Errorf("New(%+v): step error %q, want it to mention %q", tc.cfg, tebura.ErrorMessage(err), tc.want)
		}
	}
}
