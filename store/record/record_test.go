package record

import (
	"strings"
	"testing"
)

type sample struct {
	Name string `json:"name"`
	N    int    `json:"n,omitempty"`
}

// TestRoundTripAndVersions: what Marshal writes starts with "v":1 and reads
// back; an empty object keeps valid JSON; a record of another version, or
// not a record at all, is refused with a sentence saying why.
func TestRoundTripAndVersions(t *testing.T) {
	b, err := Marshal(sample{Name: "a", N: 2})
	if err != nil || string(b) != `{"v":1,"name":"a","n":2}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var got sample
	if err := Unmarshal(b, &got); err != nil || got != (sample{Name: "a", N: 2}) {
		t.Errorf("Unmarshal = %+v, %v", got, err)
	}
	if b, _ := Marshal(struct{}{}); string(b) != `{"v":1}` {
		t.Errorf("empty = %s", b)
	}
	if _, err := Marshal([]int{1}); err == nil {
		t.Error("a list was taken as a record")
	}
	for data, want := range map[string]string{
		`{"v":2,"name":"a"}`: "record version 2",
		`{"name":"a"}`:       "record version 0",
		`not json`:           "decode record header",
	} {
		if err := Unmarshal([]byte(data), &got); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Unmarshal(%s) = %v, want %q", data, err, want)
		}
	}
	// Fields in another order still read: only the fast path looks at the
	// prefix.
	if err := Unmarshal([]byte(`{"name":"b","v":1}`), &got); err != nil || got.Name != "b" {
		t.Errorf("reordered = %+v, %v", got, err)
	}
}
