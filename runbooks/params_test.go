package runbooks

import (
	"strings"
	"testing"

	"github.com/tebura/tebura"
)

func paramRunbook() *Runbook {
	return &Runbook{Name: "deploy", Kind: KindRemediation, Params: []Param{
		{Name: "env", Type: TypeEnum, Values: []string{"staging", "prod"}, Required: true},
		{Name: "service", Type: TypeString, Pattern: "[a-z][a-z0-9-]{0,40}", Default: "api"},
		{Name: "count", Type: TypeInt, Default: "1"},
		{Name: "force", Type: TypeBool, Default: "false"},
		{Name: "wait", Type: TypeDuration, Default: "30s"},
		{Name: "note", Type: TypeString},
		{Name: "tag", Type: TypeString, Pattern: "v[0-9]+|"},
		{Name: "token", Type: TypeString, Secret: true, Pattern: "[a-f0-9]{8}"},
	}}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    map[string]string // subset of the result
		wantErr string
	}{
		{"defaults", []string{"env=prod"}, map[string]string{"env": "prod", "service": "api", "count": "1", "force": "false", "wait": "30s", "note": "", "tag": "", "token": ""}, ""},
		{"all types", []string{"env=staging", "service=web-2", "count=007", "force=yes", "wait=1h5m"}, map[string]string{"service": "web-2", "count": "7", "force": "true", "wait": "1h5m"}, ""},
		{"equals inside value", []string{"env=prod", "note=a=b=c"}, map[string]string{"note": "a=b=c"}, ""},
		{"empty allowed by pattern", []string{"env=prod", "tag="}, map[string]string{"tag": ""}, ""},
		{"empty string without pattern", []string{"env=prod", "note="}, map[string]string{"note": ""}, ""},
		{"enum miss", []string{"env=qa"}, nil, `env must be one of staging, prod (got "qa").`},
		{"missing required", nil, nil, "env is required: give env=… with one of staging, prod."},
		{"required empty", []string{"env="}, nil, "env is required and cannot be empty"},
		{"unknown key", []string{"env=prod", "region=eu"}, nil, `Runbook deploy has no parameter "region"; it accepts env, service, count, force, wait, note, tag, token.`},
		{"int", []string{"env=prod", "count=two"}, nil, `count must be a whole number (got "two").`},
		{"bool", []string{"env=prod", "force=maybe"}, nil, `force must be true or false (got "maybe").`},
		{"duration", []string{"env=prod", "wait=5 minutes"}, nil, `wait must be a duration like 30s, 5m or 1h (got "5 minutes").`},
		{"pattern miss", []string{"env=prod", "service=API;rm"}, nil, `service must be text matching [a-z][a-z0-9-]{0,40} (got "API;rm").`},
		{"pattern anchored", []string{"env=prod", "service=api x"}, nil, `service must be text matching`},
		{"empty refused by pattern", []string{"env=prod", "service="}, nil, `service must be text matching [a-z][a-z0-9-]{0,40} (got "").`},
		{"secret not echoed", []string{"env=prod", "token=hunter2-not-hex"}, nil, "token must be text matching [a-f0-9]{8} (got a value that does not fit; it is secret so it is not shown)."},
		{"no equals", []string{"prod"}, nil, `Arguments are written key=value; "prod" has no key.`},
		{"twice", []string{"env=prod", "env=staging"}, nil, "env is given twice"},
		{"several at once", []string{"count=x", "force=y"}, nil, "force must be true or false"},
		{"nul byte", []string{"env=prod", "note=a\x00b"}, nil, "note must be text without NUL bytes."},
		{"too long", []string{"env=prod", "note=" + strings.Repeat("x", MaxValueLen+1)}, nil, "note is too long"},
	}
	rb := paramRunbook()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := rb.ParseArgs(tt.args)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, got %v", v)
				}
				if tebura.ErrorCode(err) != tebura.EINVALID {
					t.Errorf("code = %q", tebura.ErrorCode(err))
				}
				if msg := tebura.ErrorMessage(err); !strings.Contains(msg, tt.wantErr) {
					t.Errorf("message %q does not contain %q", msg, tt.wantErr)
				}
				if strings.Contains(tebura.ErrorMessage(err), "hunter2") {
					t.Errorf("secret value echoed: %q", tebura.ErrorMessage(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(v) != len(rb.Params) {
				t.Errorf("got %d values, want one per param: %v", len(v), v)
			}
			for k, want := range tt.want {
				if v[k] != want {
					t.Errorf("%s = %q, want %q", k, v[k], want)
				}
			}
		})
	}
}

func TestBindMissingRequiredAndUnknownTogether(t *testing.T) {
	_, err := paramRunbook().Bind(map[string]string{"bogus": "1"})
	msg := tebura.ErrorMessage(err)
	if !strings.Contains(msg, `no parameter "bogus"`) || !strings.Contains(msg, "env is required") {
		t.Errorf("message = %q", msg)
	}
}

func TestSecrets(t *testing.T) {
	rb := paramRunbook()
	v, err := rb.ParseArgs([]string{"env=prod", "token=deadbeef"})
	if err != nil {
		t.Fatal(err)
	}
	if got := rb.Secrets(v); len(got) != 1 || got[0] != "deadbeef" {
		t.Errorf("Secrets = %v", got)
	}
	if got := rb.SecretNames(); len(got) != 1 || got[0] != "token" {
		t.Errorf("SecretNames = %v", got)
	}
}

// TestBindRoundTrip: values stored with a run bind again to the same
// values, which is what lets an approval re-render the plan later.
func TestBindRoundTrip(t *testing.T) {
	rb := paramRunbook()
	v, err := rb.ParseArgs([]string{"env=prod", "count=007", "force=on"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := rb.Bind(v)
	if err != nil {
		t.Fatal(err)
	}
	for k := range v {
		if again[k] != v[k] {
			t.Errorf("%s: %q became %q", k, v[k], again[k])
		}
	}
}
