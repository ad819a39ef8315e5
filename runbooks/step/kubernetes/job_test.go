package kubernetes

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/tebura/tebura/runbooks"
)

var jobsGVR = batchv1.SchemeGroupVersion.WithResource("jobs")

// jobTemplate is a job step's template as the loader decodes it from YAML.
func jobTemplate() map[string]any {
	return map[string]any{
		"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "check", "image": "busybox:1.37", "command": []any{"nslookup", "db.shop.svc"}}},
		}},
	}
}

// jobRun starts a job step in the background; the test plays the job
// controller and the kubelet.
type jobRun struct {
	cs   *fake.Clientset
	out  *lines
	done chan error
	// logs are the options of each log request.
	logs []*corev1.PodLogOptions
}

func startJob(t *testing.T, ctx context.Context) *jobRun {
	t.Helper()
	r, cs := newRunner(t)
	j := &jobRun{cs: cs, out: newLines(), done: make(chan error, 1)}
	serveLogs(cs, "Server: 10.0.0.10\nAddress: 10.0.0.10:53\n", &j.logs)
	req := runbooks.KubernetesRequest{Action: runbooks.KubeJob, Namespace: "shop", Resource: "job", Name: "dns-check", Job: jobTemplate()}
	go func() { j.done <- r.RunKubernetes(ctx, req, j.out) }()
	j.out.waitFor(t, "job dns-check-x7k2q created in namespace shop")
	return j
}

// pod is the Job's pod as the job controller makes it and the kubelet
// reports it.
func (j *jobRun) setPod(t *testing.T, phase corev1.PodPhase, waiting string) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dns-check-x7k2q-4xk9p", Namespace: "shop",
		Labels: map[string]string{JobNameLabel: "dns-check-x7k2q"}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "check"}}},
		Status: corev1.PodStatus{Phase: phase}}
	if waiting != "" {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "check", State: corev1.ContainerState{
			Waiting: &corev1.ContainerStateWaiting{Reason: waiting, Message: "waiting: " + waiting}}}}
	}
	var err error
	if _, gerr := j.cs.Tracker().Get(podsGVR, "shop", p.Name); gerr != nil {
		err = j.cs.Tracker().Create(podsGVR, p, "shop")
	} else {
		err = j.cs.Tracker().Update(podsGVR, p, "shop")
	}
	if err != nil {
		t.Fatal(err)
	}
}

// finish gives the Job the condition the job controller would.
func (j *jobRun) finish(t *testing.T, c batchv1.JobConditionType, reason string) {
	t.Helper()
	o, err := j.cs.Tracker().Get(jobsGVR, "shop", "dns-check-x7k2q")
	if err != nil {
		t.Fatal(err)
	}
	job := o.(*batchv1.Job)
	job.Status.Conditions = append(job.Status.Conditions, batchv1.JobCondition{Type: c, Status: corev1.ConditionTrue, Reason: reason, Message: "the job says so"})
	if err := j.cs.Tracker().Update(jobsGVR, job, "shop"); err != nil {
		t.Fatal(err)
	}
}

// deleted checks that the Job was deleted with background propagation,
// so that the garbage collector removes its pods too.
func (j *jobRun) deleted(t *testing.T) {
	t.Helper()
	for _, a := range j.cs.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && d.GetResource() == jobsGVR && d.GetName() == "dns-check-x7k2q" {
			if p := d.GetDeleteOptions().PropagationPolicy; p == nil || *p != metav1.DeletePropagationBackground {
				t.Errorf("the job was deleted with propagation %v, want Background", p)
			}
			if _, err := j.cs.Tracker().Get(jobsGVR, "shop", "dns-check-x7k2q"); err == nil {
				t.Error("the job still exists")
			}
			return
		}
	}
	t.Errorf("the job was not deleted; actions: %v", j.cs.Actions())
}

func TestJobRunsItsPodThroughItsPhasesStreamsLogsAndCleansUp(t *testing.T) {
	j := startJob(t, t.Context())

	o, err := j.cs.Tracker().Get(jobsGVR, "shop", "dns-check-x7k2q")
	if err != nil {
		t.Fatal(err)
	}
	job := o.(*batchv1.Job)
	if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 0 || job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever ||
		job.Labels[ManagedByLabel] != "tebura" || job.Spec.Template.Spec.Containers[0].Command[1] != "db.shop.svc" {
		t.Errorf("created job %+v: want the template with backoffLimit 0, restartPolicy Never and the managed-by label", job)
	}

	j.setPod(t, corev1.PodPending, "ContainerCreating")
	j.out.waitFor(t, "pod dns-check-x7k2q-4xk9p: Pending (ContainerCreating)")
	j.setPod(t, corev1.PodRunning, "")
	j.out.waitFor(t, "pod dns-check-x7k2q-4xk9p: Running")
	j.out.waitFor(t, "Address: 10.0.0.10:53")
	j.setPod(t, corev1.PodSucceeded, "")
	j.finish(t, batchv1.JobComplete, "")

	if err := <-j.done; err != nil {
		t.Fatalf("job step: %v\n%s", err, j.out)
	}
	if !strings.Contains(j.out.String(), "job dns-check-x7k2q: Complete\njob dns-check-x7k2q deleted with its pods") {
		t.Errorf("output:\n%s", j.out)
	}
	if len(j.logs) != 1 || !j.logs[0].Follow {
		t.Errorf("log requests %+v, want one, followed", j.logs)
	}
	j.deleted(t)
	checkPermissions(t, j.cs, runbooks.KubernetesStep{Action: runbooks.KubeJob, Name: "dns-check"})
}

func TestJobFailedConditionFailsTheStep(t *testing.T) {
	j := startJob(t, t.Context())
	j.setPod(t, corev1.PodFailed, "")
	j.finish(t, batchv1.JobFailed, "BackoffLimitExceeded")
	err := <-j.done
	if err == nil || !strings.Contains(err.Error(), "job dns-check-x7k2q failed: BackoffLimitExceeded") {
		t.Fatalf("err = %v, want the job's failure", err)
	}
	j.deleted(t)
}

func TestJobWhosePodCannotStartFailsAtOnce(t *testing.T) {
	j := startJob(t, t.Context())
	j.setPod(t, corev1.PodPending, "ImagePullBackOff")
	err := <-j.done
	if err == nil || !strings.Contains(err.Error(), "cannot start: ImagePullBackOff") {
		t.Fatalf("err = %v, want the pod's waiting reason", err)
	}
	j.deleted(t)
}

func TestJobCancelledWhilePendingStillDeletesTheJob(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	j := startJob(t, ctx)
	j.setPod(t, corev1.PodPending, "ContainerCreating")
	j.out.waitFor(t, "Pending (ContainerCreating)")
	cancel()
	if err := <-j.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	j.deleted(t)
}

func TestCheckJob(t *testing.T) {
	bad := func(edit func(m map[string]any)) map[string]any {
		m := jobTemplate()
		edit(m)
		return m
	}
	spec := func(m map[string]any) map[string]any { return m["template"].(map[string]any)["spec"].(map[string]any) }
	for _, tc := range []struct {
		name string
		job  map[string]any
		want string
	}{
		{"ok", jobTemplate(), ""},
		{"unknown field", bad(func(m map[string]any) { m["backofLimit"] = 2 }), `unknown field "backofLimit"`},
		{"wrong type", bad(func(m map[string]any) { m["backoffLimit"] = "two" }), "is not a Job spec"},
		{"no containers", bad(func(m map[string]any) { delete(spec(m), "containers") }), "has no containers"},
		{"no image", bad(func(m map[string]any) { spec(m)["containers"] = []any{map[string]any{"name": "x"}} }), "has no image"},
		{"restart always", bad(func(m map[string]any) { spec(m)["restartPolicy"] = "Always" }), "use Never or OnFailure"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckJob(tc.job)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckJob: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CheckJob = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestJobWaitListsAgainWhenTheWatchEnds: API servers close watches after a
// while; the wait lists again and goes on watching instead of failing.
func TestJobWaitListsAgainWhenTheWatchEnds(t *testing.T) {
	r, cs := newRunner(t)
	var logs []*corev1.PodLogOptions
	serveLogs(cs, "ok\n", &logs)
	var jobWatches atomic.Int32
	second := make(chan struct{})
	cs.PrependWatchReactor("jobs", func(k8stesting.Action) (bool, watch.Interface, error) {
		switch jobWatches.Add(1) {
		case 1:
			return true, watch.NewEmptyWatch(), nil // closed at once
		case 2:
			close(second) // the tracker's watch, from the list's version, follows
		}
		return false, nil, nil
	})
	j := &jobRun{cs: cs, out: newLines(), done: make(chan error, 1)}
	req := runbooks.KubernetesRequest{Action: runbooks.KubeJob, Namespace: "shop", Resource: "job", Name: "dns-check", Job: jobTemplate()}
	go func() { j.done <- r.RunKubernetes(t.Context(), req, j.out) }()
	j.out.waitFor(t, "created in namespace shop")
	j.setPod(t, corev1.PodSucceeded, "")
	j.out.waitFor(t, "ok")
	select {
	case <-second:
	case err := <-j.done:
		t.Fatalf("the step ended (%v) without watching the job again after its watch closed", err)
	}
	j.finish(t, batchv1.JobComplete, "")
	if err := <-j.done; err != nil {
		t.Fatal(err)
	}
	j.deleted(t)
}
