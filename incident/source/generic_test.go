package source_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/tebura/tebura/config"
	"github.com/tebura/tebura/incident"
	"github.com/tebura/tebura/incident/source"
)

// TestGenericNumbersKeepTheirText: numeric ids become keys by their exact
// text. Through float64, 4123999 became "4.123999e+06" and two 19-digit ids
// one digit apart became the same key, merging a second problem into the
// first.
func TestGenericNumbersKeepTheirText(t *testing.T) {
	g := mustGeneric(t, "ids", config.GenericSource{Insecure: true, Key: "{{ .id }}", Title: "{{ .name }} #{{ .id }}",
		Labels: map[string]string{"count": "{{ .count }}", "ratio": "{{ .ratio }}"}})
	tests := []struct {
		body, key, title string
		labels           map[string]string
	}{
		{`{"id": 4123999, "name": "disk", "count": 10, "ratio": 0.25}`, "4123999", "disk #4123999",
			map[string]string{"count": "10", "ratio": "0.25"}},
		{`{"id": 1234567890123456781, "name": "a", "count": 1e3, "ratio": -0}`, "1234567890123456781", "a #1234567890123456781",
			map[string]string{"count": "1e3", "ratio": "-0"}},
		{`{"id": 1234567890123456782, "name": "b", "count": 0, "ratio": 1.50}`, "1234567890123456782", "b #1234567890123456782",
			map[string]string{"count": "0", "ratio": "1.50"}},
	}
	keys := map[string]bool{}
	for _, tt := range tests {
		b, err := g.Parse(nil, []byte(tt.body))
		if err != nil {
			t.Fatalf("Parse(%s): %v", tt.body, err)
		}
		if b.GroupKey != tt.key || b.Alerts[0].Fingerprint != tt.key || b.Title != tt.title {
			t.Errorf("Parse(%s): key %q fingerprint %q title %q, want %q and %q", tt.body, b.GroupKey, b.Alerts[0].Fingerprint, b.Title, tt.key, tt.title)
		}
		for k, v := range tt.labels {
			if b.Labels[k] != v {
				t.Errorf("Parse(%s): label %s = %q, want %q", tt.body, k, b.Labels[k], v)
			}
		}
		keys[b.GroupKey] = true
	}
	if len(keys) != len(tests) {
		t.Errorf("%d payloads gave %d distinct keys: %v", len(tests), len(keys), keys)
	}
	for body, want := range map[string]string{
		`{"id": 1} {"id": 2}`: "malformed JSON",
		`{"id": 1`:            "malformed JSON",
		`"id"`:                "want an object",
	} {
		if _, err := g.Parse(nil, []byte(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want %q", body, err, want)
		}
	}
}

// TestGenericEq: eq and ne compare a JSON number with an int or float
// literal by value, and strings (a number's text included) by text, so
// `eq .heartbeat.status 0` works on the payload Uptime Kuma sends. text/
// template's own eq refuses json.Number against int with an error (400).
func TestGenericEq(t *testing.T) {
	tests := []struct {
		tmpl, body, want string
	}{
		{`{{ if eq .s 0 }}down{{ else }}up{{ end }}`, `{"s": 0}`, "down"},
		{`{{ if eq .s 0 }}down{{ else }}up{{ end }}`, `{"s": 1}`, "up"},
		{`{{ if eq .s 1 }}one{{ else }}other{{ end }}`, `{"s": 1.0}`, "one"},
		{`{{ if eq .s 0.5 }}half{{ else }}other{{ end }}`, `{"s": 5e-1}`, "half"},
		{`{{ if eq .s 1234567890123456781 }}same{{ else }}differs{{ end }}`, `{"s": 1234567890123456782}`, "differs"},
		{`{{ if eq .s "0" }}text{{ else }}other{{ end }}`, `{"s": 0}`, "text"},
		{`{{ if eq .s "Recovered" }}yes{{ else }}no{{ end }}`, `{"s": "Recovered"}`, "yes"},
		{`{{ if eq .s 2 3 4 }}in{{ else }}out{{ end }}`, `{"s": 3}`, "in"},
		{`{{ if eq .s 2 3 4 }}in{{ else }}out{{ end }}`, `{"s": 5}`, "out"},
		{`{{ if eq .s true }}t{{ else }}f{{ end }}`, `{"s": true}`, "t"},
		{`{{ if eq .s 0 }}zero{{ else }}other{{ end }}`, `{"s": null}`, "other"},
		{`{{ if eq .s "a" }}a{{ else }}other{{ end }}`, `{"s": 1}`, "other"},
		{`{{ if ne .s 0 }}nonzero{{ else }}zero{{ end }}`, `{"s": 0}`, "zero"},
		{`{{ if ne .s 0 }}nonzero{{ else }}zero{{ end }}`, `{"s": 7}`, "nonzero"},
	}
	for _, tt := range tests {
		g := mustGeneric(t, "eq", config.GenericSource{Insecure: true, Key: "k", Title: tt.tmpl})
		b, err := g.Parse(nil, []byte(tt.body))
		if err != nil {
			t.Errorf("%s on %s: %v", tt.tmpl, tt.body, err)
			continue
		}
		if b.Title != tt.want {
			t.Errorf("%s on %s = %q, want %q", tt.tmpl, tt.body, b.Title, tt.want)
		}
	}
}

// TestGenericDefaultAndLower: default gives its first argument when the
// value is absent, null or empty, in both the pipeline and the call form,
// even when a parent object is missing; a plain field that is absent is
// still an error (400), so a typo in a template is not an empty key. lower
// lower-cases text and numbers alike.
func TestGenericDefaultAndLower(t *testing.T) {
	tests := []struct {
		tmpl, body, want, err string
	}{
		{`{{ .p | default "P3" }}`, `{"p": "P1"}`, "P1", ""},
		{`{{ .p | default "P3" }}`, `{}`, "P3", ""},
		{`{{ .p | default "P3" }}`, `{"p": null}`, "P3", ""},
		{`{{ .p | default "P3" }}`, `{"p": ""}`, "P3", ""},
		{`{{ .p | default "P3" }}`, `{"p": 0}`, "0", ""},
		{`{{ .a.b.c | default "none" }}`, `{}`, "none", ""},
		{`{{ .a.b.c | default "none" }}`, `{"a": null}`, "none", ""},
		{`{{ .a.b.c | default "none" }}`, `{"a": {"b": {"c": 12}}}`, "12", ""},
		{`{{ default "none" .a.b }}`, `{"a": {}}`, "none", ""},
		{`{{ default "none" .a.b }}`, `{"a": {"b": "x"}}`, "x", ""},
		{`{{ with .a }}{{ .b | default "in-with" }}{{ end }}`, `{"a": {"c": 1}}`, "in-with", ""},
		{`{{ $x := .a }}{{ $x.b | default "var" }}`, `{"a": {}}`, "var", ""},
		{`{{ .host | default .fallback }}`, `{"fallback": "f"}`, "f", ""},
		{`{{ .p | default "P3" | lower }}`, `{"p": "HIGH"}`, "high", ""},
		{`{{ lower .s }}`, `{"s": "No Data"}`, "no data", ""},
		{`{{ .s | lower }}`, `{"s": 12}`, "12", ""},
		{`{{ lower .s }}`, `{"s": null}`, "", ""},
		{`{{ get . "a" "b" | default "g" }}`, `{"a": 1}`, "g", ""},
		{`{{ get . "a" 1 }}`, `{"a": ["x", "y"]}`, "y", ""},
		{`{{ if get . "a" }}has{{ else }}not{{ end }}`, `{}`, "not", ""},
		{`{{ .p }}`, `{}`, "", `map has no entry for key "p"`},
		{`{{ .a.b | lower | default "x" }}`, `{}`, "", `map has no entry for key "a"`},
	}
	for _, tt := range tests {
		g := mustGeneric(t, "dflt", config.GenericSource{Insecure: true, Key: "k", Title: tt.tmpl})
		b, err := g.Parse(nil, []byte(tt.body))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s on %s: error %v, want %q", tt.tmpl, tt.body, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s on %s: %v", tt.tmpl, tt.body, err)
			continue
		}
		if b.Title != tt.want {
			t.Errorf("%s on %s = %q, want %q", tt.tmpl, tt.body, b.Title, tt.want)
		}
	}
}

// TestGenericStatusMap: status_map turns the sender's own words and numbers
// into firing, resolved or ignored before the built-in words are tried; an
// ignored delivery is answered 200 and stores nothing; a status nothing
// maps is a 400 whose reason names the value and the accepted words.
func TestGenericStatusMap(t *testing.T) {
	g := mustGeneric(t, "mapped", config.GenericSource{Insecure: true, Key: "{{ .id }}", Status: "{{ .s }}",
		StatusMap: map[string]string{"0": "firing", "1": "resolved", "Re-Triggered": "firing", "Recovered": "resolved",
			"No Data": "firing", "test": "ignored", "OK": "firing"}})
	tests := []struct {
		s    string
		want incident.AlertStatus // "" for ignored
		err  string
	}{
		{`0`, incident.AlertFiring, ""},
		{`1`, incident.AlertResolved, ""},
		{`"1"`, incident.AlertResolved, ""},
		{`"Re-Triggered"`, incident.AlertFiring, ""},
		{`"Recovered"`, incident.AlertResolved, ""},
		{`"recovered"`, incident.AlertResolved, ""},
		{`"No Data"`, incident.AlertFiring, ""},
		{`"test"`, "", ""},
		{`"OK"`, incident.AlertFiring, ""},         // the map wins over the built-in word
		{`"resolved"`, incident.AlertResolved, ""}, // built-in words still apply
		{`2`, "", `status: "2" is neither firing nor resolved; accepted: status_map keys "0", "1", "No Data", "OK", "Re-Triggered", "Recovered", "test"; firing words firing,`},
		{`"Sideways"`, "", `status: "Sideways" is neither firing nor resolved`},
	}
	for _, tt := range tests {
		body := []byte(`{"id": "x", "s": ` + tt.s + `}`)
		rec := &recorder{}
		w := post(source.Handler(g, rec.ingest, source.Limits{}, nil), "/", body, nil)
		switch {
		case tt.err != "":
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), tt.err) {
				t.Errorf("status %s: %d %q, want 400 %q", tt.s, w.Code, w.Body, tt.err)
			}
		case tt.want == "":
			if w.Code != http.StatusOK || len(rec.batches) != 0 {
				t.Errorf("status %s: %d %q and %d batches, want 200 and none", tt.s, w.Code, w.Body, len(rec.batches))
			}
		default:
			if w.Code != http.StatusOK || len(rec.batches) != 1 || rec.batches[0].Alerts[0].Status != tt.want {
				t.Errorf("status %s: %d %q %+v, want %s", tt.s, w.Code, w.Body, rec.batches, tt.want)
			}
		}
	}
	catchAll := mustGeneric(t, "catchall", config.GenericSource{Insecure: true, Key: "{{ .id }}", Status: "{{ .s }}",
		StatusMap: map[string]string{"open": "firing", "*": "ignored"}})
	if _, err := catchAll.Parse(nil, []byte(`{"id": "x", "s": "resolved"}`)); err != source.ErrIgnored {
		t.Errorf(`"*" entry: %v, want ErrIgnored (it wins over the built-in words)`, err)
	}
	for _, cfg := range []config.GenericSource{
		{Key: "k", Status: "{{ .s }}", StatusMap: map[string]string{"0": "fire"}},
		{Key: "k", StatusMap: map[string]string{"0": "firing"}},
	} {
		if _, err := source.NewGeneric("bad", cfg); err == nil {
			t.Errorf("NewGeneric(%+v) accepted", cfg)
		}
	}
}

// TestGenericHMAC: a generic source authenticates by an HMAC-SHA256
// signature of the raw body (Sentry cannot send a bearer header); a source
// with only hmac_secret is mounted; with a bearer token too, both must
// pass.
func TestGenericHMAC(t *testing.T) {
	body := []byte(`{"id": "x"}`)
	sig := hexMAC("client-secret", body)
	cfg := config.GenericSource{HMACSecret: "client-secret", SignatureHeader: "Sentry-Hook-Signature", Key: "{{ .id }}"}
	mux := http.NewServeMux()
	rec := &recorder{}
	paths, err := source.Mount(mux, config.Sources{Generic: map[string]config.GenericSource{"sentry": cfg}}, rec.ingest, nil)
	if err != nil || len(paths) != 1 || paths[0] != "/hooks/generic/sentry" {
		t.Fatalf("Mount: %v %v", paths, err)
	}
	both := cfg
	both.BearerToken = "tok"
	hBoth := source.Handler(mustGeneric(t, "both", both), rec.ingest, source.Limits{}, nil)
	tests := []struct {
		name string
		h    http.Handler
		hdr  map[string]string
		code int
		why  string
	}{
		{"signed", mux, map[string]string{"Sentry-Hook-Signature": sig}, 200, ""},
		{"upper-case hex", mux, map[string]string{"Sentry-Hook-Signature": strings.ToUpper(sig)}, 200, ""},
		{"sha256= prefix", mux, map[string]string{"Sentry-Hook-Signature": "sha256=" + sig}, 200, ""},
		{"unsigned", mux, nil, 401, "missing signature header Sentry-Hook-Signature"},
		{"wrong secret", mux, map[string]string{"Sentry-Hook-Signature": hexMAC("other", body)}, 401, "bad signature in Sentry-Hook-Signature"},
		{"not hex", mux, map[string]string{"Sentry-Hook-Signature": "zz"}, 401, "bad signature"},
		{"bearer only", mux, map[string]string{"Authorization": "Bearer tok"}, 401, "missing signature header"},
		{"both, both given", hBoth, map[string]string{"Sentry-Hook-Signature": sig, "Authorization": "Bearer tok"}, 200, ""},
		{"both, signature only", hBoth, map[string]string{"Sentry-Hook-Signature": sig}, 401, "missing credentials"},
		{"both, token only", hBoth, map[string]string{"Authorization": "Bearer tok"}, 401, "missing signature header"},
	}
	for _, tt := range tests {
		w := post(tt.h, "/hooks/generic/sentry", body, tt.hdr)
		if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.why) {
			t.Errorf("%s: %d %q, want %d %q", tt.name, w.Code, w.Body, tt.code, tt.why)
		}
	}
	if got := len(rec.batches); got != 4 {
		t.Errorf("%d batches stored, want 4 (the accepted requests)", got)
	}
	tampered := post(mux, "/hooks/generic/sentry", []byte(`{"id": "y"}`), map[string]string{"Sentry-Hook-Signature": sig})
	if tampered.Code != 401 {
		t.Errorf("a body that is not the signed one: %d", tampered.Code)
	}
	if _, err := source.NewGeneric("nohdr", config.GenericSource{HMACSecret: "s", Key: "k"}); err == nil {
		t.Error("hmac_secret without signature_header accepted")
	}
}

func hexMAC(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}
