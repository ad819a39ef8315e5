package runbooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tebura/tebura"
)

// TestDashValuesRefusedWithoutPattern: a string param with no pattern
// refuses a value starting with "-" (it could become an option of the
// command); a pattern or an enum is the author's decision; ints may be
// negative.
func TestDashValuesRefusedWithoutPattern(t *testing.T) {
	rb := &Runbook{Name: "r", Params: []Param{
		{Name: "file", Type: TypeString},
		{Name: "token", Type: TypeString, Secret: true},
		{Name: "flag", Type: TypeString, Pattern: `-[a-z]`},
		{Name: "mode", Type: TypeEnum, Values: []string{"-v", "-q"}},
		{Name: "n", Type: TypeInt},
	}}
	tests := []struct {
		arg     string
		refused bool
	}{
		{"file=-o/tmp/x", true},
		{"file=--help", true},
		{"file=-", true},
		{"token=-secret-value", true},
		{"file=a-b", false},
		{"file=/tmp/-x", false},
		{"flag=-x", false},
		{"mode=-v", false},
		{"n=-5", false},
	}
	for _, tt := range tests {
		_, err := rb.ParseArgs([]string{tt.arg})
		if (err != nil) != tt.refused {
			t.Errorf("%s: err = %v, want refused=%v", tt.arg, err, tt.refused)
			continue
		}
		if err == nil {
			continue
		}
		name, _, _ := strings.Cut(tt.arg, "=")
		msg := errMessage(err)
		if tebura.ErrorCode(err) != tebura.EINVALID || !strings.HasPrefix(msg, name+" must not start with \"-\"") ||
			!strings.Contains(msg, "option") || !strings.Contains(msg, "pattern for "+name) {
			t.Errorf("%s: refusal %q (%s) should be EINVALID, name the param, say why and how the author allows it", tt.arg, msg, tebura.ErrorCode(err))
		}
		if strings.Contains(msg, "secret-value") {
			t.Errorf("%s: the refusal shows a secret value: %q", tt.arg, msg)
		}
	}
}

// TestOptionInjection is the attack: sort with a pattern-less file param
// given -o FILE would write FILE. The value is refused before any run.
func TestOptionInjection(t *testing.T) {
	target := filepath.Join(t.TempDir(), "pwned")
	h := newHarness(t, ExecutorConfig{})
	rb := h.load(`name: sorter
kind: diagnostic
params: [{name: file, required: true}]
steps:
  - run: [sort, "{{ .Params.file }}"]
`)
	if _, err := rb.ParseArgs([]string{"file=-o" + target}); err == nil {
		t.Error("file=-o… was accepted")
	}
	if _, err := os.Stat(target); err == nil {
		t.Error("the file was created")
	}
}

// TestRestartUnitPatternRefusesDash: the unit pattern of the shipped
// restart-unit (the fleet restart) and demo-restart examples does not let a
// unit start with "-" (systemctl would read it as an option).
func TestRestartUnitPatternRefusesDash(t *testing.T) {
	reg, problems := Load(LoadOptions{Dirs: []string{"examples"}, KnownRole: knownRole, MaxTimeout: time.Hour})
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	for name, args := range map[string][]string{"restart-unit": {"env=staging"}, "demo-restart": nil} {
		rb, ok := reg.Get(name)
		if !ok {
			t.Fatalf("no %s example", name)
		}
		for unit, ok := range map[string]bool{
			"nginx.service": true, "getty@tty1.service": true, "_x.timer": true,
			"-H.service": false, "--help.service": false, "-.service": false, "a b.service": false,
		} {
			if _, err := rb.ParseArgs(append([]string{"unit=" + unit}, args...)); (err == nil) != ok {
				t.Errorf("%s unit=%s: err = %v, want accepted=%v", name, unit, err, ok)
			}
		}
	}
}
