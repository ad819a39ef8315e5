package runbooks

import (
	"bytes"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// Redactor masks secrets: literal values (configured redact.values and the
// secret params of a run, each also URL-escaped the ways a URL carries it)
// and regular expressions (redact.patterns). Every match becomes "***". A Redactor is immutable and safe for concurrent use;
// the nil Redactor masks nothing.
//
// The executor masks output line by line, so a secret is found wherever it
// sits in a line. Lines longer than MaxLineBytes are cut into pieces first,
// and a secret straddling such a cut is not recognised: that is the one
// documented limit of streaming redaction.
type Redactor struct {
	values   []string
	raw      [][]byte // values as bytes, for maskBytes
	patterns []*regexp.Regexp
	replacer *strings.Replacer
}

// maxScanValues is how many literal values maskBytes looks for with one
// bytes.Index pass each; beyond it the strings.Replacer (one pass, but
// slower per byte) is cheaper.
const maxScanValues = 16

// NewRedactor builds a redactor. Empty values are ignored; a pattern that
// does not compile, or that matches the empty string (it would mask
// between every character), is an error naming it.
func NewRedactor(values []string, patterns []string) (*Redactor, error) {
	r := &Redactor{}
	for i, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("redact pattern %d (%q) does not compile: %w", i, p, err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("redact pattern %d (%q) matches the empty string; it would mask everything", i, p)
		}
		r.patterns = append(r.patterns, re)
	}
	r.setValues(values)
	return r, nil
}

// escapedForms returns v and the forms it takes inside a URL (query
// escaping, path escaping, and the escaping renderURL applies): a secret
// rendered into an HTTP step's URL shows up escaped in errors and logs, and
// must be masked in that form too.
func escapedForms(v string) []string {
	return []string{v, url.QueryEscape(v), url.PathEscape(v), urlEscape(v)}
}

func (r *Redactor) setValues(values []string) {
	seen := map[string]bool{}
	r.values = r.values[:0:0]
	for _, raw := range values {
		if raw == "" {
			continue
		}
		for _, v := range escapedForms(raw) {
			if !seen[v] {
				seen[v] = true
				r.values = append(r.values, v)
			}
		}
	}
	// Longest first, so a secret that contains another is masked whole.
	sort.SliceStable(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
	r.replacer = nil
	r.raw = nil
	for _, v := range r.values {
		r.raw = append(r.raw, []byte(v))
	}
	if len(r.values) > 0 {
		pairs := make([]string, 0, 2*len(r.values))
		for _, v := range r.values {
			pairs = append(pairs, v, mask)
		}
		r.replacer = strings.NewReplacer(pairs...)
	}
}

// With returns a redactor that also masks secrets (a run's secret param
// values), each also in its URL-escaped forms. r is not changed.
func (r *Redactor) With(secrets ...string) *Redactor {
	n := &Redactor{}
	if r != nil {
		n.patterns = r.patterns
		secrets = append(append([]string(nil), r.values...), secrets...)
	}
	n.setValues(secrets)
	return n
}

// Empty reports whether r masks nothing.
func (r *Redactor) Empty() bool {
	return r == nil || (len(r.values) == 0 && len(r.patterns) == 0)
}

// Mask returns s with every secret replaced by "***".
func (r *Redactor) Mask(s string) string {
	if r == nil {
		return s
	}
	if r.replacer != nil {
		s = r.replacer.Replace(s)
	}
	for _, re := range r.patterns {
		s = re.ReplaceAllLiteralString(s, mask)
	}
	return s
}

// maskBytes is Mask for the executor's output path. It returns b itself
// when nothing in it is secret, so clean output is neither copied nor
// converted to a string; otherwise a masked copy, for which it may use
// scratch's memory (the literal values are replaced into it). The result is
// the same as Mask's.
func (r *Redactor) maskBytes(b, scratch []byte) []byte {
	if r == nil {
		return b
	}
	if len(r.raw) > maxScanValues {
		b = []byte(r.replacer.Replace(string(b)))
	} else if len(r.raw) > 0 {
		b = r.replaceValues(b, scratch)
	}
	for _, re := range r.patterns {
		if re.Match(b) {
			b = re.ReplaceAllLiteral(b, []byte(mask))
		}
	}
	return b
}

// replaceValues replaces the literal values as strings.Replacer does (the
// leftmost match first, the longest value at a position, no overlaps),
// with one bytes.Index pass per value, into scratch[:0]. b is returned as
// is when no value occurs in it.
func (r *Redactor) replaceValues(b, scratch []byte) []byte {
	var next [maxScanValues]int
	found := false
	for i, v := range r.raw {
		next[i] = bytes.Index(b, v)
		found = found || next[i] >= 0
	}
	if !found {
		return b
	}
	out := scratch[:0]
	pos := 0 // b[:pos] is dealt with
	for {
		best := -1
		for i := range r.raw {
			if next[i] >= 0 && (best < 0 || next[i] < next[best]) {
				best = i // ties go to the earlier, longer value
			}
		}
		if best < 0 {
			break
		}
		out = append(out, b[pos:next[best]]...)
		out = append(out, mask...)
		pos = next[best] + len(r.raw[best])
		for i, v := range r.raw {
			if next[i] >= 0 && next[i] < pos {
				if j := bytes.Index(b[pos:], v); j >= 0 {
					next[i] = pos + j
				} else {
					next[i] = -1
				}
			}
		}
	}
	return append(out, b[pos:]...)
}
