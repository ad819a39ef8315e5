package ssh

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/tebura/tebura/runbooks"
)

// TestRestartUnitFleetExample: the shipped fleet restart, loaded with two
// real sshd hosts labelled role=api,env=staging (and one prod host that
// must not be touched), runs its dry run on each staging host, one at a
// time, and changes nothing.
func TestRestartUnitFleetExample(t *testing.T) {
	f := startFleet(t, 3)
	inv := []runbooks.Target{
		{Name: "h0", Labels: map[string]string{"role": "api", "env": "staging"}},
		{Name: "h1", Labels: map[string]string{"role": "api", "env": "staging"}},
		{Name: "h2", Labels: map[string]string{"role": "api", "env": "prod"}},
	}
	reg, problems := runbooks.Load(runbooks.LoadOptions{Dirs: []string{filepath.Join("..", "..", "examples")}, Targets: inv})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	rb, ok := reg.Get("restart-unit-fleet")
	if !ok {
		t.Fatal("no restart-unit-fleet example")
	}
	v, err := rb.Bind(map[string]string{"env": "staging", "unit": "api.service"})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := rb.Plan(v)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(plan.String(), "on role=api,env=staging: h0, h1 (1 at a time, fail fast)") {
		t.Errorf("plan:\n%s", plan)
	}
	steps, err := rb.Render(v)
	if err != nil {
		t.Fatal(err)
	}
	snap, log := runStep(t, f, steps[0])
	if snap.State != runbooks.StateSucceeded {
		t.Fatalf("state %s (%s)\n%s", snap.State, snap.Reason, log)
	}
	for _, h := range []string{"h0", "h1"} {
		if !strings.Contains(log, "["+h+"] dry run: would run: systemctl restart api.service, then wait for http://127.0.0.1:8080/healthz\n") {
			t.Errorf("%s did not do its dry run:\n%s", h, log)
		}
	}
	if strings.Contains(log, "[h2]") || !strings.Contains(log, "rolling-restart: 2/2 ok") {
		t.Errorf("want h0 and h1 only, both ok:\n%s", log)
	}
}
