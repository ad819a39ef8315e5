package ansible

import (
	"strings"
	"testing"

	"github.com/tebura/tebura/runbooks"
)

// TestReadEvents: ansible.posix.jsonl lines (in the shape the callback
// writes them) become one event per host, changed told from ok, failures
// with their message (or stderr when the message says only "non-zero
// return code"); other JSON events are dropped, non-JSON lines pass
// through, and an oversized line is skipped without losing the next.
func TestReadEvents(t *testing.T) {
	input := strings.Join([]string{
		`{"_event":"v2_playbook_on_play_start","play":{"name":"all"}}`,
		`{"_event":"v2_playbook_on_task_start","task":{"name":"Write"},"hosts":{}}`,
		`{"_event":"v2_runner_on_ok","task":{"name":"Write"},"hosts":{"web-2":{"changed":true},"web-1":{"changed":false}}}`,
		`[WARNING]: Platform linux on host web-1 is using the discovered Python interpreter`,
		`{"_event":"v2_runner_on_failed","task":{"name":"Restart"},"hosts":{"web-1":{"failed":true,"msg":"Could not find the requested service nginx: host"}}}`,
		`{"_event":"v2_runner_on_failed","task":{"name":"Run"},"hosts":{"web-2":{"failed":true,"msg":"non-zero return code","stderr":"boom"}}}`,
		`{"_event":"v2_runner_on_unreachable","task":{"name":"Run"},"hosts":{"web-3":{"unreachable":true,"msg":"Failed to connect to the host via ssh: Host key verification failed."}}}`,
		`{"_event":"v2_runner_on_skipped","task":{"name":"Maybe"},"hosts":{"web-1":{"skipped":true}}}`,
		`{"_event":"v2_runner_on_ok","task":{"name":"Big"},"hosts":{"web-1":{"stdout":"` + strings.Repeat("x", maxEventLine+10) + `"}}}`,
		`{"_event":"v2_runner_on_ok","task":{"name":"After big"},"hosts":{"web-1":{}}}`,
		`{"_event":"v2_playbook_on_stats","stats":{}}`,
	}, "\n") + "\n"
	var got []runbooks.TaskEvent
	var out strings.Builder
	readEvents(strings.NewReader(input), &out, func(ev runbooks.TaskEvent) { got = append(got, ev) })
	want := []runbooks.TaskEvent{
		{Task: "Write", Host: "web-1", Status: runbooks.TaskOK},
		{Task: "Write", Host: "web-2", Status: runbooks.TaskChanged},
		{Task: "Restart", Host: "web-1", Status: runbooks.TaskFailed, Msg: "Could not find the requested service nginx: host"},
		{Task: "Run", Host: "web-2", Status: runbooks.TaskFailed, Msg: "non-zero return code: boom"},
		{Task: "Run", Host: "web-3", Status: runbooks.TaskUnreachable, Msg: "Failed to connect to the host via ssh: Host key verification failed."},
		{Task: "Maybe", Host: "web-1", Status: runbooks.TaskSkipped},
		{Task: "After big", Host: "web-1", Status: runbooks.TaskOK},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if out.String() != "[WARNING]: Platform linux on host web-1 is using the discovered Python interpreter\n" {
		t.Errorf("passed through: %q", out.String())
	}
}

// TestVarsFile: every value is a string tagged !unsafe, quoted so that
// YAML cannot read it as anything else, whatever it holds.
func TestVarsFile(t *testing.T) {
	b, err := VarsFile(map[string]string{"b": "{{ x }}\n'\"", "a": "07", "c": "true"})
	if err != nil {
		t.Fatal(err)
	}
	want := "a: !unsafe \"07\"\nb: !unsafe \"{{ x }}\\n'\\\"\"\nc: !unsafe \"true\"\n"
	if string(b) != want {
		t.Errorf("vars file:\n%s\nwant:\n%s", b, want)
	}
	if _, err := VarsFile(map[string]string{"a": "x\x00y"}); err == nil {
		t.Error("a NUL byte was accepted")
	}
}

// TestInventory: the generated inventory holds the named targets only,
// each with its address, port (22 by default), user and key; a key-file
// target offers only that key, an agent target the agent's.
func TestInventory(t *testing.T) {
	cfg := &Config{Targets: map[string]Target{
		"a": {Host: "10.0.0.1", Port: 2222, User: "deploy", Identity: "/keys/a"},
		"b": {Host: "10.0.0.2", User: "ops", Agent: true},
		"c": {Host: "10.0.0.3", User: "x", Identity: "/keys/c"},
	}}
	b, err := Inventory(cfg, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "all": {
    "hosts": {
      "a": {
        "ansible_host": "10.0.0.1",
        "ansible_port": 2222,
        "ansible_user": "deploy",
        "ansible_ssh_private_key_file": "/keys/a",
        "ansible_ssh_extra_args": "-o IdentitiesOnly=yes"
      },
      "b": {
        "ansible_host": "10.0.0.2",
        "ansible_port": 22,
        "ansible_user": "ops"
      }
    }
  }
}`
	if string(b) != want {
		t.Errorf("inventory:\n%s\nwant:\n%s", b, want)
	}
	if _, err := Inventory(cfg, []string{"a", "gone"}); err == nil || !strings.Contains(err.Error(), "gone is not in the inventory") {
		t.Errorf("a target no longer configured: %v", err)
	}
}
