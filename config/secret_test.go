package config

import (
	"reflect"
	"slices"
	"testing"
)

// TestSecretsListsEverySecretField fills every Secret reachable in Config
// (in structs, lists and map entries) with a value of its own and checks
// that Secrets returns exactly those: a Secret field added to Config and
// not listed by Secrets would leak into run output unmasked, and this
// test fails on it.
func TestSecretsListsEverySecretField(t *testing.T) {
	var c Config
	var want []string
	fillSecrets(reflect.ValueOf(&c).Elem(), "config", &want)
	if len(want) < 10 {
		t.Fatalf("the walk found only %d secrets (%v); it no longer reaches them", len(want), want)
	}
	got := c.Secrets()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Secrets() = %v\nwant      %v", got, want)
	}
	if got := (Config{}).Secrets(); len(got) != 0 {
		t.Errorf("empty secrets are listed: %q", got)
	}
}

// fillSecrets sets every Secret under v to its path, adding one element to
// each list and one entry to each map on the way, and records the values.
func fillSecrets(v reflect.Value, path string, out *[]string) {
	secretT := reflect.TypeOf(Secret(""))
	switch {
	case v.Type() == secretT:
		v.SetString(path)
		*out = append(*out, path)
	case v.Kind() == reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := v.Type().Field(i); f.IsExported() {
				fillSecrets(v.Field(i), path+"."+f.Name, out)
			}
		}
	case v.Kind() == reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fillSecrets(s.Index(0), path+"[0]", out)
		v.Set(s)
	case v.Kind() == reflect.Map && v.Type().Key().Kind() == reflect.String:
		m := reflect.MakeMap(v.Type())
		e := reflect.New(v.Type().Elem()).Elem()
		fillSecrets(e, path+".k", out)
		m.SetMapIndex(reflect.ValueOf("k").Convert(v.Type().Key()), e)
		v.Set(m)
	}
}
