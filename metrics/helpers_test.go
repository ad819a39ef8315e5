package metrics_test

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/tebura/tebura/metrics"
	"github.com/tebura/tebura/store/bolt"
)

// openStore opens a bolt store in a temp dir, closed when the test ends.
func openStore(t *testing.T) *bolt.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "tebura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// families gathers m's registry by family name.
func families(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := make(map[string]*dto.MetricFamily, len(fams))
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// labelsOf renders a metric's labels as "k=v,k=v", sorted.
func labelsOf(mt *dto.Metric) string {
	var parts []string
	for _, l := range mt.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// sample is one series' value: a counter's or gauge's value, a
// histogram's sample count and sum.
type sample struct {
	Value float64
	Count uint64
	Sum   float64
}

// series returns the family's series by labels ("" for none); a missing
// family gives an empty map.
func series(t *testing.T, m *metrics.Metrics, name string) map[string]sample {
	t.Helper()
	out := map[string]sample{}
	f := families(t, m)[name]
	if f == nil {
		return out
	}
	for _, mt := range f.GetMetric() {
		var s sample
		switch {
		case mt.Counter != nil:
			s.Value = mt.GetCounter().GetValue()
		case mt.Gauge != nil:
			s.Value = mt.GetGauge().GetValue()
		case mt.Histogram != nil:
			s.Count, s.Sum = mt.GetHistogram().GetSampleCount(), mt.GetHistogram().GetSampleSum()
		}
		out[labelsOf(mt)] = s
	}
	return out
}

// value is the counter or gauge value of one series (0 when absent).
func value(t *testing.T, m *metrics.Metrics, name, labels string) float64 {
	t.Helper()
	return series(t, m, name)[labels].Value
}
